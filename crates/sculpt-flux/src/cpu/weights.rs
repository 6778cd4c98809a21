//! A model file's tensors as candle tensors on the CPU: read through this
//! crate's readers (so the file is checked as the GPU pipeline checks it),
//! every tensor converted to f32.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, quantized::GgmlDType};
use candle_nn::VarBuilder;
use sculpt_gpu::weights::WeightFormat;

use crate::checkpoint::{ModelConfig, Naming};
use crate::formats::{
    ByteSource, Dtype, Encoding, TensorIndex, TensorInfo, read_tensor_bytes, read_weight_file,
};
use crate::pipeline::{PipelineError, checked};

/// The most bytes the fallback holds as f32 weights (all four models
/// together). The built-in model takes about 32 MB; wasm32 addresses 4 GiB, and a
/// model much larger than this one would take minutes per step on a CPU.
pub const MAX_CPU_WEIGHT_BYTES: u64 = 1 << 30;

/// One model's file, header read and checked against its configuration.
pub(super) struct CheckedFile<S> {
    source: S,
    index: TensorIndex,
}

impl<S: ByteSource> CheckedFile<S> {
    /// Reads the header of the one file of `config`'s model and checks
    /// every tensor's name and shape against it.
    pub async fn open(mut sources: Vec<S>, config: ModelConfig) -> Result<Self, PipelineError> {
        let role = config.role();
        let Some(mut source) = sources.pop() else {
            return Err(PipelineError::NotForCpu(format!(
                "no {role} file was given"
            )));
        };
        if !sources.is_empty() {
            return Err(PipelineError::NotForCpu(format!(
                "the {role} is split in {} shards ({} …); the CPU runs single-file models only",
                sources.len() + 1,
                sources[0].name()
            )));
        }
        let file = read_weight_file(&mut source).await?;
        let index = file.index().clone();
        let checkpoint = checked(source.name(), &index, role, Some(&config))?;
        if checkpoint.naming == Naming::Diffusers {
            return Err(PipelineError::NotForCpu(format!(
                "{} uses diffusers' tensor names; the CPU reads BFL's",
                source.name()
            )));
        }
        Ok(Self { source, index })
    }

    /// The bytes the file's tensors take as f32.
    pub fn f32_bytes(&self) -> u64 {
        self.index
            .tensors()
            .iter()
            .map(|info| 4 * info.shape.iter().product::<u64>())
            .sum()
    }

    /// Every tensor as f32, by name, for candle-transformers' models.
    pub async fn into_var_builder(mut self) -> Result<VarBuilder<'static>, PipelineError> {
        let mut tensors = HashMap::new();
        for info in self.index.tensors() {
            let bytes = read_tensor_bytes(&mut self.source, info).await?;
            let tensor = to_f32(info, &bytes).map_err(|problem| {
                PipelineError::NotForCpu(format!(
                    "{}: {}: {problem}",
                    self.source.name(),
                    info.name
                ))
            })?;
            tensors.insert(info.name.clone(), tensor);
        }
        Ok(VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu))
    }
}

/// A tensor's stored bytes as f32 values of its shape; non-finite values
/// are refused, as the GPU loader refuses them.
fn to_f32(info: &TensorInfo, bytes: &[u8]) -> Result<Tensor, String> {
    let shape: Vec<usize> = info.shape.iter().map(|&dim| dim as usize).collect();
    let cpu = &Device::Cpu;
    let tensor = match info.encoding {
        Encoding::Plain(dtype) => {
            let dtype = match dtype {
                Dtype::F32 => DType::F32,
                Dtype::F16 => DType::F16,
                Dtype::BF16 => DType::BF16,
                other => return Err(format!("{other} weights are not read on the CPU")),
            };
            Tensor::from_raw_buffer(bytes, dtype, &shape, cpu).and_then(|t| t.to_dtype(DType::F32))
        }
        Encoding::Quantized(format) => candle_core::quantized::ggml_file::qtensor_from_ggml(
            ggml_type(format),
            bytes,
            shape,
            cpu,
        )
        .and_then(|q| q.dequantize(cpu)),
    }
    .map_err(|e| e.to_string())?;
    let values: Vec<f32> = tensor
        .flatten_all()
        .and_then(|t| t.to_vec1())
        .map_err(|e| e.to_string())?;
    if let Some(position) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "element {position} is {}, not a finite number",
            values[position]
        ));
    }
    Ok(tensor)
}

/// candle's name for a weight storage format (the GGUF block types are the same).
pub fn ggml_type(format: WeightFormat) -> GgmlDType {
    match format {
        WeightFormat::F32 => GgmlDType::F32,
        WeightFormat::F16 => GgmlDType::F16,
        WeightFormat::BF16 => GgmlDType::BF16,
        WeightFormat::Q8_0 => GgmlDType::Q8_0,
        WeightFormat::Q4_0 => GgmlDType::Q4_0,
        WeightFormat::Q4_1 => GgmlDType::Q4_1,
        WeightFormat::Q5_0 => GgmlDType::Q5_0,
        WeightFormat::Q5_1 => GgmlDType::Q5_1,
        WeightFormat::Q4_K => GgmlDType::Q4K,
        WeightFormat::Q5_K => GgmlDType::Q5K,
        WeightFormat::Q6_K => GgmlDType::Q6K,
    }
}
