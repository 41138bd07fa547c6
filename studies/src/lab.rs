//! The studies' workbench: each task's pool split into candidates, selection
//! and evaluation rows, frozen embeddings computed once, and lower-layer
//! states kept while one encoder setting is studied. Runs are in `run.rs`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use serde_json::json;

use super::{Host, Plan, TaskData};
use sentence_multitask::error::{Error, Result};
use sentence_multitask::model::encoder::Encoder;
use sentence_multitask::model::heads::Head;
use sentence_multitask::rng::Rng;
use sentence_multitask::training::trainer::TrainConfig;

/// Lower-layer states of pool rows for one first trainable layer.
#[derive(Default)]
struct States {
    first: usize,
    rows: HashMap<(usize, bool, usize), Tensor>,
}

/// Data, embeddings and the encoder, shared by every study.
pub struct Lab<'a> {
    /// The frozen encoder.
    pub encoder: &'a Encoder,
    /// The host (embedding cache, threads, log).
    pub host: &'a dyn Host,
    /// Sizes and seeds.
    pub plan: Plan,
    pub(super) tasks: [TaskData; 2],
    /// Per task: embeddings of the training pool and of the evaluation set.
    frozen: Vec<(Tensor, Tensor)>,
    selection: Vec<Vec<usize>>,
    candidates: Vec<Vec<Vec<usize>>>,
    pub(super) eval_rows: Vec<Vec<usize>>,
    states: RefCell<States>,
    /// The encoder's learning rate of runs that train layers (set by the sweep).
    encoder_lr: Cell<f64>,
}

/// Rows of each class, in order.
fn by_class(labels: &[usize], classes: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); classes];
    for (row, &l) in labels.iter().enumerate() {
        out[l].push(row);
    }
    out
}

impl<'a> Lab<'a> {
    /// Embeds both tasks' pools and evaluation sets (through `host`) and
    /// splits each pool into selection rows (the last of each class) and candidates.
    pub fn new(
        encoder: &'a Encoder,
        host: &'a dyn Host,
        tasks: [TaskData; 2],
        plan: Plan,
    ) -> Result<Self> {
        let mut frozen = Vec::new();
        let (mut selection, mut candidates, mut eval_rows) = (Vec::new(), Vec::new(), Vec::new());
        for (t, task) in tasks.iter().enumerate() {
            let classes = task.labels.len();
            let pool = by_class(&task.train_labels, classes);
            if pool.iter().any(|rows| rows.len() < 2) {
                return Err(Error::InvalidArgument {
                    what: format!("{} training data", task.name),
                    reason: "every class needs at least 2 examples".into(),
                });
            }
            let mut sel = Vec::new();
            let mut cand = Vec::new();
            for rows in pool {
                let n_sel = plan.selection_per_class[t].min(rows.len() / 2);
                let (c, s) = rows.split_at(rows.len() - n_sel);
                sel.extend_from_slice(s);
                cand.push(c.to_vec());
            }
            sel.sort_unstable();
            let mut ev: Vec<usize> = by_class(&task.eval_labels, classes)
                .into_iter()
                .flat_map(|rows| rows.into_iter().take(plan.eval_per_class[t]))
                .collect();
            ev.sort_unstable();
            if ev.is_empty() {
                return Err(Error::InvalidArgument {
                    what: format!("{} evaluation data", task.name),
                    reason: "is empty".into(),
                });
            }
            host.log(&format!("{}: embedding the training pool", task.name));
            let train_x = host.embed(&task.train_texts, &format!("{} training pool", task.name))?;
            let eval_x = host.embed(&task.eval_texts, &format!("{} evaluation set", task.name))?;
            frozen.push((train_x, eval_x));
            selection.push(sel);
            candidates.push(cand);
            eval_rows.push(ev);
        }
        Ok(Self {
            encoder,
            host,
            plan,
            tasks,
            frozen,
            selection,
            candidates,
            eval_rows,
            states: RefCell::default(),
            encoder_lr: Cell::new(TrainConfig::default().encoder_learning_rate),
        })
    }

    /// Task `t` (0 = A, 1 = B).
    pub fn task(&self, t: usize) -> &TaskData {
        &self.tasks[t]
    }

    /// Task `t`'s selection rows (early stopping only).
    pub fn selection(&self, t: usize) -> Vec<usize> {
        self.selection[t].clone()
    }

    /// Up to `per_class` candidate rows of each class of task `t`, drawn with
    /// `seed`. For one seed, a smaller draw is a prefix of a larger one.
    pub fn sample(&self, t: usize, per_class: usize, seed: u64) -> Vec<usize> {
        let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(t as u64));
        let mut rows = Vec::new();
        for class in &self.candidates[t] {
            let mut order = class.clone();
            rng.shuffle(&mut order);
            rows.extend(order.into_iter().take(per_class));
        }
        rows.sort_unstable();
        rows
    }

    /// A fresh head for task `t`.
    pub fn new_head(&self, t: usize, seed: u64) -> Result<Head> {
        let task = &self.tasks[t];
        Head::new(
            &task.name,
            task.labels.clone(),
            task.architecture,
            self.encoder.encoder_ref(),
            seed,
        )
    }

    /// Sizes of every pool, selection and evaluation set, for the record.
    pub fn sizes(&self) -> serde_json::Value {
        let per_task: Vec<_> = (0..2)
            .map(|t| {
                json!({
                    "task": self.tasks[t].name,
                    "pool": self.tasks[t].train_texts.len(),
                    "candidates": self.candidates[t].iter().map(Vec::len).sum::<usize>(),
                    "selection": self.selection[t].len(),
                    "evaluation": self.eval_rows[t].len(),
                    "evaluation_available": self.tasks[t].eval_texts.len(),
                })
            })
            .collect();
        json!(per_task)
    }

    /// Head settings for a run that stops early on a selection set (with
    /// the chosen encoder rate, for the runs built on it that move layers).
    pub fn head_config(&self, seed: u64) -> TrainConfig {
        TrainConfig {
            encoder_learning_rate: self.encoder_lr.get(),
            seed,
            ..TrainConfig::default()
        }
    }

    /// The encoder's learning rate of every later run that trains layers.
    pub fn set_encoder_lr(&self, lr: f64) {
        self.encoder_lr.set(lr);
    }

    /// The encoder's learning rate of runs that train layers.
    pub fn encoder_lr(&self) -> f64 {
        self.encoder_lr.get()
    }

    /// Settings for a run that trains encoder layers (heads start trained):
    /// at most [`Plan::fine_tune_epochs`], keeping the epoch with the lowest
    /// selection loss.
    pub fn fine_tune_config(&self, seed: u64) -> TrainConfig {
        TrainConfig {
            epochs: self.plan.fine_tune_epochs,
            patience: 1,
            encoder_learning_rate: self.encoder_lr.get(),
            seed,
            ..TrainConfig::default()
        }
    }

    /// Settings for a head trained on `examples` with no selection set: about
    /// [`Plan::step_budget`] optimiser steps, no early stopping.
    pub fn budget_config(&self, seed: u64, examples: usize) -> TrainConfig {
        let config = self.head_config(seed);
        let batches = examples.div_ceil(config.batch_size).max(1);
        TrainConfig {
            epochs: self.plan.step_budget.div_ceil(batches).max(1),
            patience: 0,
            ..config
        }
    }

    pub(super) fn frozen_rows(&self, t: usize, eval: bool, rows: &[usize]) -> Result<Tensor> {
        let (train, evaluation) = &self.frozen[t];
        let source = if eval { evaluation } else { train };
        if rows.is_empty() {
            return Ok(Tensor::zeros(
                (0, self.encoder.dim()),
                DType::F32,
                &Device::Cpu,
            )?);
        }
        sentence_multitask::training::features::select_rows(source, rows)
    }

    /// Lower-layer states (below layer `first`) of pool or evaluation rows,
    /// computed once per row while `first` stays the same.
    pub(super) fn layer_rows(
        &self,
        first: usize,
        t: usize,
        eval: bool,
        rows: &[usize],
    ) -> Result<Vec<Tensor>> {
        let mut states = self.states.borrow_mut();
        if states.first != first {
            *states = States {
                first,
                rows: HashMap::new(),
            };
        }
        let texts = if eval {
            &self.tasks[t].eval_texts
        } else {
            &self.tasks[t].train_texts
        };
        let missing: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&r| !states.rows.contains_key(&(t, eval, r)))
            .collect();
        if !missing.is_empty() {
            let batch: Vec<&str> = missing.iter().map(|&r| texts[r].as_str()).collect();
            for (r, s) in missing
                .iter()
                .zip(self.encoder.states_below(&batch, first)?)
            {
                states.rows.insert((t, eval, *r), s);
            }
        }
        Ok(rows
            .iter()
            .map(|r| states.rows[&(t, eval, *r)].clone())
            .collect())
    }
}
