//! Fused attention against candle (matmul, softmax, matmul) on the CPU.
//! Tolerance 1e-5 absolute + 1e-4 relative: exp() differs by a few ULP
//! between the GPU and the CPU, and the online softmax rescales partial sums
//! in another order than the reference's one-shot softmax.

use candle_core::{D, Tensor as Cpu};
use sculpt_gpu::{
    Gpu,
    kernels::attention::{AttentionOptions, HeadView, attention},
};

use crate::support::{assert_close, cpu, cpu_values, download, random, upload};

struct Case {
    heads: usize,
    lq: usize,
    lk: usize,
    head_dim: usize,
    causal: bool,
    relative_bias: bool,
}

/// softmax(q·kᵀ·scale + bias + mask)·v, heads first in, tokens first out.
fn reference(case: &Case, q: &[f32], k: &[f32], v: &[f32], bias: &[f32], scale: f32) -> Vec<f32> {
    let &Case {
        heads,
        lq,
        lk,
        head_dim,
        ..
    } = case;
    let q = cpu(q, &[heads, lq, head_dim]);
    let k = cpu(k, &[heads, lk, head_dim]);
    let v = cpu(v, &[heads, lk, head_dim]);
    let mut scores = q
        .matmul(&k.t().unwrap())
        .unwrap()
        .affine(f64::from(scale), 0.0)
        .unwrap();
    let mut extra = vec![0f32; heads * lq * lk];
    for h in 0..heads {
        for i in 0..lq {
            for j in 0..lk {
                let e = &mut extra[(h * lq + i) * lk + j];
                if case.relative_bias {
                    *e += bias[h * (lq + lk - 1) + j + lq - 1 - i];
                }
                if case.causal && j > i {
                    *e = f32::NEG_INFINITY;
                }
            }
        }
    }
    scores = (scores + cpu(&extra, &[heads, lq, lk])).unwrap();
    let p = candle_nn::ops::softmax(&scores, D::Minus1).unwrap();
    let out: Cpu = p
        .matmul(&v)
        .unwrap()
        .transpose(0, 1)
        .unwrap()
        .contiguous()
        .unwrap();
    cpu_values(&out)
}

async fn check(gpu: &Gpu, case: Case) {
    let Case {
        heads,
        lq,
        lk,
        head_dim,
        causal,
        relative_bias,
    } = case;
    let seed = (heads * 7 + lq * 131 + lk * 17 + head_dim) as u64;
    let q = random(seed, heads * lq * head_dim, 1.0);
    let k = random(seed + 1, heads * lk * head_dim, 1.0);
    let v = random(seed + 2, heads * lk * head_dim, 1.0);
    let bias = random(seed + 3, heads * (lq + lk - 1), 2.0);
    let scale = 1.0 / (head_dim as f32).sqrt();
    let (qt, kt, vt) = (
        upload(gpu, &q, &[heads, lq, head_dim]),
        upload(gpu, &k, &[heads, lk, head_dim]),
        upload(gpu, &v, &[heads, lk, head_dim]),
    );
    let bias_tensor = upload(gpu, &bias, &[heads, lq + lk - 1]);
    let options = AttentionOptions {
        causal,
        relative_bias: relative_bias.then_some(&bias_tensor),
    };
    let out = attention(
        gpu,
        HeadView::heads_first(&qt).unwrap(),
        HeadView::heads_first(&kt).unwrap(),
        HeadView::heads_first(&vt).unwrap(),
        heads,
        head_dim,
        scale,
        options,
    )
    .unwrap();
    assert_eq!(out.shape(), &[lq, heads * head_dim]);
    let want = reference(&case, &q, &k, &v, &bias, scale);
    let what =
        format!("heads {heads} lq {lq} lk {lk} d {head_dim} causal {causal} bias {relative_bias}");
    assert_close(&what, &download(gpu, &out).await, &want, 1e-5, 1e-4);
}

async fn head_sizes_of_every_model_match_candle(gpu: &Gpu) {
    // CLIP and T5 use 64, FLUX 128, the autoencoder's mid-block 512.
    for (heads, head_dim) in [(2, 32), (3, 64), (2, 128), (1, 512)] {
        for (lq, lk) in [(1, 1), (5, 5), (37, 37), (20, 45)] {
            check(
                gpu,
                Case {
                    heads,
                    lq,
                    lk,
                    head_dim,
                    causal: false,
                    relative_bias: false,
                },
            )
            .await;
        }
    }
    // Many key tiles: the online softmax rescales across all of them.
    check(
        gpu,
        Case {
            heads: 1,
            lq: 300,
            lk: 300,
            head_dim: 128,
            causal: false,
            relative_bias: false,
        },
    )
    .await;
}
gpu_test!(head_sizes_of_every_model_match_candle);

async fn any_head_width_matches_candle(gpu: &Gpu) {
    // Small test and distilled models (1–32), other DiTs and encoders (40,
    // 72, 80, 96), FLUX (128) and wide heads (256). Widths of three 32-wide
    // parts (72–96) leave threads of each workgroup without a query.
    for head_dim in [1, 3, 8, 16, 24, 40, 72, 80, 96, 128, 200, 256] {
        for (lq, lk, causal, relative_bias) in [
            (1, 1, false, false),
            (37, 37, false, false),
            (20, 45, false, true),
            (33, 33, true, false),
        ] {
            check(
                gpu,
                Case {
                    heads: 2,
                    lq,
                    lk,
                    head_dim,
                    causal,
                    relative_bias,
                },
            )
            .await;
        }
    }
}
gpu_test!(any_head_width_matches_candle);

async fn causal_mask_and_relative_bias(gpu: &Gpu) {
    // CLIP: causal over 77 tokens; T5: relative bias, no scaling (scale
    // differs here, the kernel takes any).
    check(
        gpu,
        Case {
            heads: 2,
            lq: 77,
            lk: 77,
            head_dim: 64,
            causal: true,
            relative_bias: false,
        },
    )
    .await;
    check(
        gpu,
        Case {
            heads: 3,
            lq: 33,
            lk: 33,
            head_dim: 64,
            causal: false,
            relative_bias: true,
        },
    )
    .await;
    check(
        gpu,
        Case {
            heads: 2,
            lq: 19,
            lk: 19,
            head_dim: 32,
            causal: true,
            relative_bias: true,
        },
    )
    .await;
}
gpu_test!(causal_mask_and_relative_bias);

async fn reads_a_packed_qkv_projection_in_place(gpu: &Gpu) {
    // FLUX: one linear gives [tokens, 3 · heads · head_dim]; attention reads
    // q, k and v out of it through strides.
    let (tokens, heads, head_dim) = (21, 2, 32);
    let width = heads * head_dim;
    let packed = random(77, tokens * 3 * width, 1.0);
    let packed_gpu = upload(gpu, &packed, &[tokens, 3 * width]);
    let out = attention(
        gpu,
        HeadView::packed_qkv(&packed_gpu, 0, heads).unwrap(),
        HeadView::packed_qkv(&packed_gpu, 1, heads).unwrap(),
        HeadView::packed_qkv(&packed_gpu, 2, heads).unwrap(),
        heads,
        head_dim,
        0.25,
        AttentionOptions::default(),
    )
    .unwrap();
    // The same numbers rearranged to [heads, tokens, head_dim] on the CPU.
    let part = |which: usize| -> Vec<f32> {
        let mut values = Vec::with_capacity(heads * tokens * head_dim);
        for h in 0..heads {
            for t in 0..tokens {
                let start = t * 3 * width + which * width + h * head_dim;
                values.extend_from_slice(&packed[start..start + head_dim]);
            }
        }
        values
    };
    let case = Case {
        heads,
        lq: tokens,
        lk: tokens,
        head_dim,
        causal: false,
        relative_bias: false,
    };
    let want = reference(&case, &part(0), &part(1), &part(2), &[], 0.25);
    assert_close("packed qkv", &download(gpu, &out).await, &want, 1e-5, 1e-4);
}
gpu_test!(reads_a_packed_qkv_projection_in_place);

async fn bad_shapes_are_errors(gpu: &Gpu) {
    let t = upload(gpu, &[0.0; 2 * 4 * 48], &[2, 4, 48]);
    let view = HeadView::heads_first(&t).unwrap();
    let none = AttentionOptions::default();
    for width in [0, 2049] {
        let err = attention(gpu, view, view, view, 1, width, 1.0, none).unwrap_err();
        assert!(err.to_string().contains("from 1 to 2048"), "{err}");
    }
    let err = attention(gpu, view, view, view, 4, 32, 1.0, none).unwrap_err();
    assert!(err.to_string().contains("do not fit"), "{err}");
    assert!(HeadView::packed_qkv(&t, 0, 5).is_err());
    assert!(HeadView::tokens_first(&t, 7).is_err());
}
gpu_test!(bad_shapes_are_errors);
