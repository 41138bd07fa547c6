//! Embeddings of a data set, computed once and kept on disk, keyed by the
//! encoder's weights and the texts, so retraining does not re-encode.
//! Native only (the page keeps its examples' embeddings in IndexedDB).

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::stack_embeddings;
use crate::{Encoder, ModelFiles};

/// Texts embedded between progress updates.
const CHUNK: usize = 512;

/// Caches embeddings in a directory (or not at all when `dir` is None).
pub struct EmbeddingCache {
    dir: Option<PathBuf>,
    encoder_key: [u8; 32],
}

impl EmbeddingCache {
    /// A cache for the encoder built from `files`.
    pub fn new(dir: Option<PathBuf>, files: &ModelFiles) -> Self {
        let mut h = Sha256::new();
        for part in [&files.config, &files.tokenizer, &files.weights] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        Self {
            dir,
            encoder_key: h.finalize().into(),
        }
    }

    fn path(&self, texts: &[String]) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let mut h = Sha256::new();
        h.update(self.encoder_key);
        for t in texts {
            h.update((t.len() as u64).to_le_bytes());
            h.update(t.as_bytes());
        }
        let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Some(dir.join(format!("{key}.safetensors")))
    }

    /// Embeddings `(texts.len(), dim)`, read from the cache or computed (with a
    /// progress bar titled `what`) and stored.
    pub fn embed(&self, encoder: &Encoder, texts: &[String], what: &str) -> Result<Tensor> {
        let path = self.path(texts);
        if let Some(t) = path
            .as_deref()
            .and_then(|p| read_cached(p, texts.len(), encoder.dim()))
        {
            return Ok(t);
        }
        let bar = ProgressBar::new(texts.len() as u64).with_message(format!("embedding {what}"));
        bar.set_style(
            ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} [{elapsed} < {eta}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let mut all = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(CHUNK) {
            all.extend(encoder.embed(chunk, 32)?);
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let tensor = stack_embeddings(&all, encoder.dim())?;
        if let Some(path) = path {
            store(&path, &tensor)?;
        }
        Ok(tensor)
    }
}

fn read_cached(path: &Path, rows: usize, dim: usize) -> Option<Tensor> {
    let bytes = std::fs::read(path).ok()?;
    let mut tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).ok()?;
    let t = tensors.remove("embeddings")?;
    (t.dims() == [rows, dim]).then_some(t)
}

fn store(path: &Path, tensor: &Tensor) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    let tmp = path.with_extension("partial");
    tensor.save_safetensors("embeddings", &tmp)?;
    std::fs::rename(&tmp, path).map_err(Error::io(path))
}
