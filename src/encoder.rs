//! The sentence encoder: tokenise, run BERT (candle-transformers), mean-pool
//! over the attention mask, L2-normalise. Matches sentence-transformers'
//! all-MiniLM-L6-v2 pipeline (Transformer, Pooling(mean), Normalize).

use std::ops::Range;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertEncoder, BertModel, Config};

use crate::error::{Error, Result};
use crate::tokenize::{SentenceTokenizer, MAX_SEQ_LEN};
use crate::weights::{load_tensors, parse_config, ModelFiles};

/// Identifier of the encoder, recorded in head files so a head made for
/// another encoder is refused.
pub const ENCODER_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// One sentence's embedding and how many word pieces produced it.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    /// Word pieces including `[CLS]` and `[SEP]`, after truncation.
    pub tokens: usize,
    /// The L2-normalised mean-pooled vector.
    pub vector: Vec<f32>,
}

/// Token ids of a batch, padded to its longest member, with the attention mask.
pub struct TokenBatch {
    /// `(batch, len)` u32 token ids, padded with 0.
    pub ids: Tensor,
    /// `(batch, len)` f32 mask: 1 for a real piece, 0 for padding.
    pub mask: Tensor,
    /// Real (unpadded) length of each member.
    pub lengths: Vec<usize>,
}

/// all-MiniLM-L6-v2 on candle: tokenizer, BERT, mean pooling and normalisation.
pub struct Encoder {
    tokenizer: SentenceTokenizer,
    /// BERT with zero layers: its forward pass is the embedding block alone.
    embeddings: BertModel,
    layers: BertEncoder,
    config: Config,
    device: Device,
}

impl Encoder {
    /// Builds the encoder from the bytes of its three files, checking each.
    pub fn from_files(files: &ModelFiles) -> Result<Self> {
        let config = parse_config(&files.config)?;
        let tokenizer = SentenceTokenizer::from_bytes(&files.tokenizer, MAX_SEQ_LEN)?;
        if MAX_SEQ_LEN > config.max_position_embeddings {
            return Err(Error::BadModelFile {
                file: crate::weights::CONFIG_FILE.into(),
                reason: format!(
                    "max_position_embeddings {} is shorter than the {MAX_SEQ_LEN}-piece inputs",
                    config.max_position_embeddings
                ),
            });
        }
        let device = Device::Cpu;
        let tensors = load_tensors(&files.weights, &config, &device)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let embedding_config = Config {
            num_hidden_layers: 0,
            ..config.clone()
        };
        let embeddings = BertModel::load(vb.clone(), &embedding_config)?;
        let layers = BertEncoder::load(vb.pp("encoder"), &config)?;
        Ok(Self {
            tokenizer,
            embeddings,
            layers,
            config,
            device,
        })
    }

    /// Dimension of the embeddings (384 for all-MiniLM-L6-v2).
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    /// Number of transformer layers.
    pub fn num_layers(&self) -> usize {
        self.layers.layers.len()
    }

    /// The BERT configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The device tensors live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Token ids of `text` as the reference computes them (specials, truncation at 256).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer.encode(text)
    }

    /// Pads token id lists into one batch with its attention mask.
    pub fn batch(&self, token_ids: &[Vec<u32>]) -> Result<TokenBatch> {
        let lengths: Vec<usize> = token_ids.iter().map(Vec::len).collect();
        let len = lengths.iter().copied().max().unwrap_or(0);
        let mut ids = Vec::with_capacity(token_ids.len() * len);
        let mut mask = Vec::with_capacity(token_ids.len() * len);
        for row in token_ids {
            ids.extend_from_slice(row);
            ids.extend(std::iter::repeat_n(0u32, len - row.len()));
            mask.extend(std::iter::repeat_n(1f32, row.len()));
            mask.extend(std::iter::repeat_n(0f32, len - row.len()));
        }
        let shape = (token_ids.len(), len);
        Ok(TokenBatch {
            ids: Tensor::from_vec(ids, shape, &self.device)?,
            mask: Tensor::from_vec(mask, shape, &self.device)?,
            lengths,
        })
    }

    /// The embedding block's output, `(batch, len, hidden)`.
    pub fn embed_tokens(&self, batch: &TokenBatch) -> Result<Tensor> {
        let token_types = batch.ids.zeros_like()?;
        Ok(self.embeddings.forward(&batch.ids, &token_types, None)?)
    }

    /// Runs transformer layers `range` over `hidden` (`(batch, len, hidden)`).
    pub fn run_layers(
        &self,
        hidden: &Tensor,
        mask: &Tensor,
        range: Range<usize>,
    ) -> Result<Tensor> {
        let additive_mask = additive_attention_mask(mask)?;
        if range == (0..self.num_layers()) {
            return Ok(self.layers.forward(hidden, &additive_mask)?);
        }
        let Some(layers) = self.layers.layers.get(range.clone()) else {
            return Err(Error::InvalidArgument {
                what: "layer range".into(),
                reason: format!("{range:?} is outside the {} layers", self.num_layers()),
            });
        };
        let mut part = self.layers.clone();
        part.layers = layers.to_vec();
        Ok(part.forward(hidden, &additive_mask)?)
    }

    /// Sentence embeddings `(batch, hidden)` for a token batch: all layers,
    /// mean pooling over the mask, L2 normalisation.
    pub fn forward(&self, batch: &TokenBatch) -> Result<Tensor> {
        let hidden = self.embed_tokens(batch)?;
        let hidden = self.run_layers(&hidden, &batch.mask, 0..self.num_layers())?;
        pool_and_normalize(&hidden, &batch.mask)
    }

    /// Embeds `texts` in one batch, padded to the longest.
    pub fn embed_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Embedding>> {
        let ids = texts
            .iter()
            .map(|t| self.tokenize(t.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        self.embed_ids(&ids)
    }

    /// Embeds pre-tokenised inputs in one batch.
    pub fn embed_ids(&self, ids: &[Vec<u32>]) -> Result<Vec<Embedding>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let batch = self.batch(ids)?;
        let vectors = self.forward(&batch)?.to_vec2::<f32>()?;
        Ok(batch
            .lengths
            .into_iter()
            .zip(vectors)
            .map(|(tokens, vector)| Embedding { tokens, vector })
            .collect())
    }

    /// Embeds any number of texts, `batch_size` at a time, grouping texts of
    /// similar length so padding costs little. Results keep the input order.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S], batch_size: usize) -> Result<Vec<Embedding>> {
        if batch_size == 0 {
            return Err(Error::InvalidArgument {
                what: "batch size".into(),
                reason: "must be at least 1".into(),
            });
        }
        let ids = texts
            .iter()
            .map(|t| self.tokenize(t.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out: Vec<Option<Embedding>> = vec![None; ids.len()];
        for chunk in order.chunks(batch_size) {
            let batch_ids: Vec<Vec<u32>> = chunk.iter().map(|&i| ids[i].clone()).collect();
            for (&i, embedding) in chunk.iter().zip(self.embed_ids(&batch_ids)?) {
                out[i] = Some(embedding);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

/// BERT's additive mask: 0 where attended, `f32::MIN` on padding, shaped
/// `(batch, 1, 1, len)` to broadcast over heads and query positions.
fn additive_attention_mask(mask: &Tensor) -> Result<Tensor> {
    let inverted = (1.0 - mask)?;
    Ok((inverted * f64::from(f32::MIN))?
        .unsqueeze(1)?
        .unsqueeze(1)?)
}

/// Mean over real pieces (sentence-transformers clamps the count at 1e-9),
/// then L2 normalisation (torch's `F.normalize`, eps 1e-12).
pub fn pool_and_normalize(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask3 = mask.unsqueeze(D::Minus1)?;
    let summed = hidden.broadcast_mul(&mask3)?.sum(1)?;
    let counts = mask.sum_keepdim(1)?.clamp(1e-9, f64::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    Ok(mean.broadcast_div(&norm)?)
}
