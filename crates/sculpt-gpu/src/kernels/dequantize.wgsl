// Dequantization: a weight [rows, cols] in any format of `weights.wgsl`
// becomes f32 values [rows, cols], row-major without padding. For the CPU
// fallback, for debugging, and as the check on `weight4` itself.
//
// This file is compiled followed by `weights.wgsl`.

struct Params {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read_write> values: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

override WEIGHT_FORMAT: u32;

fn weight_cols() -> u32 {
    return params.cols;
}

// One invocation per 4 values of a row. Large weights need more workgroups
// than one dimension allows, so the dispatch is 2-D and flattened here.
@compute @workgroup_size(64)
fn dequantize(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let quads_per_row = (params.cols + 3u) / 4u;
    let quad = id.y * groups.x * 64u + id.x;
    if (quad >= params.rows * quads_per_row) {
        return;
    }
    let row = quad / quads_per_row;
    let k = (quad % quads_per_row) * 4u;
    let v = weight4(row, k);
    // Float rows end with up to 3 padding values, which are not written.
    let out = row * params.cols + k;
    let n = min(4u, params.cols - k);
    values[out] = v.x;
    if (n > 1u) {
        values[out + 1u] = v.y;
    }
    if (n > 2u) {
        values[out + 2u] = v.z;
    }
    if (n > 3u) {
        values[out + 3u] = v.w;
    }
}
