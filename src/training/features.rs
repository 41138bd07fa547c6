//! What the trainer reads: cached sentence embeddings (frozen encoder), or
//! trainable copies of the top `k` layers fed by the cached output of the
//! layers below them.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use crate::error::{Error, Result};
use crate::model::encoder::Encoder;
use crate::model::layer::{layer_prefix, Layer};
use crate::model::pooling::mean_pool_normalize;
use crate::training::trainer::{Features, Part};

/// Embeddings computed once: the frozen-encoder case.
pub struct CachedEmbeddings {
    /// Per task: `(train, val)` embeddings, `(n, dim)` each.
    pub tasks: Vec<(Tensor, Tensor)>,
}

/// Rows `rows` of `source` (first dimension), in that order.
pub fn select_rows(source: &Tensor, rows: &[usize]) -> Result<Tensor> {
    let index = Tensor::from_vec(
        rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
        rows.len(),
        &Device::Cpu,
    )?;
    Ok(source.index_select(&index, 0)?)
}

impl Features for CachedEmbeddings {
    fn embeddings(&self, task: usize, part: Part, rows: &[usize]) -> Result<Tensor> {
        let (train, val) = &self.tasks[task];
        select_rows(if part == Part::Train { train } else { val }, rows)
    }

    fn vars(&self) -> Vec<Var> {
        Vec::new()
    }
}

/// The top layers of an encoder as trainable variables.
pub struct TopLayers {
    first: usize,
    layers: Vec<Layer>,
    varmap: VarMap,
}

impl Encoder {
    /// Trainable copies of the top `k` transformer layers (1 <= k <= layers).
    pub fn trainable_top_layers(&self, k: usize) -> Result<TopLayers> {
        let n = self.num_layers();
        if k == 0 || k > n {
            return Err(Error::InvalidArgument {
                what: "trainable layers".into(),
                reason: format!("{k} is not between 1 and the encoder's {n} layers"),
            });
        }
        let first = n - k;
        let varmap = VarMap::new();
        {
            let mut data = varmap
                .data()
                .lock()
                .map_err(|_| Error::Tokenizer("variable map poisoned".into()))?;
            for (name, tensor) in self.layer_tensors(first..n) {
                data.insert(name.clone(), Var::from_tensor(&tensor.copy()?)?);
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let layers = (first..n)
            .map(|i| Layer::load(vb.pp(layer_prefix(i)), self.config()))
            .collect::<Result<Vec<_>>>()?;
        Ok(TopLayers {
            first,
            layers,
            varmap,
        })
    }

    /// Replaces the encoder's top layers with the trained ones (their current values).
    pub fn set_top_layers(&mut self, top: &TopLayers) -> Result<()> {
        let trained: HashMap<String, Tensor> = top
            .varmap
            .data()
            .lock()
            .map_err(|_| Error::Tokenizer("variable map poisoned".into()))?
            .iter()
            .map(|(name, var)| Ok((name.clone(), var.as_tensor().detach().copy()?)))
            .collect::<Result<_>>()?;
        self.replace_tensors(trained)
    }
}

impl TopLayers {
    /// Index of the first trainable layer.
    pub fn first(&self) -> usize {
        self.first
    }

    /// The trainable variables.
    pub fn vars(&self) -> Vec<Var> {
        self.varmap.all_vars()
    }

    /// Sentence embeddings `(n, dim)`: the trainable layers over each text's
    /// cached states, mean pooling, L2 normalisation. Differentiable.
    pub fn forward(&self, states: &[&Tensor]) -> Result<Tensor> {
        let lengths: Vec<usize> = states
            .iter()
            .map(|s| s.dim(0))
            .collect::<candle_core::Result<_>>()?;
        let mut x = Tensor::cat(states, 0)?;
        for layer in &self.layers {
            x = layer.forward(&x, &lengths)?;
        }
        mean_pool_normalize(&x, &lengths)
    }
}

/// Trainable top layers with each task's cached lower-layer states.
pub struct LayerFeatures {
    /// The layers that train.
    pub top: TopLayers,
    /// Per task: `(train, val)` states, one `(pieces, dim)` tensor per text.
    pub tasks: Vec<(Vec<Tensor>, Vec<Tensor>)>,
}

impl Features for LayerFeatures {
    fn embeddings(&self, task: usize, part: Part, rows: &[usize]) -> Result<Tensor> {
        let (train, val) = &self.tasks[task];
        let source = if part == Part::Train { train } else { val };
        let states: Vec<&Tensor> = rows.iter().map(|&r| &source[r]).collect();
        self.top.forward(&states)
    }

    fn vars(&self) -> Vec<Var> {
        self.top.vars()
    }
}
