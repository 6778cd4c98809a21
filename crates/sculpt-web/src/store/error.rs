//! What can go wrong in the store, in words a user can act on.

use super::BackendError;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("a model needs a name of 1 to 200 characters without control characters, not {0:?}")]
    BadModelName(String),
    #[error("file name {0:?} cannot be stored: it is empty, repeated, or has control characters")]
    BadFileName(String),
    #[error("a model needs at least one file")]
    NoFiles,
    #[error("a model named {0:?} is already stored; delete it first to import it again")]
    AlreadyStored(String),
    #[error(
        "an unfinished import of {model:?} holds other files ({stored}); import the same files to resume it, or delete it"
    )]
    DifferentFiles { model: String, stored: String },
    #[error("file {file:?} was {expected} bytes when its import began but is {found} bytes now")]
    FileChanged {
        file: String,
        expected: u64,
        found: u64,
    },
    #[error(
        "not enough storage to finish importing {model:?}: {needed} more bytes are needed ({stored} of {total} stored). The import resumes where it stopped once space is freed"
    )]
    QuotaExceeded {
        model: String,
        needed: u64,
        stored: u64,
        total: u64,
    },
    #[error("no model named {0:?} is stored")]
    NoSuchModel(String),
    #[error("model {model:?} has no file {file:?}")]
    NoSuchFile { model: String, file: String },
    #[error("model {0:?} is not fully imported yet; import its files again to finish")]
    Incomplete(String),
    #[error(
        "chunk {chunk} of {file:?} in model {model:?} is damaged or missing; delete the model and import it again"
    )]
    Corrupt {
        model: String,
        file: String,
        chunk: usize,
    },
    #[error("reading {file:?} failed: {message}")]
    Read { file: String, message: String },
    #[error("the browser's storage failed: {0}")]
    Backend(String),
}

impl From<BackendError> for StoreError {
    fn from(error: BackendError) -> Self {
        match error {
            // Callers that can say how much space is missing map quota errors
            // themselves; this is the fallback for record writes.
            BackendError::QuotaExceeded => {
                Self::Backend("the browser's storage quota for this page is used up".into())
            }
            BackendError::Other(message) => Self::Backend(message),
        }
    }
}
