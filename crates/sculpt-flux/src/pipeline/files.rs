//! A model's files, and the check that each holds the role it was given.

use super::PipelineError;
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
