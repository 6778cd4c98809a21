//! Uploads the encoder's tensors from a [`WeightSource`] by their Hugging
//! Face names (`encoder.block.0.layer.0.SelfAttention.q.weight`), the names
//! of FLUX's `text_encoder_2` safetensors and of candle's T5, checking each
//! one's shape.

use sculpt_gpu::{Gpu, Tensor, kernels::linear::LinearWeight};

use super::T5Error;
use crate::flux::{TensorData, WeightSource};

pub(crate) struct Loader<'a> {
    gpu: &'a Gpu,
    source: &'a mut dyn WeightSource,
}

impl<'a> Loader<'a> {
    pub fn new(gpu: &'a Gpu, source: &'a mut dyn WeightSource) -> Self {
        Self { gpu, source }
    }

    /// Tensor `name`, or `None` when the source has none by that name.
    fn try_take(&mut self, name: &str, shape: &[usize]) -> Result<Option<TensorData>, T5Error> {
        let Some(tensor) = self.source.take(name).map_err(|e| T5Error::Source {
            name: name.into(),
            message: e.to_string(),
        })?
        else {
            return Ok(None);
        };
        let consistent = match &tensor.data {
            TensorData::F32(values) => values.len() == tensor.shape.iter().product::<usize>(),
            TensorData::Packed(packed) => tensor.shape == [packed.rows(), packed.cols()],
        };
        if !consistent {
            return Err(T5Error::Source {
                name: name.into(),
                message: format!("its data does not fill its shape {:?}", tensor.shape),
            });
        }
        if tensor.shape != shape {
            return Err(T5Error::TensorShape {
                name: name.into(),
                expected: shape.to_vec(),
                found: tensor.shape,
            });
        }
        Ok(Some(tensor.data))
    }

    fn take(&mut self, name: &str, shape: &[usize]) -> Result<TensorData, T5Error> {
        self.try_take(name, shape)?
            .ok_or_else(|| T5Error::MissingTensor(name.into()))
    }

    /// f32 values of a tensor the model reads as a whole on the GPU or the
    /// CPU (norm scales, the embedding table, the bucket weights), which
    /// the linear kernels' storage formats cannot hold.
    fn values(name: &str, data: TensorData) -> Result<Vec<f32>, T5Error> {
        match data {
            TensorData::F32(values) => Ok(values),
            TensorData::Packed(packed) => Err(T5Error::Source {
                name: name.into(),
                message: format!(
                    "a table stored as {} reached the model; only matrices of linear layers may be packed",
                    packed.format()
                ),
            }),
        }
    }

    /// f32 values of tensor `name`, of `shape`.
    pub fn host_values(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, T5Error> {
        let data = self.take(name, shape)?;
        Self::values(name, data)
    }

    /// Tensor `name` of `shape`, on the GPU in f32.
    pub fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, T5Error> {
        let values = self.host_values(name, shape)?;
        Ok(Tensor::from_slice(self.gpu, &values, shape)?)
    }

    /// The first of `names` the source has, on the GPU in f32; when it has
    /// none, the error names the first.
    pub fn first_tensor(&mut self, names: &[&str], shape: &[usize]) -> Result<Tensor, T5Error> {
        for name in names {
            if let Some(data) = self.try_take(name, shape)? {
                let values = Self::values(name, data)?;
                return Ok(Tensor::from_slice(self.gpu, &values, shape)?);
            }
        }
        Err(T5Error::MissingTensor(names[0].into()))
    }

    /// `{name}.weight` [out, in] of a linear layer without bias.
    pub fn linear(
        &mut self,
        name: &str,
        in_features: usize,
        out_features: usize,
    ) -> Result<LinearWeight, T5Error> {
        let weight_name = format!("{name}.weight");
        Ok(
            match self.take(&weight_name, &[out_features, in_features])? {
                TensorData::F32(values) => {
                    LinearWeight::from_f32(self.gpu, &values, out_features, in_features)?
                }
                TensorData::Packed(packed) => LinearWeight::from_packed(self.gpu, &packed)?,
            },
        )
    }
}
