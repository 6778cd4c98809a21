//! A model's files, and the check that each holds the role it was given.

use super::{ManifestFile, ManifestFiles, PipelineError};
use crate::checkpoint::{Checkpoint, ModelConfig, Role, check_layout, detect, naming_of};
use crate::formats::TensorIndex;

/// A model's weight files (any [`ByteSource`](crate::formats::ByteSource); one file per model, or the
/// shards of a split checkpoint) and tokenizer.json bytes.
pub struct ModelFiles<S> {
    pub transformer: Vec<S>,
    pub autoencoder: Vec<S>,
    pub clip: Vec<S>,
    pub t5: Vec<S>,
    pub clip_tokenizer: Vec<u8>,
    pub t5_tokenizer: Vec<u8>,
}

impl<S> ModelFiles<S> {
    /// The files a manifest names: each weight file opened as a source with
    /// `open`, each tokenizer read whole with `read` (both may check the
    /// file against the manifest's size and SHA-256 as they go).
    pub async fn of_manifest<E>(
        files: &ManifestFiles,
        mut open: impl AsyncFnMut(&ManifestFile) -> Result<S, E>,
        mut read: impl AsyncFnMut(&ManifestFile) -> Result<Vec<u8>, E>,
    ) -> Result<Self, E> {
        Ok(Self {
            transformer: vec![open(&files.transformer).await?],
            autoencoder: vec![open(&files.autoencoder).await?],
            clip: vec![open(&files.clip).await?],
            t5: vec![open(&files.t5).await?],
            clip_tokenizer: read(&files.clip_tokenizer).await?,
            t5_tokenizer: read(&files.t5_tokenizer).await?,
        })
    }
}

/// Checks the file `name` with tensors `index` holds a `role` model:
/// against `config` when given, else as detected from its shapes.
pub(crate) fn checked(
    name: &str,
    index: &TensorIndex,
    role: Role,
    config: Option<&ModelConfig>,
) -> Result<Checkpoint, PipelineError> {
    let error = |problem| crate::checkpoint::CheckpointError {
        file: name.into(),
        problem,
    };
    let detected = detect(name, index);
    let checkpoint = match config {
        None => detected?,
        Some(config) => {
            let naming = match &detected {
                Ok(found) => found.naming,
                Err(_) => naming_of(index),
            };
            let checkpoint = Checkpoint {
                naming,
                config: config.clone(),
            };
            check_layout(index, &checkpoint).map_err(error)?;
            checkpoint
        }
    };
    if checkpoint.role() != role {
        return Err(error(crate::checkpoint::CheckpointProblem::WrongRole {
            found: checkpoint.role(),
            wanted: role,
        })
        .into());
    }
    Ok(checkpoint)
}
