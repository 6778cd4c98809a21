//! The models Sculpt runs, one folder each, every one driven by its
//! `Config` and checked against candle-transformers on the CPU
//! (`tests/gpu_*.rs`): the FLUX.1 transformer ([`flux1`]), FLUX's
//! autoencoder ([`autoencoder`]), CLIP-L's text model ([`clip`]) and the
//! T5 v1.1 encoder ([`t5`]). Which of them make up a model, and how their
//! outputs feed each other, is a [`crate::family::Family`].

pub mod autoencoder;
pub mod clip;
pub mod flux1;
pub mod preview;
pub mod t5;

/// The largest width, count or length a configuration may give: far above
/// any real model's (FLUX's widest is 12,288, T5's vocabulary 32,128), and
/// small enough that the products the models compute of two of them fit a
/// `usize`, so that a crafted configuration is refused, not overflowed.
pub const MAX_CONFIG_SIZE: usize = 1 << 24;

/// The first of `sizes` (name, value) above [`MAX_CONFIG_SIZE`], as a
/// problem to report.
pub(crate) fn oversized<'a>(sizes: impl IntoIterator<Item = (&'a str, usize)>) -> Option<String> {
    sizes
        .into_iter()
        .find(|&(_, value)| value > MAX_CONFIG_SIZE)
        .map(|(name, value)| {
            format!("{name} {value} is more than any model has ({MAX_CONFIG_SIZE} at most)")
        })
}
