//! Linear layers against candle's matmul on the CPU. Tolerance: the GPU sums
//! K products in another order (and with fused multiply-adds), so each output
//! may differ by a few ULP of the sum of |x·w| terms: 2e-6·K absolute (inputs
//! are in [-1, 1]) plus 1e-5 relative.

use candle_core::{Device, quantized::QTensor};
use sculpt_gpu::{
    Gpu, GpuOptions,
    kernels::linear::{LinearWeight, linear},
    weights::{WeightFormat, repack},
};

use crate::support::{assert_close, candle_dtype, cpu, cpu_values, download, random, upload};

fn f32_packed(w: &[f32], rows: usize, cols: usize) -> sculpt_gpu::weights::PackedWeight {
    repack(WeightFormat::F32, rows, cols, bytemuck::cast_slice(w)).unwrap()
}

fn reference(x: &[f32], m: usize, k: usize, w: &[f32], n: usize, bias: Option<&[f32]>) -> Vec<f32> {
    let out = cpu(x, &[m, k])
        .matmul(&cpu(w, &[n, k]).t().unwrap())
        .unwrap();
    let out = match bias {
        Some(b) => out.broadcast_add(&cpu(b, &[n])).unwrap(),
        None => out,
    };
    cpu_values(&out)
}

async fn check(gpu: &Gpu, m: usize, k: usize, n: usize, with_bias: bool, chunk_bytes: Option<u64>) {
    let seed = (m * 1_000_000 + k * 1000 + n) as u64;
    let x = random(seed, m * k, 1.0);
    let w = random(seed + 1, n * k, 1.0);
    let b = random(seed + 2, n, 1.0);
    let weight = match chunk_bytes {
        Some(bytes) => {
            LinearWeight::from_packed_in_chunks(gpu, &f32_packed(&w, n, k), bytes).unwrap()
        }
        None => LinearWeight::from_f32(gpu, &w, n, k).unwrap(),
    };
    let bias = with_bias.then(|| upload(gpu, &b, &[n]));
    let out = linear(gpu, &upload(gpu, &x, &[m, k]), &weight, bias.as_ref()).unwrap();
    assert_eq!(out.shape(), &[m, n]);
    let want = reference(&x, m, k, &w, n, with_bias.then_some(&b[..]));
    let what = format!(
        "[{m}, {k}] x [{n}, {k}] bias {with_bias} chunks {}",
        weight.chunk_count()
    );
    assert_close(
        &what,
        &download(gpu, &out).await,
        &want,
        2e-6 * k as f32,
        1e-5,
    );
}

async fn few_rows_match_candle(gpu: &Gpu) {
    // M ≤ 8 takes the weight-once path (modulation vectors, timestep MLPs).
    for (m, k, n) in [
        (1, 1, 1),
        (1, 5, 7),
        (1, 256, 64),
        (3, 100, 65),
        (8, 257, 33),
    ] {
        check(gpu, m, k, n, true, None).await;
        check(gpu, m, k, n, false, None).await;
    }
}
gpu_test!(few_rows_match_candle, also_plain);

async fn many_rows_match_candle(gpu: &Gpu) {
    // Tile edges: M and N not multiples of 64, K not a multiple of 16 or 4.
    for (m, k, n) in [
        (9, 16, 64),
        (64, 64, 64),
        (70, 33, 65),
        (130, 257, 200),
        (65, 3, 1),
    ] {
        check(gpu, m, k, n, true, None).await;
        check(gpu, m, k, n, false, None).await;
    }
}
gpu_test!(many_rows_match_candle);

async fn weights_split_into_chunks_give_the_same_result(gpu: &Gpu) {
    // A chunk of 3 rows of 40 (padded) words: a 10-row weight in 4 chunks,
    // as a 132 MB FLUX weight is split on a 128 MiB binding limit.
    for m in [2, 70] {
        check(gpu, m, 37, 10, true, Some(3 * 40 * 4)).await;
    }
    let w = random(1, 10 * 37, 1.0);
    assert_eq!(
        LinearWeight::from_packed_in_chunks(gpu, &f32_packed(&w, 10, 37), 3 * 40 * 4)
            .unwrap()
            .chunk_count(),
        4
    );
}
gpu_test!(weights_split_into_chunks_give_the_same_result);

async fn leading_axes_are_rows(gpu: &Gpu) {
    let (k, n) = (24, 12);
    let x = random(3, 2 * 5 * k, 1.0);
    let w = random(4, n * k, 1.0);
    let weight = LinearWeight::from_f32(gpu, &w, n, k).unwrap();
    let out = linear(gpu, &upload(gpu, &x, &[2, 5, k]), &weight, None).unwrap();
    assert_eq!(out.shape(), &[2, 5, n]);
    assert_close(
        "[2, 5, k]",
        &download(gpu, &out).await,
        &reference(&x, 10, k, &w, n, None),
        2e-6 * k as f32,
        1e-5,
    );
}
gpu_test!(leading_axes_are_rows);

async fn mismatched_shapes_are_errors(gpu: &Gpu) {
    let weight = LinearWeight::from_f32(gpu, &[0.0; 12], 3, 4).unwrap();
    let x = upload(gpu, &[0.0; 10], &[2, 5]);
    let err = linear(gpu, &x, &weight, None).unwrap_err();
    assert!(err.to_string().contains("takes 4"), "{err}");
    let x = upload(gpu, &[0.0; 8], &[2, 4]);
    let bias = upload(gpu, &[0.0; 2], &[2]);
    assert!(linear(gpu, &x, &weight, Some(&bias)).is_err());
    assert!(LinearWeight::from_f32(gpu, &[0.0; 11], 3, 4).is_err());
    assert!(LinearWeight::from_packed_in_chunks(gpu, &f32_packed(&[0.0; 12], 3, 4), 8).is_err());
}
gpu_test!(mismatched_shapes_are_errors);

async fn repeated_layers_allocate_nothing_after_warm_up(gpu: &Gpu) {
    let (m, k) = (80, 64);
    let w1 = LinearWeight::from_f32(gpu, &random(1, 128 * k, 0.1), 128, k).unwrap();
    let w2 = LinearWeight::from_f32(gpu, &random(2, k * 128, 0.1), k, 128).unwrap();
    let b1 = upload(gpu, &random(3, 128, 0.1), &[128]);
    let x = upload(gpu, &random(4, m * k, 1.0), &[m, k]);
    let mlp = || {
        let h = linear(gpu, &x, &w1, Some(&b1)).unwrap();
        linear(gpu, &h, &w2, None).unwrap()
    };
    let first = download(gpu, &mlp()).await;
    let before = gpu.stats();
    for _ in 0..4 {
        drop(mlp());
    }
    let last = mlp();
    let during = gpu.stats() - before;
    assert_eq!(during.buffers_created, 0, "{during:?}");
    assert_eq!(during.pipelines_created, 0, "{during:?}");
    assert_eq!(during.submits, 0, "{during:?}");
    assert_eq!(during.dispatches, 10, "{during:?}");
    assert_eq!(download(gpu, &last).await, first);
}
gpu_test!(repeated_layers_allocate_nothing_after_warm_up);

async fn every_weight_format_matches_candle(gpu: &Gpu) {
    // candle quantizes (so the blocks are the public GGUF layout) and its
    // dequantized weight times x is the reference: the kernel must decode
    // blocks exactly as ggml does, in both the tiled and the few-row paths.
    let (n, k) = (40, 512);
    for (seed, format) in WeightFormat::ALL.into_iter().enumerate() {
        let w = random(100 + seed as u64, n * k, 1.0);
        let cpu_w = cpu(&w, &[n, k]);
        let quantized = QTensor::quantize(&cpu_w, candle_dtype(format)).unwrap();
        let packed = repack(format, n, k, &quantized.data().unwrap()).unwrap();
        let weight = LinearWeight::from_packed(gpu, &packed).unwrap();
        assert_eq!(weight.format(), format);
        let dequantized = quantized.dequantize(&Device::Cpu).unwrap();
        let dequantized = cpu_values(&dequantized);
        for m in [3, 70] {
            let x = random(200 + seed as u64, m * k, 1.0);
            let got = download(
                gpu,
                &linear(gpu, &upload(gpu, &x, &[m, k]), &weight, None).unwrap(),
            )
            .await;
            let want = reference(&x, m, k, &dequantized, n, None);
            assert_close(
                &format!("{format} with {m} rows"),
                &got,
                &want,
                2e-6 * k as f32,
                1e-5,
            );
        }
    }
}
gpu_test!(every_weight_format_matches_candle, also_plain);

/// With [`GpuOptions::f16_linear`], the tiled kernel rounds each staged x and
/// w to f16 (2⁻¹¹ relative each) and sums 16 products at a time in f16 (15
/// roundings of at most 2⁻¹¹ of the running sum) before f32 takes over. So
/// an output may be off by about 17·2⁻¹¹ of Σ|x·w| over its K products;
/// the bound allows 20·2⁻¹¹ (1e-2) of that sum, plus f32's tolerance
/// (observed on lavapipe: at most 1.8·2⁻¹¹). A wrong sum (a tile dropped, a
/// row misplaced) is off by whole products.
async fn f16_tiles_stay_within_f16_rounding(gpu: &Gpu) {
    let f16 = crate::support::gpu_with(GpuOptions {
        f16_linear: true,
        ..GpuOptions::default()
    })
    .await;
    assert_eq!(f16.report.f16_linear, f16.report.shader_f16);
    assert!(!gpu.report.f16_linear, "f16 linear layers are opt-in");
    if option_env!("SCULPT_REQUIRE_F16").is_some() {
        assert!(
            f16.report.shader_f16,
            "this adapter was expected to offer shader-f16"
        );
    }
    let (n, k) = (40, 96);
    let w = random(300, n * k, 1.0);
    let quantized = QTensor::quantize(&cpu(&w, &[n, k]), candle_dtype(WeightFormat::Q8_0)).unwrap();
    let q8_0 = repack(WeightFormat::Q8_0, n, k, &quantized.data().unwrap()).unwrap();
    let q8_0_values = cpu_values(&quantized.dequantize(&Device::Cpu).unwrap());
    let mut f16_differs = false;
    for (m, k, n, weights) in [
        (9, 16, 64, None),
        (70, 33, 65, None),
        (130, 257, 200, None),
        (65, 3, 1, None),
        (70, k, n, Some((&q8_0, &q8_0_values))),
    ] {
        let seed = (m * 1000 + k) as u64;
        let x = random(seed, m * k, 1.0);
        let b = random(seed + 2, n, 1.0);
        let (weight, w) = match weights {
            Some((packed, values)) => (
                LinearWeight::from_packed(&f16, packed).unwrap(),
                values.clone(),
            ),
            None => {
                let w = random(seed + 1, n * k, 1.0);
                (LinearWeight::from_f32(&f16, &w, n, k).unwrap(), w)
            }
        };
        let bias = upload(&f16, &b, &[n]);
        let out = linear(&f16, &upload(&f16, &x, &[m, k]), &weight, Some(&bias)).unwrap();
        let got = download(&f16, &out).await;
        let want = reference(&x, m, k, &w, n, Some(&b));
        let abs = |v: &[f32]| v.iter().map(|v| v.abs()).collect::<Vec<_>>();
        let magnitude = reference(&abs(&x), m, k, &abs(&w), n, None);
        for (i, ((&got, &want), &magnitude)) in got.iter().zip(&want).zip(&magnitude).enumerate() {
            let bound = 20.0 * (0.5f32).powi(11) * magnitude + 2e-6 * k as f32 + 1e-5 * want.abs();
            assert!(
                (got - want).abs() <= bound,
                "[{m}, {k}] x [{n}, {k}] f16 tiles: element {i} is {got}, the reference {want} \
                 (bound {bound})"
            );
        }
        let f32_weight = LinearWeight::from_f32(gpu, &w, n, k).unwrap();
        let f32_out = linear(
            gpu,
            &upload(gpu, &x, &[m, k]),
            &f32_weight,
            Some(&upload(gpu, &b, &[n])),
        )
        .unwrap();
        f16_differs |= download(gpu, &f32_out).await != got;
    }
    // Rounding to f16 changes random values: equal results would mean the
    // f32 kernel ran.
    assert_eq!(f16_differs, f16.report.f16_linear);
}
gpu_test!(f16_tiles_stay_within_f16_rounding);
