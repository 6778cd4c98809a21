//! Where the store keeps bytes: IndexedDB in the browser, memory in tests.

use std::{cell::RefCell, collections::BTreeMap};

use super::ModelRecord;

/// Names one chunk: model, file and position within the file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChunkKey {
    pub model: String,
    pub file: String,
    pub index: usize,
}

impl ChunkKey {
    /// The key as one string. NUL cannot occur in the names the store
    /// accepts, so every chunk of a model sorts between `model + "\0"` and
    /// `model + "\u{1}"`: one key range deletes them all.
    pub fn encode(&self) -> String {
        format!("{}\0{}\0{:010}", self.model, self.file, self.index)
    }

    /// The bounds that enclose every chunk key of `model`.
    pub fn model_range(model: &str) -> (String, String) {
        (format!("{model}\0"), format!("{model}\u{1}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The browser refused to store more (its quota for this origin).
    QuotaExceeded,
    Other(String),
}

/// Durable storage for records and chunks. Each method is one atomic step:
/// it either happens entirely or not at all.
///
/// The futures carry no `Send` bound: IndexedDB's are JS promises.
#[allow(async_fn_in_trait)] // single-threaded by design, see above
pub trait Backend {
    async fn put_chunk(&self, key: &ChunkKey, bytes: &[u8]) -> Result<(), BackendError>;
    async fn get_chunk(&self, key: &ChunkKey) -> Result<Option<Vec<u8>>, BackendError>;
    async fn put_record(&self, record: &ModelRecord) -> Result<(), BackendError>;
    async fn get_record(&self, model: &str) -> Result<Option<ModelRecord>, BackendError>;
    async fn records(&self) -> Result<Vec<ModelRecord>, BackendError>;
    /// Removes a model's record and all its chunks together.
    async fn delete_model(&self, model: &str) -> Result<(), BackendError>;
    /// Bytes of chunk data held, over all models.
    async fn chunk_bytes(&self) -> Result<u64, BackendError>;
}

/// A backend in memory, for tests: it can run out of space at a set size
/// and have chunks corrupted behind the store's back.
#[derive(Default)]
pub struct MemoryBackend {
    chunks: RefCell<BTreeMap<String, Vec<u8>>>,
    records: RefCell<BTreeMap<String, ModelRecord>>,
    quota: RefCell<Option<u64>>,
    chunk_writes: std::cell::Cell<usize>,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on, refuse any chunk that would take the chunk data past
    /// `bytes` (as a browser does when the origin's quota is spent).
    pub fn set_quota(&self, bytes: Option<u64>) {
        *self.quota.borrow_mut() = bytes;
    }

    /// Flips one bit of a stored chunk; returns whether the chunk existed.
    pub fn corrupt(&self, key: &ChunkKey, byte: usize) -> bool {
        match self.chunks.borrow_mut().get_mut(&key.encode()) {
            Some(bytes) if byte < bytes.len() => {
                bytes[byte] ^= 1;
                true
            }
            _ => false,
        }
    }

    /// Drops one stored chunk; returns whether it existed.
    pub fn remove_chunk(&self, key: &ChunkKey) -> bool {
        self.chunks.borrow_mut().remove(&key.encode()).is_some()
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks.borrow().len()
    }

    /// How many chunks were written so far (refused writes not counted).
    pub fn chunk_writes(&self) -> usize {
        self.chunk_writes.get()
    }
}

impl Backend for MemoryBackend {
    async fn put_chunk(&self, key: &ChunkKey, bytes: &[u8]) -> Result<(), BackendError> {
        let key = key.encode();
        let mut chunks = self.chunks.borrow_mut();
        let held: u64 = chunks
            .iter()
            .filter(|(other, _)| **other != key)
            .map(|(_, chunk)| chunk.len() as u64)
            .sum();
        if let Some(quota) = *self.quota.borrow()
            && held + bytes.len() as u64 > quota
        {
            return Err(BackendError::QuotaExceeded);
        }
        chunks.insert(key, bytes.to_vec());
        self.chunk_writes.set(self.chunk_writes.get() + 1);
        Ok(())
    }

    async fn get_chunk(&self, key: &ChunkKey) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.chunks.borrow().get(&key.encode()).cloned())
    }

    async fn put_record(&self, record: &ModelRecord) -> Result<(), BackendError> {
        self.records
            .borrow_mut()
            .insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn get_record(&self, model: &str) -> Result<Option<ModelRecord>, BackendError> {
        Ok(self.records.borrow().get(model).cloned())
    }

    async fn records(&self) -> Result<Vec<ModelRecord>, BackendError> {
        Ok(self.records.borrow().values().cloned().collect())
    }

    async fn delete_model(&self, model: &str) -> Result<(), BackendError> {
        let (start, end) = ChunkKey::model_range(model);
        self.chunks
            .borrow_mut()
            .retain(|key, _| !(start.as_str()..end.as_str()).contains(&key.as_str()));
        self.records.borrow_mut().remove(model);
        Ok(())
    }

    async fn chunk_bytes(&self) -> Result<u64, BackendError> {
        Ok(self.chunks.borrow().values().map(|c| c.len() as u64).sum())
    }
}
