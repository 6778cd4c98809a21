//! What the store knows about each model, kept beside its chunks.

use serde::{Deserialize, Serialize};

/// One imported (or importing) model: its files and how far they got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// The name the user sees and picks; unique in the store.
    pub id: String,
    pub files: Vec<FileRecord>,
    pub status: ModelStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ModelStatus {
    /// Chunks are still being stored (or the import was interrupted).
    Importing,
    /// Every chunk is stored and was read back with the right hash.
    Verified,
    /// A chunk is missing or its bytes no longer match its hash.
    Corrupt { file: String, chunk: usize },
}

/// One file of a model, split into chunks of `chunk_size` bytes (the last
/// one shorter).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub name: String,
    pub bytes: u64,
    pub chunk_size: u64,
    /// The chunks stored so far, in order: always a prefix of the file.
    pub chunks: Vec<ChunkRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the chunk's bytes.
    pub sha256: String,
}

impl FileRecord {
    pub fn new(name: impl Into<String>, bytes: u64, chunk_size: u64) -> Self {
        Self {
            name: name.into(),
            bytes,
            chunk_size,
            chunks: Vec::new(),
        }
    }

    /// How many chunks the whole file takes (an empty file takes none).
    pub fn chunk_count(&self) -> usize {
        self.bytes.div_ceil(self.chunk_size) as usize
    }

    /// The byte range of chunk `index` within the file.
    pub fn chunk_range(&self, index: usize) -> std::ops::Range<u64> {
        let start = index as u64 * self.chunk_size;
        start..(start + self.chunk_size).min(self.bytes)
    }

    pub fn stored_bytes(&self) -> u64 {
        self.chunks.iter().map(|chunk| chunk.bytes).sum()
    }

    pub fn is_complete(&self) -> bool {
        self.chunks.len() == self.chunk_count()
    }
}

impl ModelRecord {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|file| file.bytes).sum()
    }

    pub fn stored_bytes(&self) -> u64 {
        self.files.iter().map(FileRecord::stored_bytes).sum()
    }

    pub fn is_complete(&self) -> bool {
        self.files.iter().all(FileRecord::is_complete)
    }

    pub fn file(&self, name: &str) -> Option<&FileRecord> {
        self.files.iter().find(|file| file.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_file_exactly() {
        let file = FileRecord::new("a.gguf", 10, 4);
        assert_eq!(file.chunk_count(), 3);
        assert_eq!(file.chunk_range(0), 0..4);
        assert_eq!(file.chunk_range(2), 8..10);
        assert_eq!(FileRecord::new("empty", 0, 4).chunk_count(), 0);
        assert_eq!(FileRecord::new("exact", 8, 4).chunk_count(), 2);
    }

    #[test]
    fn record_round_trips_through_json() {
        let record = ModelRecord {
            id: "flux".into(),
            files: vec![FileRecord::new("ae.safetensors", 3, 2)],
            status: ModelStatus::Corrupt {
                file: "ae.safetensors".into(),
                chunk: 1,
            },
        };
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.contains(r#""state":"corrupt""#), "{json}");
        assert_eq!(serde_json::from_str::<ModelRecord>(&json).unwrap(), record);
    }
}
