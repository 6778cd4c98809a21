use sculpt_gpu::{
    Gpu, Tensor,
    kernels::frame::{test_pattern, to_rgba8, to_rgba8_cpu},
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
    let tensor = Tensor::from_slice(gpu, planes, &[3, height as usize, width as usize]).unwrap();
    let got = to_rgba8(gpu, &tensor).await.unwrap();
    let want = expected_rgba(planes, width, height);
    // The CPU fallback's twin of the kernel gives the same bytes.
    assert!(to_rgba8_cpu(planes, width as usize, height as usize) == want);
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
    let pixel = Tensor::from_slice(gpu, &[-2.0, 0.0, 5.0], &[3, 1, 1]).unwrap();
    assert_eq!(to_rgba8(gpu, &pixel).await.unwrap(), vec![0, 128, 255, 255]);
}
gpu_test!(channels_stay_in_their_place);

async fn frames_after_the_first_allocate_nothing(gpu: &Gpu) {
    // Drawing every denoising step must not create buffers: the output and
    // the staging buffer come from pools. Only the frame's bytes come back.
    let (width, height) = (40, 24);
    let planes = Tensor::from_slice(gpu, &test_pattern(width, height, 1), &[3, 24, 40]).unwrap();
    let first = to_rgba8(gpu, &planes).await.unwrap();
    let before = gpu.stats();
    for _ in 0..3 {
        assert_eq!(to_rgba8(gpu, &planes).await.unwrap(), first);
    }
    let during = gpu.stats() - before;
    assert_eq!(during.buffers_created, 0, "{during:?}");
    assert_eq!(during.pipelines_created, 0, "{during:?}");
    assert_eq!(during.bytes_read_back, 3 * 40 * 24 * 4, "{during:?}");
}
gpu_test!(frames_after_the_first_allocate_nothing);

async fn a_frame_must_have_three_planes(gpu: &Gpu) {
    let gray = Tensor::from_slice(gpu, &[0.0; 6], &[1, 2, 3]).unwrap();
    let err = to_rgba8(gpu, &gray).await.unwrap_err();
    assert!(err.to_string().contains("[3, height, width]"), "{err}");
}
gpu_test!(a_frame_must_have_three_planes);
