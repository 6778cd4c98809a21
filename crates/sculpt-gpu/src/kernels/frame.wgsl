// Frame conversion: a planar RGB image [3, height, width] of f32 in [-1, 1]
// (what the autoencoder decodes to) becomes packed RGBA8 pixels, the layout of
// a canvas's ImageData. Alpha is always opaque.

struct Params {
    width: u32,
    height: u32,
    // Where the image starts in its buffer, in elements.
    planes_offset: u32,
}

@group(0) @binding(0) var<storage, read> planes: array<f32>;
@group(0) @binding(1) var<storage, read_write> pixels: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

// floor(x + 0.5) rather than round(): WGSL rounds ties to even, and every CPU
// side that must agree bit for bit (tests, exports) rounds ties up.
fn to_byte(value: f32) -> u32 {
    return u32(floor((clamp(value, -1.0, 1.0) + 1.0) * 127.5 + 0.5));
}

@compute @workgroup_size(8, 8)
fn planar_to_rgba8(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.width || id.y >= params.height) {
        return;
    }
    let plane = params.width * params.height;
    let i = id.y * params.width + id.x;
    let first = params.planes_offset + i;
    let r = to_byte(planes[first]);
    let g = to_byte(planes[plane + first]);
    let b = to_byte(planes[2u * plane + first]);
    pixels[i] = r | (g << 8u) | (b << 16u) | (255u << 24u);
}
