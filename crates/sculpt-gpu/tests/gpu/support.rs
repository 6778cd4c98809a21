use candle_core::quantized::GgmlDType;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sculpt_gpu::{Gpu, GpuOptions, Tensor, weights::WeightFormat};

/// A device for one test. Failing to get one fails the test with the reason
/// (no Vulkan driver, no WebGPU): a GPU test that cannot reach a GPU must not pass.
pub async fn gpu() -> Gpu {
    match Gpu::new().await {
        Ok(gpu) => gpu,
        Err(e) => panic!("no GPU device for this test: {e}"),
    }
}

/// A device with these options, for tests of an optional variant.
pub async fn gpu_with(options: GpuOptions) -> Gpu {
    match Gpu::with_options(options).await {
        Ok(gpu) => gpu,
        Err(e) => panic!("no GPU device for this test: {e}"),
    }
}

/// A device limited to the plain f32 kernels (no subgroups, no f16), for the
/// kernels that have faster variants: both must match the reference.
pub async fn plain_gpu() -> Gpu {
    gpu_with(GpuOptions::plain()).await
}

/// Reproducible uniform values in [-range, range].
pub fn random(seed: u64, len: usize, range: f32) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-range..=range)).collect()
}

/// The same values as a candle tensor on the CPU: the reference.
pub fn cpu(data: &[f32], shape: &[usize]) -> candle_core::Tensor {
    candle_core::Tensor::from_slice(data, shape, &candle_core::Device::Cpu).unwrap()
}

pub fn cpu_values(tensor: &candle_core::Tensor) -> Vec<f32> {
    tensor.flatten_all().unwrap().to_vec1().unwrap()
}

pub fn upload(gpu: &Gpu, data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(gpu, data, shape).unwrap()
}

pub async fn download(gpu: &Gpu, tensor: &Tensor) -> Vec<f32> {
    tensor.to_vec(gpu).await.unwrap()
}

/// Every element within `abs + rel · |want|`; the failure names the worst one.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], abs: f32, rel: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let mut worst: Option<(usize, f32)> = None;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        // NaN anywhere counts as out of tolerance.
        let excess = (g - w).abs() - (abs + rel * w.abs());
        let within = excess <= 0.0;
        if !within && worst.is_none_or(|(_, e)| excess > e || excess.is_nan()) {
            worst = Some((i, excess));
        }
    }
    if let Some((i, _)) = worst {
        panic!(
            "{what}: element {i} is {} but the reference says {} (tolerance {abs} + {rel}·|ref|)",
            got[i], want[i]
        );
    }
}

/// candle's name for a weight format, to quantize with candle's own code.
pub fn candle_dtype(format: WeightFormat) -> GgmlDType {
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
