//! Classification heads over the normalised sentence embedding, and their
//! file format: `NAME.safetensors` (weights) plus `NAME.json` (everything else).

use std::collections::{BTreeMap, HashSet};

use candle_core::{Device, Tensor, Var, D};
use candle_nn::{Linear, Module};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::adapter::{AdapterMeta, TopLayers, ADAPTER_PREFIX};
use crate::rng::Rng;

/// Format tag written into every head's JSON.
pub const HEAD_FORMAT: &str = "sentence-multitask-head/1";

/// Non-linearity of an MLP head's hidden layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// GELU (erf form).
    Gelu,
    /// tanh.
    Tanh,
}

/// The shape of a head.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Architecture {
    /// One linear layer: embedding to logits.
    Linear,
    /// One hidden layer, then logits.
    Mlp {
        /// Hidden width.
        hidden: usize,
        /// Hidden activation.
        activation: Activation,
        /// Dropout on the hidden layer while training (0 disables it).
        dropout: f32,
    },
}

impl Default for Architecture {
    fn default() -> Self {
        Self::mlp(256)
    }
}

impl Architecture {
    /// An MLP head of `hidden` units with GELU and dropout 0.1.
    pub fn mlp(hidden: usize) -> Self {
        Self::Mlp {
            hidden,
            activation: Activation::Gelu,
            dropout: 0.1,
        }
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Architecture::Linear => f.write_str("linear"),
            Architecture::Mlp {
                hidden,
                activation,
                dropout,
            } => {
                let activation = serde_json::to_value(activation).map_err(|_| std::fmt::Error)?;
                let activation = activation.as_str().ok_or(std::fmt::Error)?;
                write!(f, "mlp:{hidden}:{activation}:{dropout}")
            }
        }
    }
}

impl std::str::FromStr for Architecture {
    type Err = String;

    /// `linear`, or `mlp[:HIDDEN[:ACTIVATION:DROPOUT]]` (defaults 256, gelu, 0.1).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("{s:?} is not linear or mlp[:HIDDEN[:relu|gelu|tanh:DROPOUT]]");
        let mut parts = s.split(':');
        match parts.next() {
            Some("linear") if parts.next().is_none() => return Ok(Architecture::Linear),
            Some("mlp") => {}
            _ => return Err(bad()),
        }
        let rest: Vec<&str> = parts.collect();
        let architecture = match rest.as_slice() {
            [] => Architecture::default(),
            [h] => Architecture::mlp(h.parse().map_err(|_| bad())?),
            [h, a, d] => Architecture::Mlp {
                hidden: h.parse().map_err(|_| bad())?,
                activation: serde_json::from_value(serde_json::json!(a)).map_err(|_| bad())?,
                dropout: d.parse().map_err(|_| bad())?,
            },
            _ => return Err(bad()),
        };
        match architecture {
            Architecture::Mlp {
                hidden, dropout, ..
            } if hidden == 0 || !(0.0..1.0).contains(&dropout) => Err(bad()),
            _ => Ok(architecture),
        }
    }
}

/// Which encoder a head was made for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncoderRef {
    /// Encoder identifier, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
    pub id: String,
    /// Embedding dimension.
    pub dim: usize,
}

/// How a head was trained: kept in its JSON so figures travel with it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// Where the training data came from.
    #[serde(default)]
    pub data: Vec<String>,
    /// Training examples per class.
    #[serde(default)]
    pub examples_per_class: BTreeMap<String, usize>,
    /// Validation metrics of the weights kept.
    #[serde(default)]
    pub metrics: Option<serde_json::Value>,
    /// Seed of the run.
    #[serde(default)]
    pub seed: u64,
    /// Anything else worth keeping (the command, epochs run, settings).
    #[serde(default, flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Everything about a head except its weights: the content of `NAME.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadMeta {
    /// Always [`HEAD_FORMAT`].
    pub format: String,
    /// The head's name (the task), e.g. `topic`.
    pub name: String,
    /// Class labels in output order.
    pub labels: Vec<String>,
    /// Layer structure.
    pub architecture: Architecture,
    /// The encoder whose embeddings the head reads.
    pub encoder: EncoderRef,
    /// How it was trained, if it was.
    #[serde(default)]
    pub training: Option<TrainingRecord>,
    /// The head's own copy of the encoder's top layers, if it has one: the
    /// head then reads their output instead of the shared embedding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterMeta>,
}

/// A classification head: metadata plus trainable parameters, and maybe an
/// adapter. Not `Clone`: candle's `Var`s would be shared; [`Head::deep_copy`]
/// copies the values.
#[derive(Debug)]
pub struct Head {
    meta: HeadMeta,
    /// Parameters by name (`hidden.weight`, `hidden.bias`, `output.weight`, `output.bias`).
    params: BTreeMap<String, Var>,
    adapter: Option<TopLayers>,
}

/// One head's answer for one input, as the CLI's `predict` prints it and the
/// page's worker receives it: `{"label": .., "probabilities": {label: p, ..}}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The most probable label.
    pub label: String,
    /// Probability of every label, in the head's label order (an object
    /// keyed by label, written in that order).
    #[serde(serialize_with = "probabilities_by_label")]
    pub probabilities: Vec<(String, f32)>,
}

/// `[(label, p)]` as the map `{label: p}`, keeping the order.
fn probabilities_by_label<S: serde::Serializer>(
    probabilities: &[(String, f32)],
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.collect_map(probabilities.iter().map(|(label, p)| (label, p)))
}

fn check_labels(labels: &[String]) -> std::result::Result<(), String> {
    if labels.len() < 2 {
        return Err(format!("needs at least 2 labels, has {}", labels.len()));
    }
    let mut seen = HashSet::new();
    for label in labels {
        if label.trim().is_empty() {
            return Err("has an empty label".into());
        }
        if !seen.insert(label) {
            return Err(format!("has the label {label:?} twice"));
        }
    }
    Ok(())
}

/// Why `name` cannot name a head (it names its files too), if it cannot.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name {name:?} must be 1-64 characters of letters, digits, '-' or '_'"
        ))
    }
}

impl Head {
    /// A freshly initialised head (PyTorch's default uniform(+-1/sqrt(fan_in)) from `seed`).
    pub fn new(
        name: &str,
        labels: Vec<String>,
        architecture: Architecture,
        encoder: EncoderRef,
        seed: u64,
    ) -> Result<Self> {
        let meta = HeadMeta {
            format: HEAD_FORMAT.into(),
            name: name.into(),
            labels,
            architecture,
            encoder,
            training: None,
            adapter: None,
        };
        let invalid = |reason: String| Error::InvalidArgument {
            what: format!("head {name:?}"),
            reason,
        };
        check_name(name).map_err(invalid)?;
        check_labels(&meta.labels).map_err(invalid)?;
        if let Architecture::Mlp {
            hidden, dropout, ..
        } = architecture
        {
            if hidden == 0 || !(0.0..1.0).contains(&dropout) {
                return Err(invalid(format!(
                    "MLP needs hidden >= 1 and dropout in [0, 1), got {hidden} and {dropout}"
                )));
            }
        }
        let mut rng = Rng::new(seed);
        let params = Self::expected_shapes(&meta)
            .into_iter()
            .map(|(name, shape)| {
                let fan_in = *shape.last().unwrap_or(&1) as f32;
                let bound = 1.0 / fan_in.max(1.0).sqrt();
                let n = shape.iter().product();
                let values: Vec<f32> = (0..n).map(|_| rng.uniform(-bound, bound)).collect();
                let var = Var::from_tensor(&Tensor::from_vec(values, shape, &Device::Cpu)?)?;
                Ok((name, var))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            meta,
            params,
            adapter: None,
        })
    }

    /// The same head reading `adapter`'s output instead of the shared embedding.
    pub fn with_adapter(mut self, adapter: TopLayers) -> Self {
        self.meta.adapter = Some(adapter.meta());
        self.adapter = Some(adapter);
        self
    }

    /// Removes the head's adapter and returns it: the head then reads the
    /// shared embedding (a lesson trains it on the adapter's outputs, then
    /// puts the adapter back).
    pub fn take_adapter(&mut self) -> Option<TopLayers> {
        self.meta.adapter = None;
        self.adapter.take()
    }

    /// The head's adapter, if it has one.
    pub fn adapter(&self) -> Option<&TopLayers> {
        self.adapter.as_ref()
    }

    /// Parameter names and shapes the metadata implies.
    fn expected_shapes(meta: &HeadMeta) -> Vec<(String, Vec<usize>)> {
        let (dim, classes) = (meta.encoder.dim, meta.labels.len());
        match meta.architecture {
            Architecture::Linear => vec![
                ("output.weight".into(), vec![classes, dim]),
                ("output.bias".into(), vec![classes]),
            ],
            Architecture::Mlp { hidden, .. } => vec![
                ("hidden.weight".into(), vec![hidden, dim]),
                ("hidden.bias".into(), vec![hidden]),
                ("output.weight".into(), vec![classes, hidden]),
                ("output.bias".into(), vec![classes]),
            ],
        }
    }

    /// Reads a head from the bytes of `NAME.json` and `NAME.safetensors`,
    /// refusing one made for another encoder or dimension, with bad labels,
    /// or whose weights do not match its architecture.
    pub fn from_bytes(
        json: &[u8],
        weights: &[u8],
        encoder: &EncoderRef,
        source_name: &str,
    ) -> Result<Self> {
        let refuse = |reason: String| Error::BadModelFile {
            file: source_name.into(),
            reason,
        };
        let meta: HeadMeta = serde_json::from_slice(json)
            .map_err(|e| refuse(format!("not a head description ({e})")))?;
        if meta.format != HEAD_FORMAT {
            return Err(refuse(format!(
                "format {:?} is not {HEAD_FORMAT:?}",
                meta.format
            )));
        }
        check_name(&meta.name).map_err(refuse)?;
        check_labels(&meta.labels).map_err(|r| refuse(format!("head {:?} {r}", meta.name)))?;
        if meta.encoder.id != encoder.id {
            return Err(refuse(format!(
                "head {:?} was made for encoder {:?}, not {:?}",
                meta.name, meta.encoder.id, encoder.id
            )));
        }
        if meta.encoder.dim != encoder.dim {
            return Err(refuse(format!(
                "head {:?} expects {}-dimensional embeddings, the encoder gives {}",
                meta.name, meta.encoder.dim, encoder.dim
            )));
        }
        let st = safetensors::SafeTensors::deserialize(weights)
            .map_err(|e| refuse(format!("weights are not readable safetensors ({e})")))?;
        let adapter = match &meta.adapter {
            Some(adapter) => Some(TopLayers::read(adapter, &st, &refuse)?),
            None => None,
        };
        let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
        names.sort();
        if meta.adapter.is_none() && names.iter().any(|n| n.starts_with(ADAPTER_PREFIX)) {
            return Err(refuse(format!(
                "weights hold adapter tensors but head {:?} describes no adapter",
                meta.name
            )));
        }
        names.retain(|n| !n.starts_with(ADAPTER_PREFIX));
        let expected = Self::expected_shapes(&meta);
        if names.len() != expected.len() {
            return Err(refuse(format!(
                "weights hold tensors {names:?}, the {:?} architecture needs {:?}",
                meta.architecture,
                expected.iter().map(|(n, _)| n).collect::<Vec<_>>()
            )));
        }
        let mut params = BTreeMap::new();
        for (name, shape) in expected {
            let view = st
                .tensor(&name)
                .map_err(|_| refuse(format!("weights lack tensor `{name}`")))?;
            if view.shape() != shape.as_slice() || view.dtype() != safetensors::Dtype::F32 {
                return Err(refuse(format!(
                    "tensor `{name}` is {:?} {:?}, expected F32 {shape:?} for {} labels",
                    view.dtype(),
                    view.shape(),
                    meta.labels.len()
                )));
            }
            let tensor = crate::model::weights::read_tensor(&st, &name, &view, &Device::Cpu)
                .map_err(|r| refuse(format!("tensor `{name}` {r}")))?;
            if !crate::model::weights::all_finite(&tensor)? {
                return Err(refuse(format!(
                    "tensor `{name}` contains NaN or infinite values"
                )));
            }
            params.insert(name, Var::from_tensor(&tensor)?);
        }
        Ok(Self {
            meta,
            params,
            adapter,
        })
    }

    /// The bytes of `NAME.json`.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut bytes =
            serde_json::to_vec_pretty(&self.meta).map_err(|e| Error::InvalidArgument {
                what: "head description".into(),
                reason: e.to_string(),
            })?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// The bytes of `NAME.safetensors`: the head's parameters in f32, the
    /// adapter's in compact storage.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let mut stored = Vec::new();
        for (name, var) in &self.params {
            let t = var.as_tensor();
            let bytes = t.flatten_all()?.to_vec1::<f32>()?;
            let bytes = bytes.iter().flat_map(|v| v.to_le_bytes()).collect();
            stored.push((
                name.clone(),
                safetensors::Dtype::F32,
                t.dims().to_vec(),
                bytes,
            ));
        }
        if let Some(adapter) = &self.adapter {
            stored.extend(adapter.stored()?);
        }
        let file = format!("{}.safetensors", self.meta.name);
        crate::model::weights::serialize_stored(&stored, None, &file)
    }

    /// The head's metadata.
    pub fn meta(&self) -> &HeadMeta {
        &self.meta
    }

    /// The head's name.
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// Labels in output order.
    pub fn labels(&self) -> &[String] {
        &self.meta.labels
    }

    /// Records how the head was trained.
    pub fn set_training(&mut self, record: TrainingRecord) {
        self.meta.training = Some(record);
    }

    /// The trainable parameters, in name order.
    pub fn vars(&self) -> Vec<Var> {
        self.params.values().cloned().collect()
    }

    /// An independent head with the same metadata and parameter values.
    pub fn deep_copy(&self) -> Result<Self> {
        let params = self
            .params
            .iter()
            .map(|(name, var)| Ok((name.clone(), Var::from_tensor(&var.as_tensor().copy()?)?)))
            .collect::<Result<_>>()?;
        let adapter = match &self.adapter {
            Some(a) => Some(a.deep_copy()?),
            None => None,
        };
        Ok(Self {
            meta: self.meta.clone(),
            params,
            adapter,
        })
    }

    /// A deep copy of the parameter values (for keeping the best epoch).
    pub fn snapshot(&self) -> Result<Vec<Tensor>> {
        Ok(self
            .params
            .values()
            .map(|v| v.as_tensor().copy())
            .collect::<candle_core::Result<_>>()?)
    }

    /// Restores values taken by [`Head::snapshot`].
    pub fn restore(&self, values: &[Tensor]) -> Result<()> {
        for (var, value) in self.params.values().zip(values) {
            var.set(value)?;
        }
        Ok(())
    }

    /// The same head with classes `labels`: the hidden layer and the output
    /// rows of labels it already had are copied; rows of new labels are
    /// freshly initialised from `seed`. Training metadata is dropped.
    pub fn with_labels(&self, labels: Vec<String>, seed: u64) -> Result<Self> {
        let mut fresh = Self::new(
            self.name(),
            labels,
            self.meta.architecture,
            self.meta.encoder.clone(),
            seed,
        )?;
        if let Some(adapter) = &self.adapter {
            fresh = fresh.with_adapter(adapter.deep_copy()?);
        }
        for (name, var) in &fresh.params {
            let old = self.params[name].as_tensor();
            if !name.starts_with("output.") {
                var.set(&old.copy()?)?;
                continue;
            }
            let mut rows = var.as_tensor().chunk(fresh.meta.labels.len(), 0)?;
            for (row, label) in rows.iter_mut().zip(&fresh.meta.labels) {
                if let Some(i) = self.meta.labels.iter().position(|l| l == label) {
                    *row = old.narrow(0, i, 1)?;
                }
            }
            var.set(&Tensor::cat(&rows, 0)?)?;
        }
        Ok(fresh)
    }

    fn linear(&self, prefix: &str) -> Linear {
        let w = self.params[&format!("{prefix}.weight")].as_tensor().clone();
        let b = self.params[&format!("{prefix}.bias")].as_tensor().clone();
        Linear::new(w, Some(b))
    }

    /// Logits `(batch, classes)` for embeddings `(batch, dim)`. With
    /// `dropout_rng`, the MLP's dropout is applied (training).
    pub fn logits(&self, embeddings: &Tensor, dropout_rng: Option<&mut Rng>) -> Result<Tensor> {
        match self.meta.architecture {
            Architecture::Linear => Ok(self.linear("output").forward(embeddings)?),
            Architecture::Mlp {
                activation,
                dropout,
                ..
            } => {
                let h = self.linear("hidden").forward(embeddings)?;
                let h = match activation {
                    Activation::Relu => h.relu()?,
                    Activation::Gelu => h.gelu_erf()?,
                    Activation::Tanh => h.tanh()?,
                };
                let h = match dropout_rng {
                    Some(rng) if dropout > 0.0 => {
                        let keep = 1.0 - dropout;
                        let mask: Vec<f32> = (0..h.elem_count())
                            .map(|_| {
                                if rng.next_f32() < keep {
                                    1.0 / keep
                                } else {
                                    0.0
                                }
                            })
                            .collect();
                        let mask = Tensor::from_vec(mask, h.shape(), h.device())?;
                        (h * mask)?
                    }
                    _ => h,
                };
                Ok(self.linear("output").forward(&h)?)
            }
        }
    }

    /// Class probabilities `(batch, classes)`.
    pub fn probabilities(&self, embeddings: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::softmax(
            &self.logits(embeddings, None)?,
            D::Minus1,
        )?)
    }

    /// Predictions for a batch of embeddings `(batch, dim)`.
    pub fn predict(&self, embeddings: &Tensor) -> Result<Vec<Prediction>> {
        let probs = self.probabilities(embeddings)?.to_vec2::<f32>()?;
        Ok(probs
            .into_iter()
            .map(|row| {
                let best = row
                    .iter()
                    .enumerate()
                    .fold(0, |best, (i, p)| if *p > row[best] { i } else { best });
                Prediction {
                    label: self.meta.labels[best].clone(),
                    probabilities: self.meta.labels.iter().cloned().zip(row).collect(),
                }
            })
            .collect())
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod files {
    use std::path::{Path, PathBuf};

    use super::{EncoderRef, Head};
    use crate::error::{Error, Result};

    fn read(path: &Path) -> Result<Vec<u8>> {
        std::fs::read(path).map_err(Error::io(path))
    }

    impl Head {
        /// Reads `NAME.json` and `NAME.safetensors`; `path` may name either file.
        pub fn read(path: &Path, encoder: &EncoderRef) -> Result<Self> {
            let json = path.with_extension("json");
            let weights = path.with_extension("safetensors");
            Head::from_bytes(
                &read(&json)?,
                &read(&weights)?,
                encoder,
                &json.display().to_string(),
            )
        }

        /// Writes `NAME.json` and `NAME.safetensors` into `dir` (created if needed);
        /// returns the JSON file's path.
        pub fn write(&self, dir: &Path) -> Result<PathBuf> {
            std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
            let json = dir.join(format!("{}.json", self.name()));
            let weights = dir.join(format!("{}.safetensors", self.name()));
            for (path, bytes) in [(&weights, self.to_safetensors()?), (&json, self.to_json()?)] {
                std::fs::write(path, bytes).map_err(Error::io(path.clone()))?;
            }
            Ok(json)
        }
    }

    /// Reads one head (a `.json` or `.safetensors` path) or every head in a directory.
    pub fn read_heads(path: &Path, encoder: &EncoderRef) -> Result<Vec<Head>> {
        if !path.is_dir() {
            return Ok(vec![Head::read(path, encoder)?]);
        }
        let entries = std::fs::read_dir(path).map_err(Error::io(path))?;
        let mut jsons: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        jsons.sort();
        if jsons.is_empty() {
            return Err(Error::BadModelFile {
                file: path.display().to_string(),
                reason: "holds no head (NAME.json with NAME.safetensors)".into(),
            });
        }
        jsons.iter().map(|p| Head::read(p, encoder)).collect()
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use files::read_heads;
