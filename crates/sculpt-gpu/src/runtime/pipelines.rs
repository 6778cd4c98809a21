//! Compiled once, cached forever: shader modules by kernel family, pipelines
//! by family + entry point + specialization constants.

use std::{cell::RefCell, collections::HashMap, rc::Rc};

use super::stats::Stats;

/// A WGSL kernel family: its source (pieces concatenated in order, so shared
/// snippets such as weight decoding are written once), a name for labels and
/// the cache, and the optional WGSL extensions it uses.
#[derive(Clone, Copy, Debug)]
pub struct KernelSource {
    pub name: &'static str,
    pub parts: &'static [&'static str],
    /// Extensions the parts use; only a device with the matching feature may
    /// compile the family (its kernels pick a variant from the device).
    pub enables: &'static [Enable],
}

/// An optional WGSL extension a kernel variant uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enable {
    /// `subgroupAdd` and friends, with the `subgroup_id` builtins.
    Subgroups,
    /// The `f16` scalar type (`shader-f16`).
    F16,
}

impl Enable {
    /// The directive the module must start with. Browsers require
    /// `enable subgroups;`; naga (every native backend) implements the
    /// subgroup builtins without it and rejects the directive as
    /// unimplemented, so natively there is none.
    fn directive(self) -> &'static str {
        match self {
            Enable::Subgroups if cfg!(target_arch = "wasm32") => "enable subgroups;\n",
            Enable::Subgroups => "",
            Enable::F16 => "enable f16;\n",
        }
    }
}

/// A kernel family whose entry points reduce across a workgroup: its file
/// compiled after `reduce.wgsl`'s tree, or after `reduce_subgroups.wgsl` on
/// a device with subgroups.
pub struct ReducingKernel {
    pub plain: KernelSource,
    pub subgroups: KernelSource,
}

impl ReducingKernel {
    pub fn for_device(&self, gpu: &crate::Gpu) -> &KernelSource {
        if gpu.report.subgroups {
            &self.subgroups
        } else {
            &self.plain
        }
    }
}

/// The WGSL text of a family: its directives, then its parts in order.
pub fn module_text(source: &KernelSource) -> String {
    let mut text: String = source.enables.iter().map(|e| e.directive()).collect();
    text.push_str(&source.parts.concat());
    text
}

/// One entry point of a family, specialized by WGSL `override` constants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PipelineKey {
    family: &'static str,
    entry: &'static str,
    constants: Vec<(&'static str, u64)>,
}

pub struct PipelineCache {
    device: wgpu::Device,
    stats: Rc<Stats>,
    modules: RefCell<HashMap<&'static str, wgpu::ShaderModule>>,
    pipelines: RefCell<HashMap<PipelineKey, wgpu::ComputePipeline>>,
}

impl PipelineCache {
    pub fn new(device: wgpu::Device, stats: Rc<Stats>) -> Self {
        Self {
            device,
            stats,
            modules: RefCell::default(),
            pipelines: RefCell::default(),
        }
    }

    pub fn get(
        &self,
        source: &KernelSource,
        entry: &'static str,
        constants: &[(&'static str, f64)],
    ) -> wgpu::ComputePipeline {
        let key = PipelineKey {
            family: source.name,
            entry,
            constants: constants
                .iter()
                .map(|&(name, value)| (name, value.to_bits()))
                .collect(),
        };
        if let Some(pipeline) = self.pipelines.borrow().get(&key) {
            return pipeline.clone();
        }
        let module = self.module(source);
        self.stats.pipeline_created();
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    // Kernels initialize the workgroup memory they read.
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        self.pipelines.borrow_mut().insert(key, pipeline.clone());
        pipeline
    }

    fn module(&self, source: &KernelSource) -> wgpu::ShaderModule {
        self.modules
            .borrow_mut()
            .entry(source.name)
            .or_insert_with(|| {
                self.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(source.name),
                        source: wgpu::ShaderSource::Wgsl(module_text(source).into()),
                    })
            })
            .clone()
    }
}
