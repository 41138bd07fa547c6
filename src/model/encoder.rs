//! The sentence encoder: tokenise, run BERT (candle-transformers), mean-pool
//! over the attention mask, L2-normalise. Matches sentence-transformers'
//! all-MiniLM-L6-v2 pipeline (Transformer, Pooling(mean), Normalize).

use std::collections::HashMap;
use std::ops::Range;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;
#[cfg(not(target_arch = "wasm32"))]
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::model::embeddings::{EmbeddingBlock, WORDS};
use crate::model::layer::{layer_prefix, Int8Weights, Layer};
use crate::model::pooling::mean_pool_normalize;
use crate::model::tokenize::{SentenceTokenizer, MAX_SEQ_LEN};
use crate::model::weights::{expected_tensors, load_weights, parse_config, ModelFiles};

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

/// Token ids of a batch, padded to its longest member, with each member's length.
pub struct TokenBatch {
    /// `(batch, len)` u32 token ids, padded with 0.
    pub ids: Tensor,
    /// Real (unpadded) length of each member.
    pub lengths: Vec<usize>,
}

/// all-MiniLM-L6-v2 on candle: tokenizer, BERT, mean pooling and normalisation.
pub struct Encoder {
    tokenizer: SentenceTokenizer,
    embeddings: EmbeddingBlock,
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
                file: crate::model::weights::CONFIG_FILE.into(),
                reason: format!(
                    "max_position_embeddings {} is shorter than the {MAX_SEQ_LEN}-piece inputs",
                    config.max_position_embeddings
                ),
            });
        }
        let device = Device::Cpu;
        // Every int8 matrix but the small position and token type tables.
        let keep = |name: &str| !name.starts_with("embeddings.") || name == WORDS;
        let (tensors, mut int8) =
            load_weights(&files.weights, &files.weights_file, &config, &device, keep)?;
        let embeddings = EmbeddingBlock::load(&tensors, &mut int8, &config)?;
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &device);
        let layers = load_layers(&vb, &config, &mut int8)?;
        Ok(Self {
            tokenizer,
            embeddings,
            layers,
            tensors,
            config,
            device,
        })
    }

    /// Whether its layers compute on the integer kernels (the compact weights)
    /// rather than in f32.
    pub fn on_integer_kernels(&self) -> bool {
        self.layers.iter().any(Layer::on_integer_kernels)
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

    /// Pads token id lists into one batch.
    pub fn batch(&self, token_ids: &[Vec<u32>]) -> Result<TokenBatch> {
        let lengths: Vec<usize> = token_ids.iter().map(Vec::len).collect();
        let len = lengths.iter().copied().max().unwrap_or(0);
        let mut ids = Vec::with_capacity(token_ids.len() * len);
        for row in token_ids {
            ids.extend_from_slice(row);
            ids.extend(std::iter::repeat_n(0u32, len - row.len()));
        }
        let shape = (token_ids.len(), len);
        Ok(TokenBatch {
            ids: Tensor::from_vec(ids, shape, &self.device)?,
            lengths,
        })
    }

    /// The embedding block's output over the real pieces of `batch`, packed
    /// one sentence after another: `(sum(lengths), hidden)`. Padding goes no
    /// further than this (pooling and attention never read it in the reference).
    fn embed_packed(&self, batch: &TokenBatch) -> Result<Tensor> {
        let ids = batch.ids.to_vec2::<u32>()?;
        let real: Vec<&[u32]> = ids
            .iter()
            .zip(&batch.lengths)
            .map(|(row, &n)| &row[..n])
            .collect();
        self.embeddings.forward(&real, &self.device)
    }

    /// Runs transformer layers `range` over packed pieces.
    fn run_packed(&self, x: Tensor, lengths: &[usize], range: Range<usize>) -> Result<Tensor> {
        let Some(layers) = self.layers.get(range.clone()) else {
            return Err(Error::InvalidArgument {
                what: "layer range".into(),
                reason: format!("{range:?} is outside the {} layers", self.num_layers()),
            });
        };
        layers
            .iter()
            .try_fold(x, |x, layer| layer.forward(&x, lengths))
    }

    /// Sentence embeddings `(batch, hidden)` for a token batch: all layers,
    /// mean pooling over the real pieces, L2 normalisation.
    pub fn forward(&self, batch: &TokenBatch) -> Result<Tensor> {
        Ok(self.forward_keeping(batch, &[])?.0)
    }

    /// As [`Encoder::forward`], also keeping the packed `(sum(lengths), hidden)`
    /// input of each layer in `keep` (what adapters start from), in `keep`'s order.
    pub fn forward_keeping(
        &self,
        batch: &TokenBatch,
        keep: &[usize],
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let mut kept: Vec<Option<Tensor>> = vec![None; keep.len()];
        let mut x = self.embed_packed(batch)?;
        for (i, layer) in self.layers.iter().enumerate() {
            for (slot, _) in kept.iter_mut().zip(keep).filter(|(_, &k)| k == i) {
                *slot = Some(x.clone());
            }
            x = layer.forward(&x, &batch.lengths)?;
        }
        let kept = kept
            .into_iter()
            .zip(keep)
            .map(|(state, k)| {
                state.ok_or_else(|| Error::InvalidArgument {
                    what: "layer".into(),
                    reason: format!(
                        "{k} is not one of the encoder's {} layers",
                        self.num_layers()
                    ),
                })
            })
            .collect::<Result<_>>()?;
        Ok((mean_pool_normalize(&x, &batch.lengths)?, kept))
    }

    /// Per text, the `(pieces, dim)` output of the layers below `first`
    /// (the embedding block alone when `first` is 0): what trainable top
    /// layers start from.
    pub fn states_below<S: AsRef<str>>(&self, texts: &[S], first: usize) -> Result<Vec<Tensor>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(32) {
            let ids = chunk
                .iter()
                .map(|t| self.tokenize(t.as_ref()))
                .collect::<Result<Vec<_>>>()?;
            let batch = self.batch(&ids)?;
            let x = self.run_packed(self.embed_packed(&batch)?, &batch.lengths, 0..first)?;
            let mut start = 0;
            for &len in &batch.lengths {
                out.push(x.narrow(0, start, len)?.contiguous()?);
                start += len;
            }
        }
        Ok(out)
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
        self.map_batches(texts, batch_size, |ids| self.embed_ids(ids))
    }

    /// Runs `f` on the token ids of `texts`, `batch_size` at a time, texts of
    /// similar length together (little padding); `f` returns one item per
    /// text of its batch. Results keep the input order.
    pub fn map_batches<S, T, F>(&self, texts: &[S], batch_size: usize, f: F) -> Result<Vec<T>>
    where
        S: AsRef<str>,
        T: Send,
        F: Fn(&[Vec<u32>]) -> Result<Vec<T>> + Sync,
    {
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
        let run_chunk =
            |chunk: &&[usize]| f(&chunk.iter().map(|&i| ids[i].clone()).collect::<Vec<_>>());
        // wasm32 has no threads here: rayon would only add its fallback's overhead.
        #[cfg(not(target_arch = "wasm32"))]
        let results = chunks
            .par_iter()
            .map(run_chunk)
            .collect::<Result<Vec<_>>>()?;
        #[cfg(target_arch = "wasm32")]
        let results = chunks.iter().map(run_chunk).collect::<Result<Vec<_>>>()?;
        let mut out: Vec<Option<T>> = (0..ids.len()).map(|_| None).collect();
        for (chunk, items) in chunks.iter().zip(results) {
            for (&i, item) in chunk.iter().zip(items) {
                out[i] = Some(item);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

/// Caps the threads candle's matrix products use. Call before any work starts:
/// candle reads `RAYON_NUM_THREADS` on every product, rayon when its pool starts.
#[cfg(not(target_arch = "wasm32"))]
pub fn set_threads(threads: u32) {
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
}

/// Every transformer layer of `config`.
fn load_layers(vb: &VarBuilder, config: &Config, int8: &mut Int8Weights) -> Result<Vec<Layer>> {
    (0..config.num_hidden_layers)
        .map(|i| Layer::load(vb.pp(layer_prefix(i)), &config.into(), int8))
        .collect()
}

impl Encoder {
    /// The weights of layers `range`, by name (int8 ones made f32).
    pub(crate) fn layer_tensors(&self, range: Range<usize>) -> Result<HashMap<String, Tensor>> {
        let prefixes: Vec<String> = range.map(|i| format!("{}.", layer_prefix(i))).collect();
        let wanted = |name: &String| prefixes.iter().any(|p| name.starts_with(p));
        self.all_tensors(wanted)
    }

    /// Every weight `wanted` accepts, by name, f32 (int8 ones made f32).
    fn all_tensors(&self, wanted: impl Fn(&String) -> bool) -> Result<HashMap<String, Tensor>> {
        let mut out: HashMap<String, Tensor> = (self.tensors.iter())
            .filter(|(name, _)| wanted(name))
            .map(|(name, t)| (name.clone(), t.clone()))
            .collect();
        let shapes: HashMap<String, Vec<usize>> =
            expected_tensors(&self.config).into_iter().collect();
        let words = self.embeddings.int8_words();
        let layers = self.layers.iter().flat_map(|l| l.int8_parts());
        for (name, values) in words
            .into_iter()
            .chain(layers)
            .filter(|(name, _)| wanted(name))
        {
            let shape = shapes
                .get(&name)
                .cloned()
                .unwrap_or_else(|| vec![values.len()]);
            out.insert(name, Tensor::from_vec(values, shape, &self.device)?);
        }
        Ok(out)
    }

    /// Replaces some weights (by name) and rebuilds the encoder from them,
    /// every weight f32 from then on (new weights have no integers to match).
    pub(crate) fn replace_tensors(&mut self, new: HashMap<String, Tensor>) -> Result<()> {
        let shapes: HashMap<String, Vec<usize>> =
            expected_tensors(&self.config).into_iter().collect();
        if let Some((name, tensor)) =
            (new.iter()).find(|(n, t)| shapes.get(*n).map(Vec::as_slice) != Some(t.dims()))
        {
            return Err(Error::InvalidArgument {
                what: "encoder weights".into(),
                reason: format!(
                    "`{name}` is not an encoder weight of shape {:?}",
                    tensor.dims()
                ),
            });
        }
        let mut tensors = self.all_tensors(|_| true)?;
        tensors.extend(new);
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &self.device);
        let mut none = Int8Weights::new();
        self.embeddings = EmbeddingBlock::load(&tensors, &mut none, &self.config)?;
        self.layers = load_layers(&vb, &self.config, &mut none)?;
        self.tensors = tensors;
        Ok(())
    }

    /// What heads record as their encoder.
    pub fn encoder_ref(&self) -> crate::model::heads::EncoderRef {
        crate::model::heads::EncoderRef {
            id: ENCODER_ID.into(),
            dim: self.dim(),
        }
    }

    /// The encoder's weights as f32 safetensors bytes (e.g. after fine-tuning).
    pub fn weights_bytes(&self) -> Result<Vec<u8>> {
        crate::model::weights::serialize_tensors(
            &self.all_tensors(|_| true)?,
            DType::F32,
            HashMap::new(),
        )
    }
}
