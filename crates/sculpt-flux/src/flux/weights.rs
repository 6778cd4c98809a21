//! Where the transformer's weights come from: any [`WeightSource`] that
//! hands out tensors by their BFL names (`double_blocks.0.img_attn.qkv.weight`),
//! the names the released checkpoints and candle use. File readers implement
//! it; tests use a map of f32 values.

use std::collections::HashMap;

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::linear::{LinearWeight, linear},
    weights::PackedWeight,
};

use super::FluxError;

/// One tensor as a source holds it.
pub struct SourceTensor {
    pub shape: Vec<usize>,
    pub data: TensorData,
}

pub enum TensorData {
    /// Row-major values.
    F32(Vec<f32>),
    /// A matrix already repacked for the GPU in its storage format (f16,
    /// bf16, GGUF blocks): linear weights stay in it; vectors must be f32.
    Packed(PackedWeight),
}

/// A source error, in the reader's words.
pub type SourceError = Box<dyn std::error::Error>;

/// Hands out tensors by name.
pub trait WeightSource {
    /// Takes tensor `name` out of the source (each name is asked for once);
    /// `Ok(None)` when the source has no tensor by that name.
    fn take(&mut self, name: &str) -> Result<Option<SourceTensor>, SourceError>;
}

/// Name → (shape, row-major f32 values).
impl WeightSource for HashMap<String, (Vec<usize>, Vec<f32>)> {
    fn take(&mut self, name: &str) -> Result<Option<SourceTensor>, SourceError> {
        Ok(self.remove(name).map(|(shape, values)| SourceTensor {
            shape,
            data: TensorData::F32(values),
        }))
    }
}

/// A closure from name to tensor.
impl<F> WeightSource for F
where
    F: FnMut(&str) -> Result<Option<SourceTensor>, SourceError>,
{
    fn take(&mut self, name: &str) -> Result<Option<SourceTensor>, SourceError> {
        self(name)
    }
}

/// Uploads tensors from a source, checking each one's shape.
pub(crate) struct Loader<'a> {
    gpu: &'a Gpu,
    source: &'a mut dyn WeightSource,
}

impl<'a> Loader<'a> {
    pub fn new(gpu: &'a Gpu, source: &'a mut dyn WeightSource) -> Self {
        Self { gpu, source }
    }

    fn take(&mut self, name: &str, shape: &[usize]) -> Result<TensorData, FluxError> {
        let tensor = self
            .source
            .take(name)
            .map_err(|e| FluxError::Source {
                name: name.into(),
                message: e.to_string(),
            })?
            .ok_or_else(|| FluxError::MissingTensor(name.into()))?;
        let consistent = match &tensor.data {
            TensorData::F32(values) => values.len() == tensor.shape.iter().product::<usize>(),
            TensorData::Packed(packed) => tensor.shape == [packed.rows(), packed.cols()],
        };
        if !consistent {
            return Err(FluxError::Source {
                name: name.into(),
                message: format!("its data does not fill its shape {:?}", tensor.shape),
            });
        }
        if tensor.shape != shape {
            return Err(FluxError::TensorShape {
                name: name.into(),
                expected: shape.to_vec(),
                found: tensor.shape,
            });
        }
        Ok(tensor.data)
    }

    /// A 1-D tensor of `len` f32 values (biases, norm scales).
    pub fn vector(&mut self, name: &str, len: usize) -> Result<Tensor, FluxError> {
        self.f32_tensor(name, &[len])
    }

    /// An f32 tensor of `shape` on the GPU (vectors, convolution kernels).
    pub fn f32_tensor(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, FluxError> {
        let values = self.f32_values(name, shape)?;
        Ok(Tensor::from_slice(self.gpu, &values, shape)?)
    }

    /// The f32 values of a tensor of `shape`, for weights the model
    /// rearranges before uploading them.
    pub fn f32_values(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, FluxError> {
        match self.take(name, shape)? {
            TensorData::F32(values) => Ok(values),
            TensorData::Packed(packed) => Err(FluxError::Source {
                name: name.into(),
                message: format!(
                    "a tensor of {} dimensions stored as {} reached the model; \
                     only matrices of linear layers may stay packed, the rest must be f32",
                    shape.len(),
                    packed.format()
                ),
            }),
        }
    }

    pub fn gpu(&self) -> &'a Gpu {
        self.gpu
    }

    /// `{name}.weight` [out, in] and, when `bias` is set, `{name}.bias` [out].
    pub fn linear(
        &mut self,
        name: &str,
        in_features: usize,
        out_features: usize,
        bias: bool,
    ) -> Result<Linear, FluxError> {
        let weight_name = format!("{name}.weight");
        let weight = match self.take(&weight_name, &[out_features, in_features])? {
            TensorData::F32(values) => {
                LinearWeight::from_f32(self.gpu, &values, out_features, in_features)?
            }
            TensorData::Packed(packed) => LinearWeight::from_packed(self.gpu, &packed)?,
        };
        let bias = if bias {
            Some(self.vector(&format!("{name}.bias"), out_features)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }
}

/// `x · weightᵀ + bias` over the last axis.
pub(crate) struct Linear {
    weight: LinearWeight,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn new(weight: LinearWeight, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    pub fn forward(&self, gpu: &Gpu, x: &Tensor) -> Result<Tensor, FluxError> {
        Ok(linear(gpu, x, &self.weight, self.bias.as_ref())?)
    }
}
