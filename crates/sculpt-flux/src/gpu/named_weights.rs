//! A checkpoint's weights under the names the models ask for (BFL's),
//! whichever layout the file uses.

use crate::checkpoint::{Checkpoint, ModelConfig, Naming};
use crate::formats::ByteSource;
use crate::models::autoencoder::DiffusersVaeNames;
use crate::models::flux1::DiffusersNames;
use crate::weights::{FileWeights, TakeFuture, TensorUse, WeightSource};

/// A file's weights under the names the models ask for (BFL's).
pub(super) enum NamedWeights<S> {
    Bfl(FileWeights<S>),
    DiffusersTransformer(DiffusersNames<FileWeights<S>>),
    DiffusersAutoencoder(DiffusersVaeNames<FileWeights<S>>),
}

impl<S> NamedWeights<S> {
    pub(super) fn new(file: FileWeights<S>, checkpoint: &Checkpoint) -> Self {
        match (checkpoint.naming, &checkpoint.config) {
            (Naming::Diffusers, ModelConfig::Transformer(_)) => {
                Self::DiffusersTransformer(DiffusersNames::new(file))
            }
            (Naming::Diffusers, ModelConfig::Autoencoder(config)) => {
                Self::DiffusersAutoencoder(DiffusersVaeNames::new(file, config.ch_mult.len()))
            }
            _ => Self::Bfl(file),
        }
    }
}

impl<S: ByteSource> WeightSource for NamedWeights<S> {
    fn take<'a>(&'a mut self, name: &'a str, used_as: TensorUse) -> TakeFuture<'a> {
        match self {
            Self::Bfl(file) => file.take(name, used_as),
            Self::DiffusersTransformer(file) => file.take(name, used_as),
            Self::DiffusersAutoencoder(file) => file.take(name, used_as),
        }
    }
}
