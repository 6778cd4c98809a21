//! Reading a GGUF header: the fixed fields, the metadata pairs and the
//! tensor infos, then the data section's alignment and every tensor's place
//! in it.

use std::collections::HashSet;

use super::cursor::HeaderReader;
use super::metadata::{MetadataArray, MetadataValue, ValueType};
use super::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, Gguf, MAGIC, MAX_KEY_LEN};
use crate::formats::error::{FormatError, Problem};
use crate::formats::source::ByteSource;
use crate::formats::tensor::TensorIndex;

/// The fewest bytes a metadata pair takes: key length, value type, a 1-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// The fewest bytes a tensor info takes: name length, n_dims, one dim, type, offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 8 + 4 + 8;
/// Vectors whose length comes from the file start at most this large and
/// grow as elements are actually read, so memory follows bytes read.
const INITIAL_CAPACITY_LIMIT: usize = 1024;

/// Reads and validates a GGUF header against the source's real length. Only
/// the header is read; tensor bytes stay in the source.
pub async fn read_gguf<S: ByteSource>(source: &mut S) -> Result<Gguf, FormatError> {
    let mut reader = HeaderReader::new(source);
    let file = reader.source.name().to_owned();
    let fail = |problem| FormatError::new(file.clone(), problem);

    let magic: [u8; 4] = reader.array(|| "the magic".into()).await?;
    if magic != MAGIC {
        return Err(fail(Problem::BadMagic { found: magic }));
    }
    let version = u32::from_le_bytes(reader.array(|| "the version".into()).await?);
    match version {
        2 | 3 => {}
        _ if matches!(version.swap_bytes(), 1..=3) => {
            return Err(fail(Problem::BigEndian {
                version: version.swap_bytes(),
            }));
        }
        _ => return Err(fail(Problem::UnsupportedVersion { version })),
    }
    let tensor_count = reader.u64(|| "the tensor count".into()).await?;
    let kv_count = reader.u64(|| "the metadata count".into()).await?;

    reader.check_count("the metadata count", kv_count, MIN_KV_BYTES)?;
    let mut metadata = Vec::with_capacity(capacity_for(kv_count));
    let mut keys = HashSet::with_capacity(capacity_for(kv_count));
    for entry in 0..kv_count {
        let key = reader
            .string(MAX_KEY_LEN, || format!("metadata key #{entry}"))
            .await?;
        let type_id = reader.u32(|| format!("the value type of '{key}'")).await?;
        let value = reader.value(&key, type_id).await?;
        if !keys.insert(key.clone()) {
            return Err(fail(Problem::DuplicateKey { key }));
        }
        metadata.push((key, value));
    }

    reader.check_count("the tensor count", tensor_count, MIN_TENSOR_INFO_BYTES)?;
    let mut raw_tensors = Vec::with_capacity(capacity_for(tensor_count));
    let mut names = HashSet::with_capacity(capacity_for(tensor_count));
    for entry in 0..tensor_count {
        let raw = reader.tensor_info(entry).await?;
        if !names.insert(raw.name.clone()) {
            return Err(fail(Problem::DuplicateTensor { tensor: raw.name }));
        }
        raw_tensors.push(raw);
    }

    let alignment = match metadata.iter().find(|(key, _)| key == ALIGNMENT_KEY) {
        None => DEFAULT_ALIGNMENT,
        Some((_, MetadataValue::U32(alignment))) => u64::from(*alignment),
        Some((_, other)) => {
            return Err(fail(Problem::AlignmentWrongType {
                found: other.value_type().name(),
            }));
        }
    };
    if !alignment.is_power_of_two() {
        return Err(fail(Problem::AlignmentNotPowerOfTwo { alignment }));
    }
    let header_end = reader.pos;
    let file_len = reader.file_len;
    // header_end is at most the file length, so rounding up overflows only
    // for a source that claims nearly 2^64 bytes; checked all the same.
    let data_start = header_end
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| {
            fail(Problem::Truncated {
                what: "the aligned data section".into(),
                offset: header_end,
                needed: alignment,
                file_len,
            })
        })?;

    let mut tensors = Vec::with_capacity(raw_tensors.len());
    for raw in raw_tensors {
        tensors.push(
            raw.locate(data_start, alignment, file_len)
                .map_err(|problem| fail(*problem))?,
        );
    }
    let index = TensorIndex::from_unique(tensors);
    for pair in index.tensors().windows(2) {
        let [before, after] = pair else { continue };
        if after.bytes.start < before.bytes.end {
            return Err(fail(Problem::TensorsOverlap {
                tensor: after.name.clone(),
                begin: after.bytes.start,
                other: before.name.clone(),
                other_end: before.bytes.end,
            }));
        }
    }
    Ok(Gguf {
        version,
        metadata,
        alignment,
        data_start,
        index,
    })
}

pub(super) fn capacity_for(count: u64) -> usize {
    usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(INITIAL_CAPACITY_LIMIT)
}

impl<S: ByteSource> HeaderReader<'_, S> {
    pub(super) async fn value(
        &mut self,
        key: &str,
        type_id: u32,
    ) -> Result<MetadataValue, FormatError> {
        let Some(value_type) = ValueType::from_id(type_id) else {
            return Err(self.fail(Problem::UnknownValueType {
                key: key.into(),
                type_id,
            }));
        };
        let what = || format!("the value of '{key}'");
        Ok(match value_type {
            ValueType::U8 => MetadataValue::U8(u8::from_le_bytes(self.array(what).await?)),
            ValueType::I8 => MetadataValue::I8(i8::from_le_bytes(self.array(what).await?)),
            ValueType::U16 => MetadataValue::U16(u16::from_le_bytes(self.array(what).await?)),
            ValueType::I16 => MetadataValue::I16(i16::from_le_bytes(self.array(what).await?)),
            ValueType::U32 => MetadataValue::U32(u32::from_le_bytes(self.array(what).await?)),
            ValueType::I32 => MetadataValue::I32(i32::from_le_bytes(self.array(what).await?)),
            ValueType::F32 => MetadataValue::F32(f32::from_le_bytes(self.array(what).await?)),
            ValueType::U64 => MetadataValue::U64(u64::from_le_bytes(self.array(what).await?)),
            ValueType::I64 => MetadataValue::I64(i64::from_le_bytes(self.array(what).await?)),
            ValueType::F64 => MetadataValue::F64(f64::from_le_bytes(self.array(what).await?)),
            ValueType::Bool => {
                let [byte] = self.array(what).await?;
                MetadataValue::Bool(self.bool(key, byte)?)
            }
            ValueType::String => MetadataValue::String(self.string(u64::MAX, what).await?),
            ValueType::Array => MetadataValue::Array(self.metadata_array(key).await?),
        })
    }

    fn bool(&self, key: &str, byte: u8) -> Result<bool, FormatError> {
        match byte {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.fail(Problem::InvalidBool {
                key: key.into(),
                byte,
            })),
        }
    }

    async fn metadata_array(&mut self, key: &str) -> Result<MetadataArray, FormatError> {
        let type_id = self
            .u32(|| format!("the element type of array '{key}'"))
            .await?;
        let Some(element_type) = ValueType::from_id(type_id) else {
            return Err(self.fail(Problem::UnknownValueType {
                key: key.into(),
                type_id,
            }));
        };
        let len = self.u64(|| format!("the length of array '{key}'")).await?;
        self.check_count(
            &format!("the length of array '{key}'"),
            len,
            element_type.min_bytes(),
        )?;
        Ok(match element_type {
            ValueType::Array => return Err(self.fail(Problem::NestedArray { key: key.into() })),
            ValueType::String => {
                let mut strings = Vec::with_capacity(capacity_for(len));
                for element in 0..len {
                    let what = || format!("element {element} of array '{key}'");
                    strings.push(self.string(u64::MAX, what).await?);
                }
                MetadataArray::String(strings)
            }
            ValueType::U8 => MetadataArray::U8(self.elements(key, len, 1).await?),
            ValueType::I8 => MetadataArray::I8(decode(
                &self.elements(key, len, 1).await?,
                i8::from_le_bytes,
            )),
            ValueType::U16 => MetadataArray::U16(decode(
                &self.elements(key, len, 2).await?,
                u16::from_le_bytes,
            )),
            ValueType::I16 => MetadataArray::I16(decode(
                &self.elements(key, len, 2).await?,
                i16::from_le_bytes,
            )),
            ValueType::U32 => MetadataArray::U32(decode(
                &self.elements(key, len, 4).await?,
                u32::from_le_bytes,
            )),
            ValueType::I32 => MetadataArray::I32(decode(
                &self.elements(key, len, 4).await?,
                i32::from_le_bytes,
            )),
            ValueType::F32 => MetadataArray::F32(decode(
                &self.elements(key, len, 4).await?,
                f32::from_le_bytes,
            )),
            ValueType::U64 => MetadataArray::U64(decode(
                &self.elements(key, len, 8).await?,
                u64::from_le_bytes,
            )),
            ValueType::I64 => MetadataArray::I64(decode(
                &self.elements(key, len, 8).await?,
                i64::from_le_bytes,
            )),
            ValueType::F64 => MetadataArray::F64(decode(
                &self.elements(key, len, 8).await?,
                f64::from_le_bytes,
            )),
            ValueType::Bool => MetadataArray::Bool(
                self.elements(key, len, 1)
                    .await?
                    .iter()
                    .map(|&byte| self.bool(key, byte))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// The raw bytes of `len` fixed-size array elements; `check_count` has
    /// checked that `len * size` bytes are left, so the product cannot overflow.
    async fn elements(&mut self, key: &str, len: u64, size: u64) -> Result<Vec<u8>, FormatError> {
        self.bytes(len * size, || format!("the elements of array '{key}'"))
            .await
    }
}

/// Little-endian values of `N` bytes each, one per chunk of `bytes`.
fn decode<T, const N: usize>(bytes: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|chunk| {
            let mut array = [0u8; N];
            array.copy_from_slice(chunk);
            from(array)
        })
        .collect()
}
