//! The buffer pool: activations come from here and go back when their last
//! tensor is dropped, so a repeated forward pass creates no GPU buffers once
//! it has run once.
//!
//! Reuse is safe without fences because every dispatch goes through the one
//! queue in order: a buffer handed out again is only written by work recorded
//! after everything that read it before.

use std::{
    cell::RefCell,
    collections::HashMap,
    rc::{Rc, Weak},
};

use super::stats::Stats;

/// Usages every pooled buffer gets, so that any buffer can serve any tensor.
pub const POOLED_USAGES: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

pub struct BufferPool {
    device: wgpu::Device,
    stats: Rc<Stats>,
    /// The device's largest binding, rounded down to whole words.
    largest: u64,
    free: RefCell<HashMap<u64, Vec<wgpu::Buffer>>>,
}

impl BufferPool {
    pub fn new(device: wgpu::Device, stats: Rc<Stats>, max_binding: u64) -> Rc<Self> {
        Rc::new(Self {
            device,
            stats,
            largest: max_binding & !3,
            free: RefCell::default(),
        })
    }

    /// A buffer of at least `bytes`, reused when one of its size class is free.
    /// Kernels bind whole buffers, so the size class never rounds past the
    /// largest binding the device allows.
    pub fn take(self: &Rc<Self>, bytes: u64) -> PooledBuffer {
        let size = size_class(bytes).min(self.largest.max(bytes));
        let reused = self
            .free
            .borrow_mut()
            .get_mut(&size)
            .and_then(|buffers| buffers.pop());
        let buffer = reused.unwrap_or_else(|| {
            self.stats.buffer_created();
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("pooled"),
                size,
                usage: POOLED_USAGES,
                mapped_at_creation: false,
            })
        });
        PooledBuffer {
            buffer: Some(buffer),
            pool: Rc::downgrade(self),
        }
    }

    /// Destroys every free buffer (between stages, to give memory back).
    pub fn trim(&self) {
        for buffer in self.free.borrow_mut().drain().flat_map(|(_, list)| list) {
            buffer.destroy();
        }
    }

    fn give_back(&self, buffer: wgpu::Buffer) {
        self.free
            .borrow_mut()
            .entry(buffer.size())
            .or_default()
            .push(buffer);
    }
}

/// Rounds up to one of four sizes per power of two (at most 25% waste, few
/// distinct sizes), and to a multiple of 256 bytes so views stay aligned.
pub fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(256);
    let octave = 63 - bytes.leading_zeros();
    let step = (1u64 << octave.saturating_sub(2)).max(256);
    bytes.div_ceil(step) * step
}

/// A buffer on loan from the pool, returned when dropped.
pub struct PooledBuffer {
    buffer: Option<wgpu::Buffer>,
    pool: Weak<BufferPool>,
}

impl PooledBuffer {
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("present until drop")
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let (Some(buffer), Some(pool)) = (self.buffer.take(), self.pool.upgrade()) {
            pool.give_back(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_round_up_by_at_most_a_quarter() {
        assert_eq!(size_class(1), 256);
        assert_eq!(size_class(256), 256);
        assert_eq!(size_class(257), 512);
        assert_eq!(size_class(1024), 1024);
        assert_eq!(size_class(1025), 1280);
        assert_eq!(size_class(3 << 20), 3 << 20);
        assert_eq!(size_class((3 << 20) + 1), (3 << 20) + (1 << 19));
        for bytes in [300u64, 5000, 123_457, 99_999_999, 1 << 33] {
            let class = size_class(bytes);
            assert!(
                class >= bytes && class.is_multiple_of(256),
                "{bytes} -> {class}"
            );
            assert!(
                class as f64 <= bytes as f64 * 1.25 + 256.0,
                "{bytes} -> {class}"
            );
        }
    }
}
