//! Convolutions against candle's `conv2d` on the CPU, the padding applied
//! separately with `pad_with_zeros` (as FLUX's `Downsample` does).
//!
//! Tolerance: the GPU and candle sum the K = C_in·KH·KW products in
//! different orders, each rounding a little at every addition. Rounding
//! errors of a sum of K terms grow like √K·ε times the size of the terms
//! (Higham's probabilistic bound; K·ε is the worst case), so each element
//! may differ by 4·√K·ε·Σ|w·x| (+ |bias|), Σ|w·x| computed by the same
//! reference convolution on absolute values. That is a few parts in 10⁶ of
//! the terms' size for the FLUX decoder's K = 4608, yet it still fails any
//! misplaced tap or channel, which moves a whole term.

use candle_core::{D, Tensor as Cpu};
use sculpt_gpu::{
    Gpu, GpuError, Tensor,
    kernels::{
        conv::{self, Conv2dConfig, Padding},
        layout, resample,
    },
};

use crate::support::{cpu, cpu_values, download, random, upload};

fn reference(x: &Cpu, weight: &Cpu, bias: Option<&Cpu>, config: Conv2dConfig) -> Cpu {
    let Padding {
        top,
        bottom,
        left,
        right,
    } = config.padding;
    let padded = x
        .unsqueeze(0)
        .unwrap()
        .pad_with_zeros(D::Minus1, left, right)
        .unwrap()
        .pad_with_zeros(D::Minus2, top, bottom)
        .unwrap();
    let out = padded
        .conv2d(weight, 0, config.stride, 1, 1)
        .unwrap()
        .squeeze(0)
        .unwrap();
    match bias {
        Some(bias) => out
            .broadcast_add(&bias.reshape(((), 1, 1)).unwrap())
            .unwrap(),
        None => out,
    }
}

/// Each element within 4·√K·ε of the magnitude of its terms (module docs).
fn assert_within_rounding(what: &str, got: &[f32], want: &[f32], magnitude: &[f32], k: usize) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let scale = 4.0 * (k as f32).sqrt() * f32::EPSILON;
    for (i, ((&g, &w), &m)) in got.iter().zip(want).zip(magnitude).enumerate() {
        let allowed = scale * m;
        // Written so that NaN fails.
        assert!(
            (g - w).abs() <= allowed,
            "{what}: element {i} is {g} but the reference says {w} (allowed {allowed})"
        );
    }
}

struct Case {
    in_channels: usize,
    out_channels: usize,
    height: usize,
    width: usize,
    kernel: usize,
    config: Conv2dConfig,
    bias: bool,
}

async fn check(gpu: &Gpu, seed: u64, case: &Case) {
    let Case {
        in_channels,
        out_channels,
        height,
        width,
        kernel,
        config,
        bias,
    } = *case;
    let x_shape = [in_channels, height, width];
    let w_shape = [out_channels, in_channels, kernel, kernel];
    let x_data = random(seed, x_shape.iter().product(), 1.0);
    // Roughly the scale of trained weights, so outputs stay O(1).
    let w_data = random(seed + 1, w_shape.iter().product(), 0.2);
    let b_data = random(seed + 2, out_channels, 0.5);
    let (x, w, b) = (
        upload(gpu, &x_data, &x_shape),
        upload(gpu, &w_data, &w_shape),
        upload(gpu, &b_data, &[out_channels]),
    );
    let got = conv::conv2d(gpu, &x, &w, bias.then_some(&b), config).unwrap();

    let (x_cpu, w_cpu, b_cpu) = (
        cpu(&x_data, &x_shape),
        cpu(&w_data, &w_shape),
        cpu(&b_data, &[out_channels]),
    );
    let want = reference(&x_cpu, &w_cpu, bias.then_some(&b_cpu), config);
    let magnitude = reference(
        &x_cpu.abs().unwrap(),
        &w_cpu.abs().unwrap(),
        bias.then(|| b_cpu.abs().unwrap()).as_ref(),
        config,
    );
    assert_eq!(got.shape(), want.dims(), "{x_shape:?} * {w_shape:?}");
    assert_within_rounding(
        &format!("{x_shape:?} * {w_shape:?} {config:?} bias {bias}"),
        &download(gpu, &got).await,
        &cpu_values(&want),
        &cpu_values(&magnitude),
        in_channels * kernel * kernel,
    );
}

async fn same_3x3_convolutions_match_candle(gpu: &Gpu) {
    let cases = [
        // A single pixel: every tap but the centre lands in the padding.
        // (Not 3 channels: candle 0.9.2's CPU conv2d mistakes a contiguous
        // input with C = H = W, here 3 × 3 × 3 once padded, for channels-last.)
        (4, 5, 1, 1),
        // RGB in (the encoder's conv_in), channels not a multiple of 64, odd sizes.
        (3, 70, 17, 13),
        // Three channel tiles, two pixel tiles, a reduction (333) not a multiple of 16.
        (37, 130, 9, 11),
        // One row, one column.
        (8, 16, 1, 23),
        (8, 16, 19, 1),
        // Several full tiles.
        (64, 64, 32, 32),
        // The decoder's widths, on a small image: K = 4608.
        (512, 40, 5, 6),
    ];
    for (seed, (in_channels, out_channels, height, width)) in cases.into_iter().enumerate() {
        let case = Case {
            in_channels,
            out_channels,
            height,
            width,
            kernel: 3,
            config: Conv2dConfig::SAME,
            bias: seed % 2 == 0,
        };
        check(gpu, 10 * seed as u64, &case).await;
    }
}
gpu_test!(same_3x3_convolutions_match_candle);

async fn flux_downsample_pads_right_and_bottom(gpu: &Gpu) {
    // Even sizes halve; odd ones round down, as in candle.
    for (seed, (channels, height, width)) in
        [(8, 16, 16), (5, 15, 9), (4, 2, 2), (70, 8, 6), (16, 3, 7)]
            .into_iter()
            .enumerate()
    {
        let case = Case {
            in_channels: channels,
            out_channels: channels,
            height,
            width,
            kernel: 3,
            config: Conv2dConfig::DOWNSAMPLE,
            bias: true,
        };
        check(gpu, 100 + 10 * seed as u64, &case).await;
    }
}
gpu_test!(flux_downsample_pads_right_and_bottom);

async fn pointwise_and_other_configurations_match_candle(gpu: &Gpu) {
    let cases = [
        // 1×1: shortcuts (128 → 256 in FLUX), post_quant_conv (16 → 16).
        (128, 67, 10, 7, 1, Conv2dConfig::POINTWISE, true),
        (16, 16, 1, 1, 1, Conv2dConfig::POINTWISE, false),
        (3, 65, 4, 33, 1, Conv2dConfig::POINTWISE, true),
        // Not used by FLUX, but the kernel takes them: no padding, stride 2
        // with symmetric padding, a 5×5 kernel, a strided 1×1.
        (6, 9, 7, 8, 3, Conv2dConfig::POINTWISE, true),
        (
            6,
            9,
            9,
            8,
            3,
            Conv2dConfig {
                stride: 2,
                padding: Padding::uniform(1),
            },
            false,
        ),
        (
            4,
            7,
            9,
            10,
            5,
            Conv2dConfig {
                stride: 1,
                padding: Padding::uniform(2),
            },
            true,
        ),
        (
            4,
            7,
            9,
            10,
            1,
            Conv2dConfig {
                stride: 2,
                padding: Padding::uniform(0),
            },
            true,
        ),
    ];
    for (seed, (in_channels, out_channels, height, width, kernel, config, bias)) in
        cases.into_iter().enumerate()
    {
        let case = Case {
            in_channels,
            out_channels,
            height,
            width,
            kernel,
            config,
            bias,
        };
        check(gpu, 200 + 10 * seed as u64, &case).await;
    }
}
gpu_test!(pointwise_and_other_configurations_match_candle);

async fn convolution_reads_views_at_their_offsets(gpu: &Gpu) {
    // Input, weights and bias all as narrow() views into larger buffers.
    let (in_channels, out_channels, height, width) = (5, 6, 7, 9);
    let x_all = random(300, (in_channels + 2) * height * width, 1.0);
    let w_all = random(301, (out_channels + 3) * in_channels * 9, 0.2);
    let b_all = random(302, out_channels + 4, 0.5);
    let x = upload(gpu, &x_all, &[in_channels + 2, height, width])
        .narrow(2, in_channels)
        .unwrap();
    let w = upload(gpu, &w_all, &[out_channels + 3, in_channels, 3, 3])
        .narrow(1, out_channels)
        .unwrap();
    let b = upload(gpu, &b_all, &[out_channels + 4])
        .narrow(3, out_channels)
        .unwrap();
    let got = conv::conv2d(gpu, &x, &w, Some(&b), Conv2dConfig::SAME).unwrap();

    let x_cpu = cpu(&x_all, &[in_channels + 2, height, width])
        .narrow(0, 2, in_channels)
        .unwrap();
    let w_cpu = cpu(&w_all, &[out_channels + 3, in_channels, 3, 3])
        .narrow(0, 1, out_channels)
        .unwrap();
    let b_cpu = cpu(&b_all, &[out_channels + 4])
        .narrow(0, 3, out_channels)
        .unwrap();
    let want = reference(&x_cpu, &w_cpu, Some(&b_cpu), Conv2dConfig::SAME);
    let magnitude = reference(
        &x_cpu.abs().unwrap(),
        &w_cpu.abs().unwrap(),
        Some(&b_cpu.abs().unwrap()),
        Conv2dConfig::SAME,
    );
    assert_within_rounding(
        "views",
        &download(gpu, &got).await,
        &cpu_values(&want),
        &cpu_values(&magnitude),
        in_channels * 9,
    );
}
gpu_test!(convolution_reads_views_at_their_offsets);

/// 65535 workgroups of 64 pixels is the most one grid row holds; a
/// 2049 × 2048 image needs a second row. Native only: headless Chromium's
/// WebGPU is a software rasterizer there, where 65k workgroups that each
/// meet barriers take three minutes, and the grid folding is the same Rust
/// and WGSL on both targets.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn more_pixel_tiles_than_one_grid_row() {
    let gpu = pollster::block_on(crate::support::gpu());
    pollster::block_on(pixel_tiles_past_one_grid_row_are_computed(&gpu));
}

#[cfg(not(target_arch = "wasm32"))]
async fn pixel_tiles_past_one_grid_row_are_computed(gpu: &Gpu) {
    let (height, width) = (2049, 2048);
    let x_data = random(400, height * width, 1.0);
    let x = upload(gpu, &x_data, &[1, height, width]);
    let w = upload(gpu, &[0.75], &[1, 1, 1, 1]);
    let b = upload(gpu, &[-0.5], &[1]);
    let got = conv::conv2d(gpu, &x, &w, Some(&b), Conv2dConfig::POINTWISE).unwrap();
    let want: Vec<f32> = x_data.iter().map(|v| 0.75 * v - 0.5).collect();
    let magnitude: Vec<f32> = x_data.iter().map(|v| 0.75 * v.abs() + 0.5).collect();
    assert_within_rounding(
        "2049×2048 pixels",
        &download(gpu, &got).await,
        &want,
        &magnitude,
        1,
    );
}

fn is_shape_error(result: Result<Tensor, GpuError>) -> bool {
    matches!(result, Err(GpuError::Shape(_)))
}

/// An input kept as uneven channel slices (5, 4 and 3 of 12 channels,
/// each its own tensor), convolved slice by slice with a view of some
/// output channels of the weights: the shares add up to the whole
/// convolution, for the same-size and the strided downsampling
/// configurations.
async fn channel_slices_add_up_to_the_whole_convolution(gpu: &Gpu) {
    let (in_channels, height, width) = (12, 9, 7);
    let (weight_outputs, first_output, outputs) = (10, 3, 7);
    let x_shape = [in_channels, height, width];
    let w_shape = [weight_outputs, in_channels, 3, 3];
    let x_data = random(71, x_shape.iter().product(), 1.0);
    let w_data = random(72, w_shape.iter().product(), 0.2);
    let b_data = random(73, weight_outputs, 0.5);
    let plane = height * width;
    let slices = [(0, 5), (5, 4), (9, 3)].map(|(first, channels)| {
        let values = &x_data[first * plane..(first + channels) * plane];
        (first, upload(gpu, values, &[channels, height, width]))
    });
    let weight = upload(gpu, &w_data, &w_shape)
        .narrow(first_output, outputs)
        .unwrap();
    let bias = upload(gpu, &b_data, &[weight_outputs])
        .narrow(first_output, outputs)
        .unwrap();

    let x_cpu = cpu(&x_data, &x_shape);
    let w_cpu = cpu(&w_data, &w_shape)
        .narrow(0, first_output, outputs)
        .unwrap();
    let b_cpu = cpu(&b_data, &[weight_outputs])
        .narrow(0, first_output, outputs)
        .unwrap();
    for config in [Conv2dConfig::SAME, Conv2dConfig::DOWNSAMPLE] {
        let [(_, head), rest @ ..] = &slices;
        let out = conv::conv2d_channel_slice(gpu, head, &weight, 0, Some(&bias), config).unwrap();
        for (first, slice) in rest {
            conv::conv2d_accumulate(gpu, slice, &weight, *first, &out, config).unwrap();
        }
        let want = reference(&x_cpu, &w_cpu, Some(&b_cpu), config);
        let magnitude = reference(
            &x_cpu.abs().unwrap(),
            &w_cpu.abs().unwrap(),
            Some(&b_cpu.abs().unwrap()),
            config,
        );
        assert_eq!(out.shape(), want.dims());
        assert_within_rounding(
            &format!("channel slices, {config:?}"),
            &download(gpu, &out).await,
            &cpu_values(&want),
            &cpu_values(&magnitude),
            in_channels * 9,
        );
    }

    // A slice reaching past the weights' input channels, and an output of
    // another shape to add into, are refused.
    let (_, last) = &slices[2];
    let error = conv::conv2d_accumulate(
        gpu,
        last,
        &weight,
        10,
        &upload(gpu, &vec![0.0; outputs * plane], &[outputs, height, width]),
        Conv2dConfig::SAME,
    )
    .unwrap_err();
    assert!(error.to_string().contains("10..13"), "{error}");
    let error = conv::conv2d_accumulate(
        gpu,
        last,
        &weight,
        9,
        &upload(gpu, &vec![0.0; outputs * plane], &[outputs, width, height]),
        Conv2dConfig::SAME,
    )
    .unwrap_err();
    assert!(error.to_string().contains("cannot be added"), "{error}");
}
gpu_test!(channel_slices_add_up_to_the_whole_convolution);

async fn bad_convolution_shapes_are_errors(gpu: &Gpu) {
    let x = upload(gpu, &random(1, 4 * 5 * 5, 1.0), &[4, 5, 5]);
    let w = upload(gpu, &random(2, 6 * 4 * 9, 1.0), &[6, 4, 3, 3]);
    let b = upload(gpu, &random(3, 6, 1.0), &[6]);
    let same = Conv2dConfig::SAME;
    let flat = x.reshape(&[4, 25]).unwrap();
    assert!(is_shape_error(conv::conv2d(gpu, &flat, &w, Some(&b), same)));
    let w_wrong_in = w.reshape(&[8, 3, 3, 3]).unwrap();
    assert!(is_shape_error(conv::conv2d(
        gpu,
        &x,
        &w_wrong_in,
        Some(&b),
        same
    )));
    let w_flat = w.reshape(&[6, 36]).unwrap();
    assert!(is_shape_error(conv::conv2d(
        gpu,
        &x,
        &w_flat,
        Some(&b),
        same
    )));
    let b_short = b.narrow(0, 5).unwrap();
    assert!(is_shape_error(conv::conv2d(
        gpu,
        &x,
        &w,
        Some(&b_short),
        same
    )));
    let zero_stride = Conv2dConfig {
        stride: 0,
        padding: Padding::uniform(1),
    };
    assert!(is_shape_error(conv::conv2d(gpu, &x, &w, None, zero_stride)));
    // A 1×1 image padded right and bottom is 2×2, smaller than the 3×3 kernel.
    let pixel = upload(gpu, &[1.0; 4], &[4, 1, 1]);
    let err = conv::conv2d(gpu, &pixel, &w, Some(&b), Conv2dConfig::DOWNSAMPLE).unwrap_err();
    assert!(err.to_string().contains("smaller than the kernel"), "{err}");
}
gpu_test!(bad_convolution_shapes_are_errors);

async fn decoder_and_token_steps_reach_steady_state(gpu: &Gpu) {
    // A slice of the pipeline: patch tokens back to a latent, a decoder
    // up-block (3×3, 1×1 shortcut, upsample, 3×3), the encoder's
    // downsample, and the [txt; img] token join and split.
    let (channels, height, width) = (16, 8, 6);
    let tokens = upload(gpu, &random(1, 12 * 64, 1.0), &[12, 64]);
    let txt = upload(gpu, &random(2, 5 * 64, 1.0), &[5, 64]);
    let w3 = upload(gpu, &random(3, 24 * 16 * 9, 0.2), &[24, 16, 3, 3]);
    let w1 = upload(gpu, &random(4, 24 * 24, 0.2), &[24, 24, 1, 1]);
    let w_up = upload(gpu, &random(5, 24 * 24 * 9, 0.2), &[24, 24, 3, 3]);
    let bias = upload(gpu, &random(6, 24, 0.5), &[24]);
    let step = || {
        let latent = layout::unpack_patches(gpu, &tokens, height, width).unwrap();
        assert_eq!(latent.shape(), [channels, height, width]);
        let h = conv::conv2d(gpu, &latent, &w3, Some(&bias), Conv2dConfig::SAME).unwrap();
        let h = conv::conv2d(gpu, &h, &w1, Some(&bias), Conv2dConfig::POINTWISE).unwrap();
        let h = resample::upsample_nearest_2x(gpu, &h).unwrap();
        let h = conv::conv2d(gpu, &h, &w_up, None, Conv2dConfig::SAME).unwrap();
        let h = conv::conv2d(gpu, &h, &w_up, Some(&bias), Conv2dConfig::DOWNSAMPLE).unwrap();
        let packed = layout::pack_patches(gpu, &h.narrow(0, channels).unwrap()).unwrap();
        let joined = layout::concat(gpu, &[&txt, &packed], 0).unwrap();
        let heads =
            layout::permute(gpu, &joined.reshape(&[17, 4, 16]).unwrap(), &[1, 0, 2]).unwrap();
        let parts = layout::split(gpu, &heads, 1, &[5, 12]).unwrap();
        parts[1].clone()
    };
    let first = download(gpu, &step()).await; // warm-up: pipelines and buffers
    let before = gpu.stats();
    for _ in 0..3 {
        drop(step());
    }
    let last = step();
    let during = gpu.stats() - before;
    assert_eq!(during.buffers_created, 0, "{during:?}");
    assert_eq!(during.pipelines_created, 0, "{during:?}");
    // Per step: unpack, 4 convolutions, upsample, pack, 2 concat copies,
    // permute, 2 split copies.
    assert_eq!(during.dispatches, 4 * 12, "{during:?}");
    assert_eq!(during.submits, 0, "{during:?}");
    assert_eq!(download(gpu, &last).await, first);
}
gpu_test!(decoder_and_token_steps_reach_steady_state);
