use sculpt_gpu::{
    Gpu,
    kernels::frame::{FrameKernel, test_pattern},
};

/// The byte a value in [-1, 1] maps to, worked out independently of the kernel:
/// the value is clamped, scaled to [0, 255] and rounded half up.
fn expected_byte(value: f32) -> u8 {
    let scaled = (f64::from(value).clamp(-1.0, 1.0) + 1.0) * 127.5;
    (scaled + 0.5).floor() as u8
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn expected_bytes_by_hand() {
    assert_eq!(expected_byte(-1.0), 0);
    assert_eq!(expected_byte(-7.0), 0);
    assert_eq!(expected_byte(0.0), 128); // 127.5 rounds up
    assert_eq!(expected_byte(0.5), 191); // 191.25
    assert_eq!(expected_byte(1.0), 255);
    assert_eq!(expected_byte(3.0), 255);
}

fn expected_rgba(planes: &[f32], width: u32, height: u32) -> Vec<u8> {
    let plane = (width * height) as usize;
    (0..plane)
        .flat_map(|i| {
            [
                expected_byte(planes[i]),
                expected_byte(planes[plane + i]),
                expected_byte(planes[2 * plane + i]),
                255,
            ]
        })
        .collect()
}

async fn frame_matches_cpu(gpu: &Gpu, width: u32, height: u32, planes: &[f32]) {
    let kernel = FrameKernel::new(gpu);
    let got = kernel
        .planar_to_rgba8(gpu, planes, width, height)
        .await
        .unwrap();
    let want = expected_rgba(planes, width, height);
    assert_eq!(got.len(), want.len());
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        let pixel = i / 4;
        panic!(
            "{width}x{height}: pixel ({}, {}) channel {}: GPU {} != expected {}",
            pixel as u32 % width,
            pixel as u32 / width,
            i % 4,
            got[i],
            want[i]
        );
    }
}

async fn test_pattern_converts_exactly(gpu: &Gpu) {
    // Not a multiple of the 8x8 workgroup, and wider than tall, so that
    // transposed or out-of-bounds indexing shows.
    let (width, height) = (37, 21);
    frame_matches_cpu(gpu, width, height, &test_pattern(width, height, 5)).await;
}
gpu_test!(test_pattern_converts_exactly);

async fn single_row_and_column(gpu: &Gpu) {
    frame_matches_cpu(gpu, 13, 1, &test_pattern(13, 1, 0)).await;
    frame_matches_cpu(gpu, 1, 9, &test_pattern(1, 9, 2)).await;
}
gpu_test!(single_row_and_column);

async fn channels_stay_in_their_place(gpu: &Gpu) {
    // One pixel, each channel distinct, out-of-range values clamped.
    let kernel = FrameKernel::new(gpu);
    let got = kernel
        .planar_to_rgba8(gpu, &[-2.0, 0.0, 5.0], 1, 1)
        .await
        .unwrap();
    assert_eq!(got, vec![0, 128, 255, 255]);
}
gpu_test!(channels_stay_in_their_place);
