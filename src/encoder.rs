//! The sentence encoder: tokenise, run BERT (candle-transformers), mean-pool
//! over the attention mask, L2-normalise. Matches sentence-transformers'
//! all-MiniLM-L6-v2 pipeline (Transformer, Pooling(mean), Normalize).

use std::ops::Range;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
#[cfg(not(target_arch = "wasm32"))]
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::layer::Layer;
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
    layers: Vec<Layer>,
    /// The loaded f32 weights by name (shared with the layers, not copied).
    tensors: HashMap<String, Tensor>,
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
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &device);
        let embedding_config = Config {
            num_hidden_layers: 0,
            ..config.clone()
        };
        let embeddings = BertModel::load(vb.clone(), &embedding_config)?;
        let layers = load_layers(&vb, &config)?;
        Ok(Self {
            tokenizer,
            embeddings,
            layers,
            tensors,
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
        self.layers.len()
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
    /// The mask must be 1s then 0s on each row (trailing padding, as [`Encoder::batch`] makes).
    pub fn run_layers(
        &self,
        hidden: &Tensor,
        mask: &Tensor,
        range: Range<usize>,
    ) -> Result<Tensor> {
        let mut lengths = Vec::new();
        for row in mask.to_vec2::<f32>()? {
            let n = row.iter().take_while(|&&m| m != 0.0).count();
            if row[n..].iter().any(|&m| m != 0.0) {
                return Err(Error::InvalidArgument {
                    what: "attention mask".into(),
                    reason: "padding must be at the end of each row".into(),
                });
            }
            lengths.push(if n == 0 { row.len() } else { n });
        }
        self.run_layers_on(hidden, &lengths, range)
    }

    fn run_layers_on(
        &self,
        hidden: &Tensor,
        lengths: &[usize],
        range: Range<usize>,
    ) -> Result<Tensor> {
        let Some(layers) = self.layers.get(range.clone()) else {
            return Err(Error::InvalidArgument {
                what: "layer range".into(),
                reason: format!("{range:?} is outside the {} layers", self.num_layers()),
            });
        };
        // Only real pieces go through the layers: padding rows are dropped here and
        // come back as zeros (pooling ignores them; the reference's values there
        // are never used either).
        let (batch, len, dim) = hidden.dims3()?;
        let rows: Vec<u32> = (lengths.iter().enumerate())
            .flat_map(|(b, &n)| (b * len..b * len + n).map(|r| r as u32))
            .collect();
        let rows = Tensor::new(rows, hidden.device())?;
        let mut x = hidden.reshape((batch * len, dim))?.index_select(&rows, 0)?;
        for layer in layers {
            x = layer.forward(&x, lengths)?;
        }
        let padded = Tensor::zeros((batch * len, dim), x.dtype(), x.device())?;
        Ok(padded.index_add(&rows, &x, 0)?.reshape((batch, len, dim))?)
    }

    /// Sentence embeddings `(batch, hidden)` for a token batch: all layers,
    /// mean pooling over the mask, L2 normalisation.
    pub fn forward(&self, batch: &TokenBatch) -> Result<Tensor> {
        let hidden = self.embed_tokens(batch)?;
        let hidden = self.run_layers_on(&hidden, &batch.lengths, 0..self.num_layers())?;
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
        // Batches run concurrently on rayon's pool (RAYON_NUM_THREADS, as candle's
        // matmul uses): most ops besides the matrix products are single-threaded,
        // and a small batch's products are too small to split well.
        let chunks: Vec<&[usize]> = order.chunks(batch_size).collect();
        let embed_chunk = |chunk: &&[usize]| {
            self.embed_ids(&chunk.iter().map(|&i| ids[i].clone()).collect::<Vec<_>>())
        };
        // wasm32 has no threads here: rayon would only add its fallback's overhead.
        #[cfg(not(target_arch = "wasm32"))]
        let results = chunks
            .par_iter()
            .map(embed_chunk)
            .collect::<Result<Vec<_>>>()?;
        #[cfg(target_arch = "wasm32")]
        let results = chunks.iter().map(embed_chunk).collect::<Result<Vec<_>>>()?;
        let mut out: Vec<Option<Embedding>> = vec![None; ids.len()];
        for (chunk, embeddings) in chunks.iter().zip(results) {
            for (&i, embedding) in chunk.iter().zip(embeddings) {
                out[i] = Some(embedding);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

/// Every transformer layer of `config`, from weights named `encoder.layer.{i}.*`.
fn load_layers(vb: &VarBuilder, config: &Config) -> Result<Vec<Layer>> {
    (0..config.num_hidden_layers)
        .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), config))
        .collect()
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

impl Encoder {
    /// The weights of layers `range`, by name.
    pub(crate) fn layer_tensors(&self, range: Range<usize>) -> Vec<(&String, &Tensor)> {
        let prefixes: Vec<String> = range.map(|i| format!("encoder.layer.{i}.")).collect();
        self.tensors
            .iter()
            .filter(|(name, _)| prefixes.iter().any(|p| name.starts_with(p)))
            .collect()
    }

    /// Replaces some weights (by name) and rebuilds the layers from them.
    pub(crate) fn replace_tensors(&mut self, new: HashMap<String, Tensor>) -> Result<()> {
        for (name, tensor) in new {
            match self.tensors.get(&name) {
                Some(old) if old.dims() == tensor.dims() => {
                    self.tensors.insert(name, tensor);
                }
                _ => {
                    return Err(Error::InvalidArgument {
                        what: "encoder weights".into(),
                        reason: format!(
                            "`{name}` is not an encoder weight of shape {:?}",
                            tensor.dims()
                        ),
                    })
                }
            }
        }
        let vb = VarBuilder::from_tensors(self.tensors.clone(), DType::F32, &self.device);
        self.layers = load_layers(&vb, &self.config)?;
        Ok(())
    }

    /// What heads record as their encoder.
    pub fn encoder_ref(&self) -> crate::heads::EncoderRef {
        crate::heads::EncoderRef {
            id: ENCODER_ID.into(),
            dim: self.dim(),
        }
    }

    /// The encoder's weights as f32 safetensors bytes (e.g. after fine-tuning).
    pub fn weights_bytes(&self) -> Result<Vec<u8>> {
        crate::weights::serialize_tensors(&self.tensors, DType::F32, HashMap::new())
    }
}
