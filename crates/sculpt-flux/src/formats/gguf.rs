//! GGUF (versions 2 and 3, little-endian), as ggml's `docs/gguf.md` lays it
//! out: magic `GGUF`, `u32` version, `u64` tensor count, `u64` metadata
//! count, the metadata key-value pairs, the tensor infos (name, `u32` n_dims,
//! `u64` dims innermost first, `u32` ggml type, `u64` offset), padding to
//! `general.alignment`, then the data section that tensor offsets count from.
//!
//! Every count and length is checked against the bytes left in the file
//! before anything is allocated for it, and every size is computed with
//! checked arithmetic: crafted files have made public GGUF loaders allocate
//! without bound, loop for ever, or wrap a tensor's size to a small number.

use std::collections::HashSet;
use std::io::Write;

use sculpt_gpu::weights::WeightFormat;

use super::error::{FormatError, Problem};
use super::source::ByteSource;
use super::tensor::{
    Encoding, TensorIndex, TensorInfo, TensorToWrite, checked_product, read_exact_at,
};

pub const MAGIC: [u8; 4] = *b"GGUF";
/// The version [`write_gguf`] writes.
pub const VERSION: u32 = 3;
/// The data alignment when a file does not set `general.alignment`.
pub const DEFAULT_ALIGNMENT: u64 = 32;
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// The longest tensor name the reader accepts. The spec says 64 bytes, but
/// tools outside ggml (ComfyUI-GGUF) write longer names that their readers
/// load, so the reader only refuses absurd lengths.
pub const MAX_TENSOR_NAME_LEN: u64 = 256;
/// The longest tensor name the writer writes: ggml refuses names of
/// `GGML_MAX_NAME` (64) bytes or more, and written files must load there.
pub const GGML_MAX_TENSOR_NAME_LEN: usize = 63;
/// The spec's limit on metadata keys.
pub const MAX_KEY_LEN: u64 = u16::MAX as u64;
/// ggml tensors have at most 4 dimensions.
pub const MAX_DIMS: u32 = 4;

/// The fewest bytes a metadata pair takes: key length, value type, a 1-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// The fewest bytes a tensor info takes: name length, n_dims, one dim, type, offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 8 + 4 + 8;
/// How much of the header the reader fetches from the source at a time.
const WINDOW: usize = 1 << 20;
/// Vectors whose length comes from the file start at most this large and
/// grow as elements are actually read, so memory follows bytes read.
const INITIAL_CAPACITY_LIMIT: usize = 1024;

/// A metadata value type, with the id GGUF gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl ValueType {
    fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::U8,
            1 => Self::I8,
            2 => Self::U16,
            3 => Self::I16,
            4 => Self::U32,
            5 => Self::I32,
            6 => Self::F32,
            7 => Self::Bool,
            8 => Self::String,
            9 => Self::Array,
            10 => Self::U64,
            11 => Self::I64,
            12 => Self::F64,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "uint8",
            Self::I8 => "int8",
            Self::U16 => "uint16",
            Self::I16 => "int16",
            Self::U32 => "uint32",
            Self::I32 => "int32",
            Self::F32 => "float32",
            Self::Bool => "bool",
            Self::String => "string",
            Self::Array => "array",
            Self::U64 => "uint64",
            Self::I64 => "int64",
            Self::F64 => "float64",
        }
    }

    /// Bytes per value in the file; for strings, the fewest (an empty one).
    fn min_bytes(self) -> u64 {
        match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 | Self::String => 8,
            // An array is at least its element type and length.
            Self::Array => 4 + 8,
        }
    }
}

/// A metadata value. Arrays are typed vectors, so that an array takes about
/// as much memory as its bytes in the file and its element type is fixed.
#[derive(Clone, Debug, PartialEq)]
pub enum MetadataValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(MetadataArray),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// An array value: one element type for the whole array, never arrays.
#[derive(Clone, Debug, PartialEq)]
pub enum MetadataArray {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(Vec<String>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

impl MetadataValue {
    pub fn value_type(&self) -> ValueType {
        match self {
            Self::U8(_) => ValueType::U8,
            Self::I8(_) => ValueType::I8,
            Self::U16(_) => ValueType::U16,
            Self::I16(_) => ValueType::I16,
            Self::U32(_) => ValueType::U32,
            Self::I32(_) => ValueType::I32,
            Self::F32(_) => ValueType::F32,
            Self::Bool(_) => ValueType::Bool,
            Self::String(_) => ValueType::String,
            Self::Array(_) => ValueType::Array,
            Self::U64(_) => ValueType::U64,
            Self::I64(_) => ValueType::I64,
            Self::F64(_) => ValueType::F64,
        }
    }

    /// The value if it is exactly a uint32 (no conversions: a value of
    /// another type is a different field as far as a reader is concerned).
    pub fn as_u32(&self) -> Option<u32> {
        match *self {
            Self::U32(value) => Some(value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(value) => Some(value),
            _ => None,
        }
    }
}

impl MetadataArray {
    pub fn element_type(&self) -> ValueType {
        match self {
            Self::U8(_) => ValueType::U8,
            Self::I8(_) => ValueType::I8,
            Self::U16(_) => ValueType::U16,
            Self::I16(_) => ValueType::I16,
            Self::U32(_) => ValueType::U32,
            Self::I32(_) => ValueType::I32,
            Self::F32(_) => ValueType::F32,
            Self::Bool(_) => ValueType::Bool,
            Self::String(_) => ValueType::String,
            Self::U64(_) => ValueType::U64,
            Self::I64(_) => ValueType::I64,
            Self::F64(_) => ValueType::F64,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::U8(values) => values.len(),
            Self::I8(values) => values.len(),
            Self::U16(values) => values.len(),
            Self::I16(values) => values.len(),
            Self::U32(values) => values.len(),
            Self::I32(values) => values.len(),
            Self::F32(values) => values.len(),
            Self::Bool(values) => values.len(),
            Self::String(values) => values.len(),
            Self::U64(values) => values.len(),
            Self::I64(values) => values.len(),
            Self::F64(values) => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A parsed GGUF header.
#[derive(Clone, Debug, PartialEq)]
pub struct Gguf {
    pub version: u32,
    /// The metadata pairs in file order (keys are unique).
    pub metadata: Vec<(String, MetadataValue)>,
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_start: u64,
    pub index: TensorIndex,
}

impl Gguf {
    pub fn metadata_value(&self, key: &str) -> Option<&MetadataValue> {
        self.metadata
            .iter()
            .find(|(found, _)| found == key)
            .map(|(_, value)| value)
    }
}

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

fn capacity_for(count: u64) -> usize {
    usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(INITIAL_CAPACITY_LIMIT)
}

/// A tensor info as the file states it, before it is checked against the
/// data section.
struct RawTensorInfo {
    name: String,
    /// ggml's `ne`: innermost dimension first.
    dims: Vec<u64>,
    format: WeightFormat,
    offset: u64,
}

impl RawTensorInfo {
    /// Problems are boxed so that the `Result` stays small.
    fn locate(
        self,
        data_start: u64,
        alignment: u64,
        file_len: u64,
    ) -> Result<TensorInfo, Box<Problem>> {
        let Self {
            name,
            dims,
            format,
            offset,
        } = self;
        let encoding = Encoding::from_weight_format(format);
        let block = encoding.block_elements();
        // n_dims >= 1 was checked when the info was read.
        let cols = dims.first().copied().unwrap_or(1);
        if !cols.is_multiple_of(block) {
            return Err(Box::new(Problem::RowNotWholeBlocks {
                tensor: name,
                format: format.name().into(),
                cols,
                block,
            }));
        }
        let shape: Vec<u64> = dims.iter().rev().copied().collect();
        // Both the element count and the byte size must fit: ggml counts
        // elements in int64, and a wrapped size would pass the bounds check.
        let element_count = checked_product(&shape).filter(|&count| count <= i64::MAX as u64);
        let Some(size) = element_count.and_then(|_| encoding.bytes_for(&shape)) else {
            return Err(Box::new(Problem::TensorSizeOverflow {
                tensor: name,
                shape,
            }));
        };
        if !offset.is_multiple_of(alignment) {
            return Err(Box::new(Problem::UnalignedOffset {
                tensor: name,
                offset,
                alignment,
            }));
        }
        let begin = data_start.checked_add(offset);
        let end = begin.and_then(|begin| begin.checked_add(size));
        match (begin, end) {
            (Some(begin), Some(end)) if end <= file_len => Ok(TensorInfo {
                name,
                shape,
                encoding,
                bytes: begin..end,
            }),
            _ => Err(Box::new(Problem::TensorPastEnd {
                tensor: name,
                begin: data_start.saturating_add(offset),
                end: data_start.saturating_add(offset).saturating_add(size),
                file_len,
            })),
        }
    }
}

/// Reads the header front to back through a window of the source, so that
/// the many small fields cost one source read per [`WINDOW`] bytes.
struct HeaderReader<'s, S> {
    source: &'s mut S,
    file_len: u64,
    window: Vec<u8>,
    window_start: u64,
    pos: u64,
}

impl<'s, S: ByteSource> HeaderReader<'s, S> {
    fn new(source: &'s mut S) -> Self {
        let file_len = source.len();
        Self {
            source,
            file_len,
            window: Vec::new(),
            window_start: 0,
            pos: 0,
        }
    }

    fn remaining(&self) -> u64 {
        self.file_len - self.pos
    }

    fn fail(&self, problem: Problem) -> FormatError {
        FormatError::new(self.source.name(), problem)
    }

    /// The next `len` bytes. Callers ask for at most [`WINDOW`] at a time
    /// (longer runs go through [`Self::bytes`]); a longer request still
    /// works, with a window of its own size, which `len <= remaining` bounds.
    async fn take(&mut self, len: usize, what: impl Fn() -> String) -> Result<&[u8], FormatError> {
        if (len as u64) > self.remaining() {
            return Err(self.fail(Problem::Truncated {
                what: what(),
                offset: self.pos,
                needed: len as u64,
                file_len: self.file_len,
            }));
        }
        let window_end = self.window_start + self.window.len() as u64;
        if self.pos < self.window_start || self.pos + len as u64 > window_end {
            // At most WINDOW or len, both usize, and never past the end.
            let refill = (self.remaining().min(WINDOW as u64) as usize).max(len);
            self.window.resize(refill, 0);
            self.window_start = self.pos;
            read_exact_at(self.source, self.pos, &mut self.window).await?;
        }
        let start = (self.pos - self.window_start) as usize;
        self.pos += len as u64;
        Ok(&self.window[start..start + len])
    }

    async fn array<const N: usize>(
        &mut self,
        what: impl Fn() -> String,
    ) -> Result<[u8; N], FormatError> {
        let bytes = self.take(N, what).await?;
        let mut array = [0u8; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    async fn u32(&mut self, what: impl Fn() -> String) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array(what).await?))
    }

    async fn u64(&mut self, what: impl Fn() -> String) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array(what).await?))
    }

    /// `len` bytes, checked against the bytes left before allocating.
    async fn bytes(&mut self, len: u64, what: impl Fn() -> String) -> Result<Vec<u8>, FormatError> {
        if len > self.remaining() {
            return Err(self.fail(Problem::Truncated {
                what: what(),
                offset: self.pos,
                needed: len,
                file_len: self.file_len,
            }));
        }
        // On 32-bit targets (wasm32) a run longer than usize cannot be held.
        let len = usize::try_from(len).map_err(|_| {
            self.fail(Problem::TooLargeForMemory {
                what: what(),
                bytes: len,
            })
        })?;
        let mut bytes = Vec::with_capacity(len);
        while bytes.len() < len {
            let piece = (len - bytes.len()).min(WINDOW);
            let taken = self.take(piece, &what).await?;
            bytes.extend_from_slice(taken);
        }
        Ok(bytes)
    }

    /// Fails unless `count` items of at least `min_bytes` each fit in the
    /// bytes left: the check that comes before any allocation or loop.
    fn check_count(&self, what: &str, count: u64, min_bytes: u64) -> Result<(), FormatError> {
        let remaining = self.remaining();
        let max = remaining / min_bytes;
        if count > max {
            return Err(self.fail(Problem::CountTooLarge {
                what: what.into(),
                count,
                remaining,
                max,
                min_bytes,
            }));
        }
        Ok(())
    }

    async fn string(
        &mut self,
        limit: u64,
        what: impl Fn() -> String,
    ) -> Result<String, FormatError> {
        let len = self.u64(|| format!("the length of {}", what())).await?;
        if len > limit {
            return Err(self.fail(Problem::NameTooLong {
                what: what(),
                len,
                limit,
            }));
        }
        if len > self.remaining() {
            return Err(self.fail(Problem::StringTooLong {
                what: what(),
                len,
                remaining: self.remaining(),
            }));
        }
        let bytes = self.bytes(len, &what).await?;
        String::from_utf8(bytes).map_err(|_| self.fail(Problem::NotUtf8 { what: what() }))
    }

    async fn value(&mut self, key: &str, type_id: u32) -> Result<MetadataValue, FormatError> {
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

    async fn tensor_info(&mut self, entry: u64) -> Result<RawTensorInfo, FormatError> {
        let name = self
            .string(MAX_TENSOR_NAME_LEN, || {
                format!("the name of tensor #{entry}")
            })
            .await?;
        let n_dims = self
            .u32(|| format!("the dimension count of tensor '{name}'"))
            .await?;
        if !(1..=MAX_DIMS).contains(&n_dims) {
            return Err(self.fail(Problem::BadDimensionCount {
                tensor: name,
                n_dims,
            }));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for axis in 0..n_dims {
            let dim = self
                .u64(|| format!("dimension {axis} of tensor '{name}'"))
                .await?;
            if dim > i64::MAX as u64 {
                return Err(self.fail(Problem::DimensionTooLarge { tensor: name, dim }));
            }
            dims.push(dim);
        }
        let type_id = self
            .u32(|| format!("the ggml type of tensor '{name}'"))
            .await?;
        let Ok(format) = WeightFormat::from_ggml_type(type_id) else {
            return Err(self.fail(Problem::UnsupportedGgmlType {
                tensor: name,
                type_id,
            }));
        };
        let offset = self
            .u64(|| format!("the data offset of tensor '{name}'"))
            .await?;
        Ok(RawTensorInfo {
            name,
            dims,
            format,
            offset,
        })
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

/// Writes a GGUF v3 file: the metadata pairs in the order given, then the
/// tensor infos and data in the order given, each tensor's data aligned to
/// `general.alignment` (a uint32 in `metadata`, or 32).
pub fn write_gguf<W: Write>(
    out: &mut W,
    metadata: &[(&str, &MetadataValue)],
    tensors: &[TensorToWrite<'_>],
) -> Result<(), FormatError> {
    const WRITER: &str = "GGUF writer";
    let cannot = |tensor: &str, detail: String| {
        FormatError::new(
            WRITER,
            Problem::CannotWrite {
                tensor: tensor.to_owned(),
                detail,
            },
        )
    };
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
