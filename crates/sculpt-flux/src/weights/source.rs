//! The [`WeightSource`] trait and the simple sources tests use.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use sculpt_gpu::weights::PackedWeight;

/// One tensor as a source holds it.
pub struct SourceTensor {
    pub shape: Vec<usize>,
    pub data: TensorData,
}

pub enum TensorData {
    /// Row-major values.
    F32(Vec<f32>),
    /// A matrix already repacked for the GPU in its storage format (f16,
    /// bf16, GGUF blocks): linear weights stay in it; every other tensor
    /// must be f32.
    Packed(PackedWeight),
}

/// What the model does with a tensor, so that a source reading a file knows
/// which form to hand it out in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorUse {
    /// The weight of a linear layer: it may stay in its storage format
    /// ([`TensorData::Packed`]), which the linear kernels decode.
    LinearWeight,
    /// Anything else (biases, norm scales, embedding tables, convolution
    /// kernels): it must come as f32 values.
    Values,
}

/// A source error, in the reader's words.
pub type SourceError = Box<dyn std::error::Error>;

/// What [`WeightSource::take`] returns: a boxed future with no `Send` bound,
/// because a browser source awaits JavaScript promises.
pub type TakeFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<SourceTensor>, SourceError>> + 'a>>;

/// Hands out tensors by name.
///
/// The method returns a boxed future rather than being an `async fn` so that
/// the trait stays object-safe: the shared loader holds a
/// `&mut dyn WeightSource` and the model code is not generic over sources.
pub trait WeightSource {
    /// Takes tensor `name` out of the source (each name is asked for once);
    /// `Ok(None)` when the source has no tensor by that name. `used_as` says
    /// which form the model needs.
    fn take<'a>(&'a mut self, name: &'a str, used_as: TensorUse) -> TakeFuture<'a>;
}

/// Name → (shape, row-major f32 values).
impl WeightSource for HashMap<String, (Vec<usize>, Vec<f32>)> {
    fn take<'a>(&'a mut self, name: &'a str, _: TensorUse) -> TakeFuture<'a> {
        let tensor = self.remove(name).map(|(shape, values)| SourceTensor {
            shape,
            data: TensorData::F32(values),
        });
        Box::pin(std::future::ready(Ok(tensor)))
    }
}

/// A closure from name to tensor, answering at once.
impl<F> WeightSource for F
where
    F: FnMut(&str) -> Result<Option<SourceTensor>, SourceError>,
{
    fn take<'a>(&'a mut self, name: &'a str, _: TensorUse) -> TakeFuture<'a> {
        Box::pin(std::future::ready(self(name)))
    }
}
