//! f16 tensors: upload, read-back and casts against candle's f16 (the `half`
//! crate's round-to-nearest-even), and the kernels that take f16 operands
//! (elementwise, linear) against candle computing in f32 on the same
//! f16-rounded inputs, its result rounded to f16.
//!
//! Tolerances: the CPU rounds f32 → f16 to nearest, ties to even; WGSL only
//! promises the nearest value in one direction or the other, so a GPU-rounded
//! value may be one f16 step (2⁻¹⁰ of its magnitude, or 2⁻²⁴ below the
//! normal range) away, on top of the f32 kernel's own tolerance.
//!
//! Where the device has no shader-f16 (SwiftShader in Chromium), f16
//! tensors must be refused with an error that says so, and that is what the
//! tests check there.

use candle_core::{DType as CpuDType, Device, quantized::QTensor};
use sculpt_gpu::{
    DType, Gpu, GpuError, GpuOptions, Tensor,
    kernels::{
        elementwise::{self, Binary, Unary},
        linear::{LinearWeight, linear},
        norm,
    },
    weights::{WeightFormat, repack},
};

use crate::support::{candle_dtype, cpu, cpu_values, download, random, upload};

/// The values as candle stores them in f16, widened back to f32.
fn rounded_to_f16(values: &[f32]) -> Vec<f32> {
    let rounded = cpu(values, &[values.len()])
        .to_dtype(CpuDType::F16)
        .unwrap()
        .to_dtype(CpuDType::F32)
        .unwrap();
    cpu_values(&rounded)
}

/// One f16 step at the magnitude of `value`.
fn f16_step(value: f32) -> f32 {
    (value.abs() * (0.5f32).powi(10)).max((0.5f32).powi(24))
}

/// Every element within one f16 step plus `abs + rel·|want|` of `want`.
fn assert_within_f16_step(what: &str, got: &[f32], want: &[f32], abs: f32, rel: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let bound = f16_step(w) + abs + rel * w.abs();
        assert!(
            (g - w).abs() <= bound,
            "{what}: element {i} is {g}, the reference {w} (bound {bound})"
        );
    }
}

/// Whether the device stores f16; without shader-f16, checks that f16
/// tensors are refused with an error that names the missing feature.
fn has_f16(gpu: &Gpu) -> bool {
    if option_env!("SCULPT_REQUIRE_F16").is_some() {
        assert!(
            gpu.report.shader_f16,
            "this adapter was expected to offer shader-f16"
        );
    }
    if !gpu.report.shader_f16 {
        let err = Tensor::from_slice_as(gpu, &[1.0, 2.0], &[2], DType::F16).unwrap_err();
        assert!(
            matches!(&err, GpuError::Unsupported(m) if m.contains("shader-f16")),
            "{err}"
        );
    }
    gpu.report.shader_f16
}

/// Values across f16's range: ordinary, tiny (subnormal in f16), large,
/// and halfway cases that test the rounding direction.
fn awkward_values(len: usize, seed: u64) -> Vec<f32> {
    let mut values = random(seed, len, 4.0);
    let specials = [
        0.0,
        -0.0,
        1.0 + (0.5f32).powi(11), // halfway between two f16 values: ties to even
        3.0e-6,
        -6.1e-5,
        60000.0,
        -1234.567,
        0.1,
    ];
    for (v, s) in values.iter_mut().zip(specials) {
        *v = s;
    }
    values
}

async fn f16_tensors_round_trip_and_cast(gpu: &Gpu) {
    if !has_f16(gpu) {
        return;
    }
    for (seed, shape) in [&[1][..], &[7], &[3, 37], &[2, 5, 301]].iter().enumerate() {
        let len: usize = shape.iter().product();
        let data = awkward_values(len, seed as u64);
        let want = rounded_to_f16(&data);

        let halves = Tensor::from_slice_as(gpu, &data, shape, DType::F16).unwrap();
        assert_eq!(halves.dtype(), DType::F16);
        // Upload rounds on the CPU like candle, and widening back is exact.
        assert_eq!(
            download(gpu, &halves).await,
            want,
            "f16 upload of {shape:?}"
        );

        // A view that starts and ends mid-word reads back its own elements.
        if shape[0] > 2 {
            let row: usize = shape[1..].iter().product();
            let view = halves.narrow(1, shape[0] - 2).unwrap();
            assert_eq!(
                download(gpu, &view).await,
                want[row..row * (shape[0] - 1)],
                "rows 1..{} of {shape:?} in f16",
                shape[0] - 1
            );
        }

        let narrowed = elementwise::cast(gpu, &upload(gpu, &data, shape), DType::F16).unwrap();
        assert_eq!(narrowed.dtype(), DType::F16);
        assert_eq!(narrowed.shape(), *shape);
        let got = download(gpu, &narrowed).await;
        assert_within_f16_step(
            &format!("f32 → f16 cast of {shape:?}"),
            &got,
            &want,
            0.0,
            0.0,
        );

        let widened = elementwise::cast(gpu, &halves, DType::F32).unwrap();
        assert_eq!(widened.dtype(), DType::F32);
        assert_eq!(
            download(gpu, &widened).await,
            want,
            "f16 → f32 cast of {shape:?}"
        );
    }
}
gpu_test!(f16_tensors_round_trip_and_cast);

async fn elementwise_ops_on_f16_match_candle(gpu: &Gpu) {
    if !has_f16(gpu) {
        return;
    }
    let shape = [5, 67];
    let len = 5 * 67;
    let a = rounded_to_f16(&random(40, len, 6.0));
    let b = rounded_to_f16(&random(41, len, 2.0));
    let row = rounded_to_f16(&random(42, 67, 2.0));
    let row2 = rounded_to_f16(&random(43, 67, 2.0));
    let f16 = |values: &[f32], shape: &[usize]| {
        Tensor::from_slice_as(gpu, values, shape, DType::F16).unwrap()
    };
    let (a_gpu, b_gpu, row_gpu, row2_gpu) = (
        f16(&a, &shape),
        f16(&b, &shape),
        f16(&row, &[67]),
        f16(&row2, &[67]),
    );
    let (a_cpu, b_cpu, row_cpu, row2_cpu) = (
        cpu(&a, &shape),
        cpu(&b, &shape),
        cpu(&row, &[67]),
        cpu(&row2, &[67]),
    );

    let cases: Vec<(&str, Tensor, candle_core::Tensor)> = vec![
        (
            "silu",
            elementwise::unary(gpu, Unary::Silu, &a_gpu).unwrap(),
            a_cpu.silu().unwrap(),
        ),
        (
            "gelu",
            elementwise::unary(gpu, Unary::GeluTanh, &a_gpu).unwrap(),
            a_cpu.gelu().unwrap(),
        ),
        (
            "scale",
            elementwise::unary(gpu, Unary::Scale(-0.37), &a_gpu).unwrap(),
            a_cpu.affine(-0.37, 0.0).unwrap(),
        ),
        (
            "add",
            elementwise::binary(gpu, Binary::Add, &a_gpu, &b_gpu).unwrap(),
            (&a_cpu + &b_cpu).unwrap(),
        ),
        (
            "mul by a row",
            elementwise::binary(gpu, Binary::Mul, &a_gpu, &row_gpu).unwrap(),
            a_cpu.broadcast_mul(&row_cpu).unwrap(),
        ),
        (
            "modulate",
            elementwise::modulate(gpu, &a_gpu, &row2_gpu, &row_gpu).unwrap(),
            a_cpu
                .broadcast_mul(&(&row_cpu + 1.0).unwrap())
                .unwrap()
                .broadcast_add(&row2_cpu)
                .unwrap(),
        ),
        (
            "gated residual",
            elementwise::gated_residual(gpu, &a_gpu, &row_gpu, &b_gpu).unwrap(),
            (&a_cpu + b_cpu.broadcast_mul(&row_cpu).unwrap()).unwrap(),
        ),
    ];
    for (what, got, want) in cases {
        assert_eq!(got.dtype(), DType::F16, "{what} keeps its operands' dtype");
        let want = rounded_to_f16(&cpu_values(&want));
        assert_within_f16_step(what, &download(gpu, &got).await, &want, 2e-6, 1e-5);
    }

    let mixed = elementwise::binary(gpu, Binary::Add, &a_gpu, &upload(gpu, &b, &shape));
    assert!(
        matches!(&mixed, Err(GpuError::Unsupported(m)) if m.contains("f16")),
        "adding f32 to f16 must be refused, not misread: {mixed:?}"
    );
    let norm = norm::rms_norm(gpu, &a_gpu, &upload(gpu, &row, &[67]), 1e-6);
    assert!(
        matches!(&norm, Err(GpuError::Unsupported(m)) if m.contains("rms_norm") && m.contains("f16")),
        "a kernel that reads f32 only must refuse f16 by name: {norm:?}"
    );
}
gpu_test!(elementwise_ops_on_f16_match_candle);

/// Linear layers on f16 activations, with f32 sums: the rows path (M ≤ 8),
/// the tiled path, and the tiled path multiplying in f16 tiles
/// (`f16_linear`), for an f32 and a Q8_0 weight.
async fn linear_on_f16_activations_matches_candle(gpu: &Gpu) {
    if !has_f16(gpu) {
        return;
    }
    let f16_tiles = crate::support::gpu_with(GpuOptions {
        f16_linear: true,
        ..GpuOptions::default()
    })
    .await;
    assert!(f16_tiles.report.f16_linear, "shader-f16 allows f16 tiles");
    let (n, k) = (72, 96);
    let w = random(500, n * k, 1.0);
    let quantized = QTensor::quantize(&cpu(&w, &[n, k]), candle_dtype(WeightFormat::Q8_0)).unwrap();
    let q8_0 = repack(WeightFormat::Q8_0, n, k, &quantized.data().unwrap()).unwrap();
    let q8_0_values = cpu_values(&quantized.dequantize(&Device::Cpu).unwrap());
    for (device, tiles) in [(gpu, "f32 tiles"), (&f16_tiles, "f16 tiles")] {
        for (format, packed, values) in [
            (WeightFormat::F32, None, &w),
            (WeightFormat::Q8_0, Some(&q8_0), &q8_0_values),
        ] {
            let weight = match packed {
                Some(packed) => LinearWeight::from_packed(device, packed).unwrap(),
                None => LinearWeight::from_f32(device, &w, n, k).unwrap(),
            };
            for m in [3, 70] {
                let x = rounded_to_f16(&random(501 + m as u64, m * k, 1.0));
                let b = rounded_to_f16(&random(502, n, 1.0));
                let x_gpu = Tensor::from_slice_as(device, &x, &[m, k], DType::F16).unwrap();
                let b_gpu = Tensor::from_slice_as(device, &b, &[n], DType::F16).unwrap();
                let out = linear(device, &x_gpu, &weight, Some(&b_gpu)).unwrap();
                assert_eq!(out.dtype(), DType::F16);
                let exact = cpu(&x, &[m, k])
                    .matmul(&cpu(values, &[n, k]).t().unwrap())
                    .unwrap()
                    .broadcast_add(&cpu(&b, &[n]))
                    .unwrap();
                let want = rounded_to_f16(&cpu_values(&exact));
                // Σ|x·w| per output: what the f16 tiles' rounding scales with.
                let magnitude = cpu_values(
                    &cpu(&x, &[m, k])
                        .abs()
                        .unwrap()
                        .matmul(&cpu(values, &[n, k]).abs().unwrap().t().unwrap())
                        .unwrap(),
                );
                let got = download(device, &out).await;
                let f16_products = device.report.f16_linear && m > 8;
                for (i, ((&got, &want), &magnitude)) in
                    got.iter().zip(&want).zip(&magnitude).enumerate()
                {
                    // f16 products summed 16 at a time: the bound of the f16
                    // tile test in linear.rs, 20·2⁻¹¹ of Σ|x·w|.
                    let products = if f16_products {
                        20.0 * (0.5f32).powi(11) * magnitude
                    } else {
                        0.0
                    };
                    let bound = f16_step(want) + products + 2e-6 * k as f32 + 1e-5 * want.abs();
                    assert!(
                        (got - want).abs() <= bound,
                        "[{m}, {k}] f16 x {format} [{n}, {k}], {tiles}: element {i} is {got}, \
                         the reference {want} (bound {bound})"
                    );
                }
            }
        }
    }
    let f32_bias = upload(gpu, &random(503, n, 1.0), &[n]);
    let x_gpu = Tensor::from_slice_as(gpu, &random(504, 3 * k, 1.0), &[3, k], DType::F16).unwrap();
    let weight = LinearWeight::from_f32(gpu, &w, n, k).unwrap();
    let mixed = linear(gpu, &x_gpu, &weight, Some(&f32_bias));
    assert!(
        matches!(&mixed, Err(GpuError::Unsupported(m)) if m.contains("bias")),
        "an f32 bias on f16 activations must be refused: {mixed:?}"
    );
}
gpu_test!(linear_on_f16_activations_matches_candle);
