//! Study (i): how the encoder's layers train, beside (a)'s one rate for
//! every layer: layer-wise learning rates (each layer below the top one at
//! a fixed factor of the rate above it, the factor chosen on the selection
//! sets) and gradual unfreezing (the top layers first, more each epoch).
//! Each task trains alone from the grid's frozen-encoder heads of the same
//! seed, with (a)'s settings otherwise, so the report pairs every row with
//! (a)'s row for the same layers.

use serde::{Deserialize, Serialize};

use super::fine_tune::{frozen_seed, setting_name, Probe};
use super::lab::Lab;
use super::run::{Outcome, TaskSpec};
use super::stats::Spread;
use sentence_multitask::error::Result;
use sentence_multitask::training::trainer::TrainConfig;

/// (i) One task under one way of training the encoder's layers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScheduleRow {
    /// The task's name.
    pub task: String,
    /// What trained besides the head (`all`, `top-2`): (a)'s row to pair with.
    pub trainable: String,
    /// Each layer's rate as a factor of the rate of the layer above it.
    pub layer_decay: f64,
    /// Gradual unfreezing.
    pub unfreeze: bool,
    /// Accuracy on the selection set with the kept weights, per seed.
    pub selection: Vec<f64>,
    /// Accuracy on the evaluation set.
    pub accuracy: Spread,
    /// Training seconds per epoch (validation on the selection set included).
    pub seconds_per_epoch: Spread,
    /// Epochs run, per seed.
    pub epochs_run: Vec<usize>,
    /// True for a layer decay tried on the first seed only: another one had
    /// the better selection accuracy and ran on every seed.
    pub first_seed_only: bool,
}

/// One way of training the layers: a layer decay and gradual unfreezing.
#[derive(Clone, Copy)]
struct Way {
    layer_decay: f64,
    unfreeze: bool,
}

/// Both tasks alone under `way`, from `probe`'s heads.
fn both_tasks(lab: &Lab, probe: &Probe, seed: u64, way: Way) -> Result<[Outcome; 2]> {
    let setting = lab.plan.schedule_setting;
    lab.host.log(&format!(
        "(i) {}, layer decay {}, unfreezing {}, seed {seed}",
        setting_name(setting),
        way.layer_decay,
        way.unfreeze
    ));
    let config = TrainConfig {
        encoder_layer_decay: way.layer_decay,
        unfreeze: way.unfreeze,
        ..lab.fine_tune_config(seed)
    };
    let run = |t: usize| -> Result<Outcome> {
        let spec = TaskSpec {
            val: lab.selection(t),
            ..TaskSpec::new(t, probe.heads[t].deep_copy()?, probe.rows[t].clone())
        };
        lab.run(vec![spec], setting, &config, None)
    };
    Ok([run(0)?, run(1)?])
}

/// Rows of both tasks from one way's runs (one per seed).
fn rows(lab: &Lab, way: Way, runs: &[[Outcome; 2]], first_seed_only: bool) -> Vec<ScheduleRow> {
    (0..2)
        .map(|t| ScheduleRow {
            task: lab.task(t).name.clone(),
            trainable: setting_name(lab.plan.schedule_setting),
            layer_decay: way.layer_decay,
            unfreeze: way.unfreeze,
            selection: runs
                .iter()
                .map(|r| r[t].selection[0].unwrap_or(0.0))
                .collect(),
            accuracy: Spread::scored(
                &runs
                    .iter()
                    .map(|r| r[t].hits[0].clone())
                    .collect::<Vec<_>>(),
            ),
            seconds_per_epoch: Spread::of(runs.iter().map(|r| r[t].seconds_per_epoch()).collect()),
            epochs_run: runs.iter().map(|r| r[t].epochs_run).collect(),
            first_seed_only,
        })
        .collect()
}

/// Runs study (i): each layer decay of the plan on the first seed, the one
/// with the best mean selection accuracy over both tasks on every seed,
/// then gradual unfreezing (one rate) on every seed.
pub fn schedules(lab: &Lab) -> Result<Vec<ScheduleRow>> {
    let plan = &lab.plan;
    let probes = (plan.seeds.iter())
        .map(|&seed| Ok(frozen_seed(lab, seed)?.1))
        .collect::<Result<Vec<_>>>()?;
    let first = plan.seeds[0];
    let mut tried = Vec::new();
    for &layer_decay in &plan.layer_decays {
        let way = Way {
            layer_decay,
            unfreeze: false,
        };
        let runs = both_tasks(lab, &probes[0], first, way)?;
        let selection: f64 = runs.iter().map(|r| r.selection[0].unwrap_or(0.0)).sum();
        tried.push((selection, way, runs));
    }
    let best = (0..tried.len()).max_by(|&i, &j| tried[i].0.total_cmp(&tried[j].0));
    let mut out = Vec::new();
    for (i, (_, way, runs)) in tried.into_iter().enumerate() {
        if Some(i) != best {
            out.extend(rows(lab, way, &[runs], true));
            continue;
        }
        let mut all = vec![runs];
        for (probe, &seed) in probes.iter().zip(&plan.seeds).skip(1) {
            all.push(both_tasks(lab, probe, seed, way)?);
        }
        out.extend(rows(lab, way, &all, false));
    }
    let unfreeze = Way {
        layer_decay: 1.0,
        unfreeze: true,
    };
    let runs = (probes.iter().zip(&plan.seeds))
        .map(|(probe, &seed)| both_tasks(lab, probe, seed, unfreeze))
        .collect::<Result<Vec<_>>>()?;
    out.extend(rows(lab, unfreeze, &runs, false));
    Ok(out)
}
