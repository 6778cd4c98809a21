//! Device setup, done once: pick an adapter, read what it offers, request what
//! Sculpt needs up to that, and describe the result.

use std::{
    fmt,
    rc::Rc,
    sync::{Arc, Mutex},
};

use crate::{
    readback::StagingPool,
    runtime::{
        pipelines::PipelineCache,
        pool::BufferPool,
        recorder::Recorder,
        stats::{Stats, StatsSnapshot},
    },
};

/// Optional adapter features Sculpt's kernels can use. Every kernel has an f32
/// path that needs none of them; these only make things faster.
const WANTED_FEATURES: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::TIMESTAMP_QUERY);

/// Which optional features Sculpt may use where the adapter has them. All on
/// by default; tests and benchmarks turn them off to run and time the plain
/// f32 kernels on a device that could do more.
#[derive(Clone, Copy, Debug)]
pub struct GpuOptions {
    pub subgroups: bool,
    pub shader_f16: bool,
    /// Let linear layers multiply in f16 (`shader-f16` only): their tiles of
    /// activations and weights are staged as f16 and summed in f16 over 16
    /// products at a time, then in f32. Half the workgroup memory traffic,
    /// twice the arithmetic rate on GPUs with packed f16; a rounding error of
    /// about 1e-3 of the products' size, and an activation beyond f16's
    /// range (±65504) becomes infinite. Off by default: its speed has not
    /// been measured on a GPU yet (BENCHMARKS.md), and FLUX's text encoder
    /// is known to overflow f16.
    pub f16_linear: bool,
    /// Ask for at most this storage binding size, in bytes, even where the
    /// adapter offers more: tests use a small one to run the paths that
    /// split what does not fit one binding. (Natively only: a browser
    /// raises any request below WebGPU's default of 128 MiB to it.)
    pub max_storage_binding: Option<u64>,
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            subgroups: true,
            shader_f16: true,
            f16_linear: false,
            max_storage_binding: None,
        }
    }
}

impl GpuOptions {
    /// The plain f32 kernels only.
    pub fn plain() -> Self {
        Self {
            subgroups: false,
            shader_f16: false,
            f16_linear: false,
            ..Self::default()
        }
    }

    fn wanted_features(self) -> wgpu::Features {
        let mut features = WANTED_FEATURES;
        if !self.subgroups {
            features.remove(wgpu::Features::SUBGROUP);
        }
        if !self.shader_f16 {
            features.remove(wgpu::Features::SHADER_F16);
        }
        features
    }
}

/// Why no usable GPU device could be had.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error(
        "WebGPU is not available in this browser: it has no navigator.gpu, or that offers \
         no GPU adapter. Sculpt needs WebGPU: use a current Chrome, Edge or Safari with \
         hardware acceleration on."
    )]
    WebGpuMissing,
    #[error("no GPU adapter was found: {0}")]
    NoAdapter(String),
    #[error("the GPU adapter \"{adapter}\" offers too little {limit} for Sculpt")]
    LimitTooLow { adapter: String, limit: String },
    #[error("the GPU adapter \"{adapter}\" refused to create a device: {reason}")]
    RequestDevice { adapter: String, reason: String },
    #[error("reading a buffer back from the GPU failed: {0}")]
    Readback(String),
    #[error("{what} needs {bytes} bytes, more than this GPU can bind at once ({limit})")]
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
    },
    #[error("shape mismatch: {0}")]
    Shape(String),
    #[error("not supported: {0}")]
    Unsupported(String),
}

/// The one GPU device Sculpt computes on, with what it was set up with and
/// the runtime every kernel goes through.
pub struct Gpu {
    /// Kept to make and configure canvas surfaces on the same adapter
    /// ([`crate::present`]).
    pub instance: wgpu::Instance,
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub report: DeviceReport,
    /// The largest buffer a kernel may bind: the storage binding limit, or
    /// the buffer size limit where that is lower. Read once: in the browser
    /// every `device.limits()` is a round of calls into JavaScript.
    max_binding: u64,
    pub(crate) stats: Rc<Stats>,
    pub(crate) pool: Rc<BufferPool>,
    pub(crate) pipelines: PipelineCache,
    pub(crate) recorder: Recorder,
    pub(crate) staging: StagingPool,
    pub(crate) presenter: crate::present::Presenter,
    /// Why the device was lost, once it has been (a driver reset, a GPU
    /// process crash, `destroy`); wgpu reports it from any thread.
    lost: Arc<Mutex<Option<String>>>,
}

impl Gpu {
    /// Requests a high-performance adapter and a device with Sculpt's limits and
    /// whichever optional features the adapter has.
    ///
    /// Natively this uses Vulkan, Metal or DX12 (`WGPU_BACKEND` overrides, as in
    /// wgpu); in the browser it uses WebGPU only: Sculpt has no WebGL path.
    pub async fn new() -> Result<Self, GpuError> {
        Self::with_options(GpuOptions::default()).await
    }

    /// As [`new`](Self::new), using only the optional features `options` allows.
    pub async fn with_options(options: GpuOptions) -> Result<Self, GpuError> {
        if cfg!(target_arch = "wasm32") && !wgpu::util::is_browser_webgpu_supported().await {
            return Err(GpuError::WebGpuMissing);
        }
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
        descriptor.backends = default_backends().with_env();
        let instance = wgpu::Instance::new(descriptor);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                // Bucketing is for browsers hiding adapters from pages; we want real limits.
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| GpuError::NoAdapter(no_adapter_hint(&e.to_string())))?;
        let info = adapter.get_info();
        #[cfg(target_arch = "wasm32")]
        let info = browser_adapter::named(info).await;
        let adapter_limits = adapter.limits();
        let mut limits =
            required_limits(&adapter_limits).map_err(|limit| GpuError::LimitTooLow {
                adapter: info.name.clone(),
                limit,
            })?;
        if let Some(cap) = options.max_storage_binding {
            limits.max_storage_buffer_binding_size =
                limits.max_storage_buffer_binding_size.min(cap);
        }
        let features = adapter.features() & options.wanted_features();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("sculpt"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| GpuError::RequestDevice {
                adapter: info.name.clone(),
                reason: e.to_string(),
            })?;
        let mut report = DeviceReport::new(&info, features, &limits);
        report.f16_linear = options.f16_linear && report.shader_f16;
        Ok(Self::from_device(instance, adapter, device, queue, report))
    }

    fn from_device(
        instance: wgpu::Instance,
        adapter: wgpu::Adapter,
        device: wgpu::Device,
        queue: wgpu::Queue,
        report: DeviceReport,
    ) -> Self {
        let stats = Rc::new(Stats::default());
        let lost = Arc::new(Mutex::new(None));
        let limits = device.limits();
        let max_binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        device.set_device_lost_callback({
            let lost = Arc::clone(&lost);
            move |reason, message| {
                if let Ok(mut lost) = lost.lock() {
                    lost.get_or_insert(format!("{reason:?}: {message}"));
                }
            }
        });
        Self {
            pool: BufferPool::new(device.clone(), Rc::clone(&stats), max_binding),
            max_binding,
            pipelines: PipelineCache::new(device.clone(), Rc::clone(&stats)),
            recorder: Recorder::new(device.clone(), queue.clone(), Rc::clone(&stats)),
            staging: StagingPool::default(),
            stats,
            instance,
            adapter,
            device,
            queue,
            report,
            presenter: crate::present::Presenter::default(),
            lost,
        }
    }

    /// `Some(why)` once the device is lost: nothing it computes from then on
    /// is valid, and a new [`Gpu`] must be made (its tensors and pipelines
    /// cannot be reused).
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|lost| lost.clone())
    }

    /// What the runtime has done so far (buffers and pipelines created,
    /// submits, dispatches, bytes moved).
    /// The most bytes one kernel binding may hold: what splitting weights,
    /// tables and activations sizes its pieces by.
    pub fn max_binding_bytes(&self) -> u64 {
        self.max_binding
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Submits all recorded work now.
    pub fn flush(&self) {
        self.recorder.flush();
    }

    /// Submits all recorded work and blocks until the GPU has finished it
    /// (native only: a page must never block; it awaits a readback instead).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn finish(&self) -> Result<(), GpuError> {
        self.recorder.flush();
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(drop)
            .map_err(|e| GpuError::Readback(e.to_string()))
    }

    /// Gives the memory of pooled buffers no tensor holds back to the device.
    pub fn trim_pool(&self) {
        self.pool.trim();
    }
}

/// wgpu's WebGPU backend keeps only the adapter's `description`, which
/// browsers usually leave empty; its vendor and architecture name it better.
#[cfg(target_arch = "wasm32")]
mod browser_adapter {
    use js_sys::{Object, Promise, Reflect};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    pub async fn named(mut info: wgpu::AdapterInfo) -> wgpu::AdapterInfo {
        if info.name.is_empty() {
            info.name = name().await.unwrap_or_default();
        }
        info
    }

    async fn name() -> Option<String> {
        let global = js_sys::global();
        let navigator = Reflect::get(&global, &"navigator".into()).ok()?;
        let gpu = Reflect::get(&navigator, &"gpu".into()).ok()?;
        let request = Reflect::get(&gpu, &"requestAdapter".into())
            .ok()?
            .dyn_into::<js_sys::Function>()
            .ok()?;
        let options = Object::new();
        Reflect::set(
            &options,
            &"powerPreference".into(),
            &"high-performance".into(),
        )
        .ok()?;
        let promise: Promise = request.call1(&gpu, &options).ok()?.dyn_into().ok()?;
        let adapter = JsFuture::from(promise).await.ok()?;
        let info = Reflect::get(&adapter, &"info".into()).ok()?;
        let field = |name: &str| {
            Reflect::get(&info, &JsValue::from_str(name))
                .ok()
                .and_then(|value| value.as_string())
                .filter(|value| !value.is_empty())
        };
        field("description").or_else(|| {
            let parts: Vec<String> = ["vendor", "architecture", "device"]
                .into_iter()
                .filter_map(field)
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
    }
}

fn default_backends() -> wgpu::Backends {
    if cfg!(target_arch = "wasm32") {
        wgpu::Backends::BROWSER_WEBGPU
    } else {
        wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12
    }
}

fn no_adapter_hint(reason: &str) -> String {
    if cfg!(target_arch = "wasm32") {
        format!(
            "{reason}. WebGPU is present but the browser offers no adapter (is hardware acceleration off?)"
        )
    } else {
        format!(
            "{reason}. Without a GPU, install a software Vulkan driver \
             (Debian: apt-get install mesa-vulkan-drivers) to use lavapipe"
        )
    }
}

/// The limits Sculpt asks for: WebGPU's defaults, raised to everything the
/// adapter offers where more means bigger tensors or bigger workgroups, and
/// the adapter's finer buffer-offset alignments. Fails with the name of the
/// first default the adapter does not reach.
pub fn required_limits(adapter: &wgpu::Limits) -> Result<wgpu::Limits, String> {
    let mut limits = wgpu::Limits::defaults();
    let mut first_failure = None;
    limits.check_limits_with_fail_fn(adapter, true, |name, _wanted, _allowed| {
        first_failure.get_or_insert_with(|| name.to_string());
    });
    if let Some(name) = first_failure {
        return Err(name);
    }
    limits.max_buffer_size = adapter.max_buffer_size;
    limits.max_storage_buffer_binding_size = adapter.max_storage_buffer_binding_size;
    limits.max_uniform_buffer_binding_size = adapter.max_uniform_buffer_binding_size;
    limits.max_storage_buffers_per_shader_stage = adapter.max_storage_buffers_per_shader_stage;
    limits.max_compute_workgroup_storage_size = adapter.max_compute_workgroup_storage_size;
    limits.max_compute_invocations_per_workgroup = adapter.max_compute_invocations_per_workgroup;
    limits.max_compute_workgroup_size_x = adapter.max_compute_workgroup_size_x;
    limits.max_compute_workgroup_size_y = adapter.max_compute_workgroup_size_y;
    limits.max_compute_workgroup_size_z = adapter.max_compute_workgroup_size_z;
    limits.max_compute_workgroups_per_dimension = adapter.max_compute_workgroups_per_dimension;
    limits.min_storage_buffer_offset_alignment = adapter.min_storage_buffer_offset_alignment;
    limits.min_uniform_buffer_offset_alignment = adapter.min_uniform_buffer_offset_alignment;
    Ok(limits)
}

/// What the device is and what it can do, for people (the page's "About this
/// device" panel, `sculpt info`) and for kernels choosing a variant.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceReport {
    pub adapter_name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub shader_f16: bool,
    /// Linear layers multiply in f16 ([`GpuOptions::f16_linear`], where the
    /// device has `shader-f16`).
    pub f16_linear: bool,
    pub subgroups: bool,
    pub timestamp_query: bool,
    pub subgroup_min_size: u32,
    pub subgroup_max_size: u32,
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroups_per_dimension: u32,
}

impl DeviceReport {
    fn new(info: &wgpu::AdapterInfo, features: wgpu::Features, limits: &wgpu::Limits) -> Self {
        let driver = [info.driver.as_str(), info.driver_info.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let subgroups = features.contains(wgpu::Features::SUBGROUP);
        Self {
            adapter_name: if info.name.is_empty() {
                "(unnamed adapter)".into()
            } else {
                info.name.clone()
            },
            backend: info.backend.to_string(),
            device_type: format!("{:?}", info.device_type),
            driver,
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            f16_linear: false,
            subgroups,
            timestamp_query: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            subgroup_min_size: if subgroups { info.subgroup_min_size } else { 0 },
            subgroup_max_size: if subgroups { info.subgroup_max_size } else { 0 },
            max_buffer_size: limits.max_buffer_size,
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
        }
    }

    /// Whether the adapter renders in software on the CPU: the browser's
    /// fallback adapter (`GPUAdapterInfo.isFallbackAdapter`, which wgpu
    /// reports as a CPU device), or a software driver known by name
    /// (SwiftShader, llvmpipe, lavapipe, Windows' Basic Render Driver) where
    /// the browser does not say. Such an adapter computes on the same cores
    /// as the CPU engine, through more layers.
    pub fn is_software(&self) -> bool {
        const SOFTWARE: [&str; 4] = ["swiftshader", "llvmpipe", "lavapipe", "basic render"];
        let name = self.adapter_name.to_lowercase();
        self.device_type == format!("{:?}", wgpu::DeviceType::Cpu)
            || SOFTWARE.iter().any(|software| name.contains(software))
    }

    /// Label/value rows, in display order; the page and the CLI both print these.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        let subgroup_sizes = if self.subgroups {
            format!(
                "yes (size {}–{})",
                self.subgroup_min_size, self.subgroup_max_size
            )
        } else {
            "no".into()
        };
        vec![
            ("Adapter", self.adapter_name.clone()),
            ("Backend", self.backend.clone()),
            ("Device type", self.device_type.clone()),
            ("Driver", non_empty(&self.driver)),
            ("shader-f16", yes_no(self.shader_f16)),
            ("Linear layers in f16", yes_no(self.f16_linear)),
            ("Subgroups", subgroup_sizes),
            ("Timestamp queries", yes_no(self.timestamp_query)),
            ("Max buffer size", format_bytes(self.max_buffer_size)),
            (
                "Max storage binding",
                format_bytes(self.max_storage_buffer_binding_size),
            ),
            (
                "Storage buffers per stage",
                self.max_storage_buffers_per_shader_stage.to_string(),
            ),
            (
                "Workgroup memory",
                format_bytes(self.max_compute_workgroup_storage_size.into()),
            ),
            (
                "Invocations per workgroup",
                self.max_compute_invocations_per_workgroup.to_string(),
            ),
            (
                "Workgroups per dimension",
                self.max_compute_workgroups_per_dimension.to_string(),
            ),
        ]
    }
}

impl fmt::Display for DeviceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self.rows();
        let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
        for (label, value) in rows {
            writeln!(f, "{label:<width$}  {value}")?;
        }
        Ok(())
    }
}

fn non_empty(s: &str) -> String {
    if s.is_empty() {
        "(not reported)".into()
    } else {
        s.into()
    }
}

/// Bytes in binary units: exact when the value is a whole number of the
/// largest unit it reaches (limits usually are), else to two decimals.
pub fn format_bytes(bytes: u64) -> String {
    // Below a KiB the count is spelled out: "0 bytes" reads better than "0 B".
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    if bytes == 1 {
        return "1 byte".into();
    }
    let unit = (0..UNITS.len())
        .rev()
        .find(|&unit| bytes >= 1u64 << (10 * unit))
        .unwrap_or(0);
    let scale = 1u64 << (10 * unit);
    if bytes.is_multiple_of(scale) {
        format!("{} {}", bytes / scale, UNITS[unit])
    } else {
        format!("{:.2} {}", bytes as f64 / scale as f64, UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_formatted_in_binary_units() {
        assert_eq!(format_bytes(0), "0 bytes");
        assert_eq!(format_bytes(1), "1 byte");
        assert_eq!(format_bytes(1000), "1000 bytes");
        assert_eq!(format_bytes(16 * 1024), "16 KiB");
        assert_eq!(format_bytes(128 << 20), "128 MiB");
        assert_eq!(format_bytes(1 << 30), "1 GiB");
        assert_eq!(format_bytes((1 << 32) - 1), "4.00 GiB");
        assert_eq!(format_bytes(268_435_456 + 1), "256.00 MiB");
        assert_eq!(format_bytes(3 << 29), "1.50 GiB");
        assert_eq!(format_bytes(16_486_400), "15.72 MiB");
    }

    #[test]
    fn software_adapters_are_known_by_type_or_by_name() {
        let report = |name: &str, device_type: wgpu::DeviceType| {
            let info = wgpu::AdapterInfo {
                name: name.into(),
                device_type,
                ..wgpu::AdapterInfo::new(wgpu::DeviceType::Other, wgpu::Backend::Noop)
            };
            DeviceReport::new(&info, wgpu::Features::empty(), &wgpu::Limits::defaults())
        };
        // Chromium's SwiftShader: a fallback adapter named by vendor and architecture.
        assert!(report("google swiftshader", wgpu::DeviceType::Cpu).is_software());
        assert!(report("google swiftshader", wgpu::DeviceType::Other).is_software());
        assert!(report("llvmpipe (LLVM 15.0.6, 256 bits)", wgpu::DeviceType::Cpu).is_software());
        assert!(report("", wgpu::DeviceType::Cpu).is_software());
        assert!(!report("NVIDIA H100", wgpu::DeviceType::DiscreteGpu).is_software());
        assert!(!report("apple m3", wgpu::DeviceType::Other).is_software());
    }

    #[test]
    fn limits_rise_to_what_the_adapter_offers() {
        let mut adapter = wgpu::Limits::defaults();
        adapter.max_buffer_size = 4 << 30;
        adapter.max_storage_buffer_binding_size = 2 << 30;
        adapter.max_compute_workgroup_storage_size = 64 << 10;
        adapter.min_storage_buffer_offset_alignment = 32;
        adapter.max_texture_dimension_2d = 16384;
        let limits = required_limits(&adapter).unwrap();
        assert_eq!(limits.max_buffer_size, 4 << 30);
        assert_eq!(limits.max_storage_buffer_binding_size, 2 << 30);
        assert_eq!(limits.max_compute_workgroup_storage_size, 64 << 10);
        assert_eq!(limits.min_storage_buffer_offset_alignment, 32);
        // Textures are not Sculpt's business: stay at the default.
        assert_eq!(
            limits.max_texture_dimension_2d,
            wgpu::Limits::defaults().max_texture_dimension_2d
        );
        assert!(limits.check_limits(&adapter));
    }

    #[test]
    fn an_adapter_below_webgpu_defaults_is_refused_by_name() {
        let mut adapter = wgpu::Limits::defaults();
        adapter.max_storage_buffers_per_shader_stage = 4;
        let err = required_limits(&adapter).unwrap_err();
        assert_eq!(err, "max_storage_buffers_per_shader_stage");
    }
}
