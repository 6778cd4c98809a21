// Presenting: draws a planar RGB image [3, height, width] of f32 in [-1, 1]
// into a render target of any size (a canvas, a texture), nearest-neighbour,
// with the same byte values as frame.wgsl's planar_to_rgba8 would give. The
// image never leaves the GPU.

struct Params {
    width: u32,
    height: u32,
    planes_offset: u32,
    target_width: u32,
    target_height: u32,
}

@group(0) @binding(0) var<storage, read> planes: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;

// One triangle that covers the whole target.
@vertex
fn cover(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    let x = f32((index << 1u) & 2u) * 2.0 - 1.0;
    let y = f32(index & 2u) * 2.0 - 1.0;
    return vec4<f32>(x, y, 0.0, 1.0);
}

// The byte frame.wgsl computes, as a unorm value the target stores back as
// exactly that byte (k / 255 · 255 rounds to k).
fn to_unorm(value: f32) -> f32 {
    return floor((clamp(value, -1.0, 1.0) + 1.0) * 127.5 + 0.5) / 255.0;
}

@fragment
fn draw(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    // Fragment centres are at .5; the source pixel whose span holds the centre.
    let x = min(u32(position.x * f32(params.width) / f32(params.target_width)), params.width - 1u);
    let y = min(u32(position.y * f32(params.height) / f32(params.target_height)), params.height - 1u);
    let plane = params.width * params.height;
    let first = params.planes_offset + y * params.width + x;
    return vec4<f32>(
        to_unorm(planes[first]),
        to_unorm(planes[plane + first]),
        to_unorm(planes[2u * plane + first]),
        1.0,
    );
}
