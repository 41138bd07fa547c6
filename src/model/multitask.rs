//! The multi-task model: one encoder, any number of heads, one encoder pass
//! per batch for all of them.

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::model::encoder::{Embedding, Encoder};
use crate::model::heads::{Head, Prediction};

/// One input's embedding and every head's prediction for it.
#[derive(Clone, Debug)]
pub struct Output {
    /// The sentence embedding the heads read.
    pub embedding: Embedding,
    /// `(head name, prediction)` in head order.
    pub predictions: Vec<(String, Prediction)>,
}

/// The shared encoder with its task heads.
pub struct MultiTaskModel {
    /// The shared encoder.
    pub encoder: Encoder,
    heads: Vec<Head>,
}

/// Stacks embeddings into a `(n, dim)` tensor.
pub fn stack_embeddings(embeddings: &[Embedding], dim: usize) -> Result<Tensor> {
    let flat: Vec<f32> = embeddings
        .iter()
        .flat_map(|e| e.vector.iter().copied())
        .collect();
    Ok(Tensor::from_vec(
        flat,
        (embeddings.len(), dim),
        &candle_core::Device::Cpu,
    )?)
}

impl MultiTaskModel {
    /// A model with no heads yet.
    pub fn new(encoder: Encoder) -> Self {
        Self {
            encoder,
            heads: Vec::new(),
        }
    }

    /// Adds a head, or replaces the head of the same name. The head must
    /// have been made for this encoder.
    pub fn set_head(&mut self, head: Head) -> Result<()> {
        if head.meta().encoder != self.encoder.encoder_ref() {
            return Err(Error::InvalidArgument {
                what: format!("head {:?}", head.name()),
                reason: format!(
                    "made for {:?}, this model's encoder is {:?}",
                    head.meta().encoder,
                    self.encoder.encoder_ref()
                ),
            });
        }
        match self.heads.iter_mut().find(|h| h.name() == head.name()) {
            Some(slot) => *slot = head,
            None => self.heads.push(head),
        }
        Ok(())
    }

    /// Removes the head called `name` and returns it (`None`: there was none).
    pub fn remove_head(&mut self, name: &str) -> Option<Head> {
        let at = self.heads.iter().position(|h| h.name() == name)?;
        Some(self.heads.remove(at))
    }

    /// The heads, in the order they were added.
    pub fn heads(&self) -> &[Head] {
        &self.heads
    }

    /// The head called `name`.
    pub fn head(&self, name: &str) -> Option<&Head> {
        self.heads.iter().find(|h| h.name() == name)
    }

    /// Embeds `texts` once and runs every head on the embeddings.
    pub fn predict<S: AsRef<str>>(&self, texts: &[S], batch_size: usize) -> Result<Vec<Output>> {
        let embeddings = self.encoder.embed(texts, batch_size)?;
        self.predict_embeddings(embeddings)
    }

    /// Runs every head on embeddings already computed.
    pub fn predict_embeddings(&self, embeddings: Vec<Embedding>) -> Result<Vec<Output>> {
        if embeddings.is_empty() {
            return Ok(Vec::new());
        }
        let stacked = stack_embeddings(&embeddings, self.encoder.dim())?;
        let per_head = self
            .heads
            .iter()
            .map(|h| h.predict(&stacked))
            .collect::<Result<Vec<_>>>()?;
        Ok(embeddings
            .into_iter()
            .enumerate()
            .map(|(i, embedding)| Output {
                embedding,
                predictions: self
                    .heads
                    .iter()
                    .zip(&per_head)
                    .map(|(h, preds)| (h.name().to_string(), preds[i].clone()))
                    .collect(),
            })
            .collect())
    }
}
