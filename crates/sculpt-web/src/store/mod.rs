//! The weight store: model files kept in the browser's IndexedDB, so that a
//! model imported once is there tomorrow with the network off.
//!
//! Each file is split into chunks of at most [`MAX_CHUNK_SIZE`] bytes, each
//! recorded with its SHA-256 in the model's [`ModelRecord`]. What the store
//! promises:
//!
//! - **Usable only when whole.** A model can be opened only once every chunk
//!   of every file is stored and a verify pass has read each one back and
//!   matched its hash ([`ModelStatus::Verified`]).
//! - **Consistent when interrupted.** A chunk enters the record only after
//!   its bytes are stored, so a closed tab or a full disk leaves a record that
//!   lists exactly what is there; importing the same files again resumes
//!   after the last chunk that still matches.
//! - **Checked on load.** Reading a stored file re-hashes every chunk as it
//!   comes out ([`StoredFile`]), so corruption since the import is an error
//!   naming the file and chunk, never silently wrong weights.
//! - **Bounded memory.** One chunk at a time is held in wasm memory, on
//!   import and on load: a 12 GB checkpoint streams through.
//!
//! The store's logic runs on any [`Backend`]; [`MemoryBackend`] (with
//! simulated quota and corruption) tests it natively, and `IndexedDb` is the
//! browser's.
//!
//! Beside the weights, `history` keeps the generator's past images (a
//! database of its own; browser-only).

mod backend;
mod error;
#[cfg(target_arch = "wasm32")]
pub mod history;
#[cfg(target_arch = "wasm32")]
mod indexed_db;
mod record;
mod stored_file;
mod weight_store;

pub use backend::{Backend, BackendError, ChunkKey, MemoryBackend};
pub use error::StoreError;
#[cfg(target_arch = "wasm32")]
pub use indexed_db::IndexedDb;
pub use record::{ChunkRecord, FileRecord, ModelRecord, ModelStatus};
pub use stored_file::StoredFile;
// The worker checks the built-in model's files with the same hash.
#[cfg(target_arch = "wasm32")]
pub(crate) use weight_store::sha256_hex;
pub use weight_store::{
    DEFAULT_CHUNK_SIZE, ImportPhase, ImportProgress, MAX_CHUNK_SIZE, WeightStore,
};
