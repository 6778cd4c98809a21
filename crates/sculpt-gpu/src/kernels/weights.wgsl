// Weight decoding, shared by every kernel that reads weights: concatenate this
// file after the kernel's own source. The kernel must declare
//
//     @group(0) @binding(N) var<storage, read> weights: array<u32>;
//     override WEIGHT_FORMAT: u32;   // WeightFormat::shader_id()
//     fn weight_cols() -> u32        // K, the values per row (e.g. from its params)
//
// and reads a weight [rows, cols] repacked by `weights::repack` with
// `weight4(row, k)`, the 4 values at [row, k..k+4] for k a multiple of 4, or,
// when it walks along one row, with `weight4_in_row(weight_row_start(row), k)`.
// The layout of each format is documented in `src/weights.rs`.
//
// WEIGHT_FORMAT is a pipeline constant, so every branch on it below is decided
// when the pipeline is compiled and the others are dropped.
//
// The arithmetic is ggml's (dequantize_row_* in ggml-quants.c), operation for
// operation, so that results match its CPU code bit for bit except where a
// compiler fuses a multiply and an add (Q4_1, Q5_1, Q4_K, Q5_K).

const WEIGHTS_F32: u32 = 0u;
const WEIGHTS_F16: u32 = 1u;
const WEIGHTS_Q4_0: u32 = 2u;
const WEIGHTS_Q4_1: u32 = 3u;
const WEIGHTS_Q5_0: u32 = 6u;
const WEIGHTS_Q5_1: u32 = 7u;
const WEIGHTS_Q8_0: u32 = 8u;
const WEIGHTS_Q4_K: u32 = 12u;
const WEIGHTS_Q5_K: u32 = 13u;
const WEIGHTS_Q6_K: u32 = 14u;
const WEIGHTS_BF16: u32 = 30u;

// Values per block (1 for float formats).
fn weight_block_elements() -> u32 {
    switch WEIGHT_FORMAT {
        case WEIGHTS_Q8_0, WEIGHTS_Q4_0, WEIGHTS_Q4_1, WEIGHTS_Q5_0, WEIGHTS_Q5_1: { return 32u; }
        case WEIGHTS_Q4_K, WEIGHTS_Q5_K, WEIGHTS_Q6_K: { return 256u; }
        default: { return 1u; }
    }
}

// Words per packed block (block formats only).
fn weight_block_words() -> u32 {
    switch WEIGHT_FORMAT {
        case WEIGHTS_Q8_0: { return 9u; }
        case WEIGHTS_Q4_0, WEIGHTS_Q4_1: { return 5u; }
        case WEIGHTS_Q5_0, WEIGHTS_Q5_1: { return 6u; }
        case WEIGHTS_Q4_K: { return 36u; }
        case WEIGHTS_Q5_K: { return 44u; }
        case WEIGHTS_Q6_K: { return 53u; }
        default: { return 0u; }
    }
}

// Words per packed row of `cols` values; float rows are padded to 4 values.
fn weight_row_words(cols: u32) -> u32 {
    switch WEIGHT_FORMAT {
        case WEIGHTS_F32: { return (cols + 3u) / 4u * 4u; }
        case WEIGHTS_F16, WEIGHTS_BF16: { return (cols + 3u) / 4u * 2u; }
        default: { return cols / weight_block_elements() * weight_block_words(); }
    }
}

// The index in `weights` of the first word of `row`.
fn weight_row_start(row: u32) -> u32 {
    return row * weight_row_words(weight_cols());
}

fn weight4(row: u32, k: u32) -> vec4<f32> {
    return weight4_in_row(weight_row_start(row), k);
}

// Byte `i` (0..4) of a word, as an unsigned value.
fn weight_byte(word: u32, i: u32) -> u32 {
    return (word >> (8u * i)) & 0xffu;
}

// The four 4-bit fields at bit `shift` of each byte of a word.
fn weight_nibbles(word: u32, shift: u32) -> vec4<u32> {
    let w = word >> shift;
    return vec4<u32>(w & 0xfu, (w >> 8u) & 0xfu, (w >> 16u) & 0xfu, (w >> 24u) & 0xfu);
}

// The f16 in the low half of a word. unpack2x16float needs no shader-f16.
fn weight_f16_low(word: u32) -> f32 {
    return unpack2x16float(word).x;
}

fn weight4_in_row(row_start: u32, k: u32) -> vec4<f32> {
    switch WEIGHT_FORMAT {
        case WEIGHTS_F32: {
            let i = row_start + k;
            return vec4<f32>(
                bitcast<f32>(weights[i]),
                bitcast<f32>(weights[i + 1u]),
                bitcast<f32>(weights[i + 2u]),
                bitcast<f32>(weights[i + 3u]),
            );
        }
        case WEIGHTS_F16: {
            let i = row_start + k / 2u;
            return vec4<f32>(unpack2x16float(weights[i]), unpack2x16float(weights[i + 1u]));
        }
        case WEIGHTS_BF16: {
            // A bf16 is the high half of an f32.
            let i = row_start + k / 2u;
            let a = weights[i];
            let b = weights[i + 1u];
            return vec4<f32>(
                bitcast<f32>(a << 16u),
                bitcast<f32>(a & 0xffff0000u),
                bitcast<f32>(b << 16u),
                bitcast<f32>(b & 0xffff0000u),
            );
        }
        case WEIGHTS_Q8_0: { return weight4_q8_0(row_start, k); }
        case WEIGHTS_Q4_0: { return weight4_q4_0(row_start, k); }
        case WEIGHTS_Q4_1: { return weight4_q4_1(row_start, k); }
        case WEIGHTS_Q5_0: { return weight4_q5_0(row_start, k); }
        case WEIGHTS_Q5_1: { return weight4_q5_1(row_start, k); }
        case WEIGHTS_Q4_K: { return weight4_q4_k(row_start, k); }
        case WEIGHTS_Q5_K: { return weight4_q5_k(row_start, k); }
        case WEIGHTS_Q6_K: { return weight4_q6_k(row_start, k); }
        default: { return vec4<f32>(0.0); }
    }
}

// Q8_0, 9 words: d (f16, low half) | qs[32] i8. x = q * d.
fn weight4_q8_0(row_start: u32, k: u32) -> vec4<f32> {
    let block = row_start + k / 32u * 9u;
    let e = k % 32u;
    let d = weight_f16_low(weights[block]);
    let w = weights[block + 1u + e / 4u];
    // Shift each byte to the top, then back with sign extension.
    let q = vec4<i32>(
        bitcast<i32>(w << 24u) >> 24u,
        bitcast<i32>(w << 16u) >> 24u,
        bitcast<i32>(w << 8u) >> 24u,
        bitcast<i32>(w) >> 24u,
    );
    return vec4<f32>(q) * d;
}

// The classic 32-value quants keep values j and j + 16 in the low and high
// nibble of byte j.
fn weight_q4_nibbles(qs_start: u32, e: u32) -> vec4<u32> {
    let w = weights[qs_start + (e % 16u) / 4u];
    return weight_nibbles(w, select(0u, 4u, e >= 16u));
}

// Q4_0, 5 words: d | qs[16]. x = (q - 8) * d.
fn weight4_q4_0(row_start: u32, k: u32) -> vec4<f32> {
    let block = row_start + k / 32u * 5u;
    let d = weight_f16_low(weights[block]);
    let q = weight_q4_nibbles(block + 1u, k % 32u);
    return (vec4<f32>(q) - 8.0) * d;
}

// Q4_1, 5 words: d, m | qs[16]. x = q * d + m.
fn weight4_q4_1(row_start: u32, k: u32) -> vec4<f32> {
    let block = row_start + k / 32u * 5u;
    let dm = unpack2x16float(weights[block]);
    let q = weight_q4_nibbles(block + 1u, k % 32u);
    return vec4<f32>(q) * dm.x + dm.y;
}

// The fifth bit of Q5_0/Q5_1 value e is bit e of qh.
fn weight_q5_values(block: u32, e: u32) -> vec4<u32> {
    let high = (vec4<u32>(weights[block + 1u] >> e) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u);
    return weight_q4_nibbles(block + 2u, e) | (high << vec4<u32>(4u));
}

// Q5_0, 6 words: d | qh | qs[16]. x = (q - 16) * d.
fn weight4_q5_0(row_start: u32, k: u32) -> vec4<f32> {
    let block = row_start + k / 32u * 6u;
    let d = weight_f16_low(weights[block]);
    let q = weight_q5_values(block, k % 32u);
    return (vec4<f32>(q) - 16.0) * d;
}

// Q5_1, 6 words: d, m | qh | qs[16]. x = q * d + m.
fn weight4_q5_1(row_start: u32, k: u32) -> vec4<f32> {
    let block = row_start + k / 32u * 6u;
    let dm = unpack2x16float(weights[block]);
    let q = weight_q5_values(block, k % 32u);
    return vec4<f32>(q) * dm.x + dm.y;
}

// The 6-bit scale and min of sub-block j (0..8) of a Q4_K/Q5_K block, whose
// 12 scale bytes start at word `scales` (ggml's get_scale_min_k4): sub-blocks
// 0..3 keep theirs in the low 6 bits of bytes j and j + 4; 4..7 keep the low
// 4 bits in byte j + 4 and the high 2 bits in the top of bytes j - 4 and j.
fn weight_k_scale_min(scales: u32, j: u32) -> vec2<u32> {
    let b0 = weights[scales];
    let b1 = weights[scales + 1u];
    let b2 = weights[scales + 2u];
    if (j < 4u) {
        return vec2<u32>(weight_byte(b0, j) & 63u, weight_byte(b1, j) & 63u);
    }
    let low = weight_byte(b2, j - 4u);
    let sc = (low & 0xfu) | ((weight_byte(b0, j - 4u) >> 6u) << 4u);
    let m = (low >> 4u) | ((weight_byte(b1, j - 4u) >> 6u) << 4u);
    return vec2<u32>(sc, m);
}

// Q4_K, 36 words: d, dmin | scales[12] | qs[128]. Each 64 values share 32
// bytes of qs, the first 32 values in the low nibbles, the next in the high;
// sub-block j = e / 32 has x = (d * sc_j) * q - dmin * m_j.
fn weight4_q4_k(row_start: u32, k: u32) -> vec4<f32> {
    let block = row_start + k / 256u * 36u;
    let e = k % 256u;
    let j = e / 32u;
    let dm = unpack2x16float(weights[block]);
    let sm = weight_k_scale_min(block + 1u, j);
    let d = dm.x * f32(sm.x);
    let m = dm.y * f32(sm.y);
    let w = weights[block + 4u + (e / 64u) * 8u + (e % 32u) / 4u];
    let q = weight_nibbles(w, (j % 2u) * 4u);
    return vec4<f32>(q) * d - m;
}

// Q5_K, 44 words: d, dmin | scales[12] | qh[32] | qs[128]. As Q4_K, plus a
// fifth bit: bit j of qh byte e % 32.
fn weight4_q5_k(row_start: u32, k: u32) -> vec4<f32> {
    let block = row_start + k / 256u * 44u;
    let e = k % 256u;
    let j = e / 32u;
    let dm = unpack2x16float(weights[block]);
    let sm = weight_k_scale_min(block + 1u, j);
    let d = dm.x * f32(sm.x);
    let m = dm.y * f32(sm.y);
    let low = weight_nibbles(weights[block + 12u + (e / 64u) * 8u + (e % 32u) / 4u], (j % 2u) * 4u);
    let high = (vec4<u32>(weights[block + 4u + (e % 32u) / 4u] >> j) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(1u);
    // ggml adds 16 as a float to the low 4 bits; both are small integers, so
    // building the 5-bit integer first gives the same value.
    return vec4<f32>(low | (high << vec4<u32>(4u))) * d - m;
}

// Q6_K, 53 words: ql[128] | qh[64] | scales[16] i8 | d (f16, low half).
// Each half of 128 values uses 64 bytes of ql, 32 of qh and 8 scales; its
// quarter g (32 values) takes the low (g < 2) or high nibble of ql bytes
// 32 * (g % 2) + l, bits 2g..2g+2 of qh byte l as the top two bits, and scale
// 2g + l / 16. x = (d * scale) * (q - 32).
fn weight4_q6_k(row_start: u32, k: u32) -> vec4<f32> {
    let block = row_start + k / 256u * 53u;
    let e = k % 256u;
    let upper = e / 128u;
    let g = (e % 128u) / 32u;
    let l = e % 32u;
    let low = weight_nibbles(weights[block + upper * 16u + (g % 2u) * 8u + l / 4u], (g / 2u) * 4u);
    let qh = weights[block + 32u + upper * 8u + l / 4u] >> (2u * g);
    let high = (vec4<u32>(qh) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(3u);
    let q = vec4<i32>(low | (high << vec4<u32>(4u))) - 32;
    let scale_index = upper * 8u + 2u * g + l / 16u;
    let scale = bitcast<i32>(weights[block + 48u + scale_index / 4u] << (24u - 8u * (scale_index % 4u))) >> 24u;
    let d = weight_f16_low(weights[block + 52u]) * f32(scale);
    return vec4<f32>(q) * d;
}
