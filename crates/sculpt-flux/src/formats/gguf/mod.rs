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

mod cursor;
mod metadata;
mod reader;
mod tensor_info;
mod writer;

pub use metadata::{MetadataArray, MetadataValue, ValueType};
pub use reader::read_gguf;
pub use writer::{gguf_bytes, write_gguf};

use super::tensor::TensorIndex;

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
