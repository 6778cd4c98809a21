//! Uploading the text model's tensors from a [`WeightSource`], checking
//! each one's shape; errors name the tensor.

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::linear::{LinearWeight, linear},
};

use super::ClipError;
use crate::flux::{TensorData, WeightSource};

pub(crate) struct Loader<'a> {
    gpu: &'a Gpu,
    source: &'a mut dyn WeightSource,
}

impl<'a> Loader<'a> {
    pub fn new(gpu: &'a Gpu, source: &'a mut dyn WeightSource) -> Self {
        Self { gpu, source }
    }

    fn take(&mut self, name: &str, shape: &[usize]) -> Result<TensorData, ClipError> {
        let tensor = self
            .source
            .take(name)
            .map_err(|e| ClipError::Source {
                name: name.into(),
                message: e.to_string(),
            })?
            .ok_or_else(|| ClipError::MissingTensor(name.into()))?;
        let consistent = match &tensor.data {
            TensorData::F32(values) => values.len() == tensor.shape.iter().product::<usize>(),
            TensorData::Packed(packed) => tensor.shape == [packed.rows(), packed.cols()],
        };
        if !consistent {
            return Err(ClipError::Source {
                name: name.into(),
                message: format!("its data does not fill its shape {:?}", tensor.shape),
            });
        }
        if tensor.shape != shape {
            return Err(ClipError::TensorShape {
                name: name.into(),
                expected: shape.to_vec(),
                found: tensor.shape,
            });
        }
        Ok(tensor.data)
    }

    /// An f32 tensor of `shape`: a bias, norm parameter or embedding table.
    /// Only the linear kernel reads packed formats (the gather kernel reads
    /// f32 rows), so a source hands these out as f32.
    pub fn dense(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, ClipError> {
        match self.take(name, shape)? {
            TensorData::F32(values) => Ok(Tensor::from_slice(self.gpu, &values, shape)?),
            TensorData::Packed(packed) => Err(ClipError::Source {
                name: name.into(),
                message: format!(
                    "it came repacked for the linear kernel (as {}); it must come as \
                     row-major f32 values",
                    packed.format()
                ),
            }),
        }
    }

    /// `{name}.weight` [out, in] and `{name}.bias` [out]: every linear of
    /// CLIP's text model has a bias.
    pub fn linear(
        &mut self,
        name: &str,
        in_features: usize,
        out_features: usize,
    ) -> Result<Linear, ClipError> {
        let weight_name = format!("{name}.weight");
        let weight = match self.take(&weight_name, &[out_features, in_features])? {
            TensorData::F32(values) => {
                LinearWeight::from_f32(self.gpu, &values, out_features, in_features)?
            }
            TensorData::Packed(packed) => LinearWeight::from_packed(self.gpu, &packed)?,
        };
        let bias = self.dense(&format!("{name}.bias"), &[out_features])?;
        Ok(Linear { weight, bias })
    }

    /// `{name}.weight` and `{name}.bias`, both [width].
    pub fn layer_norm(&mut self, name: &str, width: usize) -> Result<LayerNorm, ClipError> {
        Ok(LayerNorm {
            weight: self.dense(&format!("{name}.weight"), &[width])?,
            bias: self.dense(&format!("{name}.bias"), &[width])?,
        })
    }
}

/// `x · weightᵀ + bias` over the last axis.
pub(crate) struct Linear {
    weight: LinearWeight,
    bias: Tensor,
}

impl Linear {
    pub fn forward(&self, gpu: &Gpu, x: &Tensor) -> Result<Tensor, ClipError> {
        Ok(linear(gpu, x, &self.weight, Some(&self.bias))?)
    }
}

/// LayerNorm over the last axis with its learned scale and shift.
pub(crate) struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

impl LayerNorm {
    pub fn forward(&self, gpu: &Gpu, x: &Tensor) -> Result<Tensor, ClipError> {
        Ok(sculpt_gpu::kernels::norm::layer_norm(
            gpu,
            x,
            Some((&self.weight, &self.bias)),
            super::LAYER_NORM_EPS,
        )?)
    }
}
