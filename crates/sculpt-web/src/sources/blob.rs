//! A file the user chose or dropped (a `File`, which is a `Blob`) read as a
//! [`ByteSource`]: each read slices the blob and awaits just those bytes, so
//! a 12 GB checkpoint is never held in wasm memory.

use std::io;

use js_sys::Uint8Array;
use sculpt_flux::formats::{ByteSource, read_end};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, File};

pub struct BlobSource {
    name: String,
    blob: Blob,
    len: u64,
}

impl BlobSource {
    /// The file under its path within a dropped folder when there is one
    /// (`text_encoder_2/model-00001-of-00002.safetensors`), so that two
    /// folders' shards stay apart; otherwise its name.
    pub fn of_file(file: &File) -> Self {
        let relative = js_sys::Reflect::get(file, &"webkitRelativePath".into())
            .ok()
            .and_then(|path| path.as_string())
            .filter(|path| !path.is_empty());
        let name = relative.unwrap_or_else(|| file.name());
        Self {
            name,
            len: file.size() as u64,
            blob: file.clone().into(),
        }
    }
}

impl ByteSource for BlobSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> u64 {
        self.len
    }

    async fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = read_end(&self.name, self.len, offset, buf.len())?;
        let failed = |why: &str| io::Error::other(format!("cannot read {}: {why}", self.name));
        // f64 holds every offset below 2^53 exactly.
        let slice = self
            .blob
            .slice_with_f64_and_f64(offset as f64, end as f64)
            .map_err(|_| failed("the browser refused to slice it"))?;
        let buffer = JsFuture::from(slice.array_buffer())
            .await
            .map_err(|_| failed("the file changed or is no longer readable"))?;
        let bytes = Uint8Array::new(&buffer);
        if bytes.length() as usize != buf.len() {
            return Err(failed("it is shorter than when it was chosen"));
        }
        bytes.copy_to(buf);
        Ok(())
    }
}
