//! Studies (a) to (c): one grid of runs per encoder setting and seed, read
//! three ways. Per seed, heads are first trained on the frozen encoder (the
//! "probes"); every run that trains encoder layers starts from copies of
//! them, as `train --init DIR --trainable top-K` does.
//!
//! - single A: A's head and the layers train on A's examples;
//! - single B: B's head and the layers train on B's examples while A's head
//!   is carried along frozen, so A's accuracy afterwards shows what a moving
//!   shared encoder does to a head that no longer trains;
//! - multi: both heads and the layers train together on both tasks' examples.

use serde::{Deserialize, Serialize};

use super::lab::Lab;
use super::run::{Outcome, TaskSpec};
use super::stats::{Hits, Spread};
use sentence_multitask::error::{Error, Result};
use sentence_multitask::model::heads::Head;
use sentence_multitask::training::trainer::Trainable;

/// (a) One task under one encoder setting.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainableRow {
    /// The task's name.
    pub task: String,
    /// `heads` (frozen encoder), `top-1`, `top-2` or `all`.
    pub trainable: String,
    /// Accuracy on the task's evaluation set.
    pub accuracy: Spread,
    /// Training seconds per epoch (validation on the selection set included).
    pub seconds_per_epoch: Spread,
    /// Epochs run, per seed.
    pub epochs_run: Vec<usize>,
}

/// (b) A's head after B has trained.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FreezeRow {
    /// What trained besides B's head: `heads` (frozen encoder), `top-1`, ...
    pub encoder: String,
    /// `frozen` (A's head kept bit-identical, A's data unused) or
    /// `trained` (A's head and data in the run, multi-task).
    pub a_head: String,
    /// A's accuracy before B trained (its head on the frozen encoder).
    pub a_before: Spread,
    /// A's accuracy after B trained.
    pub a_after: Spread,
    /// `a_after - a_before`, per seed.
    pub a_change: Spread,
    /// B's accuracy.
    pub b_accuracy: Spread,
    /// True when A's head weights came out bit-identical in every seed.
    pub a_head_bit_identical: bool,
}

/// (c) One task: its own model against the shared multi-task model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MultiTaskRow {
    /// The task's name.
    pub task: String,
    /// What trained besides the heads.
    pub trainable: String,
    /// Accuracy of the single-task model (the (a) run).
    pub single: Spread,
    /// Accuracy of this task's head in the multi-task model.
    pub multi: Spread,
    /// Training seconds per epoch of the multi-task run (both tasks' examples).
    pub multi_seconds_per_epoch: Spread,
}

/// Choosing the encoder's learning rate: one setting, one seed, each task
/// alone, scored on its selection set (the choice) and its evaluation set
/// (reported, never used to choose).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepRow {
    /// The task's name.
    pub task: String,
    /// What trained besides the head.
    pub trainable: String,
    /// The encoder's learning rate.
    pub encoder_lr: f64,
    /// Accuracy on the selection set with the kept weights.
    pub selection: f64,
    /// Accuracy on the evaluation set.
    pub accuracy: f64,
    /// Epochs run, and the one kept (lowest selection loss).
    pub epochs_run: usize,
    /// True for the rate every run with trainable layers then used.
    pub chosen: bool,
}

/// One seed's runs under one encoder setting.
pub(super) struct Cell {
    single: [(Hits, f64, usize); 2],
    a_after_b: Hits,
    a_identical: bool,
    multi: [Hits; 2],
    multi_seconds: f64,
}

impl Cell {
    /// The cell of A alone, B alone (A's head frozen beside it) and both together.
    fn new(a: &Outcome, b: &Outcome, multi: &Outcome, a_identical: bool) -> Self {
        Self {
            single: [
                (a.hits[0].clone(), a.seconds_per_epoch(), a.epochs_run),
                (b.hits[0].clone(), b.seconds_per_epoch(), b.epochs_run),
            ],
            a_after_b: b.hits[1].clone(),
            a_identical,
            multi: [multi.hits[0].clone(), multi.hits[1].clone()],
            multi_seconds: multi.seconds_per_epoch(),
        }
    }
}

/// Every cell, by setting then seed, with the probes' A hits per seed.
pub struct Grid {
    names: [String; 2],
    settings: Vec<(String, Vec<Cell>)>,
    a_before: Vec<Hits>,
    /// The learning-rate sweep that chose the encoder's rate.
    pub sweep: Vec<SweepRow>,
}

pub(super) fn setting_name(t: Trainable) -> String {
    match t {
        Trainable::Heads => "heads".into(),
        Trainable::TopLayers(k) => format!("top-{k}"),
        Trainable::All => "all".into(),
    }
}

fn same_weights(a: &Head, b: &Head) -> Result<bool> {
    Ok(a.to_safetensors()? == b.to_safetensors()?)
}

/// Runs every setting of the plan (the frozen encoder first) for each seed.
pub fn run_grid(lab: &Lab) -> Result<Grid> {
    let plan = &lab.plan;
    let mut probes = Vec::new();
    let mut cells = Vec::new();
    for &seed in &plan.seeds {
        let (cell, probe) = frozen_seed(lab, seed)?;
        cells.push(cell);
        probes.push(probe);
    }
    let a_before: Vec<Hits> = cells.iter().map(|c| c.single[0].0.clone()).collect();
    let sweep = sweep(lab, &probes[0], plan.seeds[0])?;
    let mut settings = vec![(setting_name(Trainable::Heads), cells)];
    for &(setting, seeds) in &plan.layer_settings {
        let cells = probes
            .iter()
            .zip(&plan.seeds)
            .take(seeds)
            .map(|(probe, &seed)| moving_seed(lab, setting, seed, probe))
            .collect::<Result<Vec<_>>>()?;
        settings.push((setting_name(setting), cells));
    }
    Ok(Grid {
        names: [lab.task(0).name.clone(), lab.task(1).name.clone()],
        settings,
        a_before,
        sweep,
    })
}

/// Runs each task alone at every encoder learning rate of the plan (its
/// sweep setting, one seed, from that seed's probes), keeps the rate with
/// the best mean selection accuracy over the two tasks for every later run
/// ([`Lab::set_encoder_lr`]), and returns one row per run.
fn sweep(lab: &Lab, probe: &Probe, seed: u64) -> Result<Vec<SweepRow>> {
    let setting = lab.plan.sweep_setting;
    let mut rows = Vec::new();
    let mut best = (f64::NEG_INFINITY, lab.plan.encoder_lrs[0]);
    for &lr in &lab.plan.encoder_lrs {
        lab.set_encoder_lr(lr);
        let name = setting_name(setting);
        lab.host
            .log(&format!("learning-rate sweep: {name}, encoder lr {lr}"));
        let mut total = 0.0;
        for t in 0..2 {
            let spec = TaskSpec {
                val: lab.selection(t),
                ..TaskSpec::new(t, probe.heads[t].deep_copy()?, probe.rows[t].clone())
            };
            let out = lab.run(vec![spec], setting, &lab.fine_tune_config(seed), None)?;
            let selection = out.selection[0].unwrap_or(0.0);
            total += selection;
            rows.push(SweepRow {
                task: lab.task(t).name.clone(),
                trainable: name.clone(),
                encoder_lr: lr,
                selection,
                accuracy: out.accuracy(0),
                epochs_run: out.epochs_run,
                chosen: false,
            });
        }
        if total > best.0 {
            best = (total, lr);
        }
    }
    lab.set_encoder_lr(best.1);
    for row in &mut rows {
        row.chosen = row.encoder_lr == best.1;
    }
    Ok(rows)
}

/// One seed's heads trained on the frozen encoder and the rows they trained
/// on: where that seed's runs with a moving encoder start.
pub(super) struct Probe {
    pub(super) heads: [Head; 2],
    pub(super) rows: [Vec<usize>; 2],
}

/// One seed on the frozen encoder: A alone, B alone beside A's frozen head
/// (which must stay bit-identical, and so keep its accuracy), and both together.
pub(super) fn frozen_seed(lab: &Lab, seed: u64) -> Result<(Cell, Probe)> {
    let plan = &lab.plan;
    lab.host
        .log(&format!("(a)-(c) frozen encoder, seed {seed}"));
    let rows = [0, 1].map(|t| lab.sample(t, plan.fine_tune_per_class[t], seed));
    let spec = |t: usize, head: Head| TaskSpec {
        val: lab.selection(t),
        ..TaskSpec::new(t, head, rows[t].clone())
    };
    let config = lab.head_config(seed);
    let mut a = lab.run(
        vec![spec(0, lab.new_head(0, seed)?)],
        Trainable::Heads,
        &config,
        None,
    )?;
    let probe_a = a.heads.remove(0);
    let b = lab.run(
        vec![
            spec(1, lab.new_head(1, seed.wrapping_add(1))?),
            TaskSpec::frozen(0, probe_a.deep_copy()?),
        ],
        Trainable::Heads,
        &config,
        None,
    )?;
    let a_identical = same_weights(&b.heads[1], &probe_a)?;
    if !a_identical || b.accuracy(1).to_bits() != a.accuracy(0).to_bits() {
        return Err(Error::InvalidArgument {
            what: "study (b)".into(),
            reason: format!(
                "A's frozen head changed on a frozen encoder: accuracy {} before, {} after",
                a.accuracy(0),
                b.accuracy(1)
            ),
        });
    }
    let multi = lab.run(
        vec![
            spec(0, lab.new_head(0, seed)?),
            spec(1, lab.new_head(1, seed.wrapping_add(1))?),
        ],
        Trainable::Heads,
        &config,
        None,
    )?;
    let cell = Cell::new(&a, &b, &multi, a_identical);
    let mut b_heads = b.heads;
    let heads = [probe_a, b_heads.remove(0)];
    Ok((cell, Probe { heads, rows }))
}

/// One seed with encoder layers training, every run starting from the
/// seed's probes: A alone, B alone beside A's frozen head, and both together.
fn moving_seed(lab: &Lab, setting: Trainable, seed: u64, probe: &Probe) -> Result<Cell> {
    let name = setting_name(setting);
    lab.host.log(&format!("(a)-(c) {name}, seed {seed}"));
    let config = lab.fine_tune_config(seed);
    let spec = |t: usize| -> Result<TaskSpec> {
        Ok(TaskSpec {
            val: lab.selection(t),
            ..TaskSpec::new(t, probe.heads[t].deep_copy()?, probe.rows[t].clone())
        })
    };
    let a = lab.run(vec![spec(0)?], setting, &config, None)?;
    let frozen_a = TaskSpec::frozen(0, probe.heads[0].deep_copy()?);
    let b = lab.run(vec![spec(1)?, frozen_a], setting, &config, None)?;
    let a_identical = same_weights(&b.heads[1], &probe.heads[0])?;
    if !a_identical {
        return Err(Error::InvalidArgument {
            what: "study (b)".into(),
            reason: format!("A's frozen head changed while B trained with {name}"),
        });
    }
    let multi = lab.run(vec![spec(0)?, spec(1)?], setting, &config, None)?;
    Ok(Cell::new(&a, &b, &multi, a_identical))
}

impl Grid {
    /// Study (a): accuracy and seconds per epoch of each task alone, per setting.
    pub fn trainable_rows(&self) -> Vec<TrainableRow> {
        let mut rows = Vec::new();
        for t in 0..2 {
            for (name, cells) in &self.settings {
                let hits: Vec<Hits> = cells.iter().map(|c| c.single[t].0.clone()).collect();
                rows.push(TrainableRow {
                    task: self.names[t].clone(),
                    trainable: name.clone(),
                    accuracy: Spread::scored(&hits),
                    seconds_per_epoch: Spread::of(cells.iter().map(|c| c.single[t].1).collect()),
                    epochs_run: cells.iter().map(|c| c.single[t].2).collect(),
                });
            }
        }
        rows
    }

    /// Study (b): A's accuracy after B trained, A's head frozen or trained along.
    pub fn freeze_rows(&self) -> Vec<FreezeRow> {
        let mut rows = Vec::new();
        for (name, cells) in &self.settings {
            let before = Spread::scored(&self.a_before[..cells.len()]);
            let row = |a_head: &str, after: Vec<Hits>, b: Vec<Hits>, identical: bool| {
                let after = Spread::scored(&after);
                FreezeRow {
                    encoder: name.clone(),
                    a_head: a_head.into(),
                    a_change: Spread::of(
                        after
                            .values
                            .iter()
                            .zip(&before.values)
                            .map(|(x, y)| x - y)
                            .collect(),
                    ),
                    a_before: before.clone(),
                    a_after: after,
                    b_accuracy: Spread::scored(&b),
                    a_head_bit_identical: identical,
                }
            };
            rows.push(row(
                "frozen",
                cells.iter().map(|c| c.a_after_b.clone()).collect(),
                cells.iter().map(|c| c.single[1].0.clone()).collect(),
                cells.iter().all(|c| c.a_identical),
            ));
            if name != "heads" {
                rows.push(row(
                    "trained",
                    cells.iter().map(|c| c.multi[0].clone()).collect(),
                    cells.iter().map(|c| c.multi[1].clone()).collect(),
                    false,
                ));
            }
        }
        rows
    }

    /// Study (c): each task's single-task and multi-task accuracy, per setting.
    pub fn multitask_rows(&self) -> Vec<MultiTaskRow> {
        let mut rows = Vec::new();
        for (name, cells) in &self.settings {
            for t in 0..2 {
                let column = |f: &dyn Fn(&Cell) -> Hits| {
                    Spread::scored(&cells.iter().map(f).collect::<Vec<_>>())
                };
                rows.push(MultiTaskRow {
                    task: self.names[t].clone(),
                    trainable: name.clone(),
                    single: column(&|c| c.single[t].0.clone()),
                    multi: column(&|c| c.multi[t].clone()),
                    multi_seconds_per_epoch: Spread::of(
                        cells.iter().map(|c| c.multi_seconds).collect(),
                    ),
                });
            }
        }
        rows
    }
}
