//! The view of a stored tensor common to safetensors and GGUF, and reading
//! its bytes (whole, or a run of rows) from a [`ByteSource`].

use std::fmt;
use std::ops::Range;

use sculpt_gpu::weights::WeightFormat;

use super::error::{FormatError, Problem};
use super::source::{ByteSource, MAX_READ};

/// An element type stored one value per element, named as safetensors
/// names it.
#[allow(non_camel_case_types)] // the names safetensors files use
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    BOOL,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
}

impl Dtype {
    pub const ALL: [Dtype; 15] = [
        Self::BOOL,
        Self::U8,
        Self::I8,
        Self::F8_E5M2,
        Self::F8_E4M3,
        Self::I16,
        Self::U16,
        Self::F16,
        Self::BF16,
        Self::I32,
        Self::U32,
        Self::F32,
        Self::F64,
        Self::I64,
        Self::U64,
    ];

    /// The name in a safetensors header ("BF16", "F8_E4M3").
    pub const fn name(self) -> &'static str {
        match self {
            Self::BOOL => "BOOL",
            Self::U8 => "U8",
            Self::I8 => "I8",
            Self::F8_E5M2 => "F8_E5M2",
            Self::F8_E4M3 => "F8_E4M3",
            Self::I16 => "I16",
            Self::U16 => "U16",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::I32 => "I32",
            Self::U32 => "U32",
            Self::F32 => "F32",
            Self::F64 => "F64",
            Self::I64 => "I64",
            Self::U64 => "U64",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|dtype| dtype.name() == name)
    }

    /// Bytes per element.
    pub const fn size(self) -> u64 {
        match self {
            Self::BOOL | Self::U8 | Self::I8 | Self::F8_E5M2 | Self::F8_E4M3 => 1,
            Self::I16 | Self::U16 | Self::F16 | Self::BF16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::F64 | Self::I64 | Self::U64 => 8,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a tensor's values are stored. Both formats map onto this one enum, so
/// an F16 tensor is `Plain(Dtype::F16)` whether it came from safetensors or
/// GGUF, and `Quantized` only ever holds a ggml block format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// One value per element.
    Plain(Dtype),
    /// ggml blocks of `block_elements()` values along the innermost dimension.
    Quantized(WeightFormat),
}

impl Encoding {
    /// The encoding of a GGUF tensor: floats become `Plain`, so the two
    /// formats agree on them.
    pub fn from_weight_format(format: WeightFormat) -> Self {
        match format {
            WeightFormat::F32 => Self::Plain(Dtype::F32),
            WeightFormat::F16 => Self::Plain(Dtype::F16),
            WeightFormat::BF16 => Self::Plain(Dtype::BF16),
            quantized => Self::Quantized(quantized),
        }
    }

    /// The format `sculpt_gpu::weights::repack` takes for these bytes, if the
    /// GPU kernels read this encoding directly.
    pub fn weight_format(self) -> Option<WeightFormat> {
        match self {
            Self::Plain(Dtype::F32) => Some(WeightFormat::F32),
            Self::Plain(Dtype::F16) => Some(WeightFormat::F16),
            Self::Plain(Dtype::BF16) => Some(WeightFormat::BF16),
            Self::Plain(_) => None,
            Self::Quantized(format) => Some(format),
        }
    }

    /// Values per block (1 for plain encodings).
    pub fn block_elements(self) -> u64 {
        match self {
            Self::Plain(_) => 1,
            Self::Quantized(format) => format.block_elements() as u64,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> u64 {
        match self {
            Self::Plain(dtype) => dtype.size(),
            Self::Quantized(format) => format.block_bytes() as u64,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plain(dtype) => dtype.name(),
            Self::Quantized(format) => format.name(),
        }
    }

    /// The bytes of a tensor of `shape` (outermost dimension first), or
    /// `None` when the count overflows 64 bits or the innermost dimension is
    /// not a whole number of blocks.
    pub fn bytes_for(self, shape: &[u64]) -> Option<u64> {
        let cols = shape.last().copied().unwrap_or(1);
        let block = self.block_elements();
        if !cols.is_multiple_of(block) {
            return None;
        }
        let rows = checked_product(shape.get(..shape.len().saturating_sub(1))?)?;
        (cols / block)
            .checked_mul(self.block_bytes())?
            .checked_mul(rows)
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The product of `dims`, or `None` when it overflows 64 bits.
pub(crate) fn checked_product(dims: &[u64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &dim| acc.checked_mul(dim))
}

/// One tensor of a weight file, whatever the format.
///
/// `shape` is outermost dimension first (PyTorch's order, as safetensors
/// writes it; GGUF's `ne` order is reversed into it), so a `Linear` weight is
/// `[rows, cols]` in both formats. A *row* is a run of the innermost
/// dimension: a tensor has `shape[..n-1]`'s product rows of `shape[n-1]`
/// values each (a scalar is one row of one value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<u64>,
    pub encoding: Encoding,
    /// Where the bytes are, in absolute file offsets. The readers have
    /// checked that the range lies inside the file and matches the shape.
    pub bytes: Range<u64>,
}

impl TensorInfo {
    pub fn byte_len(&self) -> u64 {
        self.bytes.end - self.bytes.start
    }

    pub fn element_count(&self) -> u64 {
        checked_product(&self.shape).unwrap_or(u64::MAX)
    }

    /// Values per row: the innermost dimension.
    pub fn cols(&self) -> u64 {
        self.shape.last().copied().unwrap_or(1)
    }

    /// Rows: the product of every dimension but the innermost.
    pub fn rows(&self) -> u64 {
        checked_product(&self.shape[..self.shape.len().saturating_sub(1)]).unwrap_or(u64::MAX)
    }

    /// Bytes per row. A reader checked that rows are whole blocks.
    pub fn row_bytes(&self) -> u64 {
        self.cols() / self.encoding.block_elements() * self.encoding.block_bytes()
    }
}

/// Reads a whole tensor. The result is exactly `info.byte_len()` bytes,
/// read in pieces of at most [`MAX_READ`].
pub async fn read_tensor_bytes<S: ByteSource>(
    source: &mut S,
    info: &TensorInfo,
) -> Result<Vec<u8>, FormatError> {
    read_range(
        source,
        info.bytes.clone(),
        &format!("tensor '{}'", info.name),
    )
    .await
}

/// Reads rows `first_row..first_row + rows` of a tensor (see [`TensorInfo`]
/// for what a row is), so that a caller can stream a large tensor to the GPU
/// a slab at a time.
pub async fn read_rows<S: ByteSource>(
    source: &mut S,
    info: &TensorInfo,
    first_row: u64,
    rows: u64,
) -> Result<Vec<u8>, FormatError> {
    let total = info.rows();
    let out_of_range = || {
        FormatError::new(
            source.name(),
            Problem::RowsOutOfRange {
                tensor: info.name.clone(),
                first: first_row,
                count: rows,
                total,
            },
        )
    };
    let end_row = first_row.checked_add(rows).ok_or_else(out_of_range)?;
    if end_row > total {
        return Err(out_of_range());
    }
    let row_bytes = info.row_bytes();
    // Both products are at most the tensor's byte length, which the reader
    // checked fits the file, so they cannot overflow; checked anyway so that
    // a hand-built TensorInfo cannot make them wrap.
    let start = first_row
        .checked_mul(row_bytes)
        .and_then(|offset| info.bytes.start.checked_add(offset));
    let len = rows.checked_mul(row_bytes);
    let (Some(start), Some(len)) = (start, len) else {
        return Err(out_of_range());
    };
    let end = start.checked_add(len).ok_or_else(out_of_range)?;
    if end > info.bytes.end {
        return Err(out_of_range());
    }
    read_range(
        source,
        start..end,
        &format!("rows {first_row}..{end_row} of tensor '{}'", info.name),
    )
    .await
}

/// Reads `range` of the source into a new buffer, checking the range against
/// the source's length before allocating, and asking for at most
/// [`MAX_READ`] bytes per call.
pub(crate) async fn read_range<S: ByteSource>(
    source: &mut S,
    range: Range<u64>,
    what: &str,
) -> Result<Vec<u8>, FormatError> {
    let file_len = source.len();
    let needed = range.end.saturating_sub(range.start);
    if range.start > range.end || range.end > file_len {
        return Err(FormatError::new(
            source.name(),
            Problem::Truncated {
                what: what.to_owned(),
                offset: range.start,
                needed,
                file_len,
            },
        ));
    }
    let len = usize::try_from(needed).map_err(|_| {
        FormatError::new(
            source.name(),
            Problem::TooLargeForMemory {
                what: what.to_owned(),
                bytes: needed,
            },
        )
    })?;
    let mut bytes = vec![0u8; len];
    let mut offset = range.start;
    for piece in bytes.chunks_mut(MAX_READ) {
        read_exact_at(source, offset, piece).await?;
        offset += piece.len() as u64;
    }
    Ok(bytes)
}

/// One `read_at` call, its I/O error turned into a [`FormatError`].
pub(crate) async fn read_exact_at<S: ByteSource>(
    source: &mut S,
    offset: u64,
    buf: &mut [u8],
) -> Result<(), FormatError> {
    source.read_at(offset, buf).await.map_err(|error| {
        FormatError::new(
            source.name(),
            Problem::Read {
                offset,
                len: buf.len(),
                source: error,
            },
        )
    })
}

/// The tensors of one file, in the order their bytes lie in it, with lookup
/// by name. Names are unique: the readers refuse files that repeat one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TensorIndex {
    tensors: Vec<TensorInfo>,
    by_name: std::collections::HashMap<String, usize>,
}

impl TensorIndex {
    /// Builds the index from tensors whose names a reader has checked are
    /// unique; sorts them by where their bytes start.
    pub(crate) fn from_unique(mut tensors: Vec<TensorInfo>) -> Self {
        tensors.sort_by_key(|info| (info.bytes.start, info.bytes.end));
        let by_name = tensors
            .iter()
            .enumerate()
            .map(|(position, info)| (info.name.clone(), position))
            .collect();
        Self { tensors, by_name }
    }

    /// The tensors of several indexes (the shards of one checkpoint), in
    /// their order; the caller has checked that names are unique across them.
    pub(crate) fn concatenated(indexes: Vec<TensorIndex>) -> Self {
        let tensors: Vec<TensorInfo> = indexes
            .into_iter()
            .flat_map(|index| index.tensors)
            .collect();
        let by_name = tensors
            .iter()
            .enumerate()
            .map(|(position, info)| (info.name.clone(), position))
            .collect();
        Self { tensors, by_name }
    }

    pub fn get(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name
            .get(name)
            .map(|&position| &self.tensors[position])
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|info| info.name.as_str())
    }
}

/// A tensor for the writers: its bytes exactly as the file stores them.
#[derive(Clone, Copy, Debug)]
pub struct TensorToWrite<'a> {
    pub name: &'a str,
    /// Outermost dimension first, as in [`TensorInfo`].
    pub shape: &'a [u64],
    pub encoding: Encoding,
    pub bytes: &'a [u8],
}

impl TensorToWrite<'_> {
    /// Checks that the bytes match the shape and encoding, so that a writer
    /// never produces a file its own reader would refuse.
    pub(crate) fn check(&self, writer: &str) -> Result<(), FormatError> {
        let cannot = |detail| FormatError::cannot_write(writer, self.name, detail);
        let expected = self.encoding.bytes_for(self.shape).ok_or_else(|| {
            cannot(format!(
                "shape {:?} is not a whole number of {} blocks, or overflows",
                self.shape, self.encoding
            ))
        })?;
        if expected != self.bytes.len() as u64 {
            return Err(cannot(format!(
                "shape {:?} in {} takes {expected} bytes, but {} were given",
                self.shape,
                self.encoding,
                self.bytes.len()
            )));
        }
        Ok(())
    }
}
