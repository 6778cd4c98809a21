//! Where every model's weights come from, and how they reach the GPU.
//!
//! A [`WeightSource`] hands out tensors by name, asynchronously: in the
//! browser the bytes come from IndexedDB, which only answers through
//! promises, so taking a tensor is a future with no `Send` bound, and every
//! model's `load` is an `async fn` (native callers drive it with
//! `pollster::block_on`). [`FileWeights`] is the source over a safetensors
//! or GGUF file; tests use a map of f32 values or a closure.
//!
//! One [`Loader`] serves all the models: it takes each tensor once, checks
//! its shape against the model's configuration and uploads it; every problem
//! is a [`LoadError`] naming the model and the tensor.

mod error;
mod file;
mod gpu_form;
mod loader;
mod source;

pub use error::LoadError;
pub use file::FileWeights;
pub use gpu_form::gpu_bytes;
pub(crate) use loader::{Linear, Loader};
pub use source::{SourceError, SourceTensor, TakeFuture, TensorData, TensorUse, WeightSource};
