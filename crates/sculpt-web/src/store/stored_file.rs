//! A stored file read back as a [`ByteSource`], so that the same format
//! readers that stream a file natively stream it out of IndexedDB.

use std::{io, rc::Rc};

use sculpt_flux::formats::{ByteSource, read_end};

use super::{
    Backend, FileRecord,
    weight_store::{chunk_key, sha256_hex},
};

/// One file of a verified model. Holds at most one chunk in memory; each
/// chunk's hash is checked every time it is fetched.
pub struct StoredFile<B> {
    backend: Rc<B>,
    model: String,
    file: FileRecord,
    /// The last chunk fetched (readers ask for neighbouring ranges).
    cached: Option<(usize, Vec<u8>)>,
}

impl<B: Backend> StoredFile<B> {
    pub(super) fn new(backend: Rc<B>, model: &str, file: FileRecord) -> Self {
        Self {
            backend,
            model: model.into(),
            file,
            cached: None,
        }
    }

    async fn chunk(&mut self, index: usize) -> io::Result<&[u8]> {
        if self.cached.as_ref().map(|(cached, _)| *cached) != Some(index) {
            self.cached = None;
            let key = chunk_key(&self.model, &self.file, index);
            let bytes = self
                .backend
                .get_chunk(&key)
                .await
                .map_err(|error| io::Error::other(format!("{error:?}")))?;
            let expected = &self.file.chunks[index];
            let intact = bytes.as_ref().is_some_and(|bytes| {
                bytes.len() as u64 == expected.bytes && sha256_hex(bytes) == expected.sha256
            });
            match bytes {
                Some(bytes) if intact => self.cached = Some((index, bytes)),
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "chunk {index} of {:?} in model {:?} is damaged or missing; delete the model and import it again",
                            self.file.name, self.model
                        ),
                    ));
                }
            }
        }
        Ok(&self.cached.as_ref().expect("just filled").1)
    }
}

impl<B: Backend> ByteSource for StoredFile<B> {
    fn name(&self) -> &str {
        &self.file.name
    }

    fn len(&self) -> u64 {
        self.file.bytes
    }

    async fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = read_end(&self.file.name, self.file.bytes, offset, buf.len())?;
        let chunk_size = self.file.chunk_size;
        let mut position = offset;
        let mut written = 0;
        while position < end {
            let index = (position / chunk_size) as usize;
            let within = (position % chunk_size) as usize;
            let take = ((end - position) as usize).min(chunk_size as usize - within);
            let chunk = self.chunk(index).await?;
            buf[written..written + take].copy_from_slice(&chunk[within..within + take]);
            written += take;
            position += take as u64;
        }
        Ok(())
    }
}
