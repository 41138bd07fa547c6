//! A task's adapter: its own copy of the encoder's top layers, trained for
//! that task only, so the shared encoder (and the embedding the page shows)
//! stays all-MiniLM-L6-v2. The copy starts equal to the shared layers, so an
//! untrained adapter reproduces the frozen output. It runs from the hidden
//! state below its first layer, which the shared pass computes anyway.
//!
//! In a head's safetensors file the adapter's weights are the encoder's
//! names under [`ADAPTER_PREFIX`], matrices in compact int8 (groups of 64,
//! f16 scales: [`crate::model::quantize`]) or in 4 bits a value (same
//! groups, two values a byte), vectors in f16: a layer is 1.8 MB (0.95 MB in
//! 4 bits) instead of 7 MB in f32.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

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
    /// Bits a stored matrix value takes: 8, or 4 (half the bytes; measured
    /// in weights/README.md). Files from before it say nothing: 8.
    #[serde(default = "eight_bits", skip_serializing_if = "is_eight_bits")]
    pub bits: u8,
}

fn eight_bits() -> u8 {
    8
}

fn is_eight_bits(bits: &u8) -> bool {
    *bits == 8
}

/// Trainable copies of an encoder's top layers. Clones share the variables
/// (the trainer reads through one, the head keeps another); [`TopLayers::deep_copy`]
/// copies the values.
#[derive(Clone)]
pub struct TopLayers {
    first: usize,
    count: usize,
    shape: LayerShape,
    /// The layers on variables, for training: made on first need, so an
    /// adapter read from a file only to predict never holds their f32 copies
    /// (7 MB a layer; the page's peak memory). Shared by clones.
    trainable: Arc<OnceLock<Trainable>>,
    /// The values the inference layers do not hold in int8 (the vectors:
    /// biases, layer norms), as made or read: with those int8 matrices, what
    /// the trainable copies start from.
    vectors: Arc<HashMap<String, Tensor>>,
    /// The same layers on plain tensors, for inference: layers on variables
    /// take the trainer's slow paths (weights fused again on every call,
    /// composed softmax, GELU and layer norm), which made the page's
    /// sentiment adapter cost two layers' time instead of one. Refreshed
    /// when training ends ([`TopLayers::round_to_storage`]); shared by clones.
    inference: Arc<RwLock<Vec<Layer>>>,
    /// Low-rank training of the copy ([`TopLayers::low_rank`]), until
    /// training ends and folds it into the copy.
    lora: Option<Arc<LowRank>>,
    /// Bits of a stored matrix value ([`AdapterMeta::bits`]).
    bits: u8,
}

/// The layers on variables, and the variables.
struct Trainable {
    layers: Vec<Layer>,
    varmap: VarMap,
}

impl Trainable {
    /// Variables holding copies of `tensors`, and layers `first..first + count` on them.
    fn new(
        tensors: &HashMap<String, Tensor>,
        first: usize,
        count: usize,
        shape: &LayerShape,
    ) -> Result<Self> {
        let varmap = VarMap::new();
        {
            let mut data = varmap.data().lock().map_err(|_| poisoned())?;
            for (name, tensor) in tensors {
                data.insert(name.clone(), Var::from_tensor(&tensor.copy()?)?);
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let layers = load(&vb, first, count, shape, &mut Int8Weights::new())?;
        Ok(Self { layers, varmap })
    }
}

/// LoRA (Hu et al., 2021): each matrix `W` of the copy trains as
/// `W + scale * B A`, with `A` `(rank, in)` random and `B` `(out, rank)`
/// zero, so training starts from the copy and only the factors move. Layer
/// norms and biases stay as copied. A way to train fewer parameters; what
/// runs and what the file stores is the folded full copy.
struct LowRank {
    scale: f64,
    /// `(matrix name, A, B)`.
    factors: Vec<(String, Var, Var)>,
}

/// LoRA's usual `alpha = 2 * rank`: the update's scale does not depend on the rank.
const LOW_RANK_SCALE: f64 = 2.0;

impl std::fmt::Debug for TopLayers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopLayers")
            .field("layers", &self.meta().layers)
            .finish()
    }
}

fn unknown(name: &str) -> Error {
    Error::InvalidArgument {
        what: "adapter".into(),
        reason: format!("has no value for `{name}`"),
    }
}

/// The vectors (rank 1) among `tensors`.
fn vectors_of(tensors: &HashMap<String, Tensor>) -> HashMap<String, Tensor> {
    (tensors.iter())
        .filter(|(_, t)| t.rank() == 1)
        .map(|(n, t)| (n.clone(), t.clone()))
        .collect()
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
        let trainable = Trainable::new(tensors, first, count, &shape)?;
        let int8 = exact_int8(tensors)?;
        let inference = plain_layers(tensors, first, count, &shape, int8)?;
        Ok(Self {
            trainable: Arc::new(OnceLock::from(trainable)),
            ..Self::predicting(first, count, shape, vectors_of(tensors), inference)
        })
    }

    /// Layers that predict through `inference` and make their trainable
    /// copies only when first asked to train.
    fn predicting(
        first: usize,
        count: usize,
        shape: LayerShape,
        vectors: HashMap<String, Tensor>,
        inference: Vec<Layer>,
    ) -> Self {
        Self {
            first,
            count,
            shape,
            trainable: Arc::new(OnceLock::new()),
            vectors: Arc::new(vectors),
            inference: Arc::new(RwLock::new(inference)),
            lora: None,
            bits: 8,
        }
    }

    /// The layers on variables, made from the current values on first need.
    fn trainable(&self) -> Result<&Trainable> {
        if let Some(t) = self.trainable.get() {
            return Ok(t);
        }
        let made = Trainable::new(&self.stored_values()?, self.first, self.count, &self.shape)?;
        // Another clone may have made them meanwhile; either is the same.
        let _ = self.trainable.set(made);
        self.trainable.get().ok_or_else(poisoned)
    }

    /// The values of layers that never trained: the vectors, and the
    /// matrices the inference layers hold in int8.
    fn stored_values(&self) -> Result<HashMap<String, Tensor>> {
        let mut out: HashMap<String, Tensor> = (self.vectors.iter())
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        let (h, i) = (self.shape.hidden, self.shape.intermediate);
        let shapes: HashMap<String, Vec<usize>> = (self.first..self.first + self.count)
            .flat_map(|l| crate::model::weights::layer_tensors(l, h, i))
            .collect();
        let layers = self.inference.read().map_err(|_| poisoned())?;
        for (name, values) in layers.iter().flat_map(Layer::int8_parts) {
            let shape = shapes.get(&name).ok_or_else(|| unknown(&name))?;
            out.insert(
                name,
                Tensor::from_vec(values, shape.as_slice(), &Device::Cpu)?,
            );
        }
        match shapes.keys().find(|n| !out.contains_key(*n)) {
            Some(missing) => Err(unknown(missing)),
            None => Ok(out),
        }
    }

    /// The same layers, stored (and rounded when training ends) with `bits`
    /// per matrix value: 8 or 4.
    pub fn stored_in(mut self, bits: u8) -> Result<Self> {
        if bits != 8 && bits != 4 {
            return Err(Error::InvalidArgument {
                what: "adapter storage".into(),
                reason: format!("{bits} bits a value: 8 or 4 are stored"),
            });
        }
        self.bits = bits;
        Ok(self)
    }

    /// The same layers trained through rank-`rank` factors of every matrix
    /// (LoRA) instead of all their values; `seed` draws the `A` factors.
    pub fn low_rank(mut self, rank: usize, seed: u64) -> Result<Self> {
        if rank == 0 {
            return Err(Error::InvalidArgument {
                what: "low-rank adapter".into(),
                reason: "its rank must be at least 1".into(),
            });
        }
        let data = (self.trainable()?.varmap.data().lock()).map_err(|_| poisoned())?;
        let mut names: Vec<&String> = (data.iter())
            .filter(|(_, v)| v.as_tensor().rank() == 2)
            .map(|(n, _)| n)
            .collect();
        names.sort();
        let mut rng = crate::rng::Rng::new(seed);
        let mut factors = Vec::with_capacity(names.len());
        for name in names {
            let (rows, cols) = data[name].as_tensor().dims2()?;
            // Kaiming-uniform bound of a `cols`-input layer, as LoRA's A.
            let bound = 1.0 / (cols as f32).sqrt();
            let a: Vec<f32> = (0..rank * cols)
                .map(|_| rng.uniform(-bound, bound))
                .collect();
            let a = Var::from_tensor(&Tensor::from_vec(a, (rank, cols), &Device::Cpu)?)?;
            let b = Var::zeros((rows, rank), DType::F32, &Device::Cpu)?;
            factors.push((name.clone(), a, b));
        }
        drop(data);
        self.lora = Some(Arc::new(LowRank {
            scale: LOW_RANK_SCALE,
            factors,
        }));
        Ok(self)
    }

    /// The values the layers run with: the copy, plus each low-rank update
    /// while one trains (differentiable).
    fn current(&self, lora: &LowRank) -> Result<HashMap<String, Tensor>> {
        let data = (self.trainable()?.varmap.data().lock()).map_err(|_| poisoned())?;
        let mut out: HashMap<String, Tensor> = (data.iter())
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        for (name, a, b) in &lora.factors {
            let delta = (b.as_tensor().matmul(a.as_tensor())? * lora.scale)?;
            let merged = (&out[name] + delta)?;
            out.insert(name.clone(), merged);
        }
        Ok(out)
    }

    /// Adds each low-rank update into the copy and zeroes its `B`, so every
    /// clone of this adapter sees the folded copy from then on.
    fn fold(&self) -> Result<()> {
        let Some(lora) = &self.lora else {
            return Ok(());
        };
        let data = (self.trainable()?.varmap.data().lock()).map_err(|_| poisoned())?;
        for (name, a, b) in &lora.factors {
            let delta = (b.as_tensor().matmul(a.as_tensor())? * lora.scale)?;
            let w = &data[name];
            w.set(&(w.as_tensor() + delta)?.detach())?;
            b.set(&b.as_tensor().zeros_like()?)?;
        }
        Ok(())
    }

    /// Index of the first layer.
    pub fn first(&self) -> usize {
        self.first
    }

    /// Which layers, and their shape (what a head's JSON records).
    pub fn meta(&self) -> AdapterMeta {
        AdapterMeta {
            layers: (self.first..self.first + self.count).collect(),
            shape: self.shape,
            bits: self.bits,
        }
    }

    /// The trainable variables: the low-rank factors while they train, else every value.
    pub fn vars(&self) -> Result<Vec<Var>> {
        Ok(self.vars_by_depth()?.concat())
    }

    /// The trainable variables by layer, the top layer first: what a
    /// layer-wise learning rate or gradual unfreezing tells apart.
    pub fn vars_by_depth(&self) -> Result<Vec<Vec<Var>>> {
        let mut named: Vec<(String, Var)> = match &self.lora {
            Some(lora) => (lora.factors.iter())
                .flat_map(|(n, a, b)| [(n.clone(), a.clone()), (n.clone(), b.clone())])
                .collect(),
            None => {
                let data = (self.trainable()?.varmap.data().lock()).map_err(|_| poisoned())?;
                data.iter().map(|(n, v)| (n.clone(), v.clone())).collect()
            }
        };
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let mut groups = vec![Vec::new(); self.count];
        for (name, var) in named {
            let depth = (self.first..self.first + self.count)
                .rev()
                .position(|l| name.starts_with(&format!("{}.", layer_prefix(l))))
                .ok_or_else(|| unknown(&name))?;
            groups[depth].push(var);
        }
        Ok(groups)
    }

    /// The current values by encoder name (detached copies).
    pub fn tensors(&self) -> Result<HashMap<String, Tensor>> {
        if let Some(lora) = &self.lora {
            return (self.current(lora)?.into_iter())
                .map(|(name, t)| Ok((name, t.detach().copy()?)))
                .collect();
        }
        let Some(trainable) = self.trainable.get() else {
            return self.stored_values();
        };
        let data = trainable.varmap.data().lock().map_err(|_| poisoned())?;
        data.iter()
            .map(|(name, var)| Ok((name.clone(), var.as_tensor().detach().copy()?)))
            .collect()
    }

    /// An independent adapter with the same values. One that never trained
    /// shares its (read-only) inference weights instead of copying them.
    pub fn deep_copy(&self) -> Result<Self> {
        if self.trainable.get().is_none() {
            let inference = self.inference.read().map_err(|_| poisoned())?.clone();
            return Ok(Self {
                trainable: Arc::new(OnceLock::new()),
                inference: Arc::new(RwLock::new(inference)),
                ..self.clone()
            });
        }
        Self::from_tensors(&self.tensors()?, self.first, self.count, self.shape)?
            .stored_in(self.bits)
    }

    /// Sentence embeddings `(n, dim)`: the layers over each text's states
    /// below them, mean pooling, L2 normalisation. Differentiable.
    pub fn forward(&self, states: &[&Tensor]) -> Result<Tensor> {
        let lengths = lengths_of(states)?;
        let merged = match &self.lora {
            Some(lora) => {
                let vb = VarBuilder::from_tensors(self.current(lora)?, DType::F32, &Device::Cpu);
                let (first, count) = (self.first, self.count);
                Some(load(
                    &vb,
                    first,
                    count,
                    &self.shape,
                    &mut Int8Weights::new(),
                )?)
            }
            None => None,
        };
        let layers = match &merged {
            Some(layers) => layers,
            None => &self.trainable()?.layers,
        };
        let x = (layers.iter()).try_fold(Tensor::cat(states, 0)?, |x, layer| {
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
        let Some(trainable) = self.trainable.get() else {
            // Never trained: the values are as read or made.
            return Ok(());
        };
        self.fold()?;
        let int8 = round_vars(trainable, self.bits)?;
        let fresh = plain_layers(&self.tensors()?, self.first, self.count, &self.shape, int8)?;
        *self.inference.write().map_err(|_| poisoned())? = fresh;
        Ok(())
    }
}

/// Rounds the variables to `bits`-bit matrices and f16 vectors; returns the
/// int8 matrices it made (the values the inference layers' integer products
/// then use as they are).
fn round_vars(trainable: &Trainable, bits: u8) -> Result<Int8Weights> {
    let data = trainable.varmap.data().lock().map_err(|_| poisoned())?;
    let mut int8 = Int8Weights::new();
    for (name, var) in data.iter() {
        let t = var.as_tensor();
        let values = t.flatten_all()?.to_vec1::<f32>()?;
        let matrix = match t.dims() {
            [_, cols] => Int8Matrix::quantize_bits(&values, *cols, bits),
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

/// The matrices among `tensors` that 8- or 4-bit storage holds exactly (an
/// adapter rounded to storage, or copied from compact weights): those run on
/// the integer kernels with the same results as from a file. Others stay f32,
/// so an untrained adapter over exact weights gives exactly the frozen output.
fn exact_int8(tensors: &HashMap<String, Tensor>) -> Result<Int8Weights> {
    let mut out = Int8Weights::new();
    for (name, t) in tensors {
        let [_, cols] = t.dims() else { continue };
        let values = t.flatten_all()?.to_vec1::<f32>()?;
        let exact = [8, 4].into_iter().find_map(|bits| {
            let m = Int8Matrix::quantize_bits(&values, *cols, bits)?;
            let same =
                (m.dequantize().iter().zip(&values)).all(|(a, b)| a.to_bits() == b.to_bits());
            same.then_some(m)
        });
        if let Some(m) = exact {
            out.insert(name.clone(), m);
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
        let (mut tensors, mut int8) = (HashMap::new(), Int8Weights::new());
        for layer in &meta.layers {
            let (h, i) = (meta.shape.hidden, meta.shape.intermediate);
            for (name, shape) in crate::model::weights::layer_tensors(*layer, h, i) {
                let stored = format!("{ADAPTER_PREFIX}{name}");
                let view = st
                    .tensor(&stored)
                    .map_err(|_| refuse(format!("weights lack adapter tensor `{stored}`")))?;
                let four_bit = view.dtype() == safetensors::Dtype::U8;
                if shape.len() == 2 && four_bit != (meta.bits == 4) {
                    return Err(refuse(format!(
                        "adapter tensor `{stored}` is stored as {:?}, the head describes {}-bit values",
                        view.dtype(),
                        meta.bits
                    )));
                }
                let seen = crate::model::weights::stored_shape(&view);
                if seen != shape {
                    return Err(refuse(format!(
                        "adapter tensor `{stored}` has shape {seen:?}, expected {shape:?}"
                    )));
                }
                let quantised = matches!(
                    view.dtype(),
                    safetensors::Dtype::I8 | safetensors::Dtype::U8
                );
                if shape.len() == 2 && quantised {
                    // Kept as stored: the integer kernels run it, and no f32 copy is made.
                    let m = crate::model::weights::read_int8(st, &stored, &view)
                        .map_err(|r| refuse(format!("adapter tensor `{stored}` {r}")))?;
                    if !m.scales.iter().all(|s| s.is_finite()) {
                        return Err(refuse(format!(
                            "adapter tensor `{stored}` contains NaN or infinite values"
                        )));
                    }
                    int8.insert(name, m);
                    continue;
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
        let count = meta.layers.len();
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu);
        let inference = load(&vb, first, count, &meta.shape, &mut int8)?;
        Self::predicting(first, count, meta.shape, tensors, inference)
            .stored_in(meta.bits)
            .map_err(|e| refuse(e.to_string()))
    }

    /// The adapter's tensors as a head's weights file stores them.
    pub(crate) fn stored(&self) -> Result<Vec<crate::model::weights::Stored>> {
        let tensors = self.tensors()?;
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        let mut stored = Vec::new();
        for name in names {
            let prefixed = format!("{ADAPTER_PREFIX}{name}");
            stored.extend(crate::model::weights::stored_quantized(
                &prefixed,
                &tensors[name],
                self.bits,
            )?);
        }
        Ok(stored)
    }
}
