//! Where weight-file bytes come from. Readers ask a [`ByteSource`] for byte
//! ranges and never for the whole file, so a 12 GB checkpoint streams through
//! bounded buffers: natively from a `std::fs::File`, in the browser from an
//! IndexedDB chunk store (which implements the same trait in `sculpt-web`).

use std::io;

/// The most bytes a reader in this module asks a source for in one
/// `read_at` call. Large tensors are read in pieces of at most this size, so
/// that a source backed by fixed-size chunks (IndexedDB) never has to
/// assemble more than this at once.
pub const MAX_READ: usize = 64 << 20;

/// A readable, seekable run of bytes with a name for error messages.
///
/// `read_at` is an `async fn` so that a browser source can await IndexedDB;
/// its future carries no `Send` bound because browser futures (JS promises)
/// are not `Send`. Native sources finish at once and are driven by any
/// executor (`pollster` in the CLI and tests).
#[allow(async_fn_in_trait)] // deliberately no Send bound: see above
pub trait ByteSource {
    /// What error messages call the source ("flux1-schnell-Q4_0.gguf").
    fn name(&self) -> &str;

    /// The source's length in bytes; every limit a reader checks derives from it.
    fn len(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`. A range
    /// that does not lie inside the source is an error
    /// (`io::ErrorKind::UnexpectedEof`), never a short read.
    async fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

/// A source whose bytes are already in memory: tests, small files, and
/// files a caller has fetched whole.
#[derive(Clone, Debug)]
pub struct MemorySource<B> {
    name: String,
    bytes: B,
}

impl<B: AsRef<[u8]>> MemorySource<B> {
    pub fn new(name: impl Into<String>, bytes: B) -> Self {
        Self {
            name: name.into(),
            bytes,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    pub fn into_inner(self) -> B {
        self.bytes
    }
}

impl<B: AsRef<[u8]>> ByteSource for MemorySource<B> {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> u64 {
        self.bytes.as_ref().len() as u64
    }

    async fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let bytes = self.bytes.as_ref();
        let end = read_end(&self.name, bytes.len() as u64, offset, buf.len())?;
        // Inside the slice, so both ends fit a usize.
        buf.copy_from_slice(&bytes[offset as usize..end as usize]);
        Ok(())
    }
}

/// The end of a read of `len` bytes at `offset` from a source of
/// `source_len` bytes called `name`, or the error every source gives for a
/// range that does not lie inside it.
pub fn read_end(name: &str, source_len: u64, offset: u64, len: usize) -> io::Result<u64> {
    offset
        .checked_add(len as u64)
        .filter(|end| *end <= source_len)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "bytes {offset}..{offset}+{len} are past the end of {name} ({source_len} bytes)"
                ),
            )
        })
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::FileSource;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::{ByteSource, read_end};
    use std::fs::File;
    use std::io::{self, Read, Seek, SeekFrom};

    /// An open native file. The caller opens it (this crate never touches
    /// paths); the length is taken once, when the source is made, so that a
    /// reader's limits do not shift under it.
    #[derive(Debug)]
    pub struct FileSource {
        name: String,
        file: File,
        len: u64,
    }

    impl FileSource {
        pub fn new(file: File, name: impl Into<String>) -> io::Result<Self> {
            let len = file.metadata()?.len();
            Ok(Self {
                name: name.into(),
                file,
                len,
            })
        }

        pub fn into_file(self) -> File {
            self.file
        }
    }

    impl ByteSource for FileSource {
        fn name(&self) -> &str {
            &self.name
        }

        fn len(&self) -> u64 {
            self.len
        }

        async fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            read_end(&self.name, self.len, offset, buf.len())?;
            self.file.seek(SeekFrom::Start(offset))?;
            self.file.read_exact(buf)
        }
    }
}
