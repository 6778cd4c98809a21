//! One call to run a kernel: cached pipeline, a bind group over the given
//! buffers (bindings 0..n in order, then the params uniform at binding n),
//! recorded into the open pass.

use crate::{Gpu, runtime::pipelines::KernelSource};

/// Workgroups per grid dimension every WebGPU device allows.
pub const MAX_GRID_DIM: u32 = 65535;

impl Gpu {
    pub(crate) fn launch(
        &self,
        source: &KernelSource,
        entry: &'static str,
        constants: &[(&'static str, f64)],
        buffers: &[&wgpu::Buffer],
        params: &[u32],
        workgroups: [u32; 3],
    ) {
        let pipeline = self.pipelines.get(source, entry, constants);
        let params = self.recorder.params(params);
        let mut entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(binding, buffer)| wgpu::BindGroupEntry {
                binding: binding as u32,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        entries.push(wgpu::BindGroupEntry {
            binding: buffers.len() as u32,
            resource: wgpu::BindingResource::Buffer(params),
        });
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        self.recorder.dispatch(&pipeline, &bind_group, workgroups);
    }
}

/// A 1-D range of `workgroups` laid out on x (and y once x is full); kernels
/// recover the linear index as `wg.x + wg.y * num_workgroups.x`.
pub fn linear_grid(workgroups: usize) -> [u32; 3] {
    let workgroups = u32::try_from(workgroups.max(1)).expect("grid fits u32");
    if workgroups <= MAX_GRID_DIM {
        [workgroups, 1, 1]
    } else {
        [MAX_GRID_DIM, workgroups.div_ceil(MAX_GRID_DIM), 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_grid_covers_every_workgroup_once_per_index() {
        assert_eq!(linear_grid(0), [1, 1, 1]);
        assert_eq!(linear_grid(7), [7, 1, 1]);
        assert_eq!(linear_grid(65535), [65535, 1, 1]);
        let [x, y, _] = linear_grid(65536 * 3 + 5);
        assert_eq!(x, 65535);
        assert!(u64::from(x) * u64::from(y) >= 65536 * 3 + 5);
        assert!(u64::from(x) * u64::from(y - 1) < 65536 * 3 + 5);
    }
}
