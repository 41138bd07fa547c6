//! The one training path: builds what the trainer reads for what trains
//! (heads on cached embeddings, or trainable top layers on cached lower-layer
//! states) and runs it. The CLI's `train`, the page's lessons and the studies
//! all come through [`fit`].

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::model::encoder::Encoder;
use crate::model::stack_embeddings;
use crate::training::features::{CachedEmbeddings, LayerFeatures, Source, TopLayers};
use crate::training::trainer::{
    train, validation_metrics, Control, Part, Progress, Task, TrainConfig, TrainReport, Trainable,
};

/// Where each task's examples come from, in the form the run needs them.
pub trait Examples {
    /// Sentence embeddings `(n, dim)` of `task`'s `part`, from the frozen encoder.
    fn embeddings(&mut self, task: usize, part: Part) -> Result<Tensor>;
    /// Per example of `task`'s `part`, the `(pieces, dim)` output of the
    /// encoder's layers below `first`.
    fn states_below(&mut self, task: usize, part: Part, first: usize) -> Result<Vec<Tensor>>;
}

/// Examples that arrive already embedded (the page's, replay sets): only
/// heads can train on them.
pub struct Embedded {
    /// Per task: `(train, val)` embeddings.
    pub tasks: Vec<(Tensor, Tensor)>,
}

impl Examples for Embedded {
    fn embeddings(&mut self, task: usize, part: Part) -> Result<Tensor> {
        let (train, val) = &self.tasks[task];
        Ok(if part == Part::Train { train } else { val }.clone())
    }

    fn states_below(&mut self, _: usize, _: Part, _: usize) -> Result<Vec<Tensor>> {
        Err(Error::InvalidArgument {
            what: "trainable layers".into(),
            reason: "these examples arrive as embeddings, so only heads can train on them".into(),
        })
    }
}

/// One task's texts.
pub struct TaskTexts {
    /// Training texts, in the order of the task's training split.
    pub train: Vec<String>,
    /// Validation texts, likewise.
    pub val: Vec<String>,
}

/// Examples as texts, run through `encoder` as the run needs them (embedded
/// anew: callers that keep embeddings pass them as [`Embedded`]).
pub struct Texts<'a> {
    /// The frozen encoder.
    pub encoder: &'a Encoder,
    /// Each task's texts.
    pub tasks: Vec<TaskTexts>,
}

impl Texts<'_> {
    fn part(&self, task: usize, part: Part) -> &[String] {
        let t = &self.tasks[task];
        if part == Part::Train {
            &t.train
        } else {
            &t.val
        }
    }
}

impl Examples for Texts<'_> {
    fn embeddings(&mut self, task: usize, part: Part) -> Result<Tensor> {
        let embedded = self.encoder.embed(self.part(task, part), 32)?;
        stack_embeddings(&embedded, self.encoder.dim())
    }

    fn states_below(&mut self, task: usize, part: Part, first: usize) -> Result<Vec<Tensor>> {
        self.encoder.states_below(self.part(task, part), first)
    }
}

/// What a run produced besides the trained heads (which stay in the tasks).
pub struct Fitted {
    /// Epochs, losses, validation.
    pub report: TrainReport,
    /// The trained top layers, when encoder layers trained.
    pub top: Option<TopLayers>,
}

impl Encoder {
    /// Trainable copies of the layers `trainable` names (None: heads only).
    pub fn trainable_layers(&self, trainable: Trainable) -> Result<Option<TopLayers>> {
        match trainable.layers(self.num_layers()) {
            0 => Ok(None),
            k => self.trainable_top_layers(k).map(Some),
        }
    }
}

/// Trains `tasks` with `config`: heads only over frozen embeddings when `top`
/// is None and no head has an adapter; else `top`'s layers (shared by every
/// task) or each trained head's adapter too, over the states below them.
/// Trained adapters end rounded to what their files store.
pub fn fit(
    tasks: &mut [Task],
    top: Option<TopLayers>,
    examples: &mut dyn Examples,
    config: &TrainConfig,
    progress: &mut dyn FnMut(&Progress) -> Control,
) -> Result<Fitted> {
    let adapted = tasks.iter().any(|t| t.head.adapter().is_some());
    if top.is_none() && !adapted {
        let parts = (0..tasks.len())
            .map(|t| {
                Ok((
                    examples.embeddings(t, Part::Train)?,
                    examples.embeddings(t, Part::Val)?,
                ))
            })
            .collect::<Result<_>>()?;
        let features = CachedEmbeddings { tasks: parts };
        let report = train(tasks, &features, config, progress)?;
        return Ok(Fitted { report, top: None });
    }
    if top.is_some() && adapted {
        return Err(Error::InvalidArgument {
            what: "trainable layers".into(),
            reason: "heads with adapters train their own layers; the shared encoder's cannot train with them".into(),
        });
    }
    let features = layer_features(tasks, top.as_ref(), examples)?;
    let mut report = train(tasks, &features, config, progress)?;
    let mut rounded = false;
    for task in tasks.iter().filter(|t| !t.frozen) {
        if let Some(adapter) = task.head.adapter() {
            adapter.round_to_storage()?;
            rounded = true;
        }
    }
    if rounded {
        // The figures of the heads as stored (4-bit adapters move them by
        // a fraction of a point), not of the weights before rounding.
        report.validation = validation_metrics(tasks, &features)?;
    }
    Ok(Fitted { report, top })
}

/// Each task's source of embeddings: `top`'s layers, else its head's
/// adapter, over the states below them, else its frozen embeddings.
fn layer_features(
    tasks: &[Task],
    top: Option<&TopLayers>,
    examples: &mut dyn Examples,
) -> Result<LayerFeatures> {
    let mut vars = (top.map(TopLayers::vars_by_depth).transpose()?).unwrap_or_default();
    let mut sources = Vec::with_capacity(tasks.len());
    for (t, task) in tasks.iter().enumerate() {
        let Some(layers) = top.or(task.head.adapter()).cloned() else {
            let train = examples.embeddings(t, Part::Train)?;
            sources.push(Source::Cached(train, examples.embeddings(t, Part::Val)?));
            continue;
        };
        if top.is_none() && !task.frozen {
            for (depth, group) in layers.vars_by_depth()?.into_iter().enumerate() {
                if vars.len() <= depth {
                    vars.push(Vec::new());
                }
                vars[depth].extend(group);
            }
        }
        let first = layers.first();
        sources.push(Source::Layers {
            train: examples.states_below(t, Part::Train, first)?,
            val: examples.states_below(t, Part::Val, first)?,
            top: layers,
        });
    }
    Ok(LayerFeatures { sources, vars })
}
