//! RoPE against candle: the table against the angles built with candle ops
//! in f64 (FLUX's `rope`/`EmbedNd` formula), the rotation against candle-nn's
//! interleaved `rope_i` in f32.

use candle_core::{DType, Device, Tensor as Cpu};
use sculpt_gpu::{
    Gpu, GpuError,
    kernels::rope::{self, FLUX_AXES_DIM, FLUX_THETA, RopeLayout},
};

use crate::support::{assert_close, cpu, cpu_values, download, random, upload};

/// FLUX's ids: `text` tokens at (0, 0, 0), then a `rows` × `columns` latent
/// grid at (0, row, column).
fn flux_positions(text: usize, rows: usize, columns: usize) -> Vec<f32> {
    let mut ids = vec![0.0; text * 3];
    for row in 0..rows {
        for column in 0..columns {
            ids.extend([0.0, row as f32, column as f32]);
        }
    }
    ids
}

/// cos and sin [tokens, pairs], built with candle ops in f64.
fn reference_angles(positions: &[f32], axes_dim: &[usize], theta: f64) -> (Cpu, Cpu) {
    let tokens = positions.len() / axes_dim.len();
    let ids = cpu(positions, &[tokens, axes_dim.len()])
        .to_dtype(DType::F64)
        .unwrap();
    let per_axis: Vec<Cpu> = axes_dim
        .iter()
        .enumerate()
        .map(|(axis, &dim)| {
            let exponents = Cpu::arange_step(0.0, dim as f64, 2.0, &Device::Cpu).unwrap();
            let frequencies = (exponents / dim as f64)
                .unwrap()
                .affine(-theta.ln(), 0.0)
                .unwrap()
                .exp()
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            ids.narrow(1, axis, 1)
                .unwrap()
                .broadcast_mul(&frequencies)
                .unwrap()
        })
        .collect();
    let angles = Cpu::cat(&per_axis, 1).unwrap();
    (
        angles.cos().unwrap().to_dtype(DType::F32).unwrap(),
        angles.sin().unwrap().to_dtype(DType::F32).unwrap(),
    )
}

fn split_table(table: &[f32]) -> (Vec<f32>, Vec<f32>) {
    (
        table.iter().step_by(2).copied().collect(),
        table.iter().skip(1).step_by(2).copied().collect(),
    )
}

async fn rope_table_matches_flux_angles(gpu: &Gpu) {
    // 3 text tokens and a 4 × 5 latent grid; and positions up to 127 (2048²).
    for positions in [flux_positions(3, 4, 5), flux_positions(0, 2, 128)] {
        let table = rope::rope_table(gpu, &positions, &FLUX_AXES_DIM, FLUX_THETA).unwrap();
        let tokens = positions.len() / 3;
        assert_eq!(table.shape(), &[tokens, 64, 2]);
        let (cos, sin) = split_table(&download(gpu, &table).await);
        let (want_cos, want_sin) = reference_angles(&positions, &FLUX_AXES_DIM, FLUX_THETA);
        // The f64 values rounded once to f32: half an ULP of values ≤ 1.
        assert_close("rope cos", &cos, &cpu_values(&want_cos), 1e-7, 0.0);
        assert_close("rope sin", &sin, &cpu_values(&want_sin), 1e-7, 0.0);
    }
}
gpu_test!(rope_table_matches_flux_angles);

/// candle's `rope_i` over x in [heads, tokens, head_dim].
fn reference_rope(x: &[f32], heads: usize, tokens: usize, table: &[f32]) -> Cpu {
    let half = table.len() / tokens / 2;
    let (cos, sin) = split_table(table);
    let x = cpu(x, &[1, heads, tokens, 2 * half]);
    candle_nn::rotary_emb::rope_i(&x, &cpu(&cos, &[tokens, half]), &cpu(&sin, &[tokens, half]))
        .unwrap()
        .squeeze(0)
        .unwrap()
}

// x0·cos − x1·sin may be one fused multiply-add on the GPU and two roundings
// on the CPU, with cancellation: ~2 ULPs of |x| ≤ 2.
const ROPE_TOLERANCE: f32 = 5e-7;

async fn rope_matches_candle_rope_i_heads_first(gpu: &Gpu) {
    // FLUX: head_dim 128, 3 text + 20 image tokens; a small head_dim 16
    // built from axes [4, 6, 6]; one token, one head.
    let cases: [(usize, usize, &[usize]); 3] = [
        (3, 23, &FLUX_AXES_DIM),
        (5, 7, &[4, 6, 6]),
        (1, 1, &FLUX_AXES_DIM),
    ];
    for (seed, (heads, tokens, axes_dim)) in cases.into_iter().enumerate() {
        let positions: Vec<f32> = random(seed as u64, tokens * 3, 40.0)
            .iter()
            .map(|v| v.round())
            .collect();
        let table = rope::rope_table(gpu, &positions, axes_dim, FLUX_THETA).unwrap();
        let table_values = download(gpu, &table).await;
        let head_dim: usize = axes_dim.iter().sum();
        let x = random(10 + seed as u64, heads * tokens * head_dim, 2.0);
        let shape = [heads, tokens, head_dim];
        let got = download(
            gpu,
            &rope::apply_rope(
                gpu,
                &upload(gpu, &x, &shape),
                &table,
                RopeLayout::HeadsTokensDim,
            )
            .unwrap(),
        )
        .await;
        let want = reference_rope(&x, heads, tokens, &table_values);
        assert_close(
            &format!("rope {shape:?}"),
            &got,
            &cpu_values(&want),
            ROPE_TOLERANCE,
            0.0,
        );
    }
}
gpu_test!(rope_matches_candle_rope_i_heads_first);

async fn rope_matches_candle_rope_i_tokens_first(gpu: &Gpu) {
    let (heads, tokens, head_dim) = (4, 9, 128);
    let positions = flux_positions(1, 2, 4);
    let table = rope::rope_table(gpu, &positions, &FLUX_AXES_DIM, FLUX_THETA).unwrap();
    let table_values = download(gpu, &table).await;
    let x = random(20, tokens * heads * head_dim, 2.0);
    let got = download(
        gpu,
        &rope::apply_rope(
            gpu,
            &upload(gpu, &x, &[tokens, heads, head_dim]),
            &table,
            RopeLayout::TokensHeadsDim,
        )
        .unwrap(),
    )
    .await;
    let heads_first = cpu(&x, &[tokens, heads, head_dim])
        .transpose(0, 1)
        .unwrap()
        .contiguous()
        .unwrap();
    let want = reference_rope(&cpu_values(&heads_first), heads, tokens, &table_values)
        .transpose(0, 1)
        .unwrap()
        .contiguous()
        .unwrap();
    assert_close(
        "rope [tokens, heads, head_dim]",
        &got,
        &cpu_values(&want),
        ROPE_TOLERANCE,
        0.0,
    );
}
gpu_test!(rope_matches_candle_rope_i_tokens_first);

async fn rope_of_a_view_reads_its_heads(gpu: &Gpu) {
    let (tokens, head_dim) = (6, 16);
    let positions = flux_positions(2, 2, 2);
    let table = rope::rope_table(gpu, &positions, &[4, 6, 6], FLUX_THETA).unwrap();
    let table_values = download(gpu, &table).await;
    let x = random(30, 5 * tokens * head_dim, 2.0);
    let all_heads = upload(gpu, &x, &[5, tokens, head_dim]);
    let got = download(
        gpu,
        &rope::apply_rope(
            gpu,
            &all_heads.narrow(2, 3).unwrap(),
            &table,
            RopeLayout::HeadsTokensDim,
        )
        .unwrap(),
    )
    .await;
    let start = 2 * tokens * head_dim;
    let want = reference_rope(&x[start..], 3, tokens, &table_values);
    assert_close(
        "rope of a view",
        &got,
        &cpu_values(&want),
        ROPE_TOLERANCE,
        0.0,
    );
}
gpu_test!(rope_of_a_view_reads_its_heads);

async fn bad_rope_shapes_are_errors(gpu: &Gpu) {
    let table = rope::rope_table(gpu, &flux_positions(0, 2, 2), &[4, 6, 6], FLUX_THETA).unwrap();
    let wrong_tokens = upload(gpu, &[0.0; 2 * 5 * 16], &[2, 5, 16]);
    let wrong_head_dim = upload(gpu, &[0.0; 2 * 4 * 8], &[2, 4, 8]);
    let flat = upload(gpu, &[0.0; 64], &[4, 16]);
    for (what, x, layout) in [
        (
            "5 tokens for a table of 4",
            &wrong_tokens,
            RopeLayout::HeadsTokensDim,
        ),
        (
            "head_dim 8 for 16",
            &wrong_head_dim,
            RopeLayout::HeadsTokensDim,
        ),
        (
            "heads where tokens belong",
            &wrong_head_dim,
            RopeLayout::TokensHeadsDim,
        ),
        ("a matrix", &flat, RopeLayout::HeadsTokensDim),
    ] {
        assert!(
            matches!(
                rope::apply_rope(gpu, x, &table, layout),
                Err(GpuError::Shape(_))
            ),
            "{what}"
        );
    }
    assert!(matches!(
        rope::rope_table_values(&[0.0; 7], &FLUX_AXES_DIM, FLUX_THETA),
        Err(GpuError::Shape(_))
    ));
    assert!(matches!(
        rope::rope_table_values(&[0.0; 6], &[3, 6, 6], FLUX_THETA),
        Err(GpuError::Shape(_))
    ));
}
gpu_test!(bad_rope_shapes_are_errors);
