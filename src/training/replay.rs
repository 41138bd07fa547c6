//! Replay sets: stored f16 embeddings of some of a head's training data (or
//! a held-out set), which a lesson mixes in so the head keeps its classes.

use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::heads::{EncoderRef, Head};
use crate::training::features::select_rows;
use crate::training::trainer;

/// `format` in a replay file's metadata.
pub const REPLAY_FORMAT: &str = "sentence-multitask-replay/1";

/// Stored sentence embeddings with their labels: a head's memory of its
/// training data (or a held-out set), kept in f16 on disk.
#[derive(Clone, Debug)]
pub struct ReplaySet {
    /// The head these examples belong to.
    pub head: String,
    /// Class names; `classes` index into them.
    pub labels: Vec<String>,
    /// `(n, dim)` f32 embeddings.
    pub embeddings: Tensor,
    /// Class of each row.
    pub classes: Vec<usize>,
}

#[derive(Serialize, Deserialize)]
struct ReplayMeta {
    format: String,
    head: String,
    labels: Vec<String>,
    encoder: EncoderRef,
}

impl ReplaySet {
    /// Rows of `embeddings` (`(n, dim)`) with `classes`, checked for agreement.
    pub fn new(
        head: &str,
        labels: Vec<String>,
        embeddings: Tensor,
        classes: Vec<usize>,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidArgument {
            what: format!("replay set of {head:?}"),
            reason,
        };
        let (rows, _) = embeddings.dims2().map_err(|e| invalid(e.to_string()))?;
        if rows != classes.len() {
            return Err(invalid(format!(
                "{rows} embeddings but {} labels",
                classes.len()
            )));
        }
        if let Some(bad) = classes.iter().find(|&&c| c >= labels.len()) {
            return Err(invalid(format!("class {bad} of {} labels", labels.len())));
        }
        Ok(Self {
            head: head.into(),
            labels,
            embeddings: embeddings.to_dtype(DType::F32)?,
            classes,
        })
    }

    /// Reads a replay file, refusing one made for another encoder or with
    /// shapes, labels or values that do not agree.
    pub fn from_safetensors(bytes: &[u8], encoder: &EncoderRef, source: &str) -> Result<Self> {
        let refuse = |reason: String| Error::BadModelFile {
            file: source.into(),
            reason,
        };
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| refuse(format!("not a safetensors file ({e})")))?;
        let meta: ReplayMeta = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("replay"))
            .ok_or_else(|| refuse("no replay metadata".into()))
            .and_then(|json| {
                serde_json::from_str(json).map_err(|e| refuse(format!("bad replay metadata ({e})")))
            })?;
        if meta.format != REPLAY_FORMAT {
            return Err(refuse(format!(
                "format {:?}, expected {REPLAY_FORMAT:?}",
                meta.format
            )));
        }
        if &meta.encoder != encoder {
            return Err(refuse(format!(
                "made for encoder {:?}, this one is {encoder:?}",
                meta.encoder
            )));
        }
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| refuse(e.to_string()))?;
        let embeddings = tensors
            .get("embeddings")
            .ok_or_else(|| refuse("no \"embeddings\" tensor".into()))?
            .to_dtype(DType::F32)?;
        if embeddings.dims().len() != 2 || embeddings.dims()[1] != encoder.dim {
            return Err(refuse(format!(
                "embeddings of shape {:?}, expected (n, {})",
                embeddings.dims(),
                encoder.dim
            )));
        }
        if !crate::model::weights::all_finite(&embeddings)? {
            return Err(refuse("embeddings hold NaN or infinity".into()));
        }
        let classes: Vec<usize> = tensors
            .get("classes")
            .ok_or_else(|| refuse("no \"classes\" tensor".into()))?
            .to_dtype(DType::U32)?
            .to_vec1::<u32>()
            .map_err(|e| refuse(format!("classes: {e}")))?
            .into_iter()
            .map(|c| c as usize)
            .collect();
        Self::new(&meta.head, meta.labels, embeddings, classes).map_err(|e| refuse(e.to_string()))
    }

    /// The file: f16 embeddings, u32 classes, metadata naming head, labels and encoder.
    pub fn to_safetensors(&self, encoder: &EncoderRef) -> Result<Vec<u8>> {
        let embeddings = self.embeddings.to_dtype(DType::F16)?;
        let rows = self.classes.len();
        let dim = embeddings.dims()[1];
        let embedding_bytes: Vec<u8> = embeddings
            .flatten_all()?
            .to_vec1::<half::f16>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let class_bytes: Vec<u8> = self
            .classes
            .iter()
            .flat_map(|&c| (c as u32).to_le_bytes())
            .collect();
        let meta = ReplayMeta {
            format: REPLAY_FORMAT.into(),
            head: self.head.clone(),
            labels: self.labels.clone(),
            encoder: encoder.clone(),
        };
        let bad = |e: safetensors::SafeTensorError| Error::InvalidArgument {
            what: "replay set".into(),
            reason: e.to_string(),
        };
        let views = [
            (
                "classes",
                TensorView::new(Dtype::U32, vec![rows], &class_bytes).map_err(bad)?,
            ),
            (
                "embeddings",
                TensorView::new(Dtype::F16, vec![rows, dim], &embedding_bytes).map_err(bad)?,
            ),
        ];
        let metadata = std::collections::HashMap::from([(
            "replay".to_string(),
            serde_json::to_string(&meta).map_err(|e| Error::InvalidArgument {
                what: "replay metadata".into(),
                reason: e.to_string(),
            })?,
        )]);
        safetensors::serialize(views, Some(metadata)).map_err(bad)
    }

    /// Share of rows `head` labels correctly (by label name; rows of classes
    /// the head lacks count as wrong).
    pub fn accuracy(&self, head: &Head) -> Result<f64> {
        Ok(self.accuracy_among(head, &self.labels)?.unwrap_or(0.0))
    }

    /// Share of the set's examples of `classes` that `head` labels right
    /// (`None` when the set holds none of them): what a lesson kept of the
    /// shipped classes the person did not delete.
    pub fn accuracy_among(&self, head: &Head, classes: &[String]) -> Result<Option<f64>> {
        let rows: Vec<usize> = (0..self.classes.len())
            .filter(|&i| classes.contains(&self.labels[self.classes[i]]))
            .collect();
        if rows.is_empty() {
            return Ok(None);
        }
        let predicted = trainer::predict_classes(head, &select_rows(&self.embeddings, &rows)?)?;
        let right = predicted
            .iter()
            .zip(&rows)
            .filter(|(&p, &i)| head.labels().get(p) == Some(&self.labels[self.classes[i]]))
            .count();
        Ok(Some(right as f64 / rows.len() as f64))
    }
}
