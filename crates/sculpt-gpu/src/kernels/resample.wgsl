// Nearest-neighbour ×2 upsampling of [C, H, W] images to [C, 2H, 2W].
//
// Seen as rows of pixels, output row r (channel c, line y) comes from input
// row r / 2 (channel c, line y / 2, since 2H rows per channel halve to H),
// and output column x from input column x / 2: only the width is needed.

struct Params {
    len: u32,
    in_width: u32,
    x_offset: u32,
    out_offset: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn upsample_nearest_2x(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = params;
    let i = (wg.x + wg.y * groups.x) * 256u + local;
    if (i >= p.len) {
        return;
    }
    let out_width = 2u * p.in_width;
    let row = i / out_width;
    let column = i - row * out_width;
    out[p.out_offset + i] = x[p.x_offset + (row / 2u) * p.in_width + column / 2u];
}

// Depth to space (PyTorch's pixel_shuffle) of [C·f², H, W] to [C, H·f, W·f]:
// output pixel (c, y, x) is input channel c·f² + (y % f)·f + x % f at
// (y / f, x / f). The preview decoder spreads each latent pixel's values
// over the f×f image pixels it covers so.

struct ShuffleParams {
    len: u32,
    factor: u32,
    in_height: u32,
    in_width: u32,
    x_offset: u32,
    out_offset: u32,
}

@group(0) @binding(0) var<storage, read> shuffle_in: array<f32>;
@group(0) @binding(1) var<storage, read_write> shuffle_out: array<f32>;
@group(0) @binding(2) var<uniform> shuffle: ShuffleParams;

@compute @workgroup_size(256)
fn pixel_shuffle(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = shuffle;
    let i = (wg.x + wg.y * groups.x) * 256u + local;
    if (i >= p.len) {
        return;
    }
    let out_width = p.in_width * p.factor;
    let out_height = p.in_height * p.factor;
    let x = i % out_width;
    let y = (i / out_width) % out_height;
    let colour = i / (out_width * out_height);
    let channel = (colour * p.factor + y % p.factor) * p.factor + x % p.factor;
    let at = (channel * p.in_height + y / p.factor) * p.in_width + x / p.factor;
    shuffle_out[p.out_offset + i] = shuffle_in[p.x_offset + at];
}
