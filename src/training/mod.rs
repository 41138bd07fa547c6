//! Training: the trainer, what it trains over (cached embeddings or the
//! top encoder layers), lessons taught in the page with replay, and scores.

pub mod adapted;
#[cfg(not(target_arch = "wasm32"))]
pub mod cache;
pub mod contrast;
pub mod crossval;
pub mod defaults;
pub mod distil;
pub mod features;
pub mod fit;
pub mod lesson;
pub mod metrics;
pub mod replay;
pub mod trainer;
