//! What an import reads from: files the user chose or dropped, and files on
//! the web given by address, behind one [`ByteSource`].

use std::io;

use sculpt_flux::formats::ByteSource;
use web_sys::File;

use super::{BlobSource, UrlSource};

/// The files of one import, as the page sent them.
pub struct ImportFiles {
    pub files: Vec<File>,
    pub urls: Vec<String>,
}

impl ImportFiles {
    /// Opens every file (asking the servers for the sizes of the web ones).
    pub async fn open(&self) -> Result<Vec<ImportSource>, String> {
        let mut sources: Vec<ImportSource> = self
            .files
            .iter()
            .map(|file| ImportSource::File(BlobSource::of_file(file)))
            .collect();
        for url in &self.urls {
            sources.push(ImportSource::Url(UrlSource::open(url).await?));
        }
        Ok(sources)
    }
}

pub enum ImportSource {
    File(BlobSource),
    Url(UrlSource),
}

impl ByteSource for ImportSource {
    fn name(&self) -> &str {
        match self {
            Self::File(source) => source.name(),
            Self::Url(source) => source.name(),
        }
    }

    fn len(&self) -> u64 {
        match self {
            Self::File(source) => source.len(),
            Self::Url(source) => source.len(),
        }
    }

    async fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        match self {
            Self::File(source) => source.read_at(offset, buf).await,
            Self::Url(source) => source.read_at(offset, buf).await,
        }
    }
}
