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
