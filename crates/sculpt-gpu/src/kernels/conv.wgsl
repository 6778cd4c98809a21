// 2-D convolution of one image [C_in, H, W] with PyTorch weights
// [C_out, C_in, KH, KW], as an implicit GEMM:
//
//   out[co, p] = bias[co] + sum over k of weight[co, k] * patches[k, p]
//
// where p = oy * W_out + ox runs over output pixels and k = (ci * KH + ky) * KW + kx
// over the reduction. That k order is the weight's own row layout, so a
// weight row is read straight from memory; `patches` (im2col) is never
// stored, its elements are gathered from the image as the tiles are filled,
// with zeros where the window hangs over the padding.
//
// Tiling: a workgroup of 16 x 16 threads owns an output tile of
// TILE_CHANNELS (64) output channels x TILE_PIXELS (64) pixels. It walks the
// reduction TILE_K (16) at a time: all 256 threads together stage a 64 x 16
// slice of the weights and a 16 x 64 slice of the patches in workgroup
// memory (8 KiB), then each thread accumulates a 4-channel x 4-pixel block
// from them in registers. Every staged value is thus read from workgroup
// memory by 16 threads instead of from global memory, and each thread does
// 16 multiply-adds per pair of vec4 reads. Tiles are stored as vec4 along
// channels (weights) and along pixels (patches) so the inner loop is two
// vec4 loads and four vec4 FMAs per step of k.
//
// Edges: where a tile reaches past the last output channel or pixel, those
// are staged as zeros and never written (threads with no channel left skip
// the math); the tail of the reduction past C_in·KH·KW is staged as zeros.

struct Params {
    in_channels: u32,
    in_height: u32,
    in_width: u32,
    out_channels: u32,
    out_width: u32,
    out_pixels: u32,
    stride: u32,
    pad_top: u32,
    pad_left: u32,
    x_offset: u32,
    weight_offset: u32,
    bias_offset: u32,
    out_offset: u32,
    // Weights per output channel: the weights' own C_in · KH · KW.
    weight_row: u32,
}

// Kernel height and width: constants so the decoding of k into
// (ci, ky, kx) divides by constants.
override KH: u32 = 3u;
override KW: u32 = 3u;
// Add to the output (the unbiased entry point only) rather than overwrite it.
override ACCUMULATE: bool = false;

const TILE_CHANNELS: u32 = 64u;
const TILE_PIXELS: u32 = 64u;
const TILE_K: u32 = 16u;
// vec4 columns per staged row.
const CHANNEL_QUADS: u32 = TILE_CHANNELS / 4u;
const PIXEL_QUADS: u32 = TILE_PIXELS / 4u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;

// [TILE_K][CHANNEL_QUADS]: weight_tile[k * 16 + q][i] = weight[c0 + 4q + i, k0 + k].
var<workgroup> weight_tile: array<vec4<f32>, 256>;
// [TILE_K][PIXEL_QUADS]: patch_tile[k * 16 + q][j] = patches[k0 + k, p0 + 4q + j].
var<workgroup> patch_tile: array<vec4<f32>, 256>;

struct Tile {
    first_channel: u32,
    first_pixel: u32,
    inside: bool,
}

fn tile_of(wg: vec3<u32>, groups: vec3<u32>, p: Params) -> Tile {
    let pixel_tile = wg.x + wg.y * groups.x;
    var tile: Tile;
    tile.first_channel = wg.z * TILE_CHANNELS;
    tile.first_pixel = pixel_tile * TILE_PIXELS;
    tile.inside = tile.first_pixel < p.out_pixels;
    return tile;
}

// The 4 x 4 block of this thread: row i holds output channel
// first_channel + 4 * (local / 16) + i at pixels first_pixel + 4 * (local % 16) + 0..3.
fn accumulate(tile: Tile, local: u32, p: Params) -> array<vec4<f32>, 4> {
    let reduction = p.in_channels * KH * KW;
    let plane = p.in_height * p.in_width;

    // What this thread stages: one vec4 of each tile, picked so that
    // consecutive threads read consecutive weights of a row (k varies
    // fastest) and consecutive pixels of a plane (the pixel quad varies
    // fastest).
    let weight_k = local % 16u;
    let weight_quad = local / 16u;
    let patch_k = local / 16u;
    let patch_quad = local % 16u;

    // The four pixels this thread stages, decoded once: the top-left corner
    // of each one's window in the unpadded image, or "outside" for pixels
    // past the end of the output.
    var window_y: vec4<i32>;
    var window_x: vec4<i32>;
    var pixel_valid: vec4<bool>;
    for (var j = 0u; j < 4u; j++) {
        let pixel = tile.first_pixel + patch_quad * 4u + j;
        let oy = pixel / p.out_width;
        let ox = pixel - oy * p.out_width;
        window_y[j] = i32(oy * p.stride) - i32(p.pad_top);
        window_x[j] = i32(ox * p.stride) - i32(p.pad_left);
        pixel_valid[j] = pixel < p.out_pixels;
    }

    let compute_channel_quad = local / 16u;
    let compute_pixel_quad = local % 16u;
    let has_channels = tile.first_channel + compute_channel_quad * 4u < p.out_channels;
    var acc: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) {
        acc[i] = vec4<f32>(0.0);
    }

    for (var k0 = 0u; k0 < reduction; k0 += TILE_K) {
        // Weights: the channel quad's four rows at column k. Rows are
        // contiguous in k, so the 16 threads sharing a channel quad read 16
        // consecutive floats of each row.
        let wk = k0 + weight_k;
        var w = vec4<f32>(0.0);
        for (var i = 0u; i < 4u; i++) {
            let channel = tile.first_channel + weight_quad * 4u + i;
            if (channel < p.out_channels && wk < reduction) {
                w[i] = weight[p.weight_offset + channel * p.weight_row + wk];
            }
        }
        weight_tile[weight_k * CHANNEL_QUADS + weight_quad] = w;

        // Patches: input channel and kernel tap of row k, at the four pixels.
        let k = k0 + patch_k;
        var v = vec4<f32>(0.0);
        if (k < reduction) {
            let ci = k / (KH * KW);
            let tap = k - ci * (KH * KW);
            let ky = tap / KW;
            let kx = tap - ky * KW;
            let channel_base = p.x_offset + ci * plane;
            for (var j = 0u; j < 4u; j++) {
                let iy = window_y[j] + i32(ky);
                let ix = window_x[j] + i32(kx);
                let in_image = iy >= 0 && iy < i32(p.in_height) && ix >= 0 && ix < i32(p.in_width);
                if (pixel_valid[j] && in_image) {
                    v[j] = x[channel_base + u32(iy) * p.in_width + u32(ix)];
                }
            }
        }
        patch_tile[patch_k * PIXEL_QUADS + patch_quad] = v;

        workgroupBarrier();
        // Threads whose four channels all lie past C_out only stage: with
        // C_out = 3 (the decoder's conv_out) whole subgroups skip the math.
        if (has_channels) {
            for (var kk = 0u; kk < TILE_K; kk++) {
                let a = weight_tile[kk * CHANNEL_QUADS + compute_channel_quad];
                let b = patch_tile[kk * PIXEL_QUADS + compute_pixel_quad];
                acc[0] = fma(vec4<f32>(a.x), b, acc[0]);
                acc[1] = fma(vec4<f32>(a.y), b, acc[1]);
                acc[2] = fma(vec4<f32>(a.z), b, acc[2]);
                acc[3] = fma(vec4<f32>(a.w), b, acc[3]);
            }
        }
        // The next iteration overwrites the tiles others may still read.
        workgroupBarrier();
    }
    return acc;
}

fn block_channel(tile: Tile, local: u32, i: u32) -> u32 {
    return tile.first_channel + (local / 16u) * 4u + i;
}

fn block_pixel(tile: Tile, local: u32, j: u32) -> u32 {
    return tile.first_pixel + (local % 16u) * 4u + j;
}

@group(0) @binding(2) var<storage, read_write> plain_out: array<f32>;
@group(0) @binding(3) var<uniform> plain_params: Params;

@compute @workgroup_size(256)
fn conv2d(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = plain_params;
    let tile = tile_of(wg, groups, p);
    // The grid is rounded up to whole rows of workgroups; a spare one leaves
    // as a whole, so the barriers in accumulate stay uniform.
    if (!tile.inside) {
        return;
    }
    let acc = accumulate(tile, local, p);
    for (var i = 0u; i < 4u; i++) {
        let channel = block_channel(tile, local, i);
        if (channel >= p.out_channels) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            let pixel = block_pixel(tile, local, j);
            if (pixel < p.out_pixels) {
                let at = p.out_offset + channel * p.out_pixels + pixel;
                if (ACCUMULATE) {
                    plain_out[at] = plain_out[at] + acc[i][j];
                } else {
                    plain_out[at] = acc[i][j];
                }
            }
        }
    }
}

@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> biased_out: array<f32>;
@group(0) @binding(4) var<uniform> biased_params: Params;

@compute @workgroup_size(256)
fn conv2d_bias(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = biased_params;
    let tile = tile_of(wg, groups, p);
    if (!tile.inside) {
        return;
    }
    let acc = accumulate(tile, local, p);
    for (var i = 0u; i < 4u; i++) {
        let channel = block_channel(tile, local, i);
        if (channel >= p.out_channels) {
            break;
        }
        let b = bias[p.bias_offset + channel];
        for (var j = 0u; j < 4u; j++) {
            let pixel = block_pixel(tile, local, j);
            if (pixel < p.out_pixels) {
                biased_out[p.out_offset + channel * p.out_pixels + pixel] = acc[i][j] + b;
            }
        }
    }
}
