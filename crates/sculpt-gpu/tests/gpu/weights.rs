//! Weight formats: ggml block bytes are repacked, dequantized on the GPU by
//! `weight4`, and compared with an independent CPU dequantization.
//!
//! References: natively, candle-core's own quantizers make the blocks and its
//! CPU dequantization is the truth. candle does not build for the browser, so
//! both targets also check random blocks against `reference` below (ggml's
//! `dequantize_row_*` loops transcribed in Rust, and checked bit for bit
//! against candle natively), and hand-built blocks whose values are worked
//! out in the test.
//!
//! Tolerances, per format:
//! - F32, F16, BF16: exact. Conversions to f32 are exact.
//! - Q8_0, Q4_0, Q5_0: exact. One multiply of an integer by the scale, the
//!   same single rounding on both sides.
//! - Q6_K: exact. Two multiplies, (d * scale) * q, in ggml's order; there is
//!   no add for a compiler to fuse.
//! - Q4_1, Q5_1, Q4_K, Q5_K: `q * d + m` (or `- m`). GPU compilers may fuse
//!   this into one fused multiply-add, or fuse the multiply that makes the
//!   K-quant min, which skips a rounding that ggml does. The difference is at
//!   most half an ulp of each rounded term and of the result, so the
//!   tolerance is one ulp of the product, of the offset and of the result.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sculpt_gpu::{
    Gpu,
    kernels::dequantize::{DequantizeError, DequantizeKernel},
    weights::{WeightError, WeightFormat, repack},
};

/// A value the GPU must produce, and how far from it it may be.
#[derive(Clone, Copy, Debug)]
struct Expected {
    value: f32,
    tolerance: f32,
}

impl Expected {
    fn exact(value: f32) -> Self {
        Self {
            value,
            tolerance: 0.0,
        }
    }

    /// `product + offset`, which a compiler may evaluate fused.
    fn fused(product: f32, offset: f32, value: f32) -> Self {
        Self {
            value,
            tolerance: ulp(product) + ulp(offset) + ulp(value),
        }
    }
}

/// The gap between |x| and the next larger f32.
fn ulp(x: f32) -> f32 {
    let magnitude = x.abs();
    f32::from_bits(magnitude.to_bits() + 1) - magnitude
}

/// ggml's CPU dequantization, written from its `dequantize_row_*` loops in
/// ggml-quants.c (loop structure and operation order kept), on the file's
/// block bytes.
// Indexed loops, as in ggml, so that this can be read line by line against it.
#[allow(clippy::needless_range_loop)]
mod reference {
    use super::Expected;
    use half::{bf16, f16};
    use sculpt_gpu::weights::WeightFormat;

    fn f16_at(bytes: &[u8], at: usize) -> f32 {
        f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
    }

    /// get_scale_min_k4: the 6-bit scale and min of sub-block j.
    fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
        if j < 4 {
            (q[j] & 63, q[j + 4] & 63)
        } else {
            (
                (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4),
                (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
            )
        }
    }

    pub fn dequantize(format: WeightFormat, bytes: &[u8]) -> Vec<Expected> {
        let mut y = Vec::new();
        let blocks = bytes.chunks_exact(format.block_bytes());
        match format {
            WeightFormat::F32 => y.extend(
                blocks.map(|b| Expected::exact(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            ),
            WeightFormat::F16 => {
                y.extend(blocks.map(|b| Expected::exact(f16::from_le_bytes([b[0], b[1]]).to_f32())))
            }
            WeightFormat::BF16 => y.extend(
                blocks.map(|b| Expected::exact(bf16::from_le_bytes([b[0], b[1]]).to_f32())),
            ),
            WeightFormat::Q8_0 => {
                for b in blocks {
                    let d = f16_at(b, 0);
                    y.extend(
                        b[2..34]
                            .iter()
                            .map(|&q| Expected::exact(q as i8 as f32 * d)),
                    );
                }
            }
            WeightFormat::Q4_0 => {
                for b in blocks {
                    let d = f16_at(b, 0);
                    let qs = &b[2..18];
                    let mut out = [Expected::exact(0.0); 32];
                    for j in 0..16 {
                        out[j] = Expected::exact(((qs[j] & 0xf) as i32 - 8) as f32 * d);
                        out[j + 16] = Expected::exact(((qs[j] >> 4) as i32 - 8) as f32 * d);
                    }
                    y.extend(out);
                }
            }
            WeightFormat::Q4_1 => {
                for b in blocks {
                    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
                    let qs = &b[4..20];
                    let mut out = [Expected::exact(0.0); 32];
                    for j in 0..16 {
                        for (slot, q) in [(j, qs[j] & 0xf), (j + 16, qs[j] >> 4)] {
                            let product = q as f32 * d;
                            out[slot] = Expected::fused(product, m, product + m);
                        }
                    }
                    y.extend(out);
                }
            }
            WeightFormat::Q5_0 => {
                for b in blocks {
                    let d = f16_at(b, 0);
                    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
                    let qs = &b[6..22];
                    let mut out = [Expected::exact(0.0); 32];
                    for j in 0..16 {
                        let xh_0 = ((qh >> j) << 4) & 0x10;
                        let xh_1 = (qh >> (j + 12)) & 0x10;
                        let x0 = ((qs[j] & 0xf) as u32 | xh_0) as i32 - 16;
                        let x1 = ((qs[j] >> 4) as u32 | xh_1) as i32 - 16;
                        out[j] = Expected::exact(x0 as f32 * d);
                        out[j + 16] = Expected::exact(x1 as f32 * d);
                    }
                    y.extend(out);
                }
            }
            WeightFormat::Q5_1 => {
                for b in blocks {
                    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
                    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                    let qs = &b[8..24];
                    let mut out = [Expected::exact(0.0); 32];
                    for j in 0..16 {
                        let xh_0 = ((qh >> j) << 4) & 0x10;
                        let xh_1 = (qh >> (j + 12)) & 0x10;
                        let x0 = (qs[j] & 0xf) as u32 | xh_0;
                        let x1 = (qs[j] >> 4) as u32 | xh_1;
                        for (slot, x) in [(j, x0), (j + 16, x1)] {
                            let product = x as f32 * d;
                            out[slot] = Expected::fused(product, m, product + m);
                        }
                    }
                    y.extend(out);
                }
            }
            WeightFormat::Q4_K | WeightFormat::Q5_K => {
                let five_bits = format == WeightFormat::Q5_K;
                for b in blocks {
                    let (d, min) = (f16_at(b, 0), f16_at(b, 2));
                    let scales = &b[4..16];
                    let (qh, mut ql) = if five_bits {
                        (&b[16..48], &b[48..176])
                    } else {
                        (&b[0..0], &b[16..144])
                    };
                    let (mut u1, mut u2) = (1u8, 2u8);
                    for is in (0..8).step_by(2) {
                        let (sc, m) = scale_min_k4(is, scales);
                        let (d1, m1) = (d * sc as f32, min * m as f32);
                        let (sc, m) = scale_min_k4(is + 1, scales);
                        let (d2, m2) = (d * sc as f32, min * m as f32);
                        let high = |l: usize, bit: u8| {
                            if five_bits && qh[l] & bit != 0 {
                                16.0
                            } else {
                                0.0
                            }
                        };
                        for l in 0..32 {
                            let product = d1 * ((ql[l] & 0xf) as f32 + high(l, u1));
                            y.push(Expected::fused(product, m1, product - m1));
                        }
                        for l in 0..32 {
                            let product = d2 * ((ql[l] >> 4) as f32 + high(l, u2));
                            y.push(Expected::fused(product, m2, product - m2));
                        }
                        ql = &ql[32..];
                        u1 <<= 2;
                        u2 <<= 2;
                    }
                }
            }
            WeightFormat::Q6_K => {
                for b in blocks {
                    let d = f16_at(b, 208);
                    let mut out = [Expected::exact(0.0); 256];
                    for n in 0..2 {
                        let ql = &b[64 * n..];
                        let qh = &b[128 + 32 * n..];
                        let sc = &b[192 + 8 * n..];
                        let y = &mut out[128 * n..];
                        for l in 0..32 {
                            let is = l / 16;
                            let q1 = ((ql[l] & 0xf) | ((qh[l] & 3) << 4)) as i8 - 32;
                            let q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
                            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
                            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
                            let scale = |i: usize| sc[i] as i8 as f32;
                            y[l] = Expected::exact(d * scale(is) * q1 as f32);
                            y[l + 32] = Expected::exact(d * scale(is + 2) * q2 as f32);
                            y[l + 64] = Expected::exact(d * scale(is + 4) * q3 as f32);
                            y[l + 96] = Expected::exact(d * scale(is + 6) * q4 as f32);
                        }
                    }
                    y.extend(out);
                }
            }
        }
        y
    }
}

/// Byte offsets of the f16 scales and mins in each format's file block.
fn f16_fields(format: WeightFormat) -> &'static [usize] {
    match format {
        WeightFormat::Q8_0 | WeightFormat::Q4_0 | WeightFormat::Q5_0 => &[0],
        WeightFormat::Q4_1 | WeightFormat::Q5_1 | WeightFormat::Q4_K | WeightFormat::Q5_K => {
            &[0, 2]
        }
        WeightFormat::Q6_K => &[208],
        WeightFormat::F32 | WeightFormat::F16 | WeightFormat::BF16 => &[],
    }
}

/// The file bytes of a random `[rows, cols]` weight: random quants and
/// scale bytes (every bit pattern is a valid block), with the f16 scales
/// and mins set to finite values of either sign, and floats in [-4, 4].
fn random_file_bytes(format: WeightFormat, rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let count = rows * cols;
    match format {
        WeightFormat::F32 => (0..count)
            .flat_map(|_| rng.random_range(-4.0f32..4.0).to_le_bytes())
            .collect(),
        WeightFormat::F16 => (0..count)
            .flat_map(|_| half::f16::from_f32(rng.random_range(-4.0f32..4.0)).to_le_bytes())
            .collect(),
        WeightFormat::BF16 => (0..count)
            .flat_map(|_| half::bf16::from_f32(rng.random_range(-4.0f32..4.0)).to_le_bytes())
            .collect(),
        _ => {
            let mut bytes = vec![0u8; count / format.block_elements() * format.block_bytes()];
            rng.fill(&mut bytes[..]);
            for block in bytes.chunks_exact_mut(format.block_bytes()) {
                for &at in f16_fields(format) {
                    let value = half::f16::from_f32(rng.random_range(-0.05f32..0.05));
                    block[at..at + 2].copy_from_slice(&value.to_le_bytes());
                }
            }
            bytes
        }
    }
}

/// Shapes that catch indexing mistakes: one row of one block, several rows
/// of several blocks, and for floats rows that need padding to 4 values.
fn awkward_shapes(format: WeightFormat) -> Vec<(usize, usize)> {
    let block = format.block_elements();
    if format.is_quantized() {
        vec![(1, block), (3, 3 * block), (2, 8 * block)]
    } else {
        vec![(1, 1), (1, 4), (3, 5), (4, 7), (2, 64)]
    }
}

/// Repacks `bytes`, dequantizes them on the GPU and compares with `want`.
async fn assert_gpu_dequantizes(
    gpu: &Gpu,
    kernel: &DequantizeKernel,
    (rows, cols): (usize, usize),
    bytes: &[u8],
    want: &[Expected],
) {
    let format = kernel.format();
    let packed = repack(format, rows, cols, bytes).unwrap();
    let got = kernel.dequantize(gpu, &packed).await.unwrap();
    assert_eq!(got.len(), rows * cols, "{format} {rows}x{cols}");
    assert_eq!(want.len(), rows * cols, "{format} {rows}x{cols}");
    for (i, (&got, want)) in got.iter().zip(want).enumerate() {
        let error = (got - want.value).abs();
        assert!(
            error <= want.tolerance,
            "{format} {rows}x{cols}: value [{}, {}]: GPU {got:e} != expected {:e} (tolerance {:e})",
            i / cols,
            i % cols,
            want.value,
            want.tolerance
        );
    }
}

async fn random_blocks_match_the_ggml_reference_in_every_format(gpu: &Gpu) {
    for (seed, format) in WeightFormat::ALL.into_iter().enumerate() {
        let kernel = DequantizeKernel::new(gpu, format);
        for shape in awkward_shapes(format) {
            let bytes = random_file_bytes(format, shape.0, shape.1, seed as u64);
            let want = reference::dequantize(format, &bytes);
            assert_gpu_dequantizes(gpu, &kernel, shape, &bytes, &want).await;
        }
    }
}
gpu_test!(random_blocks_match_the_ggml_reference_in_every_format);

async fn q4_0_block_by_hand(gpu: &Gpu) {
    // d = 0.5; byte j holds nibble j (value j) low and 15 - j high.
    let mut block = half::f16::from_f32(0.5).to_le_bytes().to_vec();
    block.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    // x = (q - 8) * 0.5: values 0..16 are -4, -3.5, ..., 3.5; 16..32 run back.
    let want: Vec<Expected> = (0..32)
        .map(|i| {
            let q = if i < 16 { i } else { 15 - (i - 16) };
            Expected::exact((q as f32 - 8.0) / 2.0)
        })
        .collect();
    assert_eq!(want[0].value, -4.0);
    assert_eq!(want[16].value, 3.5);
    let kernel = DequantizeKernel::new(gpu, WeightFormat::Q4_0);
    assert_gpu_dequantizes(gpu, &kernel, (1, 32), &block, &want).await;
}
gpu_test!(q4_0_block_by_hand);

async fn q8_0_blocks_by_hand(gpu: &Gpu) {
    // Two rows: d = 0.25 with q = -128, -120, ..., 120; d = -2 with q = j - 16.
    let mut bytes = half::f16::from_f32(0.25).to_le_bytes().to_vec();
    bytes.extend((0..32).map(|j| (j * 8 - 128) as i8 as u8));
    bytes.extend(half::f16::from_f32(-2.0).to_le_bytes());
    bytes.extend((0..32).map(|j| (j - 16) as i8 as u8));
    let mut want: Vec<Expected> = (0..32)
        .map(|j| Expected::exact((j * 8 - 128) as f32 / 4.0))
        .collect();
    want.extend((0..32).map(|j| Expected::exact((j - 16) as f32 * -2.0)));
    let kernel = DequantizeKernel::new(gpu, WeightFormat::Q8_0);
    assert_gpu_dequantizes(gpu, &kernel, (2, 32), &bytes, &want).await;
}
gpu_test!(q8_0_blocks_by_hand);

async fn q5_0_block_by_hand(gpu: &Gpu) {
    // q = e for value e: byte j holds j low and (j + 16) & 15 = j high, and
    // the fifth bit (bit e of qh) is set for e >= 16. d = 1, so x = e - 16.
    let mut block = half::f16::from_f32(1.0).to_le_bytes().to_vec();
    block.extend(0xffff_0000u32.to_le_bytes());
    block.extend((0..16u8).map(|j| j | (j << 4)));
    let want: Vec<Expected> = (0..32).map(|e| Expected::exact(e as f32 - 16.0)).collect();
    let kernel = DequantizeKernel::new(gpu, WeightFormat::Q5_0);
    assert_gpu_dequantizes(gpu, &kernel, (1, 32), &block, &want).await;
}
gpu_test!(q5_0_block_by_hand);

async fn q6_k_block_by_hand(gpu: &Gpu) {
    // Value e = 128 n + 32 g + l (half n, quarter g) stores the 6-bit
    // u = (7 g + l) % 64: low 4 bits in the low (g < 2) or high nibble of ql
    // byte 64 n + 32 (g % 2) + l, top 2 bits at bit 2g of qh byte 32 n + l.
    // Its scale is the signed byte 8 n + 2 g + l / 16, here (index - 8), and
    // x = d * scale * (u - 32) with d = 0.25.
    let u = |g: usize, l: usize| ((7 * g + l) % 64) as u8;
    let mut ql = [0u8; 128];
    let mut qh = [0u8; 64];
    for n in 0..2 {
        for l in 0..32 {
            ql[64 * n + l] = (u(0, l) & 0xf) | ((u(2, l) & 0xf) << 4);
            ql[64 * n + 32 + l] = (u(1, l) & 0xf) | ((u(3, l) & 0xf) << 4);
            qh[32 * n + l] = (0..4).map(|g| (u(g, l) >> 4) << (2 * g)).sum();
        }
    }
    let scales: Vec<u8> = (0..16).map(|i| (i - 8) as i8 as u8).collect();
    let mut block = ql.to_vec();
    block.extend(qh);
    block.extend(&scales);
    block.extend(half::f16::from_f32(0.25).to_le_bytes());
    let want: Vec<Expected> = (0..256)
        .map(|e| {
            let (n, g, l) = (e / 128, e % 128 / 32, e % 32);
            let scale = (8 * n + 2 * g + l / 16) as f32 - 8.0;
            Expected::exact(0.25 * scale * (f32::from(u(g, l)) - 32.0))
        })
        .collect();
    // Value 255: n = 1, g = 3, l = 31: scale 15 - 8 = 7, u = 52, x = 0.25 * 7 * 20.
    assert_eq!(want[255].value, 35.0);
    let kernel = DequantizeKernel::new(gpu, WeightFormat::Q6_K);
    assert_gpu_dequantizes(gpu, &kernel, (1, 256), &block, &want).await;
}
gpu_test!(q6_k_block_by_hand);

async fn q4_k_scales_and_mins_by_hand(gpu: &Gpu) {
    // Sub-block j has scale 10 + 7j and min 63 - 5j: from j = 4 on both need
    // their top two bits, which Q4_K keeps in the top of bytes 0..8.
    let scale = |j: u8| 10 + 7 * j;
    let min = |j: u8| 63 - 5 * j;
    let mut scales = [0u8; 12];
    for j in 0..4 {
        scales[j] = scale(j as u8) | ((scale(j as u8 + 4) >> 4) << 6);
        scales[j + 4] = min(j as u8) | ((min(j as u8 + 4) >> 4) << 6);
        scales[j + 8] = (scale(j as u8 + 4) & 0xf) | ((min(j as u8 + 4) & 0xf) << 4);
    }
    // d = 1, dmin = 0.5; qs byte l of each 64 values holds l % 16 low and
    // 15 - l % 16 high.
    let mut block = half::f16::from_f32(1.0).to_le_bytes().to_vec();
    block.extend(half::f16::from_f32(0.5).to_le_bytes());
    block.extend(scales);
    for _ in 0..4 {
        block.extend((0..32u8).map(|l| (l % 16) | ((15 - l % 16) << 4)));
    }
    // x = scale * q - 0.5 * min, every term exact in f32.
    let want: Vec<Expected> = (0..256usize)
        .map(|e| {
            let j = (e / 32) as u8;
            let l = (e % 32) as u8;
            let q = if j.is_multiple_of(2) {
                l % 16
            } else {
                15 - l % 16
            };
            Expected::exact(f32::from(scale(j)) * f32::from(q) - 0.5 * f32::from(min(j)))
        })
        .collect();
    assert_eq!(want[255].value, 59.0 * 0.0 - 14.0);
    let kernel = DequantizeKernel::new(gpu, WeightFormat::Q4_K);
    assert_gpu_dequantizes(gpu, &kernel, (1, 256), &block, &want).await;
}
gpu_test!(q4_k_scales_and_mins_by_hand);

async fn half_floats_by_hand(gpu: &Gpu) {
    // Two rows of 6: the second row starts after 2 values of padding. The
    // largest f16, the smallest normal one, and two subnormals (1e-6 and the
    // smallest, 2^-24), which f32 holds as normal numbers.
    let values = [
        1.0,
        -2.5,
        65504.0,
        0.000061035156,
        -0.0,
        1e-6,
        3.0,
        0.1,
        -7.75,
        1024.5,
        2.0,
        -6e-8,
    ];
    let f16_bytes: Vec<u8> = values
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let f16_want: Vec<Expected> = values
        .iter()
        .map(|&v| Expected::exact(half::f16::from_f32(v).to_f32()))
        .collect();
    assert_eq!(f16_want[7].value, 0.099975586); // 0.1 rounded to f16
    assert_eq!(f16_want[11].value, -(2.0f32.powi(-24)));
    let kernel = DequantizeKernel::new(gpu, WeightFormat::F16);
    assert_gpu_dequantizes(gpu, &kernel, (2, 6), &f16_bytes, &f16_want).await;

    // bf16 keeps f32's range: 1e30 and 3e-30 survive, with 8 bits of mantissa.
    let values = [1.0, -3.0, 1e30, 3e-30, 0.1, -1024.0];
    let bf16_bytes: Vec<u8> = values
        .iter()
        .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
        .collect();
    let bf16_want: Vec<Expected> = values
        .iter()
        .map(|&v| Expected::exact(half::bf16::from_f32(v).to_f32()))
        .collect();
    assert_eq!(bf16_want[4].value, f32::from_bits(0x3dcd_0000)); // 0.1 rounded to bf16
    let kernel = DequantizeKernel::new(gpu, WeightFormat::BF16);
    assert_gpu_dequantizes(gpu, &kernel, (3, 2), &bf16_bytes, &bf16_want).await;
}
gpu_test!(half_floats_by_hand);

async fn a_weight_too_big_for_one_dispatch_row_is_dequantized_whole(gpu: &Gpu) {
    // 2048 x 8192 Q4_0 is 4,194,304 groups of 4 values: 65,536 workgroups of
    // 64, one more than a dispatch dimension allows on lavapipe and WebGPU
    // (65,535), so the last workgroup, which writes the end of the last row,
    // is in the second row of the 2-D dispatch. Check the first and last rows.
    let (rows, cols) = (2048, 8192);
    let format = WeightFormat::Q4_0;
    let bytes = random_file_bytes(format, rows, cols, 2048);
    let packed = repack(format, rows, cols, &bytes).unwrap();
    let got = DequantizeKernel::new(gpu, format)
        .dequantize(gpu, &packed)
        .await
        .unwrap();
    assert_eq!(got.len(), rows * cols);
    let row_bytes = cols / 32 * format.block_bytes();
    for row in [0, 1, rows - 2, rows - 1] {
        let want = reference::dequantize(format, &bytes[row * row_bytes..(row + 1) * row_bytes]);
        for (k, (got, want)) in got[row * cols..(row + 1) * cols]
            .iter()
            .zip(want)
            .enumerate()
        {
            assert_eq!(
                *got, want.value,
                "{format} {rows}x{cols}: value [{row}, {k}]"
            );
        }
    }
}
gpu_test!(a_weight_too_big_for_one_dispatch_row_is_dequantized_whole);

async fn a_kernel_refuses_weights_of_another_format(gpu: &Gpu) {
    let kernel = DequantizeKernel::new(gpu, WeightFormat::Q4_0);
    let weight = repack(WeightFormat::Q8_0, 1, 32, &[0; 34]).unwrap();
    let err = kernel.dequantize(gpu, &weight).await.unwrap_err();
    assert!(matches!(
        err,
        DequantizeError::FormatMismatch {
            kernel: WeightFormat::Q4_0,
            weight: WeightFormat::Q8_0
        }
    ));
    assert_eq!(
        err.to_string(),
        "this dequantize kernel was built for Q4_0 weights, but the weight is Q8_0"
    );
}
gpu_test!(a_kernel_refuses_weights_of_another_format);

/// Declares a CPU-only test for both targets.
macro_rules! cpu_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        fn $name() $body
    };
}

cpu_test! {
    fn wrong_byte_lengths_are_errors() {
        for format in WeightFormat::ALL {
            let (rows, cols) = (2, 2 * format.block_elements());
            let expected = 4 * format.block_bytes();
            for actual in [0, expected - 1, expected + 1, 2 * expected] {
                let err = repack(format, rows, cols, &vec![0; actual]).unwrap_err();
                assert_eq!(
                    err,
                    WeightError::ByteLength { format, rows, cols, expected, actual }
                );
                assert_eq!(
                    err.to_string(),
                    format!(
                        "a {format} weight of {rows}x{cols} takes {expected} bytes, \
                         but {actual} bytes were given"
                    )
                );
            }
        }
    }
}

cpu_test! {
    fn cols_that_split_a_block_are_errors() {
        for (format, cols) in [
            (WeightFormat::Q4_0, 16),
            (WeightFormat::Q8_0, 33),
            (WeightFormat::Q5_1, 48),
            (WeightFormat::Q4_K, 32),
            (WeightFormat::Q5_K, 384),
            (WeightFormat::Q6_K, 255),
        ] {
            let block = format.block_elements();
            let err = repack(format, 1, cols, &vec![0; format.block_bytes()]).unwrap_err();
            assert_eq!(
                err,
                WeightError::ColsNotMultipleOfBlock { format, rows: 1, cols, block }
            );
            assert!(err.to_string().contains(&format!("not a multiple of {block}")), "{err}");
        }
    }
}

cpu_test! {
    fn empty_weights_and_unknown_types_are_errors() {
        assert!(matches!(
            repack(WeightFormat::F16, 4, 0, &[]),
            Err(WeightError::Empty { rows: 4, cols: 0, .. })
        ));
        assert!(matches!(
            repack(WeightFormat::Q6_K, 0, 256, &[]),
            Err(WeightError::Empty { rows: 0, cols: 256, .. })
        ));
        // Q2_K is a ggml type, but not one Sculpt reads.
        assert_eq!(
            WeightFormat::from_ggml_type(10),
            Err(WeightError::UnsupportedGgmlType(10))
        );
    }
}

cpu_test! {
    fn weights_wgsl_names_each_format_by_its_shader_id() {
        let source = include_str!("../../src/kernels/weights.wgsl");
        for format in WeightFormat::ALL {
            let declaration = format!(
                "const WEIGHTS_{}: u32 = {}u;",
                format.name(),
                format.shader_id()
            );
            assert!(source.contains(&declaration), "weights.wgsl lacks `{declaration}`");
        }
    }
}

cpu_test! {
    fn packed_rows_hold_the_documented_number_of_words() {
        for format in WeightFormat::ALL {
            for (rows, cols) in awkward_shapes(format) {
                let bytes = random_file_bytes(format, rows, cols, 7);
                let packed = repack(format, rows, cols, &bytes).unwrap();
                let per_row = match format.packed_block_words() {
                    Some(words) => cols / format.block_elements() * words,
                    None => cols.div_ceil(4) * 4 * format.block_bytes() / 4,
                };
                assert_eq!(packed.words_per_row(), per_row, "{format} {rows}x{cols}");
                assert_eq!(packed.words().len(), rows * per_row, "{format} {rows}x{cols}");
            }
        }
    }
}

/// candle-core as the reference: its quantizers make the blocks, its CPU
/// dequantization gives the values.
#[cfg(not(target_arch = "wasm32"))]
mod against_candle {
    use super::*;
    use candle_core::{Device, Tensor, quantized::QTensor};

    use crate::support::candle_dtype;

    /// Random weights quantized by candle: the block bytes, and candle's
    /// dequantization of them.
    fn quantized_by_candle(
        format: WeightFormat,
        (rows, cols): (usize, usize),
        seed: u64,
    ) -> (Vec<u8>, Vec<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Rows of different magnitudes, so that blocks get different scales.
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| rng.random_range(-1.0f32..1.0) * (1 + i / cols) as f32)
            .collect();
        let tensor = Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap();
        let quantized = QTensor::quantize(&tensor, candle_dtype(format)).unwrap();
        let bytes = quantized.data().unwrap().into_owned();
        let dequantized = quantized
            .dequantize(&Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        (bytes, dequantized)
    }

    #[test]
    fn the_ggml_reference_agrees_with_candle_bit_for_bit() {
        for (seed, format) in WeightFormat::ALL.into_iter().enumerate() {
            for shape in awkward_shapes(format) {
                let (bytes, candle) = quantized_by_candle(format, shape, seed as u64);
                let ours: Vec<u32> = reference::dequantize(format, &bytes)
                    .iter()
                    .map(|e| e.value.to_bits())
                    .collect();
                let candle: Vec<u32> = candle.iter().map(|v| v.to_bits()).collect();
                assert_eq!(ours, candle, "{format} {shape:?}");
            }
        }
    }

    async fn candle_quantized_weights_dequantize_as_candle_does(gpu: &Gpu) {
        for (seed, format) in WeightFormat::ALL.into_iter().enumerate() {
            let kernel = DequantizeKernel::new(gpu, format);
            for shape in awkward_shapes(format) {
                let (bytes, candle) = quantized_by_candle(format, shape, 100 + seed as u64);
                // Candle's values, with the tolerance the format allows.
                let want: Vec<Expected> = reference::dequantize(format, &bytes)
                    .into_iter()
                    .zip(candle)
                    .map(|(reference, value)| Expected {
                        value,
                        tolerance: reference.tolerance,
                    })
                    .collect();
                assert_gpu_dequantizes(gpu, &kernel, shape, &bytes, &want).await;
            }
        }
    }
    gpu_test!(candle_quantized_weights_dequantize_as_candle_does);
}
