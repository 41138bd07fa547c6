//! What the trainer reads: cached sentence embeddings (frozen encoder), or
//! trainable copies of the top `k` layers (shared, or one task's adapter)
//! fed by the cached output of the layers below them.

use candle_core::{Device, Tensor, Var};

use crate::error::{Error, Result};
use crate::model::adapter::AdapterMeta;
use crate::model::encoder::Encoder;
use crate::model::LayerShape;
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

    fn layer_vars(&self) -> Vec<Vec<Var>> {
        Vec::new()
    }
}

pub use crate::model::adapter::TopLayers;

impl Encoder {
    /// Trainable copies of the top `k` transformer layers (1 <= k <= layers),
    /// equal to the encoder's: an adapter, or the layers a fine-tuning run trains.
    pub fn trainable_top_layers(&self, k: usize) -> Result<TopLayers> {
        let n = self.num_layers();
        if k == 0 || k > n {
            return Err(Error::InvalidArgument {
                what: "trainable layers".into(),
                reason: format!("{k} is not between 1 and the encoder's {n} layers"),
            });
        }
        let tensors = self.layer_tensors(n - k..n)?;
        TopLayers::from_tensors(&tensors, n - k, k, self.config().into())
    }

    /// Replaces the encoder's top layers with the trained ones (their current values).
    pub fn set_top_layers(&mut self, top: &TopLayers) -> Result<()> {
        self.replace_tensors(top.tensors()?)
    }

    /// Why `adapter` cannot run on this encoder (other layers or shapes), if it cannot.
    pub fn check_adapter(&self, adapter: &AdapterMeta) -> std::result::Result<(), String> {
        let n = self.num_layers();
        let shape: LayerShape = self.config().into();
        let top = adapter.layers.last().is_some_and(|&l| l + 1 == n);
        if !top || adapter.layers.len() > n {
            return Err(format!(
                "its adapter replaces layers {:?}, not top layers of this encoder's {n}",
                adapter.layers
            ));
        }
        if adapter.shape != shape {
            return Err(format!(
                "its adapter's layers are {:?}, this encoder's {shape:?}",
                adapter.shape
            ));
        }
        Ok(())
    }
}

/// Where one task's embeddings come from when layers train.
pub enum Source {
    /// Frozen embeddings `(train, val)`, `(n, dim)` each.
    Cached(Tensor, Tensor),
    /// Layers (the shared ones that train, or the task's adapter) over each
    /// text's cached states below them, one `(pieces, dim)` tensor per text.
    Layers {
        /// The layers.
        top: TopLayers,
        /// Training texts' states.
        train: Vec<Tensor>,
        /// Validation texts' states.
        val: Vec<Tensor>,
    },
}

/// Trainable layers with each task's cached inputs.
pub struct LayerFeatures {
    /// Per task, where its embeddings come from.
    pub sources: Vec<Source>,
    /// The layer weights that train, by layer with the top one first (a
    /// frozen task's adapter is not among them; adapters' layers at the same
    /// depth share a group).
    pub vars: Vec<Vec<Var>>,
}

impl Features for LayerFeatures {
    fn embeddings(&self, task: usize, part: Part, rows: &[usize]) -> Result<Tensor> {
        match &self.sources[task] {
            Source::Cached(train, val) => {
                select_rows(if part == Part::Train { train } else { val }, rows)
            }
            Source::Layers { top, train, val } => {
                let source = if part == Part::Train { train } else { val };
                let states: Vec<&Tensor> = rows.iter().map(|&r| &source[r]).collect();
                top.forward(&states)
            }
        }
    }

    fn layer_vars(&self) -> Vec<Vec<Var>> {
        self.vars.clone()
    }
}
