//! What `sculpt inspect` reports about a weight file, from its header alone.

use std::collections::BTreeMap;
use std::fmt;

use sculpt_gpu::format_bytes;

use super::detect::{Checkpoint, CheckpointError, Recognition, Role, recognize};
use super::gpu_footprint::gpu_weight_bytes;
use crate::formats::{ByteSource, FormatError, TensorIndex, read_weight_file};

/// A recognized file's role, variant and contents.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub file: String,
    pub file_bytes: u64,
    /// What the file holds: its checkpoint, or as much of it as its shapes
    /// tell (a summary is given either way).
    pub recognition: Recognition,
    pub tensors: usize,
    pub parameters: u64,
    /// The bytes of the tensors' data (the file less its header and padding).
    pub tensor_bytes: u64,
    /// The bytes the weights take on the GPU once loaded (linear weights in
    /// their format repacked to whole words, the rest as f32).
    pub gpu_bytes: u64,
    /// Per storage encoding ("Q4_0", "F32"): how much of the file is in it.
    pub encodings: BTreeMap<String, EncodingShare>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodingShare {
    pub tensors: usize,
    pub parameters: u64,
    pub bytes: u64,
}

/// Why a file could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

impl Summary {
    pub fn role(&self) -> Role {
        match &self.recognition {
            Recognition::Checked(checkpoint) | Recognition::CannotRun { checkpoint, .. } => {
                checkpoint.role()
            }
            Recognition::NotInferred { role, .. } => *role,
        }
    }

    /// The checkpoint, when its configuration was inferred and every tensor
    /// checked against it.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        match &self.recognition {
            Recognition::Checked(checkpoint) | Recognition::CannotRun { checkpoint, .. } => {
                Some(checkpoint)
            }
            Recognition::NotInferred { .. } => None,
        }
    }
}

/// Recognizes the checkpoint of file `file` from its tensor index, as far
/// as its shapes tell; only a file that is not a model, or is not
/// consistent with itself, is an error.
pub fn summarize(
    file: &str,
    file_bytes: u64,
    index: &TensorIndex,
) -> Result<Summary, CheckpointError> {
    let recognition = recognize(file, index)?;
    let mut encodings: BTreeMap<String, EncodingShare> = BTreeMap::new();
    for info in index.tensors() {
        let share = encodings
            .entry(info.encoding.name().to_string())
            .or_default();
        share.tensors += 1;
        share.parameters += info.element_count();
        share.bytes += info.byte_len();
    }
    let mut summary = Summary {
        file: file.into(),
        file_bytes,
        recognition,
        tensors: index.len(),
        parameters: encodings.values().map(|share| share.parameters).sum(),
        tensor_bytes: encodings.values().map(|share| share.bytes).sum(),
        gpu_bytes: 0,
        encodings,
    };
    summary.gpu_bytes = gpu_weight_bytes(summary.role(), index.tensors());
    Ok(summary)
}

/// Reads the header of the file in `source` (and nothing else) and
/// summarizes it.
pub async fn inspect<S: ByteSource>(source: &mut S) -> Result<Summary, InspectError> {
    let file = read_weight_file(source).await?;
    Ok(summarize(source.name(), source.len(), file.index())?)
}

/// `1234567` as `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.file)?;
        writeln!(f, "  role:       {}", self.role())?;
        match &self.recognition {
            Recognition::Checked(checkpoint) => {
                writeln!(f, "  variant:    {}", checkpoint.variant())?;
            }
            Recognition::CannotRun { checkpoint, why } => {
                writeln!(f, "  variant:    {}", checkpoint.variant())?;
                writeln!(f, "  runs:       not on Sculpt's kernels yet: {why}")?;
            }
            Recognition::NotInferred { why, .. } => {
                writeln!(f, "  variant:    unknown: {why}")?;
                writeln!(
                    f,
                    "              `sculpt forward --config <config.json>` takes it (Sculpt's \
                     own or the public config.json) and checks the tensors against it"
                )?;
            }
        }
        writeln!(f, "  tensors:    {}", self.tensors)?;
        writeln!(f, "  parameters: {}", thousands(self.parameters))?;
        writeln!(
            f,
            "  bytes:      {} of tensor data ({}), file {}",
            thousands(self.tensor_bytes),
            format_bytes(self.tensor_bytes),
            thousands(self.file_bytes)
        )?;
        writeln!(
            f,
            "  on the GPU: {} ({})",
            thousands(self.gpu_bytes),
            format_bytes(self.gpu_bytes)
        )?;
        writeln!(f, "  dtypes:")?;
        for (encoding, share) in &self.encodings {
            writeln!(
                f,
                "    {encoding:<8} {:>5} tensors {:>16} parameters {:>10}",
                share.tensors,
                thousands(share.parameters),
                format_bytes(share.bytes)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn numbers_by_hand() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(11_891_178_560), "11,891,178,560");
    }
}
