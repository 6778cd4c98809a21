// FLUX's rotary position embedding on q or k, interleaved pairs: element pair
// (x[2j], x[2j+1]) of a token's head vector turns by that token's angle j,
//   (x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos),
// with cos/sin read from a table [tokens, head_dim / 2, 2] built on the CPU
// (rope.rs). One thread per pair.

struct Params {
    pairs: u32,
    half_dim: u32,
    tokens: u32,
    // Consecutive rows (head vectors) per token step: 1 for [heads, tokens,
    // head_dim] (row % tokens is the token), heads for [tokens, heads,
    // head_dim] (row / heads is the token).
    rows_per_token: u32,
    x_offset: u32,
    table_offset: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn rope(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = params;
    let pair = (wg.x + wg.y * groups.x) * 256u + local;
    if (pair >= p.pairs) {
        return;
    }
    let row = pair / p.half_dim;
    let j = pair % p.half_dim;
    let token = (row / p.rows_per_token) % p.tokens;
    let angle = p.table_offset + (token * p.half_dim + j) * 2u;
    let cos_a = table[angle];
    let sin_a = table[angle + 1u];
    let x0 = x[p.x_offset + 2u * pair];
    let x1 = x[p.x_offset + 2u * pair + 1u];
    out[2u * pair] = x0 * cos_a - x1 * sin_a;
    out[2u * pair + 1u] = x0 * sin_a + x1 * cos_a;
}
