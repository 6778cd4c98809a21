//! A drawn step: RGBA8 pixels, what every surface shows and saves.

/// An RGBA8 image, row by row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}
