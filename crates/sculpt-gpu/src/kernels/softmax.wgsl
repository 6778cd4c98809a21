// Softmax over the last axis of a contiguous f32 tensor, one workgroup per
// row, rows of any length. Numerically stable: exp(x - max) never
// overflows and its largest term is exactly 1, so the sum is >= 1 and the
// division cannot blow up; sums go through a per-thread partial sum and a
// workgroup reduction (reduce.wgsl or reduce_subgroups.wgsl), as in
// norm.wgsl. Three reads of the row (max, sum, write); rows of a few
// thousand stay in cache between them.

struct Params {
    rows: u32,
    width: u32,
    x_offset: u32,
}

// Threads per workgroup, a power of two: 256, or 64 for rows of at most 256
// (CLIP's 77, T5's 256), which would leave most of 256 idle.
override WORKGROUP: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP)
fn softmax(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    id: Invocation,
) {
    let local = id.local;
    let p = params;
    let row = wg.x + wg.y * groups.x;
    if (row >= p.rows) {
        return;
    }
    let start = p.x_offset + row * p.width;
    // Threads past the end of a short row contribute the identity of max.
    var largest = -3.402823e38;
    for (var i = local; i < p.width; i += WORKGROUP) {
        largest = max(largest, x[start + i]);
    }
    let row_max = workgroup_max(id, largest);
    var sum = 0.0;
    for (var i = local; i < p.width; i += WORKGROUP) {
        sum += exp(x[start + i] - row_max);
    }
    let inverse_sum = 1.0 / workgroup_sum(id, sum);
    for (var i = local; i < p.width; i += WORKGROUP) {
        out[row * p.width + i] = exp(x[start + i] - row_max) * inverse_sum;
    }
}
