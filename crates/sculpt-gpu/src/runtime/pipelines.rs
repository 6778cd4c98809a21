//! Compiled once, cached forever: shader modules by kernel family, pipelines
//! by family + entry point + specialization constants.

use std::{cell::RefCell, collections::HashMap, rc::Rc};

use super::stats::Stats;

/// A WGSL kernel family: its source (pieces concatenated in order, so shared
/// snippets such as weight decoding are written once) and a name for labels
/// and the cache.
#[derive(Clone, Copy, Debug)]
pub struct KernelSource {
    pub name: &'static str,
    pub parts: &'static [&'static str],
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
                        source: wgpu::ShaderSource::Wgsl(source.parts.concat().into()),
                    })
            })
            .clone()
    }
}
