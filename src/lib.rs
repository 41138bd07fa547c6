//! A multi-task sentence transformer: sentence-transformers' all-MiniLM-L6-v2
//! on candle, exact against the Python reference, for native use and the browser.

pub mod encoder;
pub mod error;
pub mod input;
pub mod tokenize;
pub mod weights;

pub use encoder::{Embedding, Encoder, ENCODER_ID};
pub use error::{Error, Result};
pub use weights::ModelFiles;
