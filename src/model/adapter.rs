//! A task's adapter: its own copy of the encoder's top layers, trained for
//! that task only, so the shared encoder (and the embedding the page shows)
//! stays all-MiniLM-L6-v2. The copy starts equal to the shared layers, so an
//! untrained adapter reproduces the frozen output. It runs from the hidden
//! state below its first layer, which the shared pass computes anyway.
//!
//! In a head's safetensors file the adapter's weights are the encoder's
//! names under [`ADAPTER_PREFIX`], matrices in compact int8 (groups of 64,
//! f16 scales: [`crate::model::quantize`]), vectors in f16: a one-layer
//! adapter is 1.8 MB instead of 7 MB in f32.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use half::f16;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::layer::{layer_prefix, Int8Weights, Layer, LayerShape};
use crate::model::pooling::mean_pool_normalize;
use crate::model::quantize::Int8Matrix;

/// Prefix of adapter tensors in a head's weights file.
pub const ADAPTER_PREFIX: &str = "adapter.";

/// What a head's JSON says about its adapter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterMeta {
    /// Encoder layers the adapter replaces (the top ones, in order).
    pub layers: Vec<usize>,
    /// Shape of each layer.
    pub shape: LayerShape,
}

/// Trainable copies of an encoder's top layers. Clones share the variables
/// (the trainer reads through one, the head keeps another); [`TopLayers::deep_copy`]
/// copies the values.
#[derive(Clone)]
pub struct TopLayers {
    first: usize,
    shape: LayerShape,
    layers: Vec<Layer>,
    varmap: VarMap,
    /// The same layers on plain tensors, for inference: layers on variables
    /// take the trainer's slow paths (weights fused again on every call,
    /// composed softmax, GELU and layer norm), which made the page's
    /// sentiment adapter cost two layers' time instead of one. Refreshed
    /// when training ends ([`TopLayers::round_to_storage`]); shared by clones.
    inference: Arc<RwLock<Vec<Layer>>>,
}

impl std::fmt::Debug for TopLayers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopLayers")
            .field("layers", &self.meta().layers)
            .finish()
    }
}

fn poisoned() -> Error {
    Error::InvalidArgument {
        what: "adapter".into(),
        reason: "its variable map is poisoned (a thread panicked while training)".into(),
    }
}

impl TopLayers {
    /// Layers `first..first + count` from `tensors` (encoder names), copied into
    /// fresh variables. Shapes are checked against `shape`.
    pub(crate) fn from_tensors(
        tensors: &HashMap<String, Tensor>,
        first: usize,
        count: usize,
        shape: LayerShape,
    ) -> Result<Self> {
        let varmap = VarMap::new();
        {
            let mut data = varmap.data().lock().map_err(|_| poisoned())?;
            for (name, tensor) in tensors {
                data.insert(name.clone(), Var::from_tensor(&tensor.copy()?)?);
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let layers = load(&vb, first, count, &shape, &mut Int8Weights::new())?;
        let int8 = exact_int8(tensors)?;
        let inference = Arc::new(RwLock::new(plain_layers(
            tensors, first, count, &shape, int8,
        )?));
        Ok(Self {
            first,
            shape,
            layers,
            varmap,
            inference,
        })
    }

    /// Index of the first layer.
    pub fn first(&self) -> usize {
        self.first
    }

    /// Which layers, and their shape (what a head's JSON records).
    pub fn meta(&self) -> AdapterMeta {
        AdapterMeta {
            layers: (self.first..self.first + self.layers.len()).collect(),
            shape: self.shape,
        }
    }

    /// The trainable variables.
    pub fn vars(&self) -> Vec<Var> {
        self.varmap.all_vars()
    }

    /// The current values by encoder name (detached copies).
    pub fn tensors(&self) -> Result<HashMap<String, Tensor>> {
        let data = self.varmap.data().lock().map_err(|_| poisoned())?;
        data.iter()
            .map(|(name, var)| Ok((name.clone(), var.as_tensor().detach().copy()?)))
            .collect()
    }

    /// An independent adapter with the same values.
    pub fn deep_copy(&self) -> Result<Self> {
        Self::from_tensors(&self.tensors()?, self.first, self.layers.len(), self.shape)
    }

    /// Sentence embeddings `(n, dim)`: the layers over each text's states
    /// below them, mean pooling, L2 normalisation. Differentiable.
    pub fn forward(&self, states: &[&Tensor]) -> Result<Tensor> {
        let lengths = lengths_of(states)?;
        let x = self
            .layers
            .iter()
            .try_fold(Tensor::cat(states, 0)?, |x, layer| {
                layer.forward(&x, &lengths)
            })?;
        mean_pool_normalize(&x, &lengths)
    }

    /// Sentence embeddings for inference (not differentiable): as
    /// [`TopLayers::forward`], over states packed one text after another.
    pub fn infer_packed(&self, states: Tensor, lengths: &[usize]) -> Result<Tensor> {
        let layers = self.inference.read().map_err(|_| poisoned())?;
        let x = layers
            .iter()
            .try_fold(states, |x, layer| layer.forward(&x, lengths))?;
        mean_pool_normalize(&x, lengths)
    }

    /// As [`TopLayers::infer_packed`], over each text's states.
    pub fn infer(&self, states: &[&Tensor]) -> Result<Tensor> {
        let lengths = lengths_of(states)?;
        self.infer_packed(Tensor::cat(states, 0)?, &lengths)
    }

    /// As [`TopLayers::infer`], 32 texts at a time (bounded working memory).
    pub fn infer_all(&self, states: &[Tensor]) -> Result<Tensor> {
        let parts = states
            .chunks(32)
            .map(|chunk| self.infer(&chunk.iter().collect::<Vec<_>>()))
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::cat(&parts, 0)?)
    }

    /// Rounds every value to what the file stores (int8 matrices, f16
    /// vectors), so the adapter in memory is the one a reload gives, and
    /// refreshes the inference layers from them (call it when training ends).
    pub fn round_to_storage(&self) -> Result<()> {
        let int8 = self.round_vars()?;
        let fresh = plain_layers(
            &self.tensors()?,
            self.first,
            self.layers.len(),
            &self.shape,
            int8,
        )?;
        *self.inference.write().map_err(|_| poisoned())? = fresh;
        Ok(())
    }

    /// Rounds the variables; returns the int8 matrices it made (the values
    /// the inference layers' integer products then use as they are).
    fn round_vars(&self) -> Result<Int8Weights> {
        let data = self.varmap.data().lock().map_err(|_| poisoned())?;
        let mut int8 = Int8Weights::new();
        for (name, var) in data.iter() {
            let t = var.as_tensor();
            let values = t.flatten_all()?.to_vec1::<f32>()?;
            let matrix = match t.dims() {
                [_, cols] => Int8Matrix::quantize(&values, *cols),
                _ => None,
            };
            let rounded = match &matrix {
                Some(m) => m.dequantize(),
                None => values.iter().map(|&v| f16::from_f32(v).to_f32()).collect(),
            };
            var.set(&Tensor::from_vec(rounded, t.shape(), t.device())?)?;
            if let Some(m) = matrix {
                int8.insert(name.clone(), m);
            }
        }
        Ok(int8)
    }
}

/// Layers `first..first + count` of `vb` (integer products where `int8` has them).
fn load(
    vb: &VarBuilder,
    first: usize,
    count: usize,
    shape: &LayerShape,
    int8: &mut Int8Weights,
) -> Result<Vec<Layer>> {
    (first..first + count)
        .map(|i| Layer::load(vb.pp(layer_prefix(i)), shape, int8))
        .collect()
}

/// The matrices among `tensors` that int8 storage holds exactly (an adapter
/// rounded to storage, or copied from compact weights): those run on the
/// integer kernels with the same results as from a file. Others stay f32, so
/// an untrained adapter over exact weights gives exactly the frozen output.
fn exact_int8(tensors: &HashMap<String, Tensor>) -> Result<Int8Weights> {
    let mut out = Int8Weights::new();
    for (name, t) in tensors {
        let [_, cols] = t.dims() else { continue };
        let values = t.flatten_all()?.to_vec1::<f32>()?;
        if let Some(m) = Int8Matrix::quantize(&values, *cols) {
            let same = m
                .dequantize()
                .iter()
                .zip(&values)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            if same {
                out.insert(name.clone(), m);
            }
        }
    }
    Ok(out)
}

/// The layers over plain (non-variable) copies of `tensors`, with integer
/// products for the matrices `int8` holds exactly.
fn plain_layers(
    tensors: &HashMap<String, Tensor>,
    first: usize,
    count: usize,
    shape: &LayerShape,
    mut int8: Int8Weights,
) -> Result<Vec<Layer>> {
    let plain = tensors
        .iter()
        .map(|(name, t)| Ok((name.clone(), t.detach().copy()?)))
        .collect::<Result<HashMap<_, _>>>()?;
    load(
        &VarBuilder::from_tensors(plain, DType::F32, &Device::Cpu),
        first,
        count,
        shape,
        &mut int8,
    )
}

/// Pieces per text.
fn lengths_of(states: &[&Tensor]) -> Result<Vec<usize>> {
    Ok(states
        .iter()
        .map(|s| s.dim(0))
        .collect::<candle_core::Result<_>>()?)
}

impl TopLayers {
    /// The adapter `meta` describes, read from a head's weights file `st`
    /// (tensors under [`ADAPTER_PREFIX`]), every tensor checked for presence,
    /// shape and finiteness. `refuse` words the error.
    pub(crate) fn read(
        meta: &AdapterMeta,
        st: &safetensors::SafeTensors,
        refuse: &dyn Fn(String) -> Error,
    ) -> Result<Self> {
        let first = *meta
            .layers
            .first()
            .ok_or_else(|| refuse("the adapter lists no layers".into()))?;
        if meta.layers.iter().enumerate().any(|(k, &l)| l != first + k) {
            return Err(refuse(format!(
                "adapter layers {:?} are not consecutive",
                meta.layers
            )));
        }
        let mut tensors = HashMap::new();
        for layer in &meta.layers {
            let (h, i) = (meta.shape.hidden, meta.shape.intermediate);
            for (name, shape) in crate::model::weights::layer_tensors(*layer, h, i) {
                let stored = format!("{ADAPTER_PREFIX}{name}");
                let view = st
                    .tensor(&stored)
                    .map_err(|_| refuse(format!("weights lack adapter tensor `{stored}`")))?;
                if view.shape() != shape.as_slice() {
                    return Err(refuse(format!(
                        "adapter tensor `{stored}` has shape {:?}, expected {shape:?}",
                        view.shape()
                    )));
                }
                let tensor = crate::model::weights::read_tensor(st, &stored, &view, &Device::Cpu)
                    .map_err(|r| refuse(format!("adapter tensor `{stored}` {r}")))?;
                if !crate::model::weights::all_finite(&tensor)? {
                    return Err(refuse(format!(
                        "adapter tensor `{stored}` contains NaN or infinite values"
                    )));
                }
                tensors.insert(name, tensor);
            }
        }
        Self::from_tensors(&tensors, first, meta.layers.len(), meta.shape)
    }

    /// The adapter's tensors as a head's weights file stores them.
    pub(crate) fn stored(&self) -> Result<Vec<crate::model::weights::Stored>> {
        let tensors = self.tensors()?;
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        let mut stored = Vec::new();
        for name in names {
            let prefixed = format!("{ADAPTER_PREFIX}{name}");
            stored.extend(crate::model::weights::stored_int8(
                &prefixed,
                &tensors[name],
            )?);
        }
        Ok(stored)
    }
}
