//! BERT's embedding block (word + token type + position, then layer norm),
//! the same maths as candle-transformers' `BertEmbeddings`, over the real
//! pieces of a batch only. The word table of compact weights stays int8 (its
//! f32 copy would be 47 MB): each piece's row is made f32 when it is looked up.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use candle_nn::{LayerNorm, Module};
use candle_transformers::models::bert::Config;

use crate::error::{Error, Result};
use crate::model::layer::Int8Weights;
use crate::model::quantize::Int8Matrix;

/// Name of the word table in the reference's files.
pub(crate) const WORDS: &str = "embeddings.word_embeddings.weight";

/// The word table, as loaded.
enum Words {
    F32(Tensor),
    Int8(Int8Matrix),
}

/// The embedding block of an encoder.
pub(crate) struct EmbeddingBlock {
    words: Words,
    positions: Tensor,
    /// Row 0 of the token type table (every piece is of type 0).
    token_type: Tensor,
    norm: LayerNorm,
    hidden: usize,
}

impl EmbeddingBlock {
    /// The block from the loaded weights (the word table taken from `int8` when kept there).
    pub(crate) fn load(
        tensors: &HashMap<String, Tensor>,
        int8: &mut Int8Weights,
        config: &Config,
    ) -> Result<Self> {
        let get = |name: &str| {
            tensors
                .get(name)
                .cloned()
                .ok_or_else(|| Error::InvalidArgument {
                    what: "encoder weights".into(),
                    reason: format!("`{name}` is missing"),
                })
        };
        let words = match int8.remove(WORDS) {
            Some(m) => Words::Int8(m),
            None => Words::F32(get(WORDS)?),
        };
        Ok(Self {
            words,
            positions: get("embeddings.position_embeddings.weight")?,
            token_type: get("embeddings.token_type_embeddings.weight")?.narrow(0, 0, 1)?,
            norm: LayerNorm::new(
                get("embeddings.LayerNorm.weight")?,
                get("embeddings.LayerNorm.bias")?,
                config.layer_norm_eps,
            ),
            hidden: config.hidden_size,
        })
    }

    /// The word table's name and f32 values when it is held only in int8.
    pub(crate) fn int8_words(&self) -> Option<(String, Vec<f32>)> {
        match &self.words {
            Words::Int8(m) => Some((WORDS.to_string(), m.dequantize())),
            Words::F32(_) => None,
        }
    }

    /// `(sum of lengths, hidden)`: each text's pieces `ids`, one text after another.
    pub(crate) fn forward(&self, ids: &[&[u32]], device: &Device) -> Result<Tensor> {
        let pieces: Vec<u32> = ids.iter().flat_map(|t| t.iter().copied()).collect();
        let positions: Vec<u32> = ids.iter().flat_map(|t| 0..t.len() as u32).collect();
        let words = match &self.words {
            Words::F32(table) => table.index_select(&Tensor::new(pieces, device)?, 0)?,
            Words::Int8(table) => {
                let h = self.hidden;
                let mut rows = Vec::with_capacity(pieces.len() * h);
                for &id in &pieces {
                    if !table.extend_row(id as usize, h, &mut rows) {
                        return Err(Error::InvalidArgument {
                            what: "token id".into(),
                            reason: format!("{id} is outside the word table"),
                        });
                    }
                }
                Tensor::from_vec(rows, (pieces.len(), h), device)?
            }
        };
        let positions = self
            .positions
            .index_select(&Tensor::new(positions, device)?, 0)?;
        let x = words.broadcast_add(&self.token_type)?.add(&positions)?;
        Ok(self.norm.forward(&x)?)
    }
}
