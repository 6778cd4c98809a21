// Linear layers: out[m, n] = sum_k x[m, k] · w[n, k] (+ bias[n]), with the
// weight in PyTorch/GGUF layout [out_features, in_features]. The weight is
// read through `weight4` (from `weights.wgsl`, compiled after this file),
// which decodes its storage format on the fly: weights stay in their compact
// format (f16, bf16, GGUF blocks) in GPU memory.
//
// Two entry points: `linear_tiled`, a 64×64 output tile per workgroup staged
// through workgroup memory (activations × weights, M large), and
// `linear_rows`, for a few rows (modulation vectors, M ≤ 8), where the cost
// is reading the weight once: one workgroup per output feature, its threads
// splitting K, their sums combined by a workgroup reduction (reduce.wgsl, or
// reduce_subgroups.wgsl where the device has subgroups).
//
// The part compiled before this file declares two types. `act` is what the
// activations, bias and output are stored as: f32, or f16 for f16 tensors
// (the sums are f32 either way). `tile_scalar` is what `linear_tiled`
// stages its tiles in and multiplies in: f32, or f16 where the device has
// shader-f16 and the caller allows it. Either way it sums 16
// products (one TILE_K) in that type, then adds them to f32 accumulators,
// so f16's rounding never builds up over K.

struct Params {
    m: u32,
    // Output features this weight chunk holds (its rows).
    n: u32,
    k: u32,
    // Output features of the whole layer: the row stride of `out`.
    out_stride: u32,
    x_offset: u32,
    out_offset: u32,
    bias_offset: u32,
    // Which output column this weight chunk's first row writes (weights too
    // big for one binding are split by rows).
    n_start: u32,
}

override HAS_BIAS: bool = false;
override WEIGHT_FORMAT: u32 = 0u;
// Rows handled by `linear_rows` (its accumulators live in registers).
override ROWS: u32 = 1u;

@group(0) @binding(0) var<storage, read> x: array<act>;
@group(0) @binding(1) var<storage, read> weights: array<u32>;
@group(0) @binding(2) var<storage, read> bias: array<act>;
@group(0) @binding(3) var<storage, read_write> out: array<act>;
@group(0) @binding(4) var<uniform> params: Params;

const TILE: u32 = 64u;
const TILE_K: u32 = 16u;

var<workgroup> tile_x: array<array<tile_scalar, TILE_K>, TILE>;
var<workgroup> tile_w: array<array<tile_scalar, TILE_K>, TILE>;

fn weight_cols() -> u32 {
    return params.k;
}

fn x_at(row: u32, k: u32) -> f32 {
    if (row < params.m && k < params.k) {
        return f32(x[params.x_offset + row * params.k + k]);
    }
    return 0.0;
}

fn bias_at(column: u32) -> f32 {
    if (HAS_BIAS) {
        return f32(bias[params.bias_offset + params.n_start + column]);
    }
    return 0.0;
}

@compute @workgroup_size(16, 16)
fn linear_tiled(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) local: vec3<u32>,
) {
    let thread = local.y * 16u + local.x;
    let row0 = wg.y * TILE;
    let column0 = wg.x * TILE;
    // Each thread stages 4 consecutive k of one row of each tile.
    let stage_row = thread / 4u;
    let stage_k = (thread % 4u) * 4u;

    // Rows local.y + 16i (i = 0..4) × columns local.x + 16j (j = the vector
    // lanes): neighbouring threads read neighbouring rows of the tiles, and
    // the accumulators are plain vectors so they stay in registers.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
        let k = k0 + stage_k;
        for (var j = 0u; j < 4u; j++) {
            tile_x[stage_row][stage_k + j] = tile_scalar(x_at(row0 + stage_row, k + j));
        }
        var w = vec4<f32>(0.0);
        let weight_row = column0 + stage_row;
        if (weight_row < params.n && k < params.k) {
            w = weight4(weight_row, k);
        }
        let w_staged = vec4<tile_scalar>(w);
        tile_w[stage_row][stage_k] = w_staged.x;
        tile_w[stage_row][stage_k + 1u] = w_staged.y;
        tile_w[stage_row][stage_k + 2u] = w_staged.z;
        tile_w[stage_row][stage_k + 3u] = w_staged.w;
        workgroupBarrier();

        var part0 = vec4<tile_scalar>(0.0);
        var part1 = vec4<tile_scalar>(0.0);
        var part2 = vec4<tile_scalar>(0.0);
        var part3 = vec4<tile_scalar>(0.0);
        for (var kk = 0u; kk < TILE_K; kk++) {
            let b = vec4<tile_scalar>(
                tile_w[local.x][kk],
                tile_w[local.x + 16u][kk],
                tile_w[local.x + 32u][kk],
                tile_w[local.x + 48u][kk],
            );
            part0 = fma(vec4<tile_scalar>(tile_x[local.y][kk]), b, part0);
            part1 = fma(vec4<tile_scalar>(tile_x[local.y + 16u][kk]), b, part1);
            part2 = fma(vec4<tile_scalar>(tile_x[local.y + 32u][kk]), b, part2);
            part3 = fma(vec4<tile_scalar>(tile_x[local.y + 48u][kk]), b, part3);
        }
        acc0 += vec4<f32>(part0);
        acc1 += vec4<f32>(part1);
        acc2 += vec4<f32>(part2);
        acc3 += vec4<f32>(part3);
        workgroupBarrier();
    }

    store_row(row0 + local.y, column0 + local.x, acc0);
    store_row(row0 + local.y + 16u, column0 + local.x, acc1);
    store_row(row0 + local.y + 32u, column0 + local.x, acc2);
    store_row(row0 + local.y + 48u, column0 + local.x, acc3);
}

// Writes the 4 results of one row at columns column, +16, +32, +48.
fn store_row(row: u32, column: u32, values: vec4<f32>) {
    if (row >= params.m) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        let c = column + 16u * j;
        if (c < params.n) {
            out[params.out_offset + row * params.out_stride + params.n_start + c] = act(values[j] + bias_at(c));
        }
    }
}

// Threads of a `linear_rows` workgroup; the reduction (reduce.wgsl or
// reduce_subgroups.wgsl, compiled after this file) reads it.
const WORKGROUP: u32 = 64u;

@compute @workgroup_size(WORKGROUP)
fn linear_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    id: Invocation,
) {
    // One output feature per workgroup (folded over x and y for wide layers).
    let column = wg.x + wg.y * groups.x;
    // Rows 0..4 in `low`, 4..8 in `high`, as vectors so that one reduction
    // combines four rows.
    var low = vec4<f32>(0.0);
    var high = vec4<f32>(0.0);
    if (column < params.n) {
        for (var k = id.local * 4u; k < params.k; k += WORKGROUP * 4u) {
            let w = weight4(column, k);
            for (var row = 0u; row < ROWS; row++) {
                let a = vec4<f32>(x_at(row, k), x_at(row, k + 1u), x_at(row, k + 2u), x_at(row, k + 3u));
                if (row < 4u) {
                    low[row] += dot(a, w);
                } else {
                    high[row - 4u] += dot(a, w);
                }
            }
        }
    }
    let low_sums = workgroup_sum4(id, low);
    var high_sums = vec4<f32>(0.0);
    if (ROWS > 4u) {
        high_sums = workgroup_sum4(id, high);
    }
    if (id.local == 0u && column < params.n) {
        for (var row = 0u; row < ROWS; row++) {
            var sum = 0.0;
            if (row < 4u) {
                sum = low_sums[row];
            } else {
                sum = high_sums[row - 4u];
            }
            out[params.out_offset + row * params.out_stride + params.n_start + column] =
                act(sum + bias_at(column));
        }
    }
}
