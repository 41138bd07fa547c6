//! A multi-task sentence transformer: sentence-transformers' all-MiniLM-L6-v2
//! on candle, exact against the Python reference, for native use and the browser.

pub mod data;
pub mod encoder;
pub mod error;
pub mod experiments;
pub mod finetune;
pub mod heads;
pub mod input;
mod layer;
pub mod metrics;
pub mod model;
pub mod quantize;
pub mod rng;
pub mod teach;
pub mod tokenize;
pub mod train;
pub mod weights;

pub use encoder::{Embedding, Encoder, ENCODER_ID};
pub use error::{Error, Result};
pub use weights::ModelFiles;

#[cfg(target_arch = "wasm32")]
pub mod web;
