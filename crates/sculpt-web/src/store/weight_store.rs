//! Importing, verifying, opening and deleting models.

use std::rc::Rc;

use sculpt_flux::formats::ByteSource;
use sha2::{Digest, Sha256};

use super::{
    Backend, BackendError, ChunkKey, ChunkRecord, FileRecord, ModelRecord, ModelStatus, StoreError,
    StoredFile,
};

/// Chunks are at most this big: IndexedDB stores each as one value, and the
/// import holds one in wasm memory at a time.
pub const MAX_CHUNK_SIZE: u64 = 64 << 20;
pub const DEFAULT_CHUNK_SIZE: u64 = 32 << 20;

/// Where an import stands, for a progress bar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportProgress {
    pub phase: ImportPhase,
    pub file: String,
    /// Bytes done in this phase over all files, of `total`.
    pub done: u64,
    pub total: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportPhase {
    /// Comparing the files with the chunks an interrupted import left.
    Resuming,
    /// Writing chunks.
    Storing,
    /// Reading every chunk back and checking its hash.
    Verifying,
}

pub struct WeightStore<B> {
    /// Shared with every [`StoredFile`] opened, which outlive the borrow
    /// that opened them (a pipeline keeps its files).
    backend: Rc<B>,
    chunk_size: u64,
}

impl<B: Backend> WeightStore<B> {
    pub fn new(backend: B) -> Self {
        Self::with_chunk_size(backend, DEFAULT_CHUNK_SIZE)
    }

    /// `chunk_size` is clamped to 1..=[`MAX_CHUNK_SIZE`] (tests use tiny chunks).
    pub fn with_chunk_size(backend: B, chunk_size: u64) -> Self {
        Self {
            backend: Rc::new(backend),
            chunk_size: chunk_size.clamp(1, MAX_CHUNK_SIZE),
        }
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Every model in the store, finished or not, by name.
    pub async fn models(&self) -> Result<Vec<ModelRecord>, StoreError> {
        let mut records = self.backend.records().await?;
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records)
    }

    /// Bytes of chunk data in the store.
    pub async fn used_bytes(&self) -> Result<u64, StoreError> {
        Ok(self.backend.chunk_bytes().await?)
    }

    /// Stores `files` as model `model`, then reads every chunk back to verify
    /// it. If an earlier import of the same files (same names and sizes) was
    /// interrupted, chunks that still match the files are kept and the import
    /// continues after them. On any error the record lists exactly the chunks
    /// that are stored, and nothing else in the store changes.
    pub async fn import<S: ByteSource>(
        &self,
        model: &str,
        files: &mut [S],
        mut progress: impl FnMut(&ImportProgress),
    ) -> Result<ModelRecord, StoreError> {
        check_model_name(model)?;
        check_file_names(files)?;
        let mut record = self.begin(model, files).await?;
        let total = record.total_bytes();

        let mut done = 0;
        for (file_index, source) in files.iter_mut().enumerate() {
            let kept = self
                .matching_prefix(&record, file_index, source, &mut done, total, &mut progress)
                .await?;
            if kept < record.files[file_index].chunks.len() {
                record.files[file_index].chunks.truncate(kept);
                self.backend.put_record(&record).await?;
            }
        }

        let mut stored = record.stored_bytes();
        for (file_index, source) in files.iter_mut().enumerate() {
            let first_missing = record.files[file_index].chunks.len();
            for chunk in first_missing..record.files[file_index].chunk_count() {
                let file = &record.files[file_index];
                let bytes = read_chunk(source, file, chunk).await?;
                let key = chunk_key(model, file, chunk);
                match self.backend.put_chunk(&key, &bytes).await {
                    Ok(()) => {}
                    Err(BackendError::QuotaExceeded) => {
                        return Err(StoreError::QuotaExceeded {
                            model: model.into(),
                            needed: total - stored,
                            stored,
                            total,
                        });
                    }
                    Err(other) => return Err(other.into()),
                }
                record.files[file_index].chunks.push(ChunkRecord {
                    bytes: bytes.len() as u64,
                    sha256: sha256_hex(&bytes),
                });
                self.backend.put_record(&record).await?;
                stored += bytes.len() as u64;
                progress(&ImportProgress {
                    phase: ImportPhase::Storing,
                    file: record.files[file_index].name.clone(),
                    done: stored,
                    total,
                });
            }
        }

        self.verify_record(record, &mut progress).await
    }

    /// Reads every chunk of `model` back and checks its hash; marks the model
    /// verified, or corrupt (naming the first bad chunk).
    pub async fn verify(
        &self,
        model: &str,
        mut progress: impl FnMut(&ImportProgress),
    ) -> Result<ModelRecord, StoreError> {
        let record = self.record(model).await?;
        self.verify_record(record, &mut progress).await
    }

    /// Opens one file of a verified model for reading; every chunk is checked
    /// against its hash again as it is read.
    pub async fn open(&self, model: &str, file: &str) -> Result<StoredFile<B>, StoreError> {
        let record = self.record(model).await?;
        match &record.status {
            ModelStatus::Verified => {}
            ModelStatus::Importing => return Err(StoreError::Incomplete(model.into())),
            ModelStatus::Corrupt { file, chunk } => {
                return Err(StoreError::Corrupt {
                    model: model.into(),
                    file: file.clone(),
                    chunk: *chunk,
                });
            }
        }
        let file = record
            .file(file)
            .cloned()
            .ok_or_else(|| StoreError::NoSuchFile {
                model: model.into(),
                file: file.into(),
            })?;
        Ok(StoredFile::new(Rc::clone(&self.backend), model, file))
    }

    /// Removes a model, its record and chunks together.
    pub async fn delete(&self, model: &str) -> Result<(), StoreError> {
        self.record(model).await?;
        Ok(self.backend.delete_model(model).await?)
    }

    /// The record of one model, finished or not.
    pub async fn record(&self, model: &str) -> Result<ModelRecord, StoreError> {
        self.backend
            .get_record(model)
            .await?
            .ok_or_else(|| StoreError::NoSuchModel(model.into()))
    }

    /// The record to import into: a new one, or an unfinished one for the
    /// same files.
    async fn begin<S: ByteSource>(
        &self,
        model: &str,
        files: &[S],
    ) -> Result<ModelRecord, StoreError> {
        let wanted: Vec<(String, u64)> = files
            .iter()
            .map(|file| (file.name().to_string(), file.len()))
            .collect();
        match self.backend.get_record(model).await? {
            Some(existing) if existing.status == ModelStatus::Importing => {
                let stored: Vec<(String, u64)> = existing
                    .files
                    .iter()
                    .map(|file| (file.name.clone(), file.bytes))
                    .collect();
                if stored != wanted {
                    return Err(StoreError::DifferentFiles {
                        model: model.into(),
                        stored: stored
                            .iter()
                            .map(|(name, bytes)| format!("{name}: {bytes} bytes"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
                Ok(existing)
            }
            Some(_) => Err(StoreError::AlreadyStored(model.into())),
            None => {
                let record = ModelRecord {
                    id: model.into(),
                    files: wanted
                        .into_iter()
                        .map(|(name, bytes)| FileRecord::new(name, bytes, self.chunk_size))
                        .collect(),
                    status: ModelStatus::Importing,
                };
                self.backend.put_record(&record).await?;
                Ok(record)
            }
        }
    }

    /// How many of the chunks an interrupted import stored still match
    /// `source`, reading and hashing the source's chunks.
    async fn matching_prefix<S: ByteSource>(
        &self,
        record: &ModelRecord,
        file_index: usize,
        source: &mut S,
        done: &mut u64,
        total: u64,
        progress: &mut impl FnMut(&ImportProgress),
    ) -> Result<usize, StoreError> {
        let file = &record.files[file_index];
        for (index, stored) in file.chunks.iter().enumerate() {
            let bytes = read_chunk(source, file, index).await?;
            if sha256_hex(&bytes) != stored.sha256 {
                return Ok(index);
            }
            *done += bytes.len() as u64;
            progress(&ImportProgress {
                phase: ImportPhase::Resuming,
                file: file.name.clone(),
                done: *done,
                total,
            });
        }
        Ok(file.chunks.len())
    }

    async fn verify_record(
        &self,
        mut record: ModelRecord,
        progress: &mut impl FnMut(&ImportProgress),
    ) -> Result<ModelRecord, StoreError> {
        if !record.is_complete() {
            return Err(StoreError::Incomplete(record.id));
        }
        let total = record.total_bytes();
        let mut done = 0;
        let mut damaged = None;
        'files: for file in &record.files {
            for (index, expected) in file.chunks.iter().enumerate() {
                let key = chunk_key(&record.id, file, index);
                let intact = match self.backend.get_chunk(&key).await? {
                    Some(bytes) => {
                        bytes.len() as u64 == expected.bytes
                            && sha256_hex(&bytes) == expected.sha256
                    }
                    None => false,
                };
                if !intact {
                    damaged = Some((file.name.clone(), index));
                    break 'files;
                }
                done += expected.bytes;
                progress(&ImportProgress {
                    phase: ImportPhase::Verifying,
                    file: file.name.clone(),
                    done,
                    total,
                });
            }
        }
        record.status = match &damaged {
            None => ModelStatus::Verified,
            Some((file, chunk)) => ModelStatus::Corrupt {
                file: file.clone(),
                chunk: *chunk,
            },
        };
        self.backend.put_record(&record).await?;
        match damaged {
            None => Ok(record),
            Some((file, chunk)) => Err(StoreError::Corrupt {
                model: record.id,
                file,
                chunk,
            }),
        }
    }
}

pub(super) fn chunk_key(model: &str, file: &FileRecord, index: usize) -> ChunkKey {
    ChunkKey {
        model: model.into(),
        file: file.name.clone(),
        index,
    }
}

/// Lowercase hex SHA-256, as records and manifests write it.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

async fn read_chunk<S: ByteSource>(
    source: &mut S,
    file: &FileRecord,
    index: usize,
) -> Result<Vec<u8>, StoreError> {
    if source.len() != file.bytes {
        return Err(StoreError::FileChanged {
            file: file.name.clone(),
            expected: file.bytes,
            found: source.len(),
        });
    }
    let range = file.chunk_range(index);
    let mut bytes = vec![0; (range.end - range.start) as usize];
    source
        .read_at(range.start, &mut bytes)
        .await
        .map_err(|error| StoreError::Read {
            file: file.name.clone(),
            message: error.to_string(),
        })?;
    Ok(bytes)
}

fn is_acceptable_name(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 200 && !name.chars().any(char::is_control)
}

fn check_model_name(model: &str) -> Result<(), StoreError> {
    if is_acceptable_name(model) {
        Ok(())
    } else {
        Err(StoreError::BadModelName(model.into()))
    }
}

fn check_file_names<S: ByteSource>(files: &[S]) -> Result<(), StoreError> {
    if files.is_empty() {
        return Err(StoreError::NoFiles);
    }
    for (index, file) in files.iter().enumerate() {
        let repeated = files[..index]
            .iter()
            .any(|other| other.name() == file.name());
        if repeated || !is_acceptable_name(file.name()) {
            return Err(StoreError::BadFileName(file.name().into()));
        }
    }
    Ok(())
}
