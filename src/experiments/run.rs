//! One run: train a set of heads (and encoder layers) on the lab's data
//! with the project's trainer, then score every head on its evaluation set.

use std::time::Instant;

use candle_core::Tensor;

use super::lab::Lab;
use crate::error::Result;
use crate::finetune::{LayerFeatures, TopLayers};
use crate::heads::Head;
use crate::train::{
    predict_classes, train, CachedEmbeddings, Control, Features, Part, Progress, Split, Task,
    TrainConfig, Trainable,
};

/// One task of a run: its head and which examples it trains and stops on.
pub struct TaskSpec {
    /// 0 for task A, 1 for task B.
    pub task: usize,
    /// The head (fresh, or a copy of one trained before).
    pub head: Head,
    /// Rows of the task's training pool it trains on.
    pub train: Vec<usize>,
    /// Further training examples (augmented texts) with their classes.
    pub extra: Vec<(String, usize)>,
    /// Rows of the pool for early stopping (the selection set), or none.
    pub val: Vec<usize>,
    /// Multiplier of the task's loss.
    pub loss_weight: f64,
    /// Keep the head bit-identical (it is still scored).
    pub frozen: bool,
}

impl TaskSpec {
    /// A task training `head` on `train` rows, weight 1, no early stopping.
    pub fn new(task: usize, head: Head, train: Vec<usize>) -> Self {
        Self {
            task,
            head,
            train,
            extra: Vec::new(),
            val: Vec::new(),
            loss_weight: 1.0,
            frozen: false,
        }
    }

    /// `head` carried along frozen: not trained, scored after the run.
    pub fn frozen(task: usize, head: Head) -> Self {
        Self {
            frozen: true,
            ..Self::new(task, head, Vec::new())
        }
    }
}

/// What one run produced.
pub struct Outcome {
    /// The heads after training, in the order of the specs.
    pub heads: Vec<Head>,
    /// Accuracy of each head on its task's evaluation set (through the trained layers).
    pub accuracy: Vec<f64>,
    /// Wall time of training (validation included, evaluation excluded).
    pub seconds: f64,
    /// Epochs completed.
    pub epochs_run: usize,
    /// Optimiser steps each task took.
    pub steps: Vec<usize>,
    /// The trained top layers, when encoder layers trained.
    pub top: Option<TopLayers>,
}

impl Outcome {
    /// Training seconds per epoch.
    pub fn seconds_per_epoch(&self) -> f64 {
        self.seconds / self.epochs_run.max(1) as f64
    }
}

impl Lab<'_> {
    /// Trains the heads of `specs` (and, unless `trainable` is
    /// [`Trainable::Heads`], the top encoder layers: `start`'s if given, else
    /// fresh copies) with `config`, then scores every head on its evaluation set.
    pub fn run(
        &self,
        specs: Vec<TaskSpec>,
        trainable: Trainable,
        config: &TrainConfig,
        start: Option<TopLayers>,
    ) -> Result<Outcome> {
        let n = specs.len();
        let layers = match trainable {
            Trainable::Heads => None,
            Trainable::TopLayers(k) => Some(k),
            Trainable::All => Some(self.encoder.num_layers()),
        };
        self.backend.heads_only(layers.is_none());
        let labels = |s: &TaskSpec, rows: &[usize]| -> Vec<usize> {
            rows.iter()
                .map(|&r| self.tasks[s.task].train_labels[r])
                .collect()
        };
        let extra_texts =
            |s: &TaskSpec| -> Vec<String> { s.extra.iter().map(|e| e.0.clone()).collect() };
        let features = match layers {
            None => {
                let mut tasks = Vec::new();
                for s in &specs {
                    let mut x = self.frozen_rows(s.task, false, &s.train)?;
                    if !s.extra.is_empty() {
                        let extra = self.backend.embed(&extra_texts(s), "augmented examples")?;
                        x = Tensor::cat(&[&x, &extra], 0)?;
                    }
                    tasks.push((x, self.frozen_rows(s.task, false, &s.val)?));
                }
                for s in &specs {
                    let eval = self.frozen_rows(s.task, true, &self.eval_rows[s.task])?;
                    tasks.push((eval, self.frozen_rows(s.task, false, &[])?));
                }
                Feats::Cached(CachedEmbeddings { tasks })
            }
            Some(k) => {
                let top = match start {
                    Some(top) => top,
                    None => self.encoder.trainable_top_layers(k)?,
                };
                let first = top.first();
                let mut tasks = Vec::new();
                for s in &specs {
                    let mut x = self.layer_rows(first, s.task, false, &s.train)?;
                    if !s.extra.is_empty() {
                        x.extend(self.encoder.states_below(&extra_texts(s), first)?);
                    }
                    tasks.push((x, self.layer_rows(first, s.task, false, &s.val)?));
                }
                for s in &specs {
                    let eval = self.layer_rows(first, s.task, true, &self.eval_rows[s.task])?;
                    tasks.push((eval, Vec::new()));
                }
                Feats::Layers(LayerFeatures { top, tasks })
            }
        };
        let names: Vec<String> = specs.iter().map(|s| s.head.name().to_string()).collect();
        let task_ids: Vec<usize> = specs.iter().map(|s| s.task).collect();
        let mut tasks: Vec<Task> = specs
            .into_iter()
            .map(|s| {
                let mut train_labels = labels(&s, &s.train);
                train_labels.extend(s.extra.iter().map(|e| e.1));
                Task {
                    train: Split::from_labels(train_labels),
                    val: Split::from_labels(labels(&s, &s.val)),
                    head: s.head,
                    loss_weight: s.loss_weight,
                    frozen: s.frozen,
                }
            })
            .collect();
        let mut steps = vec![0usize; n];
        let started = Instant::now();
        let report = train(
            &mut tasks,
            features.as_dyn(),
            config,
            &mut |p: &Progress| {
                if let Progress::Step { task, .. } = p {
                    if let Some(i) = names.iter().position(|name| name == task) {
                        steps[i] += 1;
                    }
                }
                Control::Continue
            },
        )?;
        let seconds = started.elapsed().as_secs_f64();
        let mut accuracy = Vec::with_capacity(n);
        for (i, (task, &t)) in tasks.iter().zip(&task_ids).enumerate() {
            let gold: Vec<usize> = self.eval_rows[t]
                .iter()
                .map(|&r| self.tasks[t].eval_labels[r])
                .collect();
            let mut correct = 0;
            let positions: Vec<usize> = (0..gold.len()).collect();
            for chunk in positions.chunks(128) {
                let x = features.as_dyn().embeddings(n + i, Part::Train, chunk)?;
                let predicted = predict_classes(&task.head, &x.detach())?;
                correct += chunk
                    .iter()
                    .zip(&predicted)
                    .filter(|(&p, &c)| gold[p] == c)
                    .count();
            }
            accuracy.push(correct as f64 / gold.len() as f64);
        }
        Ok(Outcome {
            heads: tasks.into_iter().map(|t| t.head).collect(),
            accuracy,
            seconds,
            epochs_run: report.epochs_run,
            steps,
            top: match features {
                Feats::Cached(_) => None,
                Feats::Layers(l) => Some(l.top),
            },
        })
    }
}

/// The two kinds of features a run trains over.
enum Feats {
    Cached(CachedEmbeddings),
    Layers(LayerFeatures),
}

impl Feats {
    fn as_dyn(&self) -> &dyn Features {
        match self {
            Feats::Cached(c) => c,
            Feats::Layers(l) => l,
        }
    }
}

/// A deep copy of a head (a clone would share its variables).
pub fn copy_head(head: &Head) -> Result<Head> {
    Head::from_bytes(
        &head.to_json()?,
        &head.to_safetensors()?,
        &head.meta().encoder,
        head.name(),
    )
}
