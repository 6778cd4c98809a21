//! Elementwise kernels against candle on the CPU. Tolerance: 2e-6 absolute
//! plus 1e-5 relative for ops with exp/tanh (WGSL allows a few ULP of error
//! in those, and GPUs build tanh from exp); exact for +, -, · which are
//! correctly rounded on both sides.

use candle_core::Tensor as Cpu;
use sculpt_gpu::{
    Gpu,
    kernels::elementwise::{self, Binary, Unary},
};

use crate::support::{assert_close, cpu, cpu_values, download, random, upload};

const SHAPES: [&[usize]; 4] = [&[1], &[7, 37], &[3, 1000], &[2, 5, 300]];

fn reference_unary(op: Unary, x: &Cpu) -> Cpu {
    match op {
        Unary::Scale(s) => x.affine(f64::from(s), 0.0).unwrap(),
        Unary::AddScalar(s) => x.affine(1.0, f64::from(s)).unwrap(),
        Unary::Silu => x.silu().unwrap(),
        // candle's `gelu` is the tanh approximation (`gelu_erf` is exact).
        Unary::GeluTanh => x.gelu().unwrap(),
        Unary::QuickGelu => {
            let denominator = (x.affine(-1.702, 0.0).unwrap().exp().unwrap() + 1.0).unwrap();
            x.div(&denominator).unwrap()
        }
    }
}

async fn unary_ops_match_candle(gpu: &Gpu) {
    let ops = [
        Unary::Scale(-0.37),
        Unary::AddScalar(1.5),
        Unary::Silu,
        Unary::GeluTanh,
        Unary::QuickGelu,
    ];
    for (seed, shape) in SHAPES.iter().enumerate() {
        let len = shape.iter().product();
        // Wide enough to reach GELU's and SiLU's saturated tails.
        let data = random(seed as u64, len, 12.0);
        let x = upload(gpu, &data, shape);
        for op in ops {
            let got = download(gpu, &elementwise::unary(gpu, op, &x).unwrap()).await;
            let want = cpu_values(&reference_unary(op, &cpu(&data, shape)));
            assert_close(&format!("{op:?} on {shape:?}"), &got, &want, 2e-6, 1e-5);
        }
    }
}
gpu_test!(unary_ops_match_candle);

async fn binary_ops_broadcast_over_rows(gpu: &Gpu) {
    for (seed, shape) in SHAPES.iter().enumerate() {
        let len: usize = shape.iter().product();
        let channels = *shape.last().unwrap();
        let a_data = random(10 + seed as u64, len, 3.0);
        let full = random(20 + seed as u64, len, 3.0);
        let row = random(30 + seed as u64, channels, 3.0);
        let a = upload(gpu, &a_data, shape);
        let a_cpu = cpu(&a_data, shape);
        for (b_data, b_shape) in [(&full, shape.to_vec()), (&row, vec![channels])] {
            let b = upload(gpu, b_data, &b_shape);
            let b_cpu = cpu(b_data, &b_shape);
            for op in [Binary::Add, Binary::Mul, Binary::Sub, Binary::GeluGate] {
                let got = download(gpu, &elementwise::binary(gpu, op, &a, &b).unwrap()).await;
                let want = match op {
                    Binary::Add => a_cpu.broadcast_add(&b_cpu),
                    Binary::Mul => a_cpu.broadcast_mul(&b_cpu),
                    Binary::Sub => a_cpu.broadcast_sub(&b_cpu),
                    Binary::GeluGate => a_cpu.gelu().unwrap().broadcast_mul(&b_cpu),
                }
                .unwrap();
                let tolerance = if op == Binary::GeluGate {
                    (2e-6, 1e-5)
                } else {
                    (0.0, 0.0)
                };
                assert_close(
                    &format!("{op:?} {shape:?} with {b_shape:?}"),
                    &got,
                    &cpu_values(&want),
                    tolerance.0,
                    tolerance.1,
                );
            }
        }
    }
}
gpu_test!(binary_ops_broadcast_over_rows);

async fn modulation_and_gated_residual_match_flux(gpu: &Gpu) {
    let shape = [2usize, 9, 40];
    let len = shape.iter().product();
    let x_data = random(1, len, 3.0);
    let y_data = random(2, len, 3.0);
    let shift_data = random(3, 40, 1.0);
    let scale_data = random(4, 40, 1.0);
    let (x, y) = (upload(gpu, &x_data, &shape), upload(gpu, &y_data, &shape));
    let (shift, scale) = (
        upload(gpu, &shift_data, &[40]),
        upload(gpu, &scale_data, &[40]),
    );
    let (x_cpu, y_cpu) = (cpu(&x_data, &shape), cpu(&y_data, &shape));
    let (shift_cpu, scale_cpu) = (cpu(&shift_data, &[40]), cpu(&scale_data, &[40]));

    // FLUX: x * (1 + scale) + shift. One fused multiply-add may round once
    // where the reference rounds twice: 1 ULP-scale tolerance.
    let got = download(
        gpu,
        &elementwise::modulate(gpu, &x, &shift, &scale).unwrap(),
    )
    .await;
    let want = x_cpu
        .broadcast_mul(&(scale_cpu.clone() + 1.0).unwrap())
        .unwrap()
        .broadcast_add(&shift_cpu)
        .unwrap();
    assert_close("modulate", &got, &cpu_values(&want), 1e-6, 1e-6);

    // x + gate * y, gate per channel.
    let got = download(
        gpu,
        &elementwise::gated_residual(gpu, &x, &scale, &y).unwrap(),
    )
    .await;
    let want = (x_cpu + y_cpu.broadcast_mul(&scale_cpu).unwrap()).unwrap();
    assert_close("gated residual", &got, &cpu_values(&want), 1e-6, 1e-6);
}
gpu_test!(modulation_and_gated_residual_match_flux);

async fn views_read_from_their_offset(gpu: &Gpu) {
    // narrow() shares the buffer: the kernel must honour the view's offset.
    let data = random(5, 6 * 10, 3.0);
    let x = upload(gpu, &data, &[6, 10]);
    let rows = x.narrow(2, 3).unwrap();
    let got = download(
        gpu,
        &elementwise::unary(gpu, Unary::Scale(2.0), &rows).unwrap(),
    )
    .await;
    let want: Vec<f32> = data[20..50].iter().map(|v| v * 2.0).collect();
    assert_eq!(got, want);
    assert_eq!(download(gpu, &rows).await, data[20..50].to_vec());
}
gpu_test!(views_read_from_their_offset);

async fn more_elements_than_one_grid_row(gpu: &Gpu) {
    // 65535 workgroups of 256 is the most one grid row holds.
    let len = 65535 * 256 + 1000;
    let data: Vec<f32> = (0..len).map(|i| (i % 1009) as f32).collect();
    let x = upload(gpu, &data, &[len]);
    let got = download(
        gpu,
        &elementwise::unary(gpu, Unary::AddScalar(1.0), &x).unwrap(),
    )
    .await;
    if let Some(i) = (0..len).find(|&i| got[i] != data[i] + 1.0) {
        panic!("element {i}: {} != {}", got[i], data[i] + 1.0);
    }
}
gpu_test!(more_elements_than_one_grid_row);

async fn shape_errors_are_reported(gpu: &Gpu) {
    let a = upload(gpu, &[0.0; 12], &[3, 4]);
    let b = upload(gpu, &[0.0; 3], &[3]);
    let err = elementwise::binary(gpu, Binary::Add, &a, &b).unwrap_err();
    assert!(err.to_string().contains("cannot be broadcast"), "{err}");
    assert!(sculpt_gpu::Tensor::from_slice(gpu, &[1.0; 5], &[2, 3]).is_err());
    assert!(a.reshape(&[5, 2]).is_err());
    assert!(a.narrow(2, 2).is_err());
}
gpu_test!(shape_errors_are_reported);

async fn steady_state_creates_no_buffers_or_pipelines(gpu: &Gpu) {
    let shape = [16usize, 64];
    let x = upload(gpu, &random(9, 16 * 64, 2.0), &shape);
    let shift = upload(gpu, &random(10, 64, 1.0), &[64]);
    let scale = upload(gpu, &random(11, 64, 1.0), &[64]);
    let step = || {
        let h = elementwise::modulate(gpu, &x, &shift, &scale).unwrap();
        let h = elementwise::unary(gpu, Unary::GeluTanh, &h).unwrap();
        elementwise::gated_residual(gpu, &x, &scale, &h).unwrap()
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
    assert_eq!(during.dispatches, 18, "{during:?}");
    // Nothing is submitted until something is read back.
    assert_eq!(during.submits, 0, "{during:?}");
    assert_eq!(during.bytes_read_back, 0, "{during:?}");
    assert_eq!(download(gpu, &last).await, first);
    let after = gpu.stats() - before;
    assert_eq!(after.submits, 1, "{after:?}");
    assert_eq!(after.bytes_read_back, 16 * 64 * 4);
}
gpu_test!(steady_state_creates_no_buffers_or_pipelines);
