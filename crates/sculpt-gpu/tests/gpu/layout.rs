//! Layout kernels against candle's `cat`, `narrow`, `permute` and `reshape`
//! (the latter two mirroring candle-transformers' FLUX `State::new` and
//! `unpack`). Exact: values are moved, never computed.

use candle_core::Tensor as Cpu;
use sculpt_gpu::{Gpu, GpuError, Tensor, kernels::layout};

use crate::support::{cpu, cpu_values, download, random, upload};

fn shape_error<T>(result: Result<T, GpuError>) -> bool {
    matches!(result, Err(GpuError::Shape(_)))
}

async fn concat_matches_candle_on_every_axis(gpu: &Gpu) {
    // FLUX's [txt; img] join on the token axis, and joins on inner axes
    // with a piece of size 0 among them.
    let cases: [(usize, &[&[usize]]); 5] = [
        (0, &[&[7, 12], &[20, 12]]),
        (1, &[&[3, 2, 5], &[3, 4, 5], &[3, 1, 5]]),
        (2, &[&[2, 3, 1], &[2, 3, 6], &[2, 3, 0], &[2, 3, 2]]),
        (0, &[&[1], &[1], &[3]]),
        (3, &[&[2, 1, 3, 4], &[2, 1, 3, 5]]),
    ];
    for (case, (axis, shapes)) in cases.into_iter().enumerate() {
        let data: Vec<Vec<f32>> = shapes
            .iter()
            .enumerate()
            .map(|(i, shape)| random((10 * case + i) as u64, shape.iter().product(), 5.0))
            .collect();
        let parts: Vec<Tensor> = data
            .iter()
            .zip(shapes)
            .map(|(d, shape)| upload(gpu, d, shape))
            .collect();
        let part_refs: Vec<&Tensor> = parts.iter().collect();
        let got = layout::concat(gpu, &part_refs, axis).unwrap();
        let cpu_parts: Vec<Cpu> = data.iter().zip(shapes).map(|(d, s)| cpu(d, s)).collect();
        let want = Cpu::cat(&cpu_parts, axis).unwrap();
        assert_eq!(got.shape(), want.dims(), "{shapes:?} on axis {axis}");
        assert_eq!(
            download(gpu, &got).await,
            cpu_values(&want),
            "{shapes:?} on axis {axis}"
        );
    }
}
gpu_test!(concat_matches_candle_on_every_axis);

async fn split_matches_candle_and_undoes_concat(gpu: &Gpu) {
    let cases: [(&[usize], usize, &[usize]); 4] = [
        // FLUX: joint attention output back into txt and img tokens.
        (&[27, 16], 0, &[7, 20]),
        (&[3, 7, 5], 1, &[2, 0, 4, 1]),
        (&[2, 3, 9], 2, &[4, 5]),
        // Leading axes of size 1 make the pieces contiguous: views.
        (&[1, 1, 10, 3], 2, &[6, 4]),
    ];
    for (case, (shape, axis, sizes)) in cases.into_iter().enumerate() {
        let data = random(50 + case as u64, shape.iter().product(), 5.0);
        let x = upload(gpu, &data, shape);
        let pieces = layout::split(gpu, &x, axis, sizes).unwrap();
        let x_cpu = cpu(&data, shape);
        let mut start = 0;
        for (piece, &size) in pieces.iter().zip(sizes) {
            let want = x_cpu.narrow(axis, start, size).unwrap();
            assert_eq!(piece.shape(), want.dims());
            assert_eq!(
                download(gpu, piece).await,
                cpu_values(&want),
                "{shape:?} split on axis {axis} at {start}..{}",
                start + size
            );
            start += size;
        }
        let piece_refs: Vec<&Tensor> = pieces.iter().collect();
        let rejoined = layout::concat(gpu, &piece_refs, axis).unwrap();
        assert_eq!(download(gpu, &rejoined).await, data);
    }
}
gpu_test!(split_matches_candle_and_undoes_concat);

async fn split_on_the_first_axis_copies_nothing(gpu: &Gpu) {
    let x = upload(gpu, &random(60, 9 * 4, 1.0), &[9, 4]);
    let before = gpu.stats();
    let pieces = layout::split(gpu, &x, 0, &[2, 7]).unwrap();
    let during = gpu.stats() - before;
    assert_eq!(during.dispatches, 0, "{during:?}");
    assert_eq!(during.buffers_created, 0, "{during:?}");
    assert_eq!(pieces[1].shape(), [7, 4]);
}
gpu_test!(split_on_the_first_axis_copies_nothing);

async fn concat_and_split_honour_view_offsets(gpu: &Gpu) {
    // Pieces that are narrow() views of larger buffers, in and out.
    let a_data = random(61, 6 * 3 * 4, 5.0);
    let b_data = random(62, 5 * 2 * 4, 5.0);
    let a = upload(gpu, &a_data, &[6, 3, 4]).narrow(2, 3).unwrap();
    let b = upload(gpu, &b_data, &[5, 2, 4]).narrow(1, 3).unwrap();
    let joined = layout::concat(gpu, &[&a, &b], 1).unwrap();
    let (a_cpu, b_cpu) = (
        cpu(&a_data, &[6, 3, 4]).narrow(0, 2, 3).unwrap(),
        cpu(&b_data, &[5, 2, 4]).narrow(0, 1, 3).unwrap(),
    );
    let want = Cpu::cat(&[&a_cpu, &b_cpu], 1).unwrap();
    assert_eq!(download(gpu, &joined).await, cpu_values(&want));

    let rows = joined.narrow(1, 2).unwrap();
    let pieces = layout::split(gpu, &rows, 1, &[1, 4]).unwrap();
    let want_rows = want.narrow(0, 1, 2).unwrap();
    assert_eq!(
        download(gpu, &pieces[1]).await,
        cpu_values(&want_rows.narrow(1, 1, 4).unwrap())
    );
}
gpu_test!(concat_and_split_honour_view_offsets);

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut all = Vec::new();
    for smaller in permutations(n - 1) {
        for place in 0..n {
            let mut perm = smaller.clone();
            perm.insert(place, n - 1);
            all.push(perm);
        }
    }
    all
}

async fn permute_matches_candle_for_every_order(gpu: &Gpu) {
    // Small shapes, and ones spanning several 32 × 32 transpose tiles with
    // ragged edges (the tiled path takes every order that moves the last axis).
    let shapes: [&[usize]; 8] = [
        &[13],
        &[5, 9],
        &[7, 3, 8],
        &[2, 3, 4, 5],
        &[3, 1, 6, 2],
        &[70, 45],
        &[3, 40, 70],
        &[2, 33, 3, 65],
    ];
    for (seed, shape) in shapes.into_iter().enumerate() {
        let data = random(70 + seed as u64, shape.iter().product(), 5.0);
        let x = upload(gpu, &data, shape);
        let x_cpu = cpu(&data, shape);
        for perm in permutations(shape.len()) {
            let got = layout::permute(gpu, &x, &perm).unwrap();
            let want = x_cpu.permute(perm.clone()).unwrap();
            assert_eq!(got.shape(), want.dims(), "{shape:?} by {perm:?}");
            assert_eq!(
                download(gpu, &got).await,
                cpu_values(&want),
                "{shape:?} by {perm:?}"
            );
        }
    }
}
gpu_test!(permute_matches_candle_for_every_order);

async fn attention_heads_round_trip(gpu: &Gpu) {
    // [L, heads, d] → [heads, L, d] and back, from a view into a larger buffer.
    let (tokens, heads, head_dim) = (11, 3, 8);
    let data = random(80, (tokens + 4) * heads * head_dim, 5.0);
    let x = upload(gpu, &data, &[tokens + 4, heads, head_dim])
        .narrow(4, tokens)
        .unwrap();
    let per_head = layout::permute(gpu, &x, &[1, 0, 2]).unwrap();
    let want = cpu(&data, &[tokens + 4, heads, head_dim])
        .narrow(0, 4, tokens)
        .unwrap()
        .transpose(0, 1)
        .unwrap();
    assert_eq!(download(gpu, &per_head).await, cpu_values(&want));
    let back = layout::transpose(gpu, &per_head, 0, 1).unwrap();
    assert_eq!(back.shape(), [tokens, heads, head_dim]);
    assert_eq!(
        download(gpu, &back).await,
        data[4 * heads * head_dim..].to_vec()
    );
}
gpu_test!(attention_heads_round_trip);

async fn channels_first_image_becomes_tokens(gpu: &Gpu) {
    // The autoencoder's attention: [C, H·W] from its 1×1 convolutions to
    // [H·W, C] tokens and back.
    let (channels, pixels) = (512, 16 * 24);
    let data = random(85, channels * pixels, 5.0);
    let image = upload(gpu, &data, &[channels, pixels]);
    let tokens = layout::transpose(gpu, &image, 0, 1).unwrap();
    let want = cpu(&data, &[channels, pixels]).t().unwrap();
    assert_eq!(tokens.shape(), [pixels, channels]);
    assert_eq!(download(gpu, &tokens).await, cpu_values(&want));
    let back = layout::transpose(gpu, &tokens, 0, 1).unwrap();
    assert_eq!(download(gpu, &back).await, data);
}
gpu_test!(channels_first_image_becomes_tokens);

/// candle-transformers' FLUX packing (`State::new`), batch 1.
fn reference_pack(latent: &Cpu) -> Cpu {
    let (c, h, w) = latent.dims3().unwrap();
    latent
        .reshape((c, h / 2, 2, w / 2, 2))
        .unwrap()
        .permute((1, 3, 0, 2, 4))
        .unwrap()
        .reshape((h / 2 * w / 2, c * 4))
        .unwrap()
}

/// candle-transformers' FLUX `unpack`, batch 1.
fn reference_unpack(tokens: &Cpu, h: usize, w: usize) -> Cpu {
    let (_, features) = tokens.dims2().unwrap();
    tokens
        .reshape((h / 2, w / 2, features / 4, 2, 2))
        .unwrap()
        .permute((2, 0, 3, 1, 4))
        .unwrap()
        .reshape((features / 4, h, w))
        .unwrap()
}

async fn patches_pack_and_unpack_like_flux(gpu: &Gpu) {
    // 16 channels as in FLUX.1 (64 features), a 1024×768 image's latent
    // shape scaled down, the smallest latent, and odd channel counts.
    for (seed, [channels, height, width]) in [[16, 6, 10], [16, 2, 2], [3, 4, 8], [32, 12, 2]]
        .into_iter()
        .enumerate()
    {
        let data = random(90 + seed as u64, channels * height * width, 5.0);
        let latent = upload(gpu, &data, &[channels, height, width]);
        let tokens = layout::pack_patches(gpu, &latent).unwrap();
        let want = reference_pack(&cpu(&data, &[channels, height, width]));
        assert_eq!(tokens.shape(), want.dims());
        let token_values = download(gpu, &tokens).await;
        assert_eq!(
            token_values,
            cpu_values(&want),
            "pack {channels}×{height}×{width}"
        );

        let token_data = random(95 + seed as u64, token_values.len(), 5.0);
        let other = upload(gpu, &token_data, tokens.shape());
        let unpacked = layout::unpack_patches(gpu, &other, height, width).unwrap();
        let want = reference_unpack(&cpu(&token_data, tokens.shape()), height, width);
        assert_eq!(unpacked.shape(), [channels, height, width]);
        assert_eq!(
            download(gpu, &unpacked).await,
            cpu_values(&want),
            "unpack {channels}×{height}×{width}"
        );

        let round_trip = layout::unpack_patches(gpu, &tokens, height, width).unwrap();
        assert_eq!(download(gpu, &round_trip).await, data);
    }
}
gpu_test!(patches_pack_and_unpack_like_flux);

async fn feature_index_is_channel_row_column(gpu: &Gpu) {
    // The facts, spelled out on one token: feature c·4 + ph·2 + pw holds
    // latent (c, 2h + ph, 2w + pw); here token (h=1, w=2) of a 2×4×6 latent.
    let (channels, height, width) = (2, 4, 6);
    let data: Vec<f32> = (0..channels * height * width).map(|i| i as f32).collect();
    let latent = upload(gpu, &data, &[channels, height, width]);
    let tokens = download(gpu, &layout::pack_patches(gpu, &latent).unwrap()).await;
    let token = width / 2 + 2;
    for c in 0..channels {
        for ph in 0..2 {
            for pw in 0..2 {
                let (y, x) = (2 + ph, 4 + pw);
                assert_eq!(
                    tokens[token * 4 * channels + c * 4 + ph * 2 + pw],
                    data[(c * height + y) * width + x]
                );
            }
        }
    }
}
gpu_test!(feature_index_is_channel_row_column);

async fn bad_layout_shapes_are_errors(gpu: &Gpu) {
    let a = upload(gpu, &[0.0; 12], &[3, 4]);
    let b = upload(gpu, &[0.0; 10], &[2, 5]);
    let c = upload(gpu, &[0.0; 24], &[2, 3, 4]);
    assert!(shape_error(layout::concat(gpu, &[], 0)));
    assert!(shape_error(layout::concat(gpu, &[&a, &b], 0)));
    assert!(shape_error(layout::concat(gpu, &[&a, &b], 1)));
    assert!(shape_error(layout::concat(gpu, &[&a, &a], 2)));
    assert!(shape_error(layout::concat(gpu, &[&a, &c], 0)));
    assert!(shape_error(layout::split(gpu, &a, 0, &[1, 1])));
    assert!(shape_error(layout::split(gpu, &a, 1, &[2, 3])));
    assert!(shape_error(layout::split(gpu, &a, 2, &[3])));
    assert!(shape_error(layout::permute(gpu, &c, &[0, 1])));
    assert!(shape_error(layout::permute(gpu, &c, &[0, 1, 1])));
    assert!(shape_error(layout::permute(gpu, &c, &[0, 1, 3])));
    let five_axes = c.reshape(&[1, 2, 3, 4, 1]).unwrap();
    assert!(shape_error(layout::permute(
        gpu,
        &five_axes,
        &[4, 3, 2, 1, 0]
    )));
    assert!(shape_error(layout::transpose(gpu, &c, 0, 3)));
    let odd = upload(gpu, &[0.0; 2 * 3 * 4], &[2, 3, 4]);
    assert!(shape_error(layout::pack_patches(gpu, &odd)));
    assert!(shape_error(layout::pack_patches(gpu, &a)));
    let tokens = upload(gpu, &[0.0; 6 * 64], &[6, 64]);
    assert!(shape_error(layout::unpack_patches(gpu, &tokens, 4, 4)));
    assert!(shape_error(layout::unpack_patches(gpu, &tokens, 4, 5)));
    assert!(shape_error(layout::unpack_patches(gpu, &c, 4, 6)));
    let ragged = upload(gpu, &[0.0; 6 * 6], &[6, 6]);
    assert!(shape_error(layout::unpack_patches(gpu, &ragged, 4, 6)));
    assert!(layout::unpack_patches(gpu, &tokens, 4, 6).is_ok());
}
gpu_test!(bad_layout_shapes_are_errors);
