//! One run: train a set of heads (and encoder layers) on the lab's data
//! with the project's trainer, then score every head on its evaluation set.

use std::time::Instant;

use candle_core::Tensor;

use super::lab::Lab;
use super::stats::Hits;
use sentence_multitask::error::Result;
use sentence_multitask::model::heads::Head;
use sentence_multitask::training::features::TopLayers;
use sentence_multitask::training::fit::{fit, Examples};
use sentence_multitask::training::trainer::{
    predict_classes, Control, Part, Progress, Split, Task, TrainConfig, Trainable,
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
    /// Which evaluation examples each head got right (through the trained layers).
    pub hits: Vec<Hits>,
    /// Each head's accuracy on its selection set with the kept weights, if it had one.
    pub selection: Vec<Option<f64>>,
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
    /// Accuracy of head `i` on its task's evaluation set.
    pub fn accuracy(&self, i: usize) -> f64 {
        self.hits[i].accuracy()
    }

    /// Training seconds per epoch.
    pub fn seconds_per_epoch(&self) -> f64 {
        self.seconds / self.epochs_run.max(1) as f64
    }
}

/// Where one spec's examples are in the lab's pools.
struct SpecRows {
    task: usize,
    train: Vec<usize>,
    /// Augmented texts, after the training rows.
    extra: Vec<String>,
    val: Vec<usize>,
}

/// The examples of a run's specs, from the lab's pools (embedded once).
struct SpecExamples<'l, 'a> {
    lab: &'l Lab<'a>,
    specs: Vec<SpecRows>,
}

impl Examples for SpecExamples<'_, '_> {
    fn embeddings(&mut self, task: usize, part: Part) -> Result<Tensor> {
        let s = &self.specs[task];
        if part == Part::Val {
            return self.lab.frozen_rows(s.task, false, &s.val);
        }
        let x = self.lab.frozen_rows(s.task, false, &s.train)?;
        if s.extra.is_empty() {
            return Ok(x);
        }
        let extra = self.lab.host.embed(&s.extra, "augmented examples")?;
        Ok(Tensor::cat(&[&x, &extra], 0)?)
    }

    fn states_below(&mut self, task: usize, part: Part, first: usize) -> Result<Vec<Tensor>> {
        let s = &self.specs[task];
        if part == Part::Val {
            return self.lab.layer_rows(first, s.task, false, &s.val);
        }
        let mut x = self.lab.layer_rows(first, s.task, false, &s.train)?;
        if !s.extra.is_empty() {
            x.extend(self.lab.encoder.states_below(&s.extra, first)?);
        }
        Ok(x)
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
        let top = match start {
            Some(top) => Some(top),
            None => self.encoder.trainable_layers(trainable)?,
        };
        self.host.heads_only(top.is_none());
        let names: Vec<String> = specs.iter().map(|s| s.head.name().to_string()).collect();
        let task_ids: Vec<usize> = specs.iter().map(|s| s.task).collect();
        let mut examples = SpecExamples {
            lab: self,
            specs: Vec::new(),
        };
        let mut tasks = Vec::new();
        for s in specs {
            let labels = |rows: &[usize]| -> Vec<usize> {
                rows.iter()
                    .map(|&r| self.tasks[s.task].train_labels[r])
                    .collect()
            };
            let mut train_labels = labels(&s.train);
            train_labels.extend(s.extra.iter().map(|e| e.1));
            tasks.push(Task {
                train: Split::from_labels(train_labels),
                val: Split::from_labels(labels(&s.val)),
                head: s.head,
                loss_weight: s.loss_weight,
                frozen: s.frozen,
            });
            examples.specs.push(SpecRows {
                task: s.task,
                train: s.train,
                extra: s.extra.into_iter().map(|e| e.0).collect(),
                val: s.val,
            });
        }
        let mut steps = vec![0usize; names.len()];
        let started = Instant::now();
        let fitted = fit(
            &mut tasks,
            top,
            &mut examples,
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
        let hits: Vec<Hits> = tasks
            .iter()
            .zip(&task_ids)
            .map(|(task, &t)| self.hits(&task.head, t, fitted.top.as_ref()))
            .collect::<Result<_>>()?;
        let selection = fitted.report.validation.iter();
        Ok(Outcome {
            heads: tasks.into_iter().map(|t| t.head).collect(),
            hits,
            selection: selection.map(|m| m.as_ref().map(|m| m.accuracy)).collect(),
            seconds,
            epochs_run: fitted.report.epochs_run,
            steps,
            top: fitted.top,
        })
    }

    /// Which of task `t`'s evaluation examples `head` gets right, read
    /// through `top`'s trained layers when there are some, else through the
    /// head's own adapter if it has one (as `predict` reads it). Classes
    /// are matched by name: a lesson from scratch orders them as its
    /// examples first name them, not as the task lists them.
    pub(super) fn hits(&self, head: &Head, t: usize, top: Option<&TopLayers>) -> Result<Hits> {
        let rows = &self.eval_rows[t];
        let names = &self.tasks[t].labels;
        let class_of: Vec<Option<usize>> = head
            .labels()
            .iter()
            .map(|l| names.iter().position(|n| n == l))
            .collect();
        let mut hits = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(128) {
            let x = match (top, head.adapter()) {
                (Some(top), _) => {
                    let states = self.layer_rows(top.first(), t, true, chunk)?;
                    top.forward(&states.iter().collect::<Vec<_>>())?.detach()
                }
                (None, Some(adapter)) => {
                    adapter.infer_all(&self.layer_rows(adapter.first(), t, true, chunk)?)?
                }
                (None, None) => self.frozen_rows(t, true, chunk)?,
            };
            let predicted = predict_classes(head, &x)?;
            hits.extend(
                chunk
                    .iter()
                    .zip(&predicted)
                    .map(|(&r, &p)| class_of[p] == Some(self.tasks[t].eval_labels[r])),
            );
        }
        Ok(Hits(hits))
    }
}
