//! The loader every model uploads its tensors through.

use sculpt_gpu::{
    Gpu, GpuError, Tensor,
    kernels::{
        embed::EmbeddingTable,
        linear::{LinearWeight, linear},
    },
    weights::{PackedWeight, WeightFormat, repack},
};

use super::{LoadError, TensorData, TensorUse, WeightSource};

/// Takes tensors from a source by name, checks each one's shape against what
/// the model's configuration needs, and uploads it.
pub(crate) struct Loader<'a> {
    gpu: &'a Gpu,
    source: &'a mut dyn WeightSource,
    /// What errors call the model ("FLUX").
    model: &'static str,
}

impl<'a> Loader<'a> {
    pub fn new(gpu: &'a Gpu, source: &'a mut dyn WeightSource, model: &'static str) -> Self {
        Self { gpu, source, model }
    }

    pub fn gpu(&self) -> &'a Gpu {
        self.gpu
    }

    fn source_error(&self, name: &str, message: String) -> LoadError {
        LoadError::Source {
            model: self.model,
            name: name.into(),
            message,
        }
    }

    fn gpu_error(&self, name: &str, source: GpuError) -> LoadError {
        LoadError::Gpu {
            model: self.model,
            name: name.into(),
            source,
        }
    }

    /// Tensor `name` of `shape`, or `None` when the source has none by that name.
    async fn try_take(
        &mut self,
        name: &str,
        shape: &[usize],
        used_as: TensorUse,
    ) -> Result<Option<TensorData>, LoadError> {
        let taken = self.source.take(name, used_as).await;
        let Some(tensor) = taken.map_err(|e| self.source_error(name, e.to_string()))? else {
            return Ok(None);
        };
        let consistent = match &tensor.data {
            TensorData::F32(values) => values.len() == tensor.shape.iter().product::<usize>(),
            TensorData::Packed(packed) => tensor.shape == [packed.rows(), packed.cols()],
        };
        if !consistent {
            return Err(self.source_error(
                name,
                format!("its data does not fill its shape {:?}", tensor.shape),
            ));
        }
        if tensor.shape != shape {
            return Err(LoadError::TensorShape {
                model: self.model,
                name: name.into(),
                expected: shape.to_vec(),
                found: tensor.shape,
            });
        }
        Ok(Some(tensor.data))
    }

    async fn take(
        &mut self,
        name: &str,
        shape: &[usize],
        used_as: TensorUse,
    ) -> Result<TensorData, LoadError> {
        self.try_take(name, shape, used_as)
            .await?
            .ok_or_else(|| LoadError::MissingTensor {
                model: self.model,
                name: name.into(),
            })
    }

    /// The f32 values of `data`: only linear weights may come packed, since
    /// only the linear kernels decode storage formats.
    fn values(&self, name: &str, data: TensorData) -> Result<Vec<f32>, LoadError> {
        match data {
            TensorData::F32(values) => Ok(values),
            TensorData::Packed(packed) => Err(self.source_error(
                name,
                format!(
                    "it came repacked for the linear kernel (as {}), but it is not a linear \
                     layer's weight; only those may stay packed, the rest must be f32",
                    packed.format()
                ),
            )),
        }
    }

    /// The f32 values of tensor `name`, of `shape`, for tensors the model
    /// reads on the CPU or rearranges before uploading.
    pub async fn f32_values(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, LoadError> {
        let data = self.take(name, shape, TensorUse::Values).await?;
        self.values(name, data)
    }

    /// Tensor `name` of `shape` on the GPU in f32 (biases, norm scales,
    /// embedding tables, convolution kernels).
    pub async fn f32_tensor(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, LoadError> {
        let values = self.f32_values(name, shape).await?;
        self.upload(name, &values, shape)
    }

    /// A 1-D tensor of `len` f32 values.
    pub async fn vector(&mut self, name: &str, len: usize) -> Result<Tensor, LoadError> {
        self.f32_tensor(name, &[len]).await
    }

    /// The first of `names` the source has, as an embedding table
    /// [vocab, dim] in f32 (split into row chunks where one binding cannot
    /// hold it); when it has none, the error names the first.
    pub async fn embedding_table(
        &mut self,
        names: &[&str],
        vocab: usize,
        dim: usize,
    ) -> Result<EmbeddingTable, LoadError> {
        for name in names {
            if let Some(data) = self
                .try_take(name, &[vocab, dim], TensorUse::Values)
                .await?
            {
                let values = self.values(name, data)?;
                return EmbeddingTable::from_f32(self.gpu, &values, vocab, dim)
                    .map_err(|e| self.gpu_error(name, e));
            }
        }
        Err(LoadError::MissingTensor {
            model: self.model,
            name: names[0].into(),
        })
    }

    fn upload(&self, name: &str, values: &[f32], shape: &[usize]) -> Result<Tensor, LoadError> {
        Tensor::from_slice(self.gpu, values, shape).map_err(|e| self.gpu_error(name, e))
    }

    /// Tensor `name`, the [out, in] weight of a linear layer, on the GPU in
    /// its storage format.
    pub async fn linear_weight(
        &mut self,
        name: &str,
        in_features: usize,
        out_features: usize,
    ) -> Result<LinearWeight, LoadError> {
        let data = self
            .take(name, &[out_features, in_features], TensorUse::LinearWeight)
            .await?;
        match data {
            TensorData::F32(values) => {
                LinearWeight::from_f32(self.gpu, &values, out_features, in_features)
            }
            TensorData::Packed(packed) => LinearWeight::from_packed(self.gpu, &packed),
        }
        .map_err(|e| self.gpu_error(name, e))
    }

    /// `{name}.weight` [out, in] and, when `bias` is set, `{name}.bias` [out].
    pub async fn linear(
        &mut self,
        name: &str,
        in_features: usize,
        out_features: usize,
        bias: bool,
    ) -> Result<Linear, LoadError> {
        let weight = self
            .linear_weight(&format!("{name}.weight"), in_features, out_features)
            .await?;
        let bias = if bias {
            Some(self.vector(&format!("{name}.bias"), out_features).await?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    /// Tensor `name`, a linear layer's weight [out, in], in its packed
    /// storage form (f32 values packed as F32).
    async fn packed_weight(
        &mut self,
        name: &str,
        in_features: usize,
        out_features: usize,
    ) -> Result<PackedWeight, LoadError> {
        let data = self
            .take(name, &[out_features, in_features], TensorUse::LinearWeight)
            .await?;
        match data {
            TensorData::Packed(packed) => Ok(packed),
            TensorData::F32(values) => {
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                repack(WeightFormat::F32, out_features, in_features, &bytes)
                    .map_err(|e| self.source_error(name, e.to_string()))
            }
        }
    }

    /// A linear layer stored as one, run as one layer per run of its output
    /// features (`outputs`, in order): the parts' outputs side by side are
    /// the layer's. No activation as wide as the whole output is needed.
    pub async fn linear_split_outputs(
        &mut self,
        name: &str,
        in_features: usize,
        outputs: &[usize],
        bias: bool,
    ) -> Result<Vec<Linear>, LoadError> {
        let out_features = outputs.iter().sum();
        let weight_name = format!("{name}.weight");
        let packed = self
            .packed_weight(&weight_name, in_features, out_features)
            .await?;
        let bias = match bias {
            true => Some(
                self.f32_values(&format!("{name}.bias"), &[out_features])
                    .await?,
            ),
            false => None,
        };
        let mut parts = Vec::with_capacity(outputs.len());
        let mut start = 0;
        for &len in outputs {
            let rows = packed
                .row_range(start..start + len)
                .expect("the parts add up to the weight's rows");
            let weight = LinearWeight::from_packed(self.gpu, &rows)
                .map_err(|e| self.gpu_error(&weight_name, e))?;
            let bias = match &bias {
                Some(values) => {
                    let name = format!("{name}.bias");
                    Some(self.upload(&name, &values[start..start + len], &[len])?)
                }
                None => None,
            };
            parts.push(Linear { weight, bias });
            start += len;
        }
        Ok(parts)
    }

    /// A linear layer stored as one, run as one layer per run of its input
    /// features (`inputs`, in order), whose outputs add up to the layer's
    /// output; the bias goes with the first. Each cut must fall on a block
    /// of the weight's storage format.
    pub async fn linear_split_inputs(
        &mut self,
        name: &str,
        inputs: &[usize],
        out_features: usize,
        bias: bool,
    ) -> Result<Vec<Linear>, LoadError> {
        let in_features = inputs.iter().sum();
        let weight_name = format!("{name}.weight");
        let packed = self
            .packed_weight(&weight_name, in_features, out_features)
            .await?;
        let mut bias = match bias {
            true => Some(self.vector(&format!("{name}.bias"), out_features).await?),
            false => None,
        };
        let mut parts = Vec::with_capacity(inputs.len());
        let mut start = 0;
        for &len in inputs {
            let columns = packed.col_range(start..start + len).ok_or_else(|| {
                self.source_error(
                    &weight_name,
                    format!(
                        "its input features cannot be cut at {start}..{}: {} blocks hold {} values",
                        start + len,
                        packed.format(),
                        packed.format().block_elements()
                    ),
                )
            })?;
            let weight = LinearWeight::from_packed(self.gpu, &columns)
                .map_err(|e| self.gpu_error(&weight_name, e))?;
            parts.push(Linear {
                weight,
                bias: bias.take(),
            });
            start += len;
        }
        Ok(parts)
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

    pub fn forward(&self, gpu: &Gpu, x: &Tensor) -> Result<Tensor, GpuError> {
        linear(gpu, x, &self.weight, self.bias.as_ref())
    }

    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}
