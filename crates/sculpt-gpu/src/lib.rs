//! # sculpt-gpu
//!
//! Sculpt's GPU layer, the same code natively (Vulkan, Metal, DX12) and in the
//! browser (WebGPU), all through `wgpu`.
//!
//! **Owns:** device setup and its report ([`Gpu`], [`DeviceReport`]); the
//! execution model ([`runtime`]: pooled buffers, pipelines compiled once,
//! many dispatches per submit, parameters in a uniform ring, counters that
//! prove a steady state allocates nothing); GPU [`Tensor`]s of f32, or of
//! f16 ([`DType`]) on a device with `shader-f16` (casts and the elementwise
//! and linear kernels take f16; the others refuse it by name); weight storage
//! formats as the GPU reads them ([`weights`]: f32, f16, bf16 and GGUF
//! blocks, repacked for aligned loads); reading back ([`readback`]);
//! drawing images straight into a texture or canvas ([`present`]); and the
//! WGSL kernels ([`kernels`], one `.wgsl` file per family, each with the Rust
//! that launches it; families that reduce across a workgroup take a subgroup
//! variant where the device has subgroups, [`GpuOptions`] turns it off; with
//! [`GpuOptions::f16_linear`], linear layers multiply in f16 where the device
//! has `shader-f16`).
//!
//! **Must not:** know about models, weight *files*, tokenizers or the page.
//! It takes numbers, shapes and block bytes, not FLUX; `sculpt-flux` parses
//! files and builds models on top of it. It never reads data back from the
//! GPU unless a caller asks for it.
//!
//! Every kernel is checked against candle on the CPU (`tests/gpu/`), natively
//! and in headless Chromium.
//!
//! # Device and runtime
//!
//! One place ([`Gpu::new`], `device.rs`) requests the adapter, takes its
//! optional features (shader-f16, subgroups, timestamp queries) and raises
//! WebGPU's default limits to what the adapter offers for buffers and
//! workgroups. A [`Tensor`] is a shape over a buffer from a pool, so a
//! repeated forward pass creates no buffers after the first; pipelines are
//! compiled once per kernel, entry point and `override` constants;
//! dispatches go into one open compute pass and are submitted together when
//! something is read back; kernel parameters live in a uniform ring buffer.
//! [`Gpu::stats`] counts buffers and pipelines created, submits, dispatches
//! and bytes moved, and tests assert the steady state on them. An f16
//! tensor ([`DType::F16`], on a device with shader-f16) halves memory and
//! memory traffic: [`Tensor::from_slice_as`] rounds on the CPU,
//! [`kernels::elementwise::cast`] converts on the GPU, and
//! [`Tensor::to_vec`] widens back to f32. The elementwise and linear
//! kernels take f16 operands (stored in f16, computed in f32); every other
//! kernel takes f32 only and refuses an f16 tensor with an error that names
//! it. The model code still runs in f32: which stages should store f16
//! waits on a GPU measurement (T5 is known to overflow f16).
//!
//! # Weights
//!
//! f32, f16, bf16 and the GGUF blocks Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K,
//! Q5_K and Q6_K stay in their format in GPU memory (blocks repacked to whole
//! words) and are decoded inside the kernels (`kernels/weights.wgsl`); f16
//! needs no shader-f16. Weights larger than one storage binding are split by
//! rows, and so are CLIP's and T5's token embedding tables (152 MB and
//! 526 MB in f32). Activations larger than one binding are split where the
//! model makes that exact (in `sculpt-flux`): the autoencoder keeps its
//! full-resolution activations as channel slices holding whole GroupNorm
//! groups (a convolution adds up its input slices' shares), and the
//! transformer runs its MLPs in token chunks, with q, k, v and the single
//! blocks' `linear1`/`linear2` loaded as parts so nothing wider than the
//! hidden width spans all tokens. With WebGPU's default 128 MiB binding
//! this takes FLUX.1 to 1024×1024. Tests run them on a device capped at a
//! small binding ([`GpuOptions::max_storage_binding`]) against candle.
//!
//! # Kernels
//!
//! One family per file in `src/kernels/`: linear (tiled, and a weight-once
//! path for a few rows), fused attention (online softmax, f32 scores,
//! strided q/k/v, causal mask, relative bias), convolution and resampling,
//! elementwise (activations, broadcasting, FLUX's modulation and gated
//! residual), norms (LayerNorm, RMSNorm, GroupNorm), softmax, RoPE, layout
//! (concat, split, permutes, FLUX's patch packing), embeddings and the timestep embedding, seeded
//! Gaussian noise (Philox, bit-identical natively, in the browser and in its
//! CPU twin `gaussian_cpu`), frames to RGBA, and dequantization. Entry points
//! that differ only in a choice are one template specialised by `override`
//! constants.
//!
//! The kernels that reduce across a workgroup (LayerNorm, RMSNorm, softmax,
//! the few-row linear path) are compiled with `reduce.wgsl` (a tree in
//! workgroup memory) or, on a device with subgroups, `reduce_subgroups.wgsl`
//! (`subgroupAdd`/`subgroupMax`, two barriers).
//! `Gpu::with_options(GpuOptions::plain())` keeps to the plain f32 kernels
//! (tests and `sculpt bench kernels` compare both). In the browser wgpu 30
//! cannot ask for subgroups (its WebGPU backend does not map the feature:
//! gfx-rs/wgpu#10146), so pages run the plain kernels for now; the variants
//! already carry the `enable subgroups;` a browser needs. With
//! [`GpuOptions::f16_linear`] (opt-in, shader-f16 only) the tiled linear
//! kernel stages its tiles and multiplies in f16, summing 16 products at a
//! time before f32 accumulators take over (about 1e-3 of the products'
//! size); it stays off by default until a GPU measures its gain, and because
//! FLUX's T5 is known to overflow f16. Chromium's SwiftShader offers no
//! shader-f16.
//!
//! # Where a new kernel goes
//!
//! A new family is a `src/kernels/<family>.wgsl` with its `<family>.rs`
//! beside it (the pipelines it builds and the function that dispatches it);
//! a variant of an existing op is an entry point or an `override` constant in
//! its family's file. Its test goes in `tests/gpu/<family>.rs`, against
//! candle on the CPU, with the tolerance and its reason stated, declared with
//! `gpu_test!` so that it runs natively (lavapipe when there is no GPU) and
//! in headless Chromium; `also_plain` runs it again on the plain kernels.
//! Kernels with variants are tested on both natively: `cargo xtask test`
//! requires lavapipe's subgroups and shader-f16.

mod device;
pub mod kernels;
pub mod present;
pub mod readback;
pub mod runtime;
mod tensor;
pub mod weights;

pub use device::{DeviceReport, Gpu, GpuError, GpuOptions, format_bytes, required_limits};
pub use runtime::stats::StatsSnapshot;
pub use tensor::{DType, Tensor};
