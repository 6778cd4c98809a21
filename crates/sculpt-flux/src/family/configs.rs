//! The configurations of a model's parts, one per role. In a manifest's
//! `config` they are an object keyed by role (`transformer`, `clip`…), each
//! under its Rust struct's field names.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::checkpoint::{ModelConfig, Role};
use crate::models::autoencoder::AutoEncoderConfig;
use crate::models::clip::ClipTextConfig;
use crate::models::flux1::FluxConfig;
use crate::models::t5::T5Config;

/// A model's configurations by role. Checked against its family by
/// [`super::Family::check`] before any pipeline takes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelConfigs(BTreeMap<Role, ModelConfig>);

impl ModelConfigs {
    pub fn new(configs: impl IntoIterator<Item = ModelConfig>) -> Self {
        Self(
            configs
                .into_iter()
                .map(|config| (config.role(), config))
                .collect(),
        )
    }

    pub fn get(&self, role: Role) -> Option<&ModelConfig> {
        self.0.get(&role)
    }

    /// Sets the config of its role; returns the one it replaces.
    pub fn insert(&mut self, config: ModelConfig) -> Option<ModelConfig> {
        self.0.insert(config.role(), config)
    }

    pub fn remove(&mut self, role: Role) -> Option<ModelConfig> {
        self.0.remove(&role)
    }

    pub fn roles(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.keys().copied()
    }

    /// The transformer's config. Every family has one: a checked set of
    /// configs always holds it.
    pub fn transformer(&self) -> &FluxConfig {
        match self.get(Role::Transformer) {
            Some(ModelConfig::Transformer(config)) => config,
            _ => panic!("model configs without a transformer (unchecked)"),
        }
    }

    /// The autoencoder's config (every family has one).
    pub fn autoencoder(&self) -> &AutoEncoderConfig {
        match self.get(Role::Autoencoder) {
            Some(ModelConfig::Autoencoder(config)) => config,
            _ => panic!("model configs without an autoencoder (unchecked)"),
        }
    }

    pub fn clip(&self) -> Option<&ClipTextConfig> {
        match self.get(Role::Clip)? {
            ModelConfig::Clip(config) => Some(config),
            _ => None,
        }
    }

    pub fn t5(&self) -> Option<&T5Config> {
        match self.get(Role::T5)? {
            ModelConfig::T5(config) => Some(config),
            _ => None,
        }
    }
}

impl Serialize for ModelConfigs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // In role order (transformer first), as manifests have always read.
        let mut entries = Vec::new();
        for (role, config) in &self.0 {
            let value = match config {
                ModelConfig::Transformer(c) => serde_json::to_value(c),
                ModelConfig::Autoencoder(c) => serde_json::to_value(c),
                ModelConfig::Clip(c) => serde_json::to_value(c),
                ModelConfig::T5(c) => serde_json::to_value(c),
            }
            .map_err(serde::ser::Error::custom)?;
            entries.push((role.key(), value));
        }
        serializer.collect_map(entries)
    }
}

impl<'de> Deserialize<'de> for ModelConfigs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
        let mut configs = ModelConfigs::default();
        for (key, value) in map {
            let role = Role::from_key(&key).ok_or_else(|| {
                let known: Vec<&str> = Role::ALL.iter().map(|role| role.key()).collect();
                D::Error::custom(format!(
                    "config.{key}: no model is called '{key}' (known: {})",
                    known.join(", ")
                ))
            })?;
            let parsed = match role {
                Role::Transformer => serde_json::from_value(value).map(ModelConfig::Transformer),
                Role::Autoencoder => serde_json::from_value(value).map(ModelConfig::Autoencoder),
                Role::Clip => serde_json::from_value(value).map(ModelConfig::Clip),
                Role::T5 => serde_json::from_value(value).map(ModelConfig::T5),
            };
            let config = parsed.map_err(|e| D::Error::custom(format!("config.{key}: {e}")))?;
            configs.insert(config);
        }
        Ok(configs)
    }
}
