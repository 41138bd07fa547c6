//! The model: tokenisation, the all-MiniLM-L6-v2 encoder (exact, or from
//! compact int8 weights), its layers, task heads, and the encoder with every
//! head on one embedding.

pub mod encoder;
pub mod heads;
pub(crate) mod layer;
mod multitask;
pub mod pooling;
pub mod quantize;
pub mod tokenize;
pub mod weights;

pub use multitask::{stack_embeddings, MultiTaskModel, Output};
