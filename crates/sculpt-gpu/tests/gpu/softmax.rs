//! Softmax against candle's `softmax` (max-subtracted, composed of ops)
//! computed in f64 from the same f32 inputs. Tolerance 1e-7 absolute +
//! 2e-5 relative: WGSL lets `exp` be off by 3 + 2·|x| ULPs, which over the
//! spread of these rows is up to ~2e-5 of each term, and outputs are ≤ 1.

use candle_core::{D, DType};
use sculpt_gpu::{Gpu, GpuError, kernels::softmax::softmax_last_dim};

use crate::support::{assert_close, cpu, cpu_values, download, random, upload};

async fn check_softmax(gpu: &Gpu, shape: &[usize], data: &[f32]) {
    let got = download(
        gpu,
        &softmax_last_dim(gpu, &upload(gpu, data, shape)).unwrap(),
    )
    .await;
    let reference = cpu(data, shape).to_dtype(DType::F64).unwrap();
    let want = candle_nn::ops::softmax(&reference, D::Minus1)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
    assert_close(
        &format!("softmax {shape:?}"),
        &got,
        &cpu_values(&want),
        1e-7,
        2e-5,
    );
}

async fn softmax_matches_candle(gpu: &Gpu) {
    // Rows of 1 (all ones), CLIP's 77, widths around 4096 and not multiples
    // of 64 or 256, one row, many rows.
    let shapes: [&[usize]; 7] = [
        &[1],
        &[5, 1],
        &[12, 77, 77],
        &[2, 4096],
        &[3, 4099],
        &[600, 45],
        &[1, 300],
    ];
    for (seed, shape) in shapes.iter().enumerate() {
        let data = random(seed as u64, shape.iter().product(), 6.0);
        check_softmax(gpu, shape, &data).await;
    }
}
gpu_test!(softmax_matches_candle, also_plain);

async fn softmax_is_stable_for_large_logits(gpu: &Gpu) {
    // exp(100) overflows f32: only the max-subtracted form survives.
    let data: Vec<f32> = random(20, 3 * 500, 10.0)
        .iter()
        .map(|v| v + 100.0)
        .collect();
    check_softmax(gpu, &[3, 500], &data).await;
    let negative: Vec<f32> = data.iter().map(|v| -v).collect();
    check_softmax(gpu, &[3, 500], &negative).await;
}
gpu_test!(softmax_is_stable_for_large_logits, also_plain);

async fn softmax_of_more_rows_than_one_grid_row(gpu: &Gpu) {
    // 65535 workgroups is the most one grid row holds: rows fold onto a 2-D grid.
    let data = random(25, 70_000 * 2, 6.0);
    check_softmax(gpu, &[70_000, 2], &data).await;
}
gpu_test!(softmax_of_more_rows_than_one_grid_row, also_plain);

async fn softmax_of_a_view_reads_its_rows(gpu: &Gpu) {
    let data = random(30, 8 * 50, 4.0);
    let x = upload(gpu, &data, &[8, 50]);
    let got = download(
        gpu,
        &softmax_last_dim(gpu, &x.narrow(3, 4).unwrap()).unwrap(),
    )
    .await;
    let want = candle_nn::ops::softmax(
        &cpu(&data[150..350], &[4, 50]).to_dtype(DType::F64).unwrap(),
        D::Minus1,
    )
    .unwrap()
    .to_dtype(DType::F32)
    .unwrap();
    assert_close("softmax of a view", &got, &cpu_values(&want), 1e-7, 2e-5);
}
gpu_test!(softmax_of_a_view_reads_its_rows);

async fn softmax_of_an_empty_axis_is_an_error(gpu: &Gpu) {
    let empty = upload(gpu, &[], &[4, 0]);
    assert!(matches!(
        softmax_last_dim(gpu, &empty),
        Err(GpuError::Shape(_))
    ));
}
gpu_test!(softmax_of_an_empty_axis_is_an_error);
