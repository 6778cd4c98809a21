use sculpt_gpu::Gpu;

async fn device_reports_what_it_was_given(gpu: &Gpu) {
    let report = &gpu.report;
    let limits = gpu.device.limits();
    assert!(!report.adapter_name.is_empty());
    assert_eq!(report.max_buffer_size, limits.max_buffer_size);
    assert_eq!(
        report.max_storage_buffer_binding_size,
        limits.max_storage_buffer_binding_size
    );
    // Sculpt asks for at least WebGPU's defaults.
    assert!(limits.max_storage_buffer_binding_size >= 128 << 20);
    assert!(limits.max_compute_invocations_per_workgroup >= 256);
    let features = gpu.device.features();
    assert_eq!(
        report.shader_f16,
        features.contains(wgpu::Features::SHADER_F16)
    );
    assert_eq!(
        report.subgroups,
        features.contains(wgpu::Features::SUBGROUP)
    );
    assert_eq!(
        report.timestamp_query,
        features.contains(wgpu::Features::TIMESTAMP_QUERY)
    );
    let text = report.to_string();
    assert!(text.contains(&report.adapter_name), "{text}");
}
gpu_test!(device_reports_what_it_was_given);

async fn optional_features_are_used_where_offered_and_allowed(gpu: &Gpu) {
    let offered = gpu.adapter.features();
    assert_eq!(
        gpu.report.subgroups,
        offered.contains(wgpu::Features::SUBGROUP)
    );
    assert_eq!(
        gpu.report.shader_f16,
        offered.contains(wgpu::Features::SHADER_F16)
    );
    // CI's devices (lavapipe, SwiftShader) have subgroups: there the subgroup
    // kernels must really be what the default device runs.
    if option_env!("SCULPT_REQUIRE_SUBGROUPS").is_some() {
        assert!(
            gpu.report.subgroups,
            "this adapter was expected to offer subgroups"
        );
    }
    let plain = crate::support::plain_gpu().await;
    assert!(!plain.report.subgroups && !plain.report.shader_f16);
    assert!(!plain.device.features().contains(wgpu::Features::SUBGROUP));
}
gpu_test!(optional_features_are_used_where_offered_and_allowed);

/// Natively only: the browser reports a lost device from its event loop
/// (the end-to-end tests cover the page's recovery).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn a_destroyed_device_reports_itself_lost() {
    let gpu = pollster::block_on(crate::support::gpu());
    assert_eq!(gpu.lost(), None);
    gpu.device.destroy();
    gpu.device.poll(wgpu::PollType::Poll).ok();
    let reason = gpu.lost().expect("the device says it is lost");
    assert!(reason.contains("Destroyed"), "{reason}");
}
