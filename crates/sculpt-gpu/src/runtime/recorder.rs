//! Recording GPU work: many dispatches go into one open compute pass and one
//! command encoder, submitted together when results are needed (or the
//! parameter ring is full), never one submit per op. Kernel parameters go
//! into slots of one uniform ring buffer, so no buffer is created per dispatch.

use std::{cell::RefCell, rc::Rc};

use super::stats::Stats;

/// Bytes of kernel parameters one dispatch may pass (64 u32 words).
pub const MAX_PARAMS_BYTES: u64 = 256;
/// Parameter slots per submit; a FLUX step needs a few thousand dispatches.
const RING_SLOTS: u64 = 4096;

pub struct Recorder {
    device: wgpu::Device,
    queue: wgpu::Queue,
    stats: Rc<Stats>,
    ring: wgpu::Buffer,
    slot_size: u64,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    encoder: Option<wgpu::CommandEncoder>,
    pass: Option<wgpu::ComputePass<'static>>,
    next_slot: u64,
}

impl Recorder {
    pub fn new(device: wgpu::Device, queue: wgpu::Queue, stats: Rc<Stats>) -> Self {
        let alignment = u64::from(device.limits().min_uniform_buffer_offset_alignment);
        let slot_size = MAX_PARAMS_BYTES.next_multiple_of(alignment);
        stats.buffer_created();
        let ring = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("kernel params ring"),
            size: slot_size * RING_SLOTS,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Self {
            device,
            queue,
            stats,
            ring,
            slot_size,
            state: RefCell::default(),
        }
    }

    /// Stages `words` as the parameters of the next dispatch and returns the
    /// binding for them. Flushes first when the ring is full: slots are only
    /// reused after the work that read them has been submitted.
    pub fn params(&self, words: &[u32]) -> wgpu::BufferBinding<'_> {
        let bytes: &[u8] = bytemuck::cast_slice(words);
        assert!(
            bytes.len() as u64 <= MAX_PARAMS_BYTES,
            "kernel params are limited to {MAX_PARAMS_BYTES} bytes"
        );
        if self.state.borrow().next_slot == RING_SLOTS {
            self.flush();
        }
        let mut state = self.state.borrow_mut();
        let offset = state.next_slot * self.slot_size;
        state.next_slot += 1;
        // Uniform bindings must cover whole 16-byte rows.
        let mut padded = [0u8; MAX_PARAMS_BYTES as usize];
        padded[..bytes.len()].copy_from_slice(bytes);
        let size = (bytes.len() as u64).next_multiple_of(16).max(16);
        self.queue
            .write_buffer(&self.ring, offset, &padded[..size as usize]);
        wgpu::BufferBinding {
            buffer: &self.ring,
            offset,
            size: wgpu::BufferSize::new(size),
        }
    }

    /// Records one dispatch into the open compute pass.
    pub fn dispatch(
        &self,
        pipeline: &wgpu::ComputePipeline,
        bind_group: &wgpu::BindGroup,
        workgroups: [u32; 3],
    ) {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        if state.pass.is_none() {
            let encoder = state.encoder.get_or_insert_with(|| {
                self.device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("sculpt"),
                    })
            });
            state.pass = Some(
                encoder
                    .begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("sculpt"),
                        timestamp_writes: None,
                    })
                    .forget_lifetime(),
            );
        }
        let pass = state.pass.as_mut().expect("opened above");
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
        self.stats.dispatched();
    }

    /// Records a buffer copy (ending the open compute pass, if any).
    pub fn copy(
        &self,
        source: &wgpu::Buffer,
        source_offset: u64,
        destination: &wgpu::Buffer,
        destination_offset: u64,
        size: u64,
    ) {
        let mut state = self.state.borrow_mut();
        state.pass = None;
        let encoder = state.encoder.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("sculpt"),
                })
        });
        encoder.copy_buffer_to_buffer(source, source_offset, destination, destination_offset, size);
    }

    /// Hands the open command encoder to `record` (ending the open compute
    /// pass), for work that is not a dispatch: render passes, texture copies.
    pub fn with_encoder<R>(&self, record: impl FnOnce(&mut wgpu::CommandEncoder) -> R) -> R {
        let mut state = self.state.borrow_mut();
        state.pass = None;
        let encoder = state.encoder.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("sculpt"),
                })
        });
        record(encoder)
    }

    /// Submits everything recorded so far (nothing if nothing was).
    pub fn flush(&self) {
        let mut state = self.state.borrow_mut();
        state.pass = None;
        state.next_slot = 0;
        if let Some(encoder) = state.encoder.take() {
            self.queue.submit([encoder.finish()]);
            self.stats.submitted();
        }
    }
}
