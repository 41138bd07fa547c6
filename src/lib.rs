//! A multi-task sentence transformer: sentence-transformers' all-MiniLM-L6-v2
//! on candle, exact against the Python reference, for native use and the browser.

pub mod data;
pub mod error;
pub mod model;
pub mod rng;
pub mod training;

pub use error::{Error, Result};
pub use model::encoder::{Embedding, Encoder, ENCODER_ID};
pub use model::weights::ModelFiles;

#[cfg(target_arch = "wasm32")]
pub mod web;
