//! A cursor over a GGUF header that reads through a window of the source
//! and checks every length against the bytes left before allocating.

use crate::formats::error::{FormatError, Problem};
use crate::formats::source::ByteSource;
use crate::formats::tensor::read_exact_at;

/// How much of the header the reader fetches from the source at a time.
const WINDOW: usize = 1 << 20;

/// Reads the header front to back through a window of the source, so that
/// the many small fields cost one source read per [`WINDOW`] bytes.
pub(super) struct HeaderReader<'s, S> {
    pub(super) source: &'s mut S,
    pub(super) file_len: u64,
    window: Vec<u8>,
    window_start: u64,
    pub(super) pos: u64,
}

impl<'s, S: ByteSource> HeaderReader<'s, S> {
    pub(super) fn new(source: &'s mut S) -> Self {
        let file_len = source.len();
        Self {
            source,
            file_len,
            window: Vec::new(),
            window_start: 0,
            pos: 0,
        }
    }

    pub(super) fn remaining(&self) -> u64 {
        self.file_len - self.pos
    }

    pub(super) fn fail(&self, problem: Problem) -> FormatError {
        FormatError::new(self.source.name(), problem)
    }

    /// The next `len` bytes. Callers ask for at most [`WINDOW`] at a time
    /// (longer runs go through [`Self::bytes`]); a longer request still
    /// works, with a window of its own size, which `len <= remaining` bounds.
    pub(super) async fn take(
        &mut self,
        len: usize,
        what: impl Fn() -> String,
    ) -> Result<&[u8], FormatError> {
        if (len as u64) > self.remaining() {
            return Err(self.fail(Problem::Truncated {
                what: what(),
                offset: self.pos,
                needed: len as u64,
                file_len: self.file_len,
            }));
        }
        let window_end = self.window_start + self.window.len() as u64;
        if self.pos < self.window_start || self.pos + len as u64 > window_end {
            // At most WINDOW or len, both usize, and never past the end.
            let refill = (self.remaining().min(WINDOW as u64) as usize).max(len);
            self.window.resize(refill, 0);
            self.window_start = self.pos;
            read_exact_at(self.source, self.pos, &mut self.window).await?;
        }
        let start = (self.pos - self.window_start) as usize;
        self.pos += len as u64;
        Ok(&self.window[start..start + len])
    }

    pub(super) async fn array<const N: usize>(
        &mut self,
        what: impl Fn() -> String,
    ) -> Result<[u8; N], FormatError> {
        let bytes = self.take(N, what).await?;
        let mut array = [0u8; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    pub(super) async fn u32(&mut self, what: impl Fn() -> String) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array(what).await?))
    }

    pub(super) async fn u64(&mut self, what: impl Fn() -> String) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array(what).await?))
    }

    /// `len` bytes, checked against the bytes left before allocating.
    pub(super) async fn bytes(
        &mut self,
        len: u64,
        what: impl Fn() -> String,
    ) -> Result<Vec<u8>, FormatError> {
        if len > self.remaining() {
            return Err(self.fail(Problem::Truncated {
                what: what(),
                offset: self.pos,
                needed: len,
                file_len: self.file_len,
            }));
        }
        // On 32-bit targets (wasm32) a run longer than usize cannot be held.
        let len = usize::try_from(len).map_err(|_| {
            self.fail(Problem::TooLargeForMemory {
                what: what(),
                bytes: len,
            })
        })?;
        let mut bytes = Vec::with_capacity(len);
        while bytes.len() < len {
            let piece = (len - bytes.len()).min(WINDOW);
            let taken = self.take(piece, &what).await?;
            bytes.extend_from_slice(taken);
        }
        Ok(bytes)
    }

    /// Fails unless `count` items of at least `min_bytes` each fit in the
    /// bytes left: the check that comes before any allocation or loop.
    pub(super) fn check_count(
        &self,
        what: &str,
        count: u64,
        min_bytes: u64,
    ) -> Result<(), FormatError> {
        let remaining = self.remaining();
        let max = remaining / min_bytes;
        if count > max {
            return Err(self.fail(Problem::CountTooLarge {
                what: what.into(),
                count,
                remaining,
                max,
                min_bytes,
            }));
        }
        Ok(())
    }

    pub(super) async fn string(
        &mut self,
        limit: u64,
        what: impl Fn() -> String,
    ) -> Result<String, FormatError> {
        let len = self.u64(|| format!("the length of {}", what())).await?;
        if len > limit {
            return Err(self.fail(Problem::NameTooLong {
                what: what(),
                len,
                limit,
            }));
        }
        if len > self.remaining() {
            return Err(self.fail(Problem::StringTooLong {
                what: what(),
                len,
                remaining: self.remaining(),
            }));
        }
        let bytes = self.bytes(len, &what).await?;
        String::from_utf8(bytes).map_err(|_| self.fail(Problem::NotUtf8 { what: what() }))
    }
}
