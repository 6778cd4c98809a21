//! Nearest-neighbour upsampling against candle's `upsample_nearest2d`.
//! Exact: values are copied, never computed.

use sculpt_gpu::{Gpu, GpuError, kernels::resample};

use crate::support::{cpu, cpu_values, download, random, upload};

async fn upsampling_repeats_each_pixel_as_a_2x2_block(gpu: &Gpu) {
    for (seed, shape) in [[1, 1, 1], [3, 5, 7], [16, 33, 2], [2, 1, 9], [130, 12, 10]]
        .into_iter()
        .enumerate()
    {
        let data = random(seed as u64, shape.iter().product(), 4.0);
        let x = upload(gpu, &data, &shape);
        let got = resample::upsample_nearest_2x(gpu, &x).unwrap();
        let [channels, height, width] = shape;
        assert_eq!(got.shape(), [channels, 2 * height, 2 * width]);
        // candle's version wants a batch axis.
        let want = cpu(&data, &[1, channels, height, width])
            .upsample_nearest2d(2 * height, 2 * width)
            .unwrap();
        assert_eq!(download(gpu, &got).await, cpu_values(&want), "{shape:?}");
    }
}
gpu_test!(upsampling_repeats_each_pixel_as_a_2x2_block);

async fn upsampling_reads_a_view_at_its_offset(gpu: &Gpu) {
    let data = random(7, 5 * 3 * 4, 4.0);
    let x = upload(gpu, &data, &[5, 3, 4]).narrow(2, 2).unwrap();
    let got = resample::upsample_nearest_2x(gpu, &x).unwrap();
    let want = cpu(&data, &[1, 5, 3, 4])
        .narrow(1, 2, 2)
        .unwrap()
        .upsample_nearest2d(6, 8)
        .unwrap();
    assert_eq!(download(gpu, &got).await, cpu_values(&want));
}
gpu_test!(upsampling_reads_a_view_at_its_offset);

async fn upsampling_needs_channels_height_width(gpu: &Gpu) {
    let x = upload(gpu, &[1.0; 12], &[3, 4]);
    assert!(matches!(
        resample::upsample_nearest_2x(gpu, &x),
        Err(GpuError::Shape(_))
    ));
    let batched = x.reshape(&[1, 3, 2, 2]).unwrap();
    assert!(matches!(
        resample::upsample_nearest_2x(gpu, &batched),
        Err(GpuError::Shape(_))
    ));
}
gpu_test!(upsampling_needs_channels_height_width);

/// Depth to space against candle-nn's `pixel_shuffle` (exact: a copy).
async fn pixel_shuffle_spreads_channels_over_blocks(gpu: &Gpu) {
    for (seed, (shape, factor)) in [
        ([3, 1, 1], 1),
        ([12, 2, 3], 2),
        ([192, 8, 8], 8),
        ([27, 5, 1], 3),
    ]
    .into_iter()
    .enumerate()
    {
        let data = random(seed as u64, shape.iter().product(), 4.0);
        let x = upload(gpu, &data, &shape);
        let got = resample::pixel_shuffle(gpu, &x, factor).unwrap();
        let [channels, height, width] = shape;
        assert_eq!(
            got.shape(),
            [
                channels / (factor * factor),
                height * factor,
                width * factor
            ]
        );
        let want =
            candle_nn::ops::pixel_shuffle(&cpu(&data, &[1, channels, height, width]), factor)
                .unwrap();
        assert_eq!(
            download(gpu, &got).await,
            cpu_values(&want),
            "{shape:?} by {factor}"
        );
    }
    let x = upload(gpu, &[1.0; 10 * 4], &[10, 2, 2]);
    assert!(matches!(
        resample::pixel_shuffle(gpu, &x, 2),
        Err(GpuError::Shape(_))
    ));
}
gpu_test!(pixel_shuffle_spreads_channels_over_blocks);
