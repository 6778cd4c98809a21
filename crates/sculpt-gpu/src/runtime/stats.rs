//! Counters of the things a steady-state denoising step must not do (create
//! buffers or pipelines) and of what it costs (submits, dispatches, readback).
//! Tests take a snapshot before and after a repeated forward pass and assert
//! on the difference.

use std::cell::Cell;

#[derive(Default)]
pub struct Stats {
    buffers_created: Cell<u64>,
    pipelines_created: Cell<u64>,
    submits: Cell<u64>,
    dispatches: Cell<u64>,
    bytes_uploaded: Cell<u64>,
    bytes_read_back: Cell<u64>,
}

/// The counters at one moment; subtract two to get what happened between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub buffers_created: u64,
    pub pipelines_created: u64,
    pub submits: u64,
    pub dispatches: u64,
    pub bytes_uploaded: u64,
    pub bytes_read_back: u64,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            buffers_created: self.buffers_created.get(),
            pipelines_created: self.pipelines_created.get(),
            submits: self.submits.get(),
            dispatches: self.dispatches.get(),
            bytes_uploaded: self.bytes_uploaded.get(),
            bytes_read_back: self.bytes_read_back.get(),
        }
    }

    pub(crate) fn buffer_created(&self) {
        bump(&self.buffers_created, 1);
    }
    pub(crate) fn pipeline_created(&self) {
        bump(&self.pipelines_created, 1);
    }
    pub(crate) fn submitted(&self) {
        bump(&self.submits, 1);
    }
    pub(crate) fn dispatched(&self) {
        bump(&self.dispatches, 1);
    }
    pub(crate) fn uploaded(&self, bytes: u64) {
        bump(&self.bytes_uploaded, bytes);
    }
    pub(crate) fn read_back(&self, bytes: u64) {
        bump(&self.bytes_read_back, bytes);
    }
}

fn bump(counter: &Cell<u64>, by: u64) {
    counter.set(counter.get() + by);
}

impl std::ops::Sub for StatsSnapshot {
    type Output = StatsSnapshot;

    fn sub(self, earlier: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            buffers_created: self.buffers_created - earlier.buffers_created,
            pipelines_created: self.pipelines_created - earlier.pipelines_created,
            submits: self.submits - earlier.submits,
            dispatches: self.dispatches - earlier.dispatches,
            bytes_uploaded: self.bytes_uploaded - earlier.bytes_uploaded,
            bytes_read_back: self.bytes_read_back - earlier.bytes_read_back,
        }
    }
}
