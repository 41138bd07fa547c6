//! Training the top encoder layers: copies of the top `k` layers whose weights
//! are variables, fed by the cached output of the layers below them.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{VarBuilder, VarMap};

use crate::encoder::Encoder;
use crate::error::{Error, Result};
use crate::layer::Layer;
use crate::train::{Features, Part};

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
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), self.config()))
            .collect::<Result<Vec<_>>>()?;
        Ok(TopLayers {
            first,
            layers,
            varmap,
        })
    }

    /// Per text, the `(pieces, dim)` output of the layers below `first`
    /// (the embedding block alone when `first` is 0).
    pub fn states_below<S: AsRef<str>>(&self, texts: &[S], first: usize) -> Result<Vec<Tensor>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(32) {
            let ids = chunk
                .iter()
                .map(|t| self.tokenize(t.as_ref()))
                .collect::<Result<Vec<_>>>()?;
            let batch = self.batch(&ids)?;
            let hidden = self.embed_tokens(&batch)?;
            let hidden = self.run_layers(&hidden, &batch.mask, 0..first)?;
            for (i, &len) in batch.lengths.iter().enumerate() {
                out.push(hidden.get(i)?.narrow(0, 0, len)?.contiguous()?);
            }
        }
        Ok(out)
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
        let mut pooled = Vec::with_capacity(lengths.len());
        let mut start = 0;
        for &len in &lengths {
            pooled.push(x.narrow(0, start, len)?.mean_keepdim(0)?);
            start += len;
        }
        let mean = Tensor::cat(&pooled, 0)?;
        let norm = mean
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        Ok(mean.broadcast_div(&norm)?)
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
