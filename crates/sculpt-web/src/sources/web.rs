//! Where the engine's model files come from: the built-in model's files,
//! fetched whole (they are small), or an imported model's, streamed chunk by
//! chunk out of IndexedDB. One type, so that one pipeline type serves both.

use std::io;

use sculpt_flux::formats::{ByteSource, MemorySource};

use crate::store::{IndexedDb, StoredFile};

pub enum WebSource {
    Fetched(MemorySource<Vec<u8>>),
    Stored(StoredFile<IndexedDb>),
}

impl ByteSource for WebSource {
    fn name(&self) -> &str {
        match self {
            Self::Fetched(source) => source.name(),
            Self::Stored(source) => source.name(),
        }
    }

    fn len(&self) -> u64 {
        match self {
            Self::Fetched(source) => source.len(),
            Self::Stored(source) => source.len(),
        }
    }

    async fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        match self {
            Self::Fetched(source) => source.read_at(offset, buf).await,
            Self::Stored(source) => source.read_at(offset, buf).await,
        }
    }
}
