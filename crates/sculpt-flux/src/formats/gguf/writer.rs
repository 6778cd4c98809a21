//! Writing a GGUF v3 file.

use std::collections::HashSet;
use std::io::Write;

use super::metadata::{MetadataArray, MetadataValue};
use super::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGML_MAX_TENSOR_NAME_LEN, MAGIC, MAX_DIMS, VERSION};
use crate::formats::error::{FormatError, Problem};
use crate::formats::tensor::TensorToWrite;

/// Writes a GGUF v3 file: the metadata pairs in the order given, then the
/// tensor infos and data in the order given, each tensor's data aligned to
/// `general.alignment` (a uint32 in `metadata`, or 32).
pub fn write_gguf<W: Write>(
    out: &mut W,
    metadata: &[(&str, &MetadataValue)],
    tensors: &[TensorToWrite<'_>],
) -> Result<(), FormatError> {
    const WRITER: &str = "GGUF writer";
    let cannot = |tensor: &str, detail| FormatError::cannot_write(WRITER, tensor, detail);
    let alignment = match metadata.iter().find(|(key, _)| *key == ALIGNMENT_KEY) {
        None => DEFAULT_ALIGNMENT,
        Some((_, MetadataValue::U32(alignment))) if alignment.is_power_of_two() => {
            u64::from(*alignment)
        }
        Some(_) => {
            return Err(cannot(
                ALIGNMENT_KEY,
                "general.alignment must be a uint32 power of two".into(),
            ));
        }
    };
    let mut keys = HashSet::new();
    let mut header = Vec::new();
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    header.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (key, value) in metadata {
        if !keys.insert(*key) {
            return Err(cannot(key, "the metadata key is given twice".into()));
        }
        put_string(&mut header, key);
        header.extend_from_slice(&(value.value_type() as u32).to_le_bytes());
        put_value(&mut header, value);
    }
    let mut names = HashSet::new();
    let mut offset = 0u64;
    let mut offsets = Vec::with_capacity(tensors.len());
    for tensor in tensors {
        tensor.check(WRITER)?;
        let Some(format) = tensor.encoding.weight_format() else {
            return Err(cannot(
                tensor.name,
                format!("GGUF weights cannot be {}", tensor.encoding),
            ));
        };
        if tensor.name.len() > GGML_MAX_TENSOR_NAME_LEN {
            return Err(cannot(
                tensor.name,
                format!("ggml reads names of at most {GGML_MAX_TENSOR_NAME_LEN} bytes"),
            ));
        }
        if !(1..=MAX_DIMS as usize).contains(&tensor.shape.len()) {
            return Err(cannot(
                tensor.name,
                "GGUF tensors have 1 to 4 dimensions".into(),
            ));
        }
        if !names.insert(tensor.name) {
            return Err(cannot(tensor.name, "the name is given twice".into()));
        }
        put_string(&mut header, tensor.name);
        header.extend_from_slice(&(tensor.shape.len() as u32).to_le_bytes());
        for dim in tensor.shape.iter().rev() {
            header.extend_from_slice(&dim.to_le_bytes());
        }
        header.extend_from_slice(&format.ggml_type().to_le_bytes());
        header.extend_from_slice(&offset.to_le_bytes());
        offsets.push(offset);
        offset = (offset + tensor.bytes.len() as u64).next_multiple_of(alignment);
    }
    header.resize(
        (header.len() as u64).next_multiple_of(alignment) as usize,
        0,
    );
    let write = |out: &mut W, bytes: &[u8]| {
        out.write_all(bytes)
            .map_err(|error| FormatError::new(WRITER, Problem::Write(error)))
    };
    write(out, &header)?;
    let mut written = 0u64;
    for (tensor, offset) in tensors.iter().zip(offsets) {
        write(out, &vec![0; (offset - written) as usize])?;
        write(out, tensor.bytes)?;
        written = offset + tensor.bytes.len() as u64;
    }
    Ok(())
}

/// [`write_gguf`] into a new buffer.
pub fn gguf_bytes(
    metadata: &[(&str, &MetadataValue)],
    tensors: &[TensorToWrite<'_>],
) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    write_gguf(&mut out, metadata, tensors)?;
    Ok(out)
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn put_value(out: &mut Vec<u8>, value: &MetadataValue) {
    match value {
        MetadataValue::U8(value) => out.push(*value),
        MetadataValue::I8(value) => out.extend_from_slice(&value.to_le_bytes()),
        MetadataValue::U16(value) => out.extend_from_slice(&value.to_le_bytes()),
        MetadataValue::I16(value) => out.extend_from_slice(&value.to_le_bytes()),
        MetadataValue::U32(value) => out.extend_from_slice(&value.to_le_bytes()),
        MetadataValue::I32(value) => out.extend_from_slice(&value.to_le_bytes()),
        MetadataValue::F32(value) => out.extend_from_slice(&value.to_le_bytes()),
        MetadataValue::Bool(value) => out.push(u8::from(*value)),
        MetadataValue::String(value) => put_string(out, value),
        MetadataValue::U64(value) => out.extend_from_slice(&value.to_le_bytes()),
        MetadataValue::I64(value) => out.extend_from_slice(&value.to_le_bytes()),
        MetadataValue::F64(value) => out.extend_from_slice(&value.to_le_bytes()),
        MetadataValue::Array(array) => {
            out.extend_from_slice(&(array.element_type() as u32).to_le_bytes());
            out.extend_from_slice(&(array.len() as u64).to_le_bytes());
            fn put_all<T: Copy, const N: usize>(
                out: &mut Vec<u8>,
                values: &[T],
                to: fn(T) -> [u8; N],
            ) {
                for &value in values {
                    out.extend_from_slice(&to(value));
                }
            }
            match array {
                MetadataArray::U8(values) => out.extend_from_slice(values),
                MetadataArray::I8(values) => put_all(out, values, i8::to_le_bytes),
                MetadataArray::U16(values) => put_all(out, values, u16::to_le_bytes),
                MetadataArray::I16(values) => put_all(out, values, i16::to_le_bytes),
                MetadataArray::U32(values) => put_all(out, values, u32::to_le_bytes),
                MetadataArray::I32(values) => put_all(out, values, i32::to_le_bytes),
                MetadataArray::F32(values) => put_all(out, values, f32::to_le_bytes),
                MetadataArray::Bool(values) => out.extend(values.iter().map(|&v| u8::from(v))),
                MetadataArray::String(values) => {
                    for value in values {
                        put_string(out, value);
                    }
                }
                MetadataArray::U64(values) => put_all(out, values, u64::to_le_bytes),
                MetadataArray::I64(values) => put_all(out, values, i64::to_le_bytes),
                MetadataArray::F64(values) => put_all(out, values, f64::to_le_bytes),
            }
        }
    }
}
