//! The model: tokenisation, the all-MiniLM-L6-v2 encoder (exact, or from
//! compact int8 weights), its layers, task heads, per-task adapters, and the
//! encoder with every head on one shared pass.

pub mod adapter;
mod embeddings;
pub mod encoder;
pub mod heads;
pub(crate) mod layer;
mod multitask;
pub mod pooling;
pub mod qmatmul;
pub mod quantize;
pub mod tokenize;
pub mod weights;

pub use layer::LayerShape;
pub use multitask::{head_inputs, stack_embeddings, MultiTaskModel, Output};
