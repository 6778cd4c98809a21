//! Weight-file formats: the first stage of bytes → format reader → tensors
//! on the GPU → pipeline.
//!
//! A reader takes a [`ByteSource`] and reads only the header, checking every
//! length, count and offset against the source's real size with checked
//! arithmetic, and returns a [`TensorIndex`] of [`TensorInfo`]s. Tensor bytes
//! are then read one tensor (or a run of rows) at a time with
//! [`read_tensor_bytes`] / [`read_rows`] and handed to
//! `sculpt_gpu::weights::repack`. No input makes a reader panic or allocate
//! more than the file's size justifies; every error names the file, the
//! field or tensor, and the problem.

pub mod error;
pub mod gguf;
pub mod safetensors;
pub mod source;
pub mod tensor;

pub use error::{FormatError, Problem};
pub use gguf::{Gguf, MetadataArray, MetadataValue, gguf_bytes, read_gguf, write_gguf};
pub use safetensors::{
    Safetensors, f32_safetensors_bytes, read_safetensors, safetensors_bytes, write_f32_safetensors,
    write_safetensors,
};
#[cfg(not(target_arch = "wasm32"))]
pub use source::FileSource;
pub use source::{ByteSource, MAX_READ, MemorySource, read_end};
pub use tensor::{
    Dtype, Encoding, TensorIndex, TensorInfo, TensorToWrite, read_rows, read_tensor_bytes,
};

/// A weight file of either format.
#[derive(Clone, Debug, PartialEq)]
pub enum WeightFile {
    Safetensors(Safetensors),
    Gguf(Gguf),
}

impl WeightFile {
    pub fn index(&self) -> &TensorIndex {
        match self {
            Self::Safetensors(file) => &file.index,
            Self::Gguf(file) => &file.index,
        }
    }
}

/// Reads the header of a GGUF or safetensors file, telling them apart by
/// GGUF's magic (a safetensors file starts with its header length, whose
/// bytes cannot spell "GGUF" for any header under the 100 MiB limit). A
/// file named `*.gguf` is read as GGUF whatever it starts with, so that a
/// damaged one is reported as a GGUF without its magic rather than as a
/// strange safetensors file.
pub async fn read_weight_file<S: ByteSource>(source: &mut S) -> Result<WeightFile, FormatError> {
    let mut magic = [0u8; 4];
    let starts_with_magic =
        source.len() >= 4 && source.read_at(0, &mut magic).await.is_ok() && magic == gguf::MAGIC;
    let named_gguf = source.name().to_ascii_lowercase().ends_with(".gguf");
    if starts_with_magic || named_gguf {
        read_gguf(source).await.map(WeightFile::Gguf)
    } else {
        read_safetensors(source).await.map(WeightFile::Safetensors)
    }
}
