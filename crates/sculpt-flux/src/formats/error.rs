//! The one error type of the format readers and writers. Every message names
//! the file (the source's name), the field or tensor, and what is wrong with
//! it, because the file usually came from somewhere else and the message is
//! all the user has to go on.

use std::io;

/// What went wrong, and in which file.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct FormatError {
    file: String,
    // Boxed so that `Result<T, FormatError>` stays two words wide.
    problem: Box<Problem>,
}

impl FormatError {
    pub fn new(file: impl Into<String>, problem: Problem) -> Self {
        Self {
            file: file.into(),
            problem: Box::new(problem),
        }
    }

    /// A writer's refusal to write `tensor` (or a field), and why.
    pub(crate) fn cannot_write(writer: &str, tensor: &str, detail: String) -> Self {
        Self::new(
            writer,
            Problem::CannotWrite {
                tensor: tensor.to_owned(),
                detail,
            },
        )
    }

    /// The name of the file (source) the error is about.
    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

/// The problems a weight file can have, or a request to read from one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    // --- Reading bytes ------------------------------------------------------
    #[error("could not read {len} bytes at offset {offset}: {source}")]
    Read {
        offset: u64,
        len: usize,
        source: io::Error,
    },
    #[error(
        "the file is {file_len} bytes long, but {what} needs {needed} bytes at offset {offset}"
    )]
    Truncated {
        what: String,
        offset: u64,
        needed: u64,
        file_len: u64,
    },

    // --- safetensors ---------------------------------------------------------
    #[error(
        "the header length {header_len} is larger than the {limit} bytes a safetensors header may take"
    )]
    HeaderTooLarge { header_len: u64, limit: u64 },
    #[error("the header is not UTF-8 (the first invalid byte is at header offset {valid_up_to})")]
    HeaderNotUtf8 { valid_up_to: usize },
    #[error("the header does not start with '{{', as a safetensors header must")]
    HeaderNotAnObject,
    #[error("the header is not valid JSON: {detail}")]
    HeaderNotJson { detail: String },
    #[error("the header entry '{key}' is malformed: {detail}")]
    MalformedEntry { key: String, detail: String },
    #[error("the header names '{key}' twice")]
    DuplicateHeaderKey { key: String },
    #[error("tensor '{tensor}' has dtype '{dtype}', which Sculpt cannot read")]
    UnknownDtype { tensor: String, dtype: String },
    #[error("tensor '{tensor}' has data_offsets [{begin}, {end}], which run backwards")]
    ReversedRange {
        tensor: String,
        begin: u64,
        end: u64,
    },
    #[error(
        "tensor '{tensor}' of shape {shape:?} in {dtype} takes {expected} bytes, \
         but its data_offsets [{begin}, {end}] hold {actual}"
    )]
    RangeSizeMismatch {
        tensor: String,
        shape: Vec<u64>,
        dtype: String,
        expected: u64,
        begin: u64,
        end: u64,
        actual: u64,
    },
    #[error(
        "tensor '{tensor}' starts at data offset {begin}, but tensor '{previous}' \
         ends at {previous_end}: their bytes overlap"
    )]
    RangesOverlap {
        tensor: String,
        begin: u64,
        previous: String,
        previous_end: u64,
    },
    #[error(
        "tensor '{tensor}' starts at data offset {begin}, leaving bytes {gap_start}..{begin} \
         that no tensor indexes (the format forbids holes)"
    )]
    RangeGap {
        tensor: String,
        begin: u64,
        gap_start: u64,
    },
    #[error("tensor '{tensor}' ends at data offset {end}, past the {data_len}-byte data section")]
    RangePastEnd {
        tensor: String,
        end: u64,
        data_len: u64,
    },
    #[error(
        "the tensors index {indexed} bytes, but the data section has {data_len} \
         (the format forbids unindexed bytes)"
    )]
    DataNotCovered { indexed: u64, data_len: u64 },

    // --- GGUF -----------------------------------------------------------------
    #[error("the file does not start with the GGUF magic 'GGUF' (found {found:02x?})")]
    BadMagic { found: [u8; 4] },
    #[error("GGUF version {version} is not supported (Sculpt reads versions 2 and 3)")]
    UnsupportedVersion { version: u32 },
    #[error("the file is a big-endian GGUF (version {version}); Sculpt reads little-endian files")]
    BigEndian { version: u32 },
    #[error(
        "{what} is {count}, but the {remaining} bytes left in the file hold at most \
         {max} of them ({min_bytes} bytes each at least)"
    )]
    CountTooLarge {
        what: String,
        count: u64,
        remaining: u64,
        max: u64,
        min_bytes: u64,
    },
    #[error("{what} is {len} bytes long, but only {remaining} bytes are left in the file")]
    StringTooLong {
        what: String,
        len: u64,
        remaining: u64,
    },
    #[error("{what} is {len} bytes long; at most {limit} are allowed")]
    NameTooLong { what: String, len: u64, limit: u64 },
    #[error("{what} is not UTF-8")]
    NotUtf8 { what: String },
    #[error("metadata key '{key}' has value type {type_id}, which GGUF does not define")]
    UnknownValueType { key: String, type_id: u32 },
    #[error("metadata key '{key}' holds an array of arrays, which Sculpt does not read")]
    NestedArray { key: String },
    #[error("metadata key '{key}' holds the bool byte {byte}; GGUF bools are 0 or 1")]
    InvalidBool { key: String, byte: u8 },
    #[error("metadata key '{key}' appears twice")]
    DuplicateKey { key: String },
    #[error("general.alignment has type {found}, but it must be a uint32")]
    AlignmentWrongType { found: &'static str },
    #[error("general.alignment is {alignment}, which is not a non-zero power of two")]
    AlignmentNotPowerOfTwo { alignment: u64 },
    #[error("tensor '{tensor}' has {n_dims} dimensions; GGUF tensors have 1 to 4")]
    BadDimensionCount { tensor: String, n_dims: u32 },
    #[error("tensor '{tensor}' has dimension {dim}, larger than a signed 64-bit count")]
    DimensionTooLarge { tensor: String, dim: u64 },
    #[error("tensor '{tensor}' has ggml type {type_id}, which Sculpt cannot read")]
    UnsupportedGgmlType { tensor: String, type_id: u32 },
    #[error(
        "tensor '{tensor}' stores {format} blocks of {block} values, but its rows have \
         {cols} values, which is not a multiple of {block}"
    )]
    RowNotWholeBlocks {
        tensor: String,
        format: String,
        cols: u64,
        block: u64,
    },
    #[error("tensor '{tensor}' of shape {shape:?} has more bytes than a 64-bit count holds")]
    TensorSizeOverflow { tensor: String, shape: Vec<u64> },
    #[error(
        "tensor '{tensor}' has data offset {offset}, which is not a multiple of the alignment {alignment}"
    )]
    UnalignedOffset {
        tensor: String,
        offset: u64,
        alignment: u64,
    },
    #[error("tensor '{tensor}' takes bytes {begin}..{end} of the file, past its end at {file_len}")]
    TensorPastEnd {
        tensor: String,
        begin: u64,
        end: u64,
        file_len: u64,
    },
    #[error(
        "tensor '{tensor}' at bytes {begin}.. overlaps tensor '{other}', which ends at {other_end}"
    )]
    TensorsOverlap {
        tensor: String,
        begin: u64,
        other: String,
        other_end: u64,
    },
    #[error("tensor '{tensor}' appears twice")]
    DuplicateTensor { tensor: String },

    // --- Reading tensors --------------------------------------------------------
    #[error("tensor '{tensor}' has {total} rows; rows {first}..{first}+{count} do not exist")]
    RowsOutOfRange {
        tensor: String,
        first: u64,
        count: u64,
        total: u64,
    },
    #[error("{what} takes {bytes} bytes, more than this machine can address in one buffer")]
    TooLargeForMemory { what: String, bytes: u64 },

    // --- Converting tensors for the models ------------------------------------
    #[error("tensor '{tensor}' is stored as {encoding}; a model reads {wanted}")]
    UnusableEncoding {
        tensor: String,
        encoding: String,
        wanted: &'static str,
    },
    #[error("tensor '{tensor}' holds {value} at element {index}; weights must be finite")]
    NotFinite {
        tensor: String,
        index: u64,
        value: f32,
    },
    #[error("tensor '{tensor}' could not be repacked for the GPU: {detail}")]
    Repack { tensor: String, detail: String },
    #[error("no weight files were given")]
    NoShards,
    #[error(
        "tensor '{tensor}' is also in {other}: the shards of one checkpoint hold each tensor once"
    )]
    DuplicateAcrossShards { tensor: String, other: String },

    // --- Writing ----------------------------------------------------------------
    #[error("cannot write tensor '{tensor}': {detail}")]
    CannotWrite { tensor: String, detail: String },
    #[error("writing failed: {0}")]
    Write(#[from] io::Error),
}
