//! Drawing an image into a render target: every pixel of the texture gets
//! the bytes the frame kernel (and the hand-worked rule in frame.rs) gives
//! the source pixel under it, at 1:1 and scaled up.

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::frame::{test_pattern, to_rgba8},
    present::draw_image,
    readback::read_buffer,
};

const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// Draws `image` into a new `target` sized texture and reads it back as
/// tightly packed RGBA rows.
async fn drawn(gpu: &Gpu, image: &Tensor, target: (u32, u32)) -> Vec<u8> {
    let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("present test target"),
        size: wgpu::Extent3d {
            width: target.0,
            height: target.1,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: FORMAT,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
    draw_image(gpu, image, &view, FORMAT, target).unwrap();
    gpu.flush();

    let row = target.0 * 4;
    let padded_row = row.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
    let size = u64::from(padded_row * target.1);
    let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("present test readback"),
        size,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded_row),
                rows_per_image: None,
            },
        },
        texture.size(),
    );
    gpu.queue.submit([encoder.finish()]);
    let padded = read_buffer(gpu, &buffer, size).await.unwrap();
    padded
        .chunks(padded_row as usize)
        .flat_map(|line| &line[..row as usize])
        .copied()
        .collect()
}

async fn draws_the_frame_kernels_bytes(gpu: &Gpu) {
    let (width, height) = (37u32, 21u32);
    let planes = test_pattern(width, height, 3);
    let image = Tensor::from_slice(gpu, &planes, &[3, height as usize, width as usize]).unwrap();
    let want = to_rgba8(gpu, &image).await.unwrap();

    assert_eq!(drawn(gpu, &image, (width, height)).await, want, "1:1");

    // Three times as wide and five times as tall: every source pixel becomes
    // a 3×5 block (odd factors, so no pixel centre falls on a block edge).
    let scaled = drawn(gpu, &image, (3 * width, 5 * height)).await;
    for y in 0..5 * height {
        for x in 0..3 * width {
            let got = &scaled[((y * 3 * width + x) * 4) as usize..][..4];
            let source = (((y / 5) * width + x / 3) * 4) as usize;
            assert_eq!(got, &want[source..source + 4], "scaled, pixel ({x}, {y})");
        }
    }
}
gpu_test!(draws_the_frame_kernels_bytes);

async fn refuses_what_it_cannot_draw(gpu: &Gpu) {
    let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
        label: None,
        size: wgpu::Extent3d {
            width: 4,
            height: 4,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: FORMAT,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
        view_formats: &[],
    });
    let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
    let grey = Tensor::from_slice(gpu, &[0.0; 2 * 4 * 4], &[2, 4, 4]).unwrap();
    assert!(draw_image(gpu, &grey, &view, FORMAT, (4, 4)).is_err());
    let rgb = Tensor::from_slice(gpu, &[0.0; 3 * 4 * 4], &[3, 4, 4]).unwrap();
    let srgb = wgpu::TextureFormat::Rgba8UnormSrgb;
    assert!(draw_image(gpu, &rgb, &view, srgb, (4, 4)).is_err());
}
gpu_test!(refuses_what_it_cannot_draw);
