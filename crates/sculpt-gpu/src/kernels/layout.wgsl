// Data-layout kernels: they move f32 values between contiguous tensors and
// compute nothing, so their results are exact. Except for the tiled
// transpose, one thread per output element, output index = element index,
// so writes are contiguous.
//
// Every entry point reads `src` (binding 0) and writes `dst` (binding 1);
// each has its own params struct at binding 2.

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

fn element_index(wg: vec3<u32>, local: u32, groups: vec3<u32>) -> u32 {
    return (wg.x + wg.y * groups.x) * 256u + local;
}

// A [rows, cols] block between two row-major matrices of different row
// lengths: the piece of one concat input (or split output) seen as
// [outer, its share of the axis × inner] inside [outer, whole axis × inner].
struct BlockParams {
    rows: u32,
    cols: u32,
    src_stride: u32,
    dst_stride: u32,
    src_offset: u32,
    dst_offset: u32,
}

@group(0) @binding(2) var<uniform> block_params: BlockParams;

@compute @workgroup_size(256)
fn copy_block(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = block_params;
    let i = element_index(wg, local, groups);
    if (i >= p.rows * p.cols) {
        return;
    }
    let row = i / p.cols;
    let col = i - row * p.cols;
    dst[p.dst_offset + row * p.dst_stride + col] = src[p.src_offset + row * p.src_stride + col];
}

// Permutation of up to 4 axes, padded in front with axes of size 1: output
// element (i0, i1, i2, i3) of shape `out_shape` reads the input at
// i0 * src_strides[0] + ... where src_strides[a] is the input stride of the
// axis that became output axis a.
struct PermuteParams {
    out_shape: vec4<u32>,
    src_strides: vec4<u32>,
    len: u32,
    src_offset: u32,
    dst_offset: u32,
}

@group(0) @binding(2) var<uniform> permute_params: PermuteParams;

@compute @workgroup_size(256)
fn permute(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = permute_params;
    let i = element_index(wg, local, groups);
    if (i >= p.len) {
        return;
    }
    var rest = i;
    let i3 = rest % p.out_shape.w;
    rest = rest / p.out_shape.w;
    let i2 = rest % p.out_shape.z;
    rest = rest / p.out_shape.z;
    let i1 = rest % p.out_shape.y;
    let i0 = rest / p.out_shape.y;
    let source = dot(vec4<u32>(i0, i1, i2, i3), p.src_strides);
    dst[p.dst_offset + i] = src[p.src_offset + source];
}

// Permutations that move the last axis, where the gather above would read
// with a large stride: per batch (the other axes, at most two), a strided
// matrix src[a, b] (b the input's last axis) becomes dst[b, a] (a the
// output's last axis). A 32 × 32 tile goes through workgroup memory so that
// reads run along b and writes along a, both contiguous. The tile rows are
// 33 long so that reading a column touches 32 different banks.
struct TransposeParams {
    rows: u32,
    cols: u32,
    src_row_stride: u32,
    dst_row_stride: u32,
    inner_batch: u32,
    src_outer_stride: u32,
    src_inner_stride: u32,
    dst_outer_stride: u32,
    dst_inner_stride: u32,
    src_offset: u32,
    dst_offset: u32,
}

const TRANSPOSE_TILE: u32 = 32u;
const TRANSPOSE_ROWS_PER_PASS: u32 = 8u;

@group(0) @binding(2) var<uniform> transpose_params: TransposeParams;

var<workgroup> transpose_tile: array<f32, 1056>; // 32 × 33

@compute @workgroup_size(32, 8)
fn transpose_tiled(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let p = transpose_params;
    let outer = wg.z / p.inner_batch;
    let inner = wg.z - outer * p.inner_batch;
    let src_base = p.src_offset + outer * p.src_outer_stride + inner * p.src_inner_stride;
    let dst_base = p.dst_offset + outer * p.dst_outer_stride + inner * p.dst_inner_stride;
    let a0 = wg.x * TRANSPOSE_TILE;
    let b0 = wg.y * TRANSPOSE_TILE;
    for (var j = 0u; j < TRANSPOSE_TILE; j += TRANSPOSE_ROWS_PER_PASS) {
        let a = a0 + lid.y + j;
        let b = b0 + lid.x;
        if (a < p.rows && b < p.cols) {
            transpose_tile[(lid.y + j) * 33u + lid.x] = src[src_base + a * p.src_row_stride + b];
        }
    }
    workgroupBarrier();
    for (var j = 0u; j < TRANSPOSE_TILE; j += TRANSPOSE_ROWS_PER_PASS) {
        let a = a0 + lid.x;
        let b = b0 + lid.y + j;
        if (a < p.rows && b < p.cols) {
            dst[dst_base + b * p.dst_row_stride + a] = transpose_tile[lid.x * 33u + lid.y + j];
        }
    }
}

// FLUX's 2×2 patches: latent [C, H, W] ↔ tokens [(H/2)·(W/2), 4C], token
// t = h·(W/2) + w, feature f = c·4 + ph·2 + pw, holding latent
// (c, 2h + ph, 2w + pw).
struct PatchParams {
    len: u32,
    channels: u32,
    height: u32,
    width: u32,
    src_offset: u32,
    dst_offset: u32,
}

@group(0) @binding(2) var<uniform> patch_params: PatchParams;

fn latent_index(p: PatchParams, token: u32, feature: u32) -> u32 {
    let half_width = p.width / 2u;
    let h = token / half_width;
    let w = token - h * half_width;
    let c = feature / 4u;
    let ph = (feature / 2u) % 2u;
    let pw = feature % 2u;
    return (c * p.height + 2u * h + ph) * p.width + 2u * w + pw;
}

@compute @workgroup_size(256)
fn pack_patches(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = patch_params;
    let i = element_index(wg, local, groups);
    if (i >= p.len) {
        return;
    }
    let features = 4u * p.channels;
    let token = i / features;
    let feature = i - token * features;
    dst[p.dst_offset + i] = src[p.src_offset + latent_index(p, token, feature)];
}

@compute @workgroup_size(256)
fn unpack_patches(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = patch_params;
    let i = element_index(wg, local, groups);
    if (i >= p.len) {
        return;
    }
    // Latent element i = (c, y, x) comes from token (y/2)·(W/2) + x/2,
    // feature c·4 + (y%2)·2 + x%2.
    let x = i % p.width;
    let rest = i / p.width;
    let y = rest % p.height;
    let c = rest / p.height;
    let token = (y / 2u) * (p.width / 2u) + x / 2u;
    let feature = c * 4u + (y % 2u) * 2u + x % 2u;
    dst[p.dst_offset + i] = src[p.src_offset + token * 4u * p.channels + feature];
}
