//! Where the engine's bytes come from, each read as a
//! [`ByteSource`](sculpt_flux::formats::ByteSource) in bounded pieces (a
//! 12 GB checkpoint never sits in wasm memory): a file the user chose
//! ([`BlobSource`]), a file on the web read by HTTP ranges ([`UrlSource`]),
//! an import's mix of both ([`ImportFiles`]), and, for generating, the
//! built-in model fetched whole or an imported one streamed out of the
//! IndexedDB store ([`WebSource`]).

mod blob;
mod import;
mod url;
mod web;

pub use blob::BlobSource;
pub use import::{ImportFiles, ImportSource};
pub use url::UrlSource;
pub use web::WebSource;
