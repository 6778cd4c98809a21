//! Helpers shared by the GPU integration tests: each test file declares
//! `mod common;` and keeps its own tolerance. Not every file uses every
//! helper, hence the `dead_code` allowance.
//!
//! The device, read-back and random helpers are native only (pollster and
//! rand are native dev-dependencies); the wasm tests read back with `.await`.
#![allow(dead_code)]

#[cfg(not(target_arch = "wasm32"))]
use rand::Rng;
#[cfg(not(target_arch = "wasm32"))]
use rand::SeedableRng;
#[cfg(not(target_arch = "wasm32"))]
use rand_chacha::ChaCha8Rng;
#[cfg(not(target_arch = "wasm32"))]
use sculpt_flux::checkpoint::ExpectedTensor;
#[cfg(not(target_arch = "wasm32"))]
use sculpt_flux::formats::{MemorySource, f32_safetensors_bytes};
#[cfg(not(target_arch = "wasm32"))]
use sculpt_gpu::{Gpu, Tensor};

/// The device for a test. A GPU test that cannot reach a GPU fails, with
/// the reason (natively without a GPU, wgpu picks lavapipe).
#[cfg(not(target_arch = "wasm32"))]
pub fn gpu() -> Gpu {
    match pollster::block_on(Gpu::new()) {
        Ok(gpu) => gpu,
        Err(e) => panic!("no GPU device for this test: {e}"),
    }
}

/// A tensor's values, read back from the device.
#[cfg(not(target_arch = "wasm32"))]
pub fn read(gpu: &Gpu, tensor: &Tensor) -> Vec<f32> {
    pollster::block_on(tensor.to_vec(gpu)).unwrap()
}

/// Reproducible uniform values in [center − range, center + range].
#[cfg(not(target_arch = "wasm32"))]
pub fn random(rng: &mut ChaCha8Rng, len: usize, center: f32, range: f32) -> Vec<f32> {
    (0..len)
        .map(|_| center + rng.random_range(-range..=range))
        .collect()
}

/// The worst |got − want| over the largest |want|. A non-finite value
/// anywhere in `got` makes the error NaN, which no tolerance accepts.
pub fn scaled_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    if got.iter().any(|g| !g.is_finite()) {
        return f32::NAN;
    }
    let scale = want.iter().fold(0f32, |m, w| m.max(w.abs()));
    let worst = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (g, w)| m.max((g - w).abs()));
    worst / scale
}

/// Prints `what`'s scaled error and asserts it is within `tolerance`.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tolerance: f32) {
    let error = scaled_error(got, want);
    println!("{what}: worst error {error:e} of the output's scale");
    assert!(
        error <= tolerance,
        "{what}: worst error {error:e} of the output's scale exceeds {tolerance:e}"
    );
}

/// A safetensors file of random F32 values in `layout`, scaled so that
/// activations stay O(1): norms' scales about 1, everything else about
/// ±1/√fan-in. Of the optional tensors, only T5's shared embedding.
#[cfg(not(target_arch = "wasm32"))]
pub fn random_safetensors(
    name: &str,
    layout: Vec<ExpectedTensor>,
    seed: u64,
) -> MemorySource<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = layout
        .into_iter()
        .filter(|tensor| !tensor.optional || tensor.name == "shared.weight")
        .map(|tensor| {
            let len: usize = tensor.shape.iter().product();
            let (center, range) = if tensor.shape.len() == 1 {
                let norm = tensor.name.ends_with(".scale")
                    || (tensor.name.contains("norm") && tensor.name.ends_with("weight"));
                (if norm { 1.0 } else { 0.0 }, 0.1)
            } else {
                let fan_in: usize = tensor.shape[1..].iter().product();
                (0.0, 1.0 / (fan_in as f32).sqrt())
            };
            let values = (0..len)
                .map(|_| center + rng.random_range(-range..=range))
                .collect();
            (tensor.name, tensor.shape, values)
        })
        .collect();
    let stored = tensors
        .iter()
        .map(|(name, shape, values)| (name.as_str(), shape.as_slice(), values.as_slice()));
    MemorySource::new(name, f32_safetensors_bytes(stored).unwrap())
}
