// Normalizations over contiguous f32 tensors, accumulated in f32.
//
// Row kernels (LayerNorm with or without weight and bias, RMSNorm; one entry
// point specialised by NORM): one workgroup per row. Each thread sums a
// strided slice of the row, then a workgroup reduction (reduce.wgsl's tree,
// or reduce_subgroups.wgsl) combines the threads' partial sums, so rounding
// error grows with width/threads plus a few additions rather than with the width. The variance is a second pass over the row,
// sum((x - mean)^2), never E[x^2] - E[x]^2: that difference cancels
// catastrophically when |mean| is large against the spread.
//
// GroupNorm: a group is too much work for one workgroup (4 channels x 1M
// pixels in FLUX's autoencoder at 1024^2, and only 32 groups, which would
// leave most of a GPU idle while each workgroup loops over 4M elements), so
// it takes three dispatches:
//   group_norm_chunk_stats: every chunk of CHUNK elements of a group gets its
//     (mean, M2 = sum of squared deviations) from the same two-pass scheme;
//   group_norm_merge: one workgroup per group merges its chunks' statistics
//     with Chan et al.'s pairwise formula, which only ever adds non-negative
//     M2 terms and a non-negative correction, so it is as stable as two-pass;
//   group_norm_apply: elementwise (x - mean) * rstd * weight[c] + bias[c].

struct Params {
    rows: u32,
    width: u32,
    x_offset: u32,
    weight_offset: u32,
    bias_offset: u32,
    eps: f32,
    // GroupNorm only.
    groups: u32,
    chunks_per_group: u32,
    channel_len: u32,
    channels_per_group: u32,
}

// Threads per workgroup, a power of two: 256, or 64 for rows of at most 256
// (FLUX's QK-norm over head_dim 128), which would leave most of 256 idle.
override WORKGROUP: u32 = 256u;
// Elements per group_norm_chunk_stats workgroup: 16 per thread of 256. Must match
// GROUP_NORM_CHUNK in norm.rs.
const CHUNK: u32 = 4096u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;

// GroupNorm's merge combines (count, mean, M2) triples in its own tree.
var<workgroup> partial: array<f32, WORKGROUP>;
var<workgroup> partial_mean: array<f32, WORKGROUP>;
var<workgroup> partial_m2: array<f32, WORKGROUP>;

fn workgroup_index(wg: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wg.x + wg.y * groups.x;
}

// Mean and sum of squared deviations of x[start..start + len], two-pass.
fn mean_and_m2(id: Invocation, start: u32, len: u32) -> vec2<f32> {
    let local = id.local;
    var sum = 0.0;
    for (var i = local; i < len; i += WORKGROUP) {
        sum += x[start + i];
    }
    let mean = workgroup_sum(id, sum) / f32(len);
    var squares = 0.0;
    for (var i = local; i < len; i += WORKGROUP) {
        let d = x[start + i] - mean;
        squares += d * d;
    }
    return vec2<f32>(mean, workgroup_sum(id, squares));
}

// The row kernels are one entry point; NORM picks the normalization. The
// operands a normalization does not read (LayerNorm's weight and bias,
// RMSNorm's bias) are bound to x, so that one layout serves all three.
const LAYER_NORM: u32 = 0u;
const LAYER_NORM_AFFINE: u32 = 1u;
const RMS_NORM: u32 = 2u;
override NORM: u32 = 0u;

@group(0) @binding(3) var<storage, read_write> row_norm_out: array<f32>;
@group(0) @binding(4) var<uniform> row_norm_params: Params;

@compute @workgroup_size(WORKGROUP)
fn row_norm(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    id: Invocation,
) {
    let local = id.local;
    let p = row_norm_params;
    let row = workgroup_index(wg, groups);
    if (row >= p.rows) {
        return;
    }
    let start = p.x_offset + row * p.width;
    if (NORM == RMS_NORM) {
        // Squares are non-negative: summing them cannot cancel.
        var squares = 0.0;
        for (var i = local; i < p.width; i += WORKGROUP) {
            let v = x[start + i];
            squares += v * v;
        }
        let rms_inverse = inverseSqrt(workgroup_sum(id, squares) / f32(p.width) + p.eps);
        for (var i = local; i < p.width; i += WORKGROUP) {
            row_norm_out[row * p.width + i] = x[start + i] * rms_inverse * weight[p.weight_offset + i];
        }
        return;
    }
    let stats = mean_and_m2(id, start, p.width);
    let rstd = inverseSqrt(stats.y / f32(p.width) + p.eps);
    for (var i = local; i < p.width; i += WORKGROUP) {
        let normalized = (x[start + i] - stats.x) * rstd;
        if (NORM == LAYER_NORM_AFFINE) {
            row_norm_out[row * p.width + i] =
                normalized * weight[p.weight_offset + i] + bias[p.bias_offset + i];
        } else {
            row_norm_out[row * p.width + i] = normalized;
        }
    }
}

// Per chunk: (mean, M2), at [group * chunks_per_group + chunk].
@group(0) @binding(1) var<storage, read_write> chunk_stats_out: array<vec2<f32>>;
@group(0) @binding(2) var<uniform> chunk_stats_params: Params;

@compute @workgroup_size(WORKGROUP)
fn group_norm_chunk_stats(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    id: Invocation,
) {
    let local = id.local;
    let p = chunk_stats_params;
    let index = workgroup_index(wg, groups);
    if (index >= p.groups * p.chunks_per_group) {
        return;
    }
    let group = index / p.chunks_per_group;
    let chunk = index % p.chunks_per_group;
    let group_len = p.channels_per_group * p.channel_len;
    let chunk_start = chunk * CHUNK;
    let len = min(CHUNK, group_len - chunk_start);
    let stats = mean_and_m2(id, p.x_offset + group * group_len + chunk_start, len);
    if (local == 0u) {
        chunk_stats_out[index] = stats;
    }
}

@group(0) @binding(0) var<storage, read> chunk_stats: array<vec2<f32>>;
// Per group: (mean, 1 / sqrt(variance + eps)).
@group(0) @binding(1) var<storage, read_write> group_stats_out: array<vec2<f32>>;
@group(0) @binding(2) var<uniform> merge_params: Params;

// Chan, Golub, LeVeque: statistics of the union of two disjoint sets.
fn merge_into(count: ptr<function, f32>, mean: ptr<function, f32>, m2: ptr<function, f32>,
              other_count: f32, other_mean: f32, other_m2: f32) {
    if (other_count == 0.0) {
        return;
    }
    let total = *count + other_count;
    let delta = other_mean - *mean;
    let weight_other = other_count / total;
    *mean = *mean + delta * weight_other;
    *m2 = *m2 + other_m2 + delta * delta * *count * weight_other;
    *count = total;
}

@compute @workgroup_size(WORKGROUP)
fn group_norm_merge(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    id: Invocation,
) {
    let local = id.local;
    let p = merge_params;
    let group = workgroup_index(wg, groups);
    if (group >= p.groups) {
        return;
    }
    let group_len = p.channels_per_group * p.channel_len;
    var count = 0.0;
    var mean = 0.0;
    var m2 = 0.0;
    for (var chunk = local; chunk < p.chunks_per_group; chunk += WORKGROUP) {
        let stats = chunk_stats[group * p.chunks_per_group + chunk];
        let len = f32(min(CHUNK, group_len - chunk * CHUNK));
        merge_into(&count, &mean, &m2, len, stats.x, stats.y);
    }
    partial[local] = count;
    partial_mean[local] = mean;
    partial_m2[local] = m2;
    workgroupBarrier();
    for (var stride = WORKGROUP / 2u; stride > 0u; stride >>= 1u) {
        if (local < stride) {
            var c = partial[local];
            var m = partial_mean[local];
            var s = partial_m2[local];
            merge_into(&c, &m, &s, partial[local + stride], partial_mean[local + stride],
                       partial_m2[local + stride]);
            partial[local] = c;
            partial_mean[local] = m;
            partial_m2[local] = s;
        }
        workgroupBarrier();
    }
    if (local == 0u) {
        let variance = partial_m2[0] / partial[0];
        group_stats_out[group] = vec2<f32>(partial_mean[0], inverseSqrt(variance + p.eps));
    }
}

@group(0) @binding(3) var<storage, read> group_stats: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> group_norm_out: array<f32>;
@group(0) @binding(5) var<uniform> apply_params: Params;

@compute @workgroup_size(256)
fn group_norm_apply(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    id: Invocation,
) {
    let local = id.local;
    let p = apply_params;
    let i = workgroup_index(wg, groups) * 256u + local;
    let channels = p.groups * p.channels_per_group;
    if (i >= channels * p.channel_len) {
        return;
    }
    let channel = i / p.channel_len;
    let stats = group_stats[channel / p.channels_per_group];
    let normalized = (x[p.x_offset + i] - stats.x) * stats.y;
    group_norm_out[i] = normalized * weight[p.weight_offset + channel] + bias[p.bias_offset + channel];
}
