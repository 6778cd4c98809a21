// Seeded Gaussian noise: Philox4x32-10 words turned into standard normal
// values through a fixed-point quantile table. Integer arithmetic only, up to
// one exact int-to-float conversion and one multiply by a power of two, so
// every GPU gives the same bits as the CPU (noise.rs explains the scheme; its
// CPU functions are the reference this file must match exactly).

struct Params {
    // The Philox key: the seed's low and high 32 bits.
    key_lo: u32,
    key_hi: u32,
    len: u32,
    // Where the output tensor starts in its buffer, in elements.
    out_offset: u32,
}

// 1025 body knots Φ⁻¹(j/1024), then 1025 tail knots Φ⁻¹(k/2^20), as value × 2^20.
@group(0) @binding(0) var<storage, read> knots: array<i32>;
@group(0) @binding(1) var<storage, read_write> values: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// The test entry point's own resources: per block, two vectors in, the
// counter then (key, 0, 0); the four Philox words out.
@group(0) @binding(3) var<storage, read> philox_inputs: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> philox_outputs: array<vec4<u32>>;

const WORKGROUP: u32 = 64u;
const TAIL_OFFSET: u32 = 1025u;

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// The high and low 32 bits of the 64-bit product a × b. WGSL has no 64-bit
// integers, so the high word is assembled from 16-bit halves, none of whose
// partial sums can overflow a u32.
fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xFFFFu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xFFFFu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_lo = a_hi * b_lo;
    let hi_hi = a_hi * b_hi;
    // Bits 16..47 of the product, below 3 × 2^16 + 2^16.
    let middle = (lo_lo >> 16u) + (lo_hi & 0xFFFFu) + (hi_lo & 0xFFFFu);
    let hi = hi_hi + (lo_hi >> 16u) + (hi_lo >> 16u) + (middle >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var r = 0u; r < 10u; r++) {
        if (r > 0u) {
            k = vec2<u32>(k.x + PHILOX_W0, k.y + PHILOX_W1);
        }
        let p0 = mul_hi_lo(PHILOX_M0, c.x);
        let p1 = mul_hi_lo(PHILOX_M1, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

// knot + (rise × fraction) >> 10, in i32: rise × 1023 fits (noise.rs checks
// it on the actual knots), and >> on i32 is arithmetic, as in Rust.
fn interpolate(first_knot: u32, fraction: u32) -> i32 {
    let knot = knots[first_knot];
    let rise = knots[first_knot + 1u] - knot;
    return knot + ((rise * i32(fraction)) >> 10u);
}

fn normal_from_bits(bits: u32) -> f32 {
    let interval = bits >> 22u;
    var scaled: i32;
    if (interval == 0u || interval == 1023u) {
        // The end intervals use the finer tail table; the upper one as the
        // mirror image of the lower, through the complement of the bits.
        var lower = bits;
        if (interval == 1023u) {
            lower = ~bits;
        }
        scaled = interpolate(TAIL_OFFSET + ((lower >> 12u) & 1023u), (lower >> 2u) & 1023u);
        if (interval == 1023u) {
            scaled = -scaled;
        }
    } else {
        scaled = interpolate(interval, (bits >> 12u) & 1023u);
    }
    // Exact: |scaled| < 2^24, and the scale is a power of two.
    return f32(scaled) * (1.0 / 1048576.0);
}

// One thread per Philox block, that is per four consecutive elements. The
// dispatch may be two-dimensional for long tensors; (x, y) fold back into the
// block index, so the values never depend on the dispatch shape.
@compute @workgroup_size(64)
fn gaussian(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let block = id.y * (groups.x * WORKGROUP) + id.x;
    let first = block * 4u;
    if (first >= params.len) {
        return;
    }
    let words = philox4x32_10(vec4<u32>(block, 0u, 0u, 0u), vec2<u32>(params.key_lo, params.key_hi));
    for (var lane = 0u; lane < 4u; lane++) {
        if (first + lane < params.len) {
            values[params.out_offset + first + lane] = normal_from_bits(words[lane]);
        }
    }
}

// The generator alone, on arbitrary counters and keys, for known-answer tests.
@compute @workgroup_size(64)
fn philox4x32_10_blocks(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= arrayLength(&philox_outputs)) {
        return;
    }
    let counter = philox_inputs[2u * id.x];
    let key = philox_inputs[2u * id.x + 1u].xy;
    philox_outputs[id.x] = philox4x32_10(counter, key);
}
