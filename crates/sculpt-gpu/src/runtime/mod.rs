//! The execution model: pooled buffers, cached pipelines, batched recording
//! and the counters that prove a steady state allocates nothing.

pub mod launch;
pub mod pipelines;
pub mod pool;
pub mod recorder;
pub mod stats;
