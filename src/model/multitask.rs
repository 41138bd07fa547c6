//! The multi-task model: one encoder, any number of heads, one shared
//! encoder pass per batch for all of them; a head with an adapter runs only
//! its own top layers, from the shared pass's state below them.

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

impl Encoder {
    /// Refuses a head made for another encoder, or whose adapter does not
    /// fit this encoder's layers.
    pub fn check_head(&self, head: &Head) -> Result<()> {
        let refuse = |reason: String| Error::InvalidArgument {
            what: format!("head {:?}", head.name()),
            reason,
        };
        if head.meta().encoder != self.encoder_ref() {
            return Err(refuse(format!(
                "made for {:?}, this model's encoder is {:?}",
                head.meta().encoder,
                self.encoder_ref()
            )));
        }
        match &head.meta().adapter {
            Some(adapter) => self.check_adapter(adapter).map_err(refuse),
            None => Ok(()),
        }
    }
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

    /// Adds a head, or replaces the head of the same name (returning the
    /// one replaced). The head, and its adapter if any, must have been made
    /// for this encoder.
    pub fn set_head(&mut self, head: Head) -> Result<Option<Head>> {
        self.encoder.check_head(&head)?;
        match self.heads.iter_mut().find(|h| h.name() == head.name()) {
            Some(slot) => Ok(Some(std::mem::replace(slot, head))),
            None => {
                self.heads.push(head);
                Ok(None)
            }
        }
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

    /// Embeds `texts` once and runs every head: a plain head on the
    /// embedding, an adapted one on its adapter's output.
    pub fn predict<S: AsRef<str>>(&self, texts: &[S], batch_size: usize) -> Result<Vec<Output>> {
        self.encoder
            .map_batches(texts, batch_size, |ids| self.predict_ids(ids))
    }

    /// One batch through the shared layers, keeping the states adapters
    /// start from, then every head.
    fn predict_ids(&self, ids: &[Vec<u32>]) -> Result<Vec<Output>> {
        let batch = self.encoder.batch(ids)?;
        let mut firsts: Vec<usize> = self
            .heads
            .iter()
            .filter_map(|h| h.adapter().map(|a| a.first()))
            .collect();
        firsts.sort_unstable();
        firsts.dedup();
        let (pooled, kept) = self.encoder.forward_keeping(&batch, &firsts)?;
        let per_head = self
            .heads
            .iter()
            .map(|h| match h.adapter() {
                None => h.predict(&pooled),
                Some(a) => {
                    let state = &kept[firsts.binary_search(&a.first()).unwrap_or(0)];
                    h.predict(&a.infer_packed(state.clone(), &batch.lengths)?)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let vectors = pooled.to_vec2::<f32>()?;
        Ok((vectors.into_iter().zip(&batch.lengths).enumerate())
            .map(|(i, (vector, &tokens))| Output {
                embedding: Embedding { tokens, vector },
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

/// What `head` reads for `texts`, `(n, dim)`: its adapter's output when it
/// has one, else the shared embeddings. Lessons and replay sets train and
/// store these, so a head's adapter stays as it is while its head learns.
pub fn head_inputs<S: AsRef<str>>(encoder: &Encoder, head: &Head, texts: &[S]) -> Result<Tensor> {
    let Some(adapter) = head.adapter() else {
        return stack_embeddings(&encoder.embed(texts, 32)?, encoder.dim());
    };
    let mut parts = Vec::new();
    for chunk in texts.chunks(32) {
        let states = encoder.states_below(chunk, adapter.first())?;
        parts.push(adapter.infer_all(&states)?);
    }
    if parts.is_empty() {
        return Ok(Tensor::zeros(
            (0, encoder.dim()),
            candle_core::DType::F32,
            encoder.device(),
        )?);
    }
    Ok(Tensor::cat(&parts, 0)?)
}
