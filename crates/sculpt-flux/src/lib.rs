//! # sculpt-flux
//!
//! Sculpt's model layer, on top of `sculpt-gpu`. Data flows one way through it:
//! bytes (a file, or IndexedDB in the browser) → format readers (GGUF,
//! safetensors, tokenizer.json) → tensors on the GPU → models (the FLUX
//! transformer, autoencoder, CLIP-L and T5 encoders) → the generation driver
//! → step frames.
//!
//! **Owns:** weight formats, model definitions driven by a `Config`, the
//! schedule, the generation driver and its step-level API, and the two
//! backends it runs on (GPU, and CPU with the feature `cpu`).
//!
//! **Must not:** touch the DOM, files by path or the terminal (callers pass
//! byte sources and receive frames), or hold a whole weight file in memory:
//! weights stream to the GPU in bounded chunks (only the CPU fallback holds
//! its model in memory, and it refuses all but small models).
//!
//! In the order data flows: weight-file readers ([`formats`]), the weight
//! sources and the one loader every model uploads through ([`weights`]:
//! async, so that the browser can read IndexedDB), what a file holds
//! ([`checkpoint`]: role, naming, variant and configuration from tensor
//! names and shapes), tokenizers ([`text`]), the models, one folder each
//! ([`models`]: the text encoders [`models::clip`] and [`models::t5`], the
//! FLUX.1 transformer [`models::flux1`], the autoencoder
//! [`models::autoencoder`]), the families they make up ([`family`]: which
//! text encoders feed the transformer what; FLUX.1 today); what to run
//! ([`pipeline`]: manifests, imported files sorted into a family's roles,
//! requests, the memory plan) and the times a run
//! visits ([`schedule`]); then [`generation`], written once for every
//! backend: the [`generation::Pipeline`] trait, the step-level
//! [`generation::Generation`] driver (Euler steps, true CFG, image-to-image,
//! the forward process, a bounded history of x_t, x̂₀ and v) and the
//! [`generation::Backend`] trait it runs on. Two backends implement it:
//! [`gpu`] (Sculpt's WGSL kernels through wgpu) and, with the feature
//! `cpu`, `cpu` (candle-transformers' models on the CPU, natively and in
//! wasm, for browsers without WebGPU; small models only). The two give the
//! same pixels to rounding (`tests/gpu_cpu_parity.rs`), and each model is
//! checked against candle-transformers on the CPU, a whole generation too
//! (`sculpt-cli`'s `tests/gpu_generate.rs`).
//!
//! # The parts, in more detail
//!
//! - **Weight files** ([`formats`]): safetensors and GGUF (v2/v3) readers
//!   and writers over a [`formats::ByteSource`] (a file natively; in the
//!   page a chosen file, a web address read in ranges, or the IndexedDB
//!   weight store), read in bounded pieces. Every length, count, offset and
//!   alignment is checked against the real file size before anything is
//!   allocated; errors name the file and the field or tensor.
//! - **Loading** ([`weights`]): [`weights::FileWeights`] hands out one
//!   tensor at a time, in slabs of rows; linear weights stay in their
//!   storage format (FP8 E4M3 becomes f16, exactly), everything else becomes
//!   f32, and non-finite values are refused by tensor and element. The
//!   shards of one checkpoint (`model-00001-of-00002.safetensors`, …) open
//!   as one source; a tensor in two shards is refused.
//! - **Checkpoints** ([`checkpoint`]): a file's role (FLUX transformer or
//!   autoencoder under BFL or diffusers names, CLIP text model, T5 encoder),
//!   variant (schnell or dev, by the guidance embedder) and configuration
//!   come from its tensor names and shapes; then every tensor is checked
//!   against that configuration's layout, and the first unknown, mis-shaped
//!   or missing tensor is the error. Not in the weights, so assumed: FLUX's
//!   rotary split and θ, CLIP's 64-wide heads, T5's 128 max distance,
//!   FLUX's latent scale and shift. [`checkpoint::detect`] (what the
//!   pipelines use) also refuses a configuration the kernels cannot run;
//!   [`checkpoint::recognize`] (what `sculpt inspect` reports) says what it
//!   can of such a file, and of one whose configuration its shapes do not
//!   tell.
//! - **Models** ([`models`]): the FLUX transformer ([`models::flux1`]: double and single blocks,
//!   modulation, QK-RMSNorm, RoPE over `[txt, img]` ids, dev's guidance
//!   embedding; by BFL's tensor names or diffusers' through
//!   [`models::flux1::DiffusersNames`]); the autoencoder ([`models::autoencoder`]:
//!   `decode` and `encode` with the latent scale and shift; diffusers' names
//!   through [`models::autoencoder::DiffusersVaeNames`]); CLIP-L's text model
//!   ([`models::clip`]: causal, QuickGELU, pooled at the first EOS) and the T5 v1.1
//!   encoder ([`models::t5`]: relative position buckets, gated GELU). Each equals
//!   candle-transformers' on the CPU (`tests/gpu_flux.rs`,
//!   `gpu_autoencoder.rs`, `gpu_clip.rs`, `gpu_t5.rs`), from f32 or packed
//!   (f16/bf16/GGUF) weights.
//! - **Tokenizers** ([`text`]): CLIP-L's BPE (77 tokens) and T5's unigram
//!   (padded to the model's T5 length) through the `tokenizers` crate, from
//!   the public `tokenizer.json` files; truncation comes with a warning.
//! - **What to run** ([`pipeline`]): a model is a [`pipeline::Manifest`]
//!   (`models/<name>/manifest.json`: name, version 1, default resolution
//!   and steps, schedule shift, default true-CFG scale, T5 length, the six
//!   files with bytes and SHA-256, and the four configs under their Rust
//!   field names) or loose files sorted into roles by
//!   [`pipeline::sort_loose_files`] (shared by the CLI's `--model` and the
//!   page's import), their configs inferred. A [`pipeline::GenerateRequest`]
//!   is checked (size a multiple of 16, prompt, steps, strength) and the
//!   [`pipeline::MemoryPlan`] computed before anything loads: each stage's
//!   GPU weight bytes (exact) and activation bytes at the requested size
//!   (an estimate), the peak of the two phases (text encoders; transformer
//!   with the autoencoder), and whether the largest tensor fits one buffer
//!   binding of the device.
//! - **Generating** ([`generation`], [`gpu`]): [`gpu::GpuPipeline::open`]
//!   reads and checks the headers; `start` loads CLIP and T5, encodes the
//!   prompt (and the empty prompt for true CFG) and drops them, loads the
//!   transformer and autoencoder once and keeps them, and makes the seed's
//!   Philox noise; each [`generation::Generation::step`] records one Euler
//!   step (dev's embedded guidance, or `v_u + s·(v_c − v_u)`) and reads
//!   nothing back; `image` decodes x_t, x̂₀ or v where the backend
//!   computes (the page draws it from there), `frame` reads it back as
//!   RGBA8, and `finish` runs the remaining steps; `forward` noises the
//!   clean latent to any t without the model, and `restart_at` starts the
//!   run again there. The [`generation::History`]
//!   keeps at most [`generation::HISTORY_LIMIT`] steps. After a two-step
//!   warm-up a GPU step creates no buffers or pipelines
//!   (`tests/gpu_pipeline.rs`).
//! - **The CPU fallback** (`cpu`, feature `cpu`, which `sculpt-web` and
//!   `sculpt-cli` enable; it builds for wasm32): candle-transformers' CLIP,
//!   T5 and FLUX transformer, and their autoencoder with one workaround for
//!   candle-core 0.9.2's CPU convolution (`cpu/autoencoder.rs`), behind the
//!   same [`generation::Backend`] and [`generation::Pipeline`], opening the
//!   same manifests with the same checks, and drawing noise with
//!   `sculpt_gpu::kernels::noise::gaussian_cpu`, the GPU kernel's CPU twin.
//!   Weights are held in memory as f32 (about 32 MB for the built-in
//!   model); models over `MAX_CPU_WEIGHT_BYTES` as f32, split in shards or
//!   under diffusers' names are refused, so imported FLUX.1 checkpoints are
//!   GPU-only.
//!
//! GPU test binaries are named `tests/gpu_*.rs`; `cargo xtask test` counts
//! them apart from the unit tests.
//!
//! - **Families** ([`family`]): a [`family::Family`] lists its text
//!   encoders, in the order they run, and what the transformer takes from
//!   each (a pooled vector, or per-token states); the manifest's files and
//!   configs ([`family::ModelConfigs`], keyed by role), the memory plan, the
//!   loose-file sorter and both pipelines read it, so none of them names
//!   FLUX.1's four models. [`family::roster`] holds the families a manifest
//!   or loose files may make up; a test can build one of its own
//!   (`tests/gpu_cpu_parity.rs` runs FLUX.1 without CLIP).
//!
//! **Where things go.** A new GPU kernel goes in `sculpt-gpu` (one `.wgsl`
//! family per file); a new layer of a model in its folder under `models/`,
//! checked against candle in `tests/gpu_*.rs`; a new sampling feature (a
//! schedule, a guidance rule, a step view) in [`generation`] or
//! [`schedule`], once, so that both backends and every surface get it; a
//! new backend is a [`generation::Backend`] and a [`generation::Pipeline`]
//! that opens models on it. A new model family made of models Sculpt
//! already runs is one entry in [`family::roster`] (its own file beside
//! `family/flux1.rs`). A new kind of model (a Qwen3 text encoder, say) is a
//! folder under `models/` plus one arm at each point that knows the kinds,
//! all listed on [`checkpoint::Role`]; a new denoiser (FLUX.2's transformer)
//! is one more such kind, and the pipelines' transformer and autoencoder
//! fields become per-kind too.

pub mod checkpoint;
#[cfg(feature = "cpu")]
pub mod cpu;
pub mod family;
pub mod formats;
pub mod generation;
pub mod gpu;
pub mod models;
pub mod pipeline;
pub mod schedule;
pub mod text;
pub mod weights;
