//! FLUX.1's autoencoder: the decoder turns a 16-channel latent into an RGB
//! image 8× larger on each side, the encoder turns an image into the latent
//! it came from. Both are convolutional: resnet blocks of GroupNorm, SiLU
//! and 3×3 convolutions, one single-head self-attention block at the lowest
//! resolution, and nearest-neighbour upsampling (decoder) or strided
//! convolutions (encoder) between levels.
//!
//! Built from sculpt-gpu's kernels, for one image at a time; checked against
//! candle-transformers' FLUX autoencoder on the CPU
//! (`tests/gpu_autoencoder.rs`). Weights are read by their names in BFL's
//! `ae.safetensors` (`decoder.up.3.block.0.conv1.weight`), which candle
//! uses too, or by diffusers' names through [`DiffusersVaeNames`]; errors
//! are [`FluxError`](super::FluxError)s naming the tensor. Activations
//! too large for one storage binding are kept as channel slices (`slices`).

mod blocks;
mod config;
mod decoder;
mod diffusers;
mod encoder;
mod slices;

pub use config::{AutoEncoderConfig, GROUP_NORM_EPS, GROUP_NORM_GROUPS};
pub use decoder::Decoder;
pub use diffusers::{DiffusersVaeNames, diffusers_vae_name, is_attention_projection};
pub use encoder::Encoder;
pub(crate) use slices::channel_slice_count;
