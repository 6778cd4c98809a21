//! Helpers the CLI tests share: temporary folders, random checkpoints in
//! safetensors, and candle var builders over the same weights.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sculpt_flux::checkpoint::ExpectedTensor;
use sculpt_flux::formats::f32_safetensors_bytes;

pub mod tiny_model;

pub type Weights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// The built-in model's folder (models/sculpt-tiny), where `sculpt` finds it.
pub fn built_in_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/sculpt-tiny")
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sculpt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Values scaled like PyTorch's default init so activations stay O(1):
/// norm scales around 1, biases small, matrices U(±1/√fan_in), embedding
/// tables and T5's bucket weights U(±1).
pub fn random_weights(layout: Vec<ExpectedTensor>, seed: u64) -> Weights {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    layout
        .into_iter()
        .filter(|tensor| !tensor.optional || tensor.name == "shared.weight")
        .map(|tensor| {
            let len: usize = tensor.shape.iter().product();
            let name = &tensor.name;
            let (center, range) = if tensor.shape.len() == 1 {
                if name.ends_with(".scale") || (name.contains("norm") && name.ends_with("weight")) {
                    (1.0, 0.1)
                } else {
                    (0.0, 0.1)
                }
            } else if name.contains("embedding")
                || name == "shared.weight"
                || name.contains("relative_attention_bias")
            {
                (0.0, 1.0)
            } else {
                let fan_in: usize = tensor.shape[1..].iter().product();
                (0.0, 1.0 / (fan_in as f32).sqrt())
            };
            let values = (0..len)
                .map(|_| center + rng.random_range(-range..=range))
                .collect();
            (tensor.name, (tensor.shape, values))
        })
        .collect()
}

pub fn write_safetensors(path: &Path, weights: &Weights) {
    let tensors = weights
        .iter()
        .map(|(name, (shape, values))| (name.as_str(), shape.as_slice(), values.as_slice()));
    std::fs::write(path, f32_safetensors_bytes(tensors).unwrap()).unwrap();
}

pub fn var_builder(weights: &Weights) -> candle_nn::VarBuilder<'static> {
    let tensors = weights
        .iter()
        .map(|(name, (shape, values))| {
            (
                name.clone(),
                Tensor::from_slice(values, shape.as_slice(), &Device::Cpu).unwrap(),
            )
        })
        .collect();
    candle_nn::VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu)
}
