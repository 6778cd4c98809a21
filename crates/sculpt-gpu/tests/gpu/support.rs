use sculpt_gpu::Gpu;

/// A device for one test. Failing to get one fails the test with the reason
/// (no Vulkan driver, no WebGPU): a GPU test that cannot reach a GPU must not pass.
pub async fn gpu() -> Gpu {
    match Gpu::new().await {
        Ok(gpu) => gpu,
        Err(e) => panic!("no GPU device for this test: {e}"),
    }
}
