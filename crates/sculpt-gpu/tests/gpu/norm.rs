//! Normalizations against candle on the CPU, computed in f64 from the same
//! f32 inputs: candle's fused f32 `layer_norm` takes the variance as
//! E[x²] − E[x]², which is itself off by far more than our kernels for rows
//! far from zero, so it cannot be the reference. Tolerances are per test,
//! each with its reason.

use candle_core::{DType, Module, Tensor as Cpu};
use sculpt_gpu::{Gpu, GpuError, kernels::norm};

use crate::support::{assert_close, cpu, cpu_values, download, random, upload};

fn cpu_f64(data: &[f32], shape: &[usize]) -> Cpu {
    cpu(data, shape).to_dtype(DType::F64).unwrap()
}

fn values_f32(tensor: &Cpu) -> Vec<f32> {
    cpu_values(&tensor.to_dtype(DType::F32).unwrap())
}

// Rows of one element (the output is exactly 0), widths that are not
// multiples of 64 or 256, one row, many rows, FLUX's 3072.
const ROW_SHAPES: [&[usize]; 6] = [
    &[1],
    &[4, 1],
    &[7, 77],
    &[3, 3072],
    &[700, 33],
    &[2, 3, 257],
];

// The normalized values are O(1..4); f32 summation of up to 3072 values in
// strided partial sums and a tree leaves the mean and the reciprocal standard
// deviation a few f32 ULPs off, so 2e-6 absolute + 2e-6 relative.
const ROW_TOLERANCE: (f32, f32) = (2e-6, 2e-6);

async fn layer_norm_without_affine_matches_candle(gpu: &Gpu) {
    for (seed, shape) in ROW_SHAPES.iter().enumerate() {
        let width = *shape.last().unwrap();
        let data = random(seed as u64, shape.iter().product(), 3.0);
        let got = download(
            gpu,
            &norm::layer_norm(gpu, &upload(gpu, &data, shape), None, 1e-6).unwrap(),
        )
        .await;
        let ones = Cpu::ones(width, DType::F64, &candle_core::Device::Cpu).unwrap();
        let zeros = ones.zeros_like().unwrap();
        let want =
            candle_nn::ops::layer_norm_slow(&cpu_f64(&data, shape), &ones, &zeros, 1e-6).unwrap();
        let (abs, rel) = ROW_TOLERANCE;
        assert_close(
            &format!("layer norm {shape:?}"),
            &got,
            &values_f32(&want),
            abs,
            rel,
        );
    }
}
gpu_test!(layer_norm_without_affine_matches_candle, also_plain);

async fn layer_norm_with_weight_and_bias_matches_candle(gpu: &Gpu) {
    // CLIP: 77 tokens of 768, eps 1e-5; and an awkward width.
    for (seed, shape) in [&[77usize, 768][..], &[5, 100], &[1, 1]].iter().enumerate() {
        let width = *shape.last().unwrap();
        let data = random(10 + seed as u64, shape.iter().product(), 3.0);
        let weight = random(20 + seed as u64, width, 2.0);
        let bias = random(30 + seed as u64, width, 2.0);
        let (w, b) = (upload(gpu, &weight, &[width]), upload(gpu, &bias, &[width]));
        let got = download(
            gpu,
            &norm::layer_norm(gpu, &upload(gpu, &data, shape), Some((&w, &b)), 1e-5).unwrap(),
        )
        .await;
        let want = candle_nn::ops::layer_norm_slow(
            &cpu_f64(&data, shape),
            &cpu_f64(&weight, &[width]),
            &cpu_f64(&bias, &[width]),
            1e-5,
        )
        .unwrap();
        // Weight up to 2 doubles the normalized values' error; bias adds one rounding.
        assert_close(
            &format!("affine layer norm {shape:?}"),
            &got,
            &values_f32(&want),
            5e-6,
            5e-6,
        );
    }
}
gpu_test!(layer_norm_with_weight_and_bias_matches_candle, also_plain);

async fn layer_norm_is_stable_far_from_zero(gpu: &Gpu) {
    // Rows around 300 with a spread of ±1: E[x²] − E[x]² would lose all but
    // ~2 significant digits of the variance here. The mean itself is only
    // known to an f32 ULP of 300 (3e-5) over a standard deviation of 0.58,
    // hence 2e-4 absolute.
    let shape = [6usize, 3072];
    let data: Vec<f32> = random(40, 6 * 3072, 1.0)
        .iter()
        .map(|v| v + 300.0)
        .collect();
    let got = download(
        gpu,
        &norm::layer_norm(gpu, &upload(gpu, &data, &shape), None, 1e-6).unwrap(),
    )
    .await;
    let ones = Cpu::ones(3072, DType::F64, &candle_core::Device::Cpu).unwrap();
    let want = candle_nn::ops::layer_norm_slow(
        &cpu_f64(&data, &shape),
        &ones,
        &ones.zeros_like().unwrap(),
        1e-6,
    )
    .unwrap();
    assert_close("layer norm around 300", &got, &values_f32(&want), 2e-4, 0.0);
}
gpu_test!(layer_norm_is_stable_far_from_zero, also_plain);

async fn rms_norm_matches_candle(gpu: &Gpu) {
    // FLUX QK-norm: 24 heads × 5 tokens over head_dim 128; T5: d 4096; awkward sizes.
    let shapes: [&[usize]; 5] = [&[5, 24, 128], &[3, 4096], &[1], &[9, 1], &[2, 333]];
    for (seed, shape) in shapes.iter().enumerate() {
        let width = *shape.last().unwrap();
        let data = random(50 + seed as u64, shape.iter().product(), 3.0);
        let scale = random(60 + seed as u64, width, 2.0);
        let got = download(
            gpu,
            &norm::rms_norm(
                gpu,
                &upload(gpu, &data, shape),
                &upload(gpu, &scale, &[width]),
                1e-6,
            )
            .unwrap(),
        )
        .await;
        let want =
            candle_nn::ops::rms_norm_slow(&cpu_f64(&data, shape), &cpu_f64(&scale, &[width]), 1e-6)
                .unwrap();
        // Sum of squares without cancellation: a few ULPs, doubled by a scale up to 2.
        assert_close(
            &format!("rms norm {shape:?}"),
            &got,
            &values_f32(&want),
            4e-6,
            4e-6,
        );
    }
}
gpu_test!(rms_norm_matches_candle, also_plain);

async fn check_group_norm(gpu: &Gpu, shape: &[usize], groups: usize, data: &[f32], seed: u64) {
    let channels = shape[shape.len() - 3];
    let weight = random(seed, channels, 2.0);
    let bias = random(seed + 1, channels, 2.0);
    let got = download(
        gpu,
        &norm::group_norm(
            gpu,
            &upload(gpu, data, shape),
            groups,
            &upload(gpu, &weight, &[channels]),
            &upload(gpu, &bias, &[channels]),
            1e-6,
        )
        .unwrap(),
    )
    .await;
    let reference = candle_nn::GroupNorm::new(
        cpu_f64(&weight, &[channels]),
        cpu_f64(&bias, &[channels]),
        channels,
        groups,
        1e-6,
    )
    .unwrap();
    let batched: Vec<usize> = [1]
        .iter()
        .chain(&shape[shape.len() - 3..])
        .copied()
        .collect();
    let want = reference.forward(&cpu_f64(data, &batched)).unwrap();
    // Per-chunk two-pass statistics merged pairwise: a few ULPs in mean and
    // 1/std, times a weight up to 2, over values O(1..4).
    assert_close(
        &format!("group norm {shape:?} in {groups} groups"),
        &got,
        &values_f32(&want),
        5e-6,
        5e-6,
    );
}

async fn group_norm_matches_candle(gpu: &Gpu) {
    // Odd spatial sizes; one element per group (zero variance); groups of 6400
    // elements spanning two chunks; FLUX's 32 groups; a batch-1 4-D tensor.
    let cases: [(&[usize], usize); 5] = [
        (&[64, 9, 7], 32),
        (&[32, 1, 1], 32),
        (&[128, 40, 40], 32),
        (&[6, 5, 3], 3),
        (&[1, 64, 16, 16], 32),
    ];
    for (seed, (shape, groups)) in cases.into_iter().enumerate() {
        let data = random(70 + seed as u64, shape.iter().product(), 3.0);
        check_group_norm(gpu, shape, groups, &data, 80 + seed as u64).await;
    }
}
gpu_test!(group_norm_matches_candle, also_plain);

async fn group_norm_handles_flux_sized_groups(gpu: &Gpu) {
    // FLUX's autoencoder at 1024²: 4 channels × 1M pixels per group, here
    // 2 such groups, offset from zero to exercise the variance's stability.
    let shape = [8usize, 1024, 1024];
    let data: Vec<f32> = random(90, shape.iter().product(), 2.0)
        .iter()
        .map(|v| v + 5.0)
        .collect();
    check_group_norm(gpu, &shape, 2, &data, 91).await;
}
gpu_test!(group_norm_handles_flux_sized_groups);

async fn more_rows_than_one_grid_row(gpu: &Gpu) {
    // 65535 workgroups is the most one grid row holds: rows fold onto a 2-D grid.
    let shape = [70_000usize, 3];
    let data = random(99, 70_000 * 3, 3.0);
    let scale = [0.5f32, -1.0, 2.0];
    let got = download(
        gpu,
        &norm::rms_norm(
            gpu,
            &upload(gpu, &data, &shape),
            &upload(gpu, &scale, &[3]),
            1e-6,
        )
        .unwrap(),
    )
    .await;
    let want = candle_nn::ops::rms_norm_slow(&cpu_f64(&data, &shape), &cpu_f64(&scale, &[3]), 1e-6)
        .unwrap();
    assert_close(
        "rms norm of 70000 rows",
        &got,
        &values_f32(&want),
        4e-6,
        4e-6,
    );
}
gpu_test!(more_rows_than_one_grid_row, also_plain);

async fn views_are_normalized_from_their_offset(gpu: &Gpu) {
    let data = random(95, 6 * 40, 3.0);
    let x = upload(gpu, &data, &[6, 40]);
    let scale = upload(gpu, &[1.0; 40], &[40]);
    let got = download(
        gpu,
        &norm::rms_norm(gpu, &x.narrow(2, 3).unwrap(), &scale, 1e-6).unwrap(),
    )
    .await;
    let want = candle_nn::ops::rms_norm_slow(
        &cpu_f64(&data[80..200], &[3, 40]),
        &cpu_f64(&[1.0; 40], &[40]),
        1e-6,
    )
    .unwrap();
    assert_close("rms norm of a view", &got, &values_f32(&want), 4e-6, 4e-6);
}
gpu_test!(views_are_normalized_from_their_offset);

fn assert_shape_error<T: std::fmt::Debug>(what: &str, result: Result<T, GpuError>) {
    match result {
        Err(GpuError::Shape(_)) => {}
        other => panic!("{what}: expected a shape error, got {other:?}"),
    }
}

async fn bad_norm_shapes_are_errors(gpu: &Gpu) {
    let x = upload(gpu, &[0.0; 24], &[2, 3, 4]);
    let vector3 = upload(gpu, &[1.0; 3], &[3]);
    let vector4 = upload(gpu, &[1.0; 4], &[4]);
    assert_shape_error(
        "layer norm weight of the wrong size",
        norm::layer_norm(gpu, &x, Some((&vector3, &vector4)), 1e-5),
    );
    assert_shape_error(
        "rms norm scale of the wrong size",
        norm::rms_norm(gpu, &x, &vector3, 1e-6),
    );
    let empty = upload(gpu, &[], &[3, 0]);
    assert_shape_error("empty rows", norm::layer_norm(gpu, &empty, None, 1e-6));
    assert_shape_error(
        "channels not divisible into groups",
        norm::group_norm(gpu, &x, 2, &vector3, &vector3, 1e-6),
    );
    assert_shape_error(
        "group norm of a matrix",
        norm::group_norm(
            gpu,
            &x.reshape(&[6, 4]).unwrap(),
            2,
            &vector3,
            &vector3,
            1e-6,
        ),
    );
    assert_shape_error(
        "group norm weight per group, not per channel",
        norm::group_norm(gpu, &x, 1, &vector4, &vector4, 1e-6),
    );
}
gpu_test!(bad_norm_shapes_are_errors);

async fn steady_state_group_norm_creates_no_buffers_or_pipelines(gpu: &Gpu) {
    let shape = [64usize, 20, 20];
    let x = upload(gpu, &random(96, 64 * 400, 2.0), &shape);
    let weight = upload(gpu, &random(97, 64, 1.0), &[64]);
    let bias = upload(gpu, &random(98, 64, 1.0), &[64]);
    let step = || {
        let h = norm::group_norm(gpu, &x, 32, &weight, &bias, 1e-6).unwrap();
        let h = h.reshape(&[64, 400]).unwrap();
        norm::layer_norm(gpu, &h, None, 1e-6).unwrap()
    };
    let first = download(gpu, &step()).await; // warm-up: pipelines and buffers
    let before = gpu.stats();
    for _ in 0..5 {
        drop(step());
    }
    let last = step();
    let during = gpu.stats() - before;
    assert_eq!(during.buffers_created, 0, "{during:?}");
    assert_eq!(during.pipelines_created, 0, "{during:?}");
    // Group norm is three dispatches (chunk statistics, merge, apply).
    assert_eq!(during.dispatches, 6 * 4, "{during:?}");
    assert_eq!(during.submits, 0, "{during:?}");
    assert_eq!(download(gpu, &last).await, first);
}
gpu_test!(steady_state_group_norm_creates_no_buffers_or_pipelines);
