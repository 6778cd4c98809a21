//! A model's files, and the check that each holds the role it was given.

use std::collections::BTreeMap;

use super::{Manifest, ManifestError, ManifestFile, PREVIEW_KEY, PipelineError};
use crate::checkpoint::{Checkpoint, ModelConfig, Role, check_layout, detect, naming_of};
use crate::family::{Family, tokenizer_key};
use crate::formats::TensorIndex;
use crate::models::autoencoder::AutoEncoderConfig;
use crate::models::preview::PreviewDecoder;

/// A model's files: the family they make up, each model's weight files
/// (any [`ByteSource`](crate::formats::ByteSource); one file per model, or
/// the shards of a split checkpoint) and each text encoder's tokenizer.json
/// bytes; and the model's own preview decoder, when it has one.
pub struct ModelFiles<S> {
    pub family: Family,
    pub weights: BTreeMap<Role, Vec<S>>,
    pub tokenizers: BTreeMap<Role, Vec<u8>>,
    /// A preview.safetensors ([`crate::models::preview`]): its name and
    /// bytes. Without one, steps are previewed by the family's projection.
    pub preview: Option<(String, Vec<u8>)>,
}

impl<S> ModelFiles<S> {
    /// The files a manifest names: each weight file opened as a source with
    /// `open`, each tokenizer and the preview read whole with `read` (both
    /// may check the file against the manifest's size and SHA-256 as they
    /// go).
    pub async fn of_manifest<E: From<ManifestError>>(
        manifest: &Manifest,
        mut open: impl AsyncFnMut(&ManifestFile) -> Result<S, E>,
        mut read: impl AsyncFnMut(&ManifestFile) -> Result<Vec<u8>, E>,
    ) -> Result<Self, E> {
        let invalid = |detail: String| ManifestError::Invalid {
            file: manifest.name.clone(),
            detail,
        };
        let family = manifest.family().map_err(invalid)?;
        let file = |key: &str| {
            manifest
                .files
                .get(key)
                .ok_or_else(|| invalid(format!("files has no {key}")))
        };
        let mut weights = BTreeMap::new();
        for role in family.roles() {
            weights.insert(role, vec![open(file(role.key())?).await?]);
        }
        let mut tokenizers = BTreeMap::new();
        for stage in &family.text_encoders {
            let bytes = read(file(&tokenizer_key(stage.role))?).await?;
            tokenizers.insert(stage.role, bytes);
        }
        let preview = match manifest.files.get(PREVIEW_KEY) {
            Some(file) => Some((file.path.clone(), read(file).await?)),
            None => None,
        };
        Ok(Self {
            family,
            weights,
            tokenizers,
            preview,
        })
    }

    /// Each of the family's weight files, taken out in the family's order
    /// (a pipeline opens each once); files of a role the family lacks are
    /// refused.
    pub(crate) fn take_weights(&mut self) -> Result<Vec<(Role, Vec<S>)>, PipelineError> {
        let mut taken = Vec::new();
        for role in self.family.roles() {
            match self.weights.remove(&role) {
                Some(sources) => taken.push((role, sources)),
                None => return Err(self.problem(format!("needs its {role}, which was not given"))),
            }
        }
        if let Some(role) = self.weights.keys().next() {
            return Err(self.problem(format!("has no {role}, but its files hold one")));
        }
        Ok(taken)
    }

    /// The tokenizer.json of the text encoder `role`.
    pub(crate) fn tokenizer(&self, role: Role) -> Result<&[u8], PipelineError> {
        self.tokenizers
            .get(&role)
            .map(Vec::as_slice)
            .ok_or_else(|| {
                self.problem(format!("needs its {role}'s tokenizer, which was not given"))
            })
    }

    /// The preview decoder the model's steps are drawn with (see
    /// [`PreviewDecoder::for_model`]).
    pub(crate) async fn preview_decoder(
        &self,
        autoencoder: &AutoEncoderConfig,
    ) -> Result<Option<PreviewDecoder>, PipelineError> {
        let file = self
            .preview
            .as_ref()
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice()));
        PreviewDecoder::for_model(
            file,
            autoencoder.z_channels,
            autoencoder.pixels_per_latent(),
        )
        .await
        .map_err(PipelineError::Config)
    }

    fn problem(&self, problem: String) -> PipelineError {
        PipelineError::Config(format!("a {} model {problem}", self.family.name))
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
