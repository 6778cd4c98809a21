//! `sculpt bench kernels`: throughput of the WGSL kernels on this machine's
//! GPU at FLUX's shapes, with candle on the CPU at the same shapes as a
//! yardstick (on a machine without a GPU, lavapipe runs the kernels on the
//! same CPU: the ratio guards against regressions, it is no GPU claim).

use std::time::{Duration, Instant};

use candle_core::{
    Device, Module,
    quantized::{QMatMul, QTensor},
};
use sculpt_flux::cpu::ggml_type;
use sculpt_gpu::{
    DType, Gpu, Tensor,
    kernels::{
        attention::{AttentionOptions, HeadView, attention},
        elementwise::{gated_residual, modulate},
        linear::{LinearWeight, linear},
        norm::{layer_norm, rms_norm},
        softmax::softmax_last_dim,
    },
    weights::{WeightFormat, repack},
};

/// Each measurement repeats until it has run this long (after one warm-up).
const MIN_TIME: Duration = Duration::from_millis(1500);
const MAX_RUNS: u32 = 50;

pub struct Options {
    /// Fewer shapes and formats, for a quick look.
    pub quick: bool,
    /// Only these sections (all when empty).
    pub sections: Vec<Section>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// Linear layers, activations × weights.
    Linear,
    /// One row times a weight: memory-bound.
    Matvec,
    /// Fused attention.
    Attention,
    /// Row reductions (LayerNorm, RMSNorm, softmax): memory-bound.
    Reduction,
    /// Elementwise kernels on f32 and f16 tensors: memory-bound.
    Elementwise,
}

/// `plain`, where the adapter has subgroups or shader-f16, is a second device
/// on it limited to the plain f32 kernels: the kernels with faster variants
/// are timed on both. `f16_linear`, where it has shader-f16, is one whose
/// linear layers multiply in f16 (opt-in), timed beside the default.
pub fn kernels(
    gpu: &Gpu,
    plain: Option<&Gpu>,
    f16_linear: Option<&Gpu>,
    options: &Options,
) -> anyhow::Result<()> {
    println!("# Kernel benchmark\n");
    println!(
        "GPU adapter: {} ({}, {}); shader-f16 {}, subgroups {}\n",
        gpu.report.adapter_name,
        gpu.report.backend,
        gpu.report.device_type,
        yes_no(gpu.report.shader_f16),
        yes_no(gpu.report.subgroups),
    );
    let wanted = |section| options.sections.is_empty() || options.sections.contains(&section);
    if wanted(Section::Linear) {
        matmuls(gpu, f16_linear, options)?;
    }
    if wanted(Section::Matvec) {
        matvecs(gpu, plain, options)?;
    }
    if wanted(Section::Attention) {
        attentions(gpu, options)?;
    }
    if wanted(Section::Reduction) {
        reductions(gpu, plain)?;
    }
    if wanted(Section::Elementwise) {
        elementwise(gpu)?;
    }
    Ok(())
}

fn yes_no(yes: bool) -> &'static str {
    if yes { "yes" } else { "no" }
}

/// A cell timing `work` on a variant's device (plain kernels, f16 linear
/// layers), or a dash without one.
fn plain_cell(
    plain: Option<&Gpu>,
    work: impl Fn(&Gpu) -> anyhow::Result<f64>,
) -> anyhow::Result<String> {
    match plain {
        Some(plain) => work(plain).map(|value| format!("{value:.1}")),
        None => Ok("–".into()),
    }
}

/// Mean seconds per run of `work`, which records GPU work; includes the
/// wait for the GPU to finish.
fn time_gpu(gpu: &Gpu, mut work: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    work()?;
    gpu.finish()?;
    let started = Instant::now();
    let mut runs = 0;
    while runs < MAX_RUNS && (runs == 0 || started.elapsed() < MIN_TIME) {
        work()?;
        gpu.finish()?;
        runs += 1;
    }
    Ok(started.elapsed().as_secs_f64() / f64::from(runs))
}

fn time_cpu(mut work: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    work()?;
    let started = Instant::now();
    let mut runs = 0;
    while runs < MAX_RUNS && (runs == 0 || started.elapsed() < MIN_TIME) {
        work()?;
        runs += 1;
    }
    Ok(started.elapsed().as_secs_f64() / f64::from(runs))
}

fn values(seed: u32, len: usize) -> Vec<f32> {
    // Cheap deterministic values in [-1, 1]; the numbers do not matter here.
    (0..len)
        .map(|i| {
            let x = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8;
            x as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

struct Layer {
    weight: LinearWeight,
    /// candle's own quantized matmul of the same blocks: the CPU yardstick.
    cpu: QMatMul,
    bytes: u64,
}

fn layer(gpu: &Gpu, format: WeightFormat, n: usize, k: usize) -> anyhow::Result<Layer> {
    let w = candle_core::Tensor::from_vec(values(7, n * k), (n, k), &Device::Cpu)?;
    let quantized = QTensor::quantize(&w, ggml_type(format))?;
    let bytes = quantized.data()?;
    let packed = repack(format, n, k, &bytes)?;
    Ok(Layer {
        weight: LinearWeight::from_packed(gpu, &packed)?,
        bytes: bytes.len() as u64,
        cpu: QMatMul::from_qtensor(quantized)?,
    })
}

fn matmuls(gpu: &Gpu, f16_linear: Option<&Gpu>, options: &Options) -> anyhow::Result<()> {
    println!("## Linear layers (activations × weights), GFLOP/s\n");
    println!(
        "| weights | M × K × N | GPU GFLOP/s | GPU ms | f16 multiply GFLOP/s | f16 tensors, f16 multiply GFLOP/s | candle CPU GFLOP/s | GPU / CPU |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let shapes: &[(usize, usize, usize)] = if options.quick {
        &[(256, 3072, 3072)]
    } else {
        &[
            (256, 3072, 3072),
            (1024, 3072, 3072),
            (4096, 3072, 3072),
            (1024, 3072, 12288),
            (1024, 12288, 3072),
        ]
    };
    let formats: &[WeightFormat] = if options.quick {
        &[WeightFormat::F32, WeightFormat::Q4_0]
    } else {
        &[
            WeightFormat::F32,
            WeightFormat::F16,
            WeightFormat::BF16,
            WeightFormat::Q8_0,
            WeightFormat::Q4_0,
            WeightFormat::Q4_K,
        ]
    };
    for &(m, k, n) in shapes {
        let x = Tensor::from_slice(gpu, &values(3, m * k), &[m, k])?;
        let x_cpu = candle_core::Tensor::from_vec(values(3, m * k), (m, k), &Device::Cpu)?;
        for &format in formats {
            let layer = layer(gpu, format, n, k)?;
            let flops = 2.0 * (m * k * n) as f64;
            let gpu_seconds = time_gpu(gpu, || {
                drop(linear(gpu, &x, &layer.weight, None)?);
                Ok(())
            })?;
            // f32 activations, then f16 ones (half the bytes in and out).
            let [f16_gflops, f16_tensors_gflops] = [DType::F32, DType::F16].map(|dtype| {
                plain_cell(f16_linear, |f16| {
                    let layer = self::layer(f16, format, n, k)?;
                    let x = Tensor::from_slice_as(f16, &values(3, m * k), &[m, k], dtype)?;
                    let seconds = time_gpu(f16, || {
                        drop(linear(f16, &x, &layer.weight, None)?);
                        Ok(())
                    })?;
                    Ok(flops / seconds / 1e9)
                })
            });
            let (f16_gflops, f16_tensors_gflops) = (f16_gflops?, f16_tensors_gflops?);
            let cpu_seconds = time_cpu(|| {
                drop(layer.cpu.forward(&x_cpu)?);
                Ok(())
            })?;
            println!(
                "| {format} | {m} × {k} × {n} | {:.1} | {:.1} | {f16_gflops} | {f16_tensors_gflops} | {:.1} | {:.2} |",
                flops / gpu_seconds / 1e9,
                gpu_seconds * 1e3,
                flops / cpu_seconds / 1e9,
                cpu_seconds / gpu_seconds
            );
        }
    }
    println!();
    Ok(())
}

fn matvecs(gpu: &Gpu, plain: Option<&Gpu>, options: &Options) -> anyhow::Result<()> {
    println!("## Matrix × vector (one row, weight-bound), GB/s of weights read\n");
    println!(
        "| weights | K × N | weight MB | GPU GB/s | GPU ms | plain f32 kernels GB/s | candle CPU GB/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    let (k, n) = (3072, 12288);
    let formats: &[WeightFormat] = if options.quick {
        &[WeightFormat::Q4_0]
    } else {
        &WeightFormat::ALL
    };
    let x = Tensor::from_slice(gpu, &values(5, k), &[1, k])?;
    let x_cpu = candle_core::Tensor::from_vec(values(5, k), (1, k), &Device::Cpu)?;
    for &format in formats {
        let layer = layer(gpu, format, n, k)?;
        let gpu_seconds = time_gpu(gpu, || {
            drop(linear(gpu, &x, &layer.weight, None)?);
            Ok(())
        })?;
        let cpu_seconds = time_cpu(|| {
            drop(layer.cpu.forward(&x_cpu)?);
            Ok(())
        })?;
        let gigabytes = layer.bytes as f64 / 1e9;
        let plain_gb_s = plain_cell(plain, |plain| {
            let layer = self::layer(plain, format, n, k)?;
            let x = Tensor::from_slice(plain, &values(5, k), &[1, k])?;
            let seconds = time_gpu(plain, || {
                drop(linear(plain, &x, &layer.weight, None)?);
                Ok(())
            })?;
            Ok(gigabytes / seconds)
        })?;
        println!(
            "| {format} | {k} × {n} | {:.1} | {:.1} | {:.2} | {plain_gb_s} | {:.1} |",
            gigabytes * 1e3,
            gigabytes / gpu_seconds,
            gpu_seconds * 1e3,
            gigabytes / cpu_seconds
        );
    }
    println!();
    Ok(())
}

fn attentions(gpu: &Gpu, options: &Options) -> anyhow::Result<()> {
    println!("## Fused attention (f32), GFLOP/s\n");
    println!("| heads × tokens × head_dim | GPU GFLOP/s | GPU ms |");
    println!("|---|---|---|");
    let shapes: &[(usize, usize, usize)] = if options.quick {
        &[(24, 512, 128)]
    } else {
        // FLUX at 256² and 512² (256 text tokens + image tokens); the
        // autoencoder's single-head mid-block at 256² (1024 tokens of 512).
        &[(24, 512, 128), (24, 1280, 128), (1, 1024, 512)]
    };
    for &(heads, tokens, head_dim) in shapes {
        let qkv = Tensor::from_slice(
            gpu,
            &values(9, tokens * 3 * heads * head_dim),
            &[tokens, 3 * heads * head_dim],
        )?;
        let flops = 4.0 * (heads * tokens * tokens * head_dim) as f64;
        let seconds = time_gpu(gpu, || {
            drop(attention(
                gpu,
                HeadView::packed_qkv(&qkv, 0, heads)?,
                HeadView::packed_qkv(&qkv, 1, heads)?,
                HeadView::packed_qkv(&qkv, 2, heads)?,
                heads,
                head_dim,
                1.0 / (head_dim as f32).sqrt(),
                AttentionOptions::default(),
            )?);
            Ok(())
        })?;
        println!(
            "| {heads} × {tokens} × {head_dim} | {:.1} | {:.1} |",
            flops / seconds / 1e9,
            seconds * 1e3
        );
    }
    println!();
    Ok(())
}

fn reductions(gpu: &Gpu, plain: Option<&Gpu>) -> anyhow::Result<()> {
    println!("## Row reductions (f32), GB/s of rows read and written\n");
    println!("| kernel | rows × width | GPU GB/s | GPU ms | plain f32 kernels GB/s |");
    println!("|---|---|---|---|---|");
    // FLUX's LayerNorms over 4096 image tokens at 1024², its QK RMSNorm over
    // head_dim 128 per head, and attention-sized softmax rows.
    let cases: [(&str, usize, usize); 4] = [
        ("layer_norm", 4096, 3072),
        ("rms_norm", 4096 * 24, 128),
        ("softmax", 4096, 4096),
        ("softmax", 24 * 512, 512),
    ];
    for (kernel, rows, width) in cases {
        let run = |gpu: &Gpu| -> anyhow::Result<f64> {
            let x = Tensor::from_slice(gpu, &values(11, rows * width), &[rows, width])?;
            let scale = Tensor::from_slice(gpu, &values(12, width), &[width])?;
            time_gpu(gpu, || {
                drop(match kernel {
                    "layer_norm" => layer_norm(gpu, &x, None, 1e-6)?,
                    "rms_norm" => rms_norm(gpu, &x, &scale, 1e-6)?,
                    _ => softmax_last_dim(gpu, &x)?,
                });
                Ok(())
            })
        };
        let gigabytes = (2 * rows * width * 4) as f64 / 1e9;
        let seconds = run(gpu)?;
        let plain_gb_s = plain_cell(plain, |plain| Ok(gigabytes / run(plain)?))?;
        println!(
            "| {kernel} | {rows} × {width} | {:.1} | {:.2} | {plain_gb_s} |",
            gigabytes / seconds,
            seconds * 1e3
        );
    }
    println!();
    Ok(())
}

/// FLUX's gated residual and modulation over 4096 image tokens of 3072 (the
/// transformer at 1024²), on f32 tensors and, with shader-f16, on f16 ones.
fn elementwise(gpu: &Gpu) -> anyhow::Result<()> {
    println!("## Elementwise, GB/s of tensors read and written\n");
    println!("| kernel | rows × width | f32 GB/s | f32 ms | f16 tensors GB/s | f16 tensors ms |");
    println!("|---|---|---|---|---|---|");
    let (rows, width) = (4096, 3072);
    for kernel in ["gated_residual", "modulate"] {
        // x and out, plus y for the gated residual; the per-channel vectors are negligible.
        let full_tensors = if kernel == "gated_residual" { 3 } else { 2 };
        let run = |dtype: DType| -> anyhow::Result<(f64, f64)> {
            let x = Tensor::from_slice_as(gpu, &values(13, rows * width), &[rows, width], dtype)?;
            let y = Tensor::from_slice_as(gpu, &values(14, rows * width), &[rows, width], dtype)?;
            let row = Tensor::from_slice_as(gpu, &values(15, width), &[width], dtype)?;
            let seconds = time_gpu(gpu, || {
                drop(match kernel {
                    "gated_residual" => gated_residual(gpu, &x, &row, &y)?,
                    _ => modulate(gpu, &x, &row, &row)?,
                });
                Ok(())
            })?;
            let bytes = full_tensors * rows * width * dtype.size_in_bytes();
            Ok((bytes as f64 / 1e9 / seconds, seconds * 1e3))
        };
        let (f32_gb_s, f32_ms) = run(DType::F32)?;
        let f16 = match gpu.report.shader_f16 {
            true => {
                let (gb_s, ms) = run(DType::F16)?;
                [format!("{gb_s:.1}"), format!("{ms:.2}")]
            }
            false => ["–".into(), "–".into()],
        };
        println!(
            "| {kernel} | {rows} × {width} | {f32_gb_s:.1} | {f32_ms:.2} | {} | {} |",
            f16[0], f16[1]
        );
    }
    println!();
    Ok(())
}
