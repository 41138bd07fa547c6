//! Study (g): forgetting over time. A's head is trained on the frozen
//! encoder; then B trains epoch by epoch with the top layers moving, and A
//! is scored through the moved layers after every epoch. A's head is either
//! kept frozen, or trained along on a small replay set of A's examples. (An
//! adapter, B's own copy of the layers, leaves A's input untouched, so A
//! stays where it started by construction: the page's default.)
//!
//! Each epoch is its own run continuing from the last one's layers and
//! heads, so the optimiser's moments restart every epoch.

use serde::{Deserialize, Serialize};

use super::lab::Lab;
use super::run::TaskSpec;
use super::stats::{Hits, Spread};
use sentence_multitask::error::Result;
use sentence_multitask::training::features::TopLayers;
use sentence_multitask::training::trainer::{TrainConfig, Trainable};

/// One way of carrying A while B trains.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ForgettingSeries {
    /// `A's head frozen` or `A's head on N replayed examples`.
    pub name: String,
    /// A's accuracy before B trained (index 0) and after each of B's epochs.
    pub a: Vec<Spread>,
    /// B's accuracy after each epoch (index 0: B's head on the frozen encoder).
    pub b: Vec<Spread>,
}

/// One seed of one series: (A's hits, B's hits) with both heads trained on
/// the frozen encoder, then after each of B's epochs with the layers moving.
fn series_seed(lab: &Lab, seed: u64, replay: usize) -> Result<Vec<(Hits, Hits)>> {
    let plan = &lab.plan;
    let mut heads = Vec::new();
    let mut first = Vec::new();
    let rows = [0, 1].map(|t| lab.sample(t, plan.fine_tune_per_class[t], seed));
    for (t, task_rows) in rows.iter().enumerate() {
        let head = lab.new_head(t, seed.wrapping_add(t as u64))?;
        let spec = TaskSpec {
            val: lab.selection(t),
            ..TaskSpec::new(t, head, task_rows.clone())
        };
        let mut out = lab.run(vec![spec], Trainable::Heads, &lab.head_config(seed), None)?;
        heads.push(out.heads.remove(0));
        first.push(out.hits.remove(0));
    }
    let mut points = vec![(first[0].clone(), first[1].clone())];
    let replay_rows = lab.sample(0, replay, seed.wrapping_add(7));
    let mut top: Option<TopLayers> = None;
    for epoch in 0..plan.forgetting_epochs {
        let a = match replay {
            0 => TaskSpec::frozen(0, heads[0].deep_copy()?),
            _ => TaskSpec::new(0, heads[0].deep_copy()?, replay_rows.clone()),
        };
        let b = TaskSpec::new(1, heads[1].deep_copy()?, rows[1].clone());
        let config = TrainConfig {
            epochs: 1,
            patience: 0,
            seed: seed.wrapping_add(epoch as u64),
            ..lab.fine_tune_config(seed)
        };
        let mut out = lab.run(vec![b, a], plan.forgetting_setting, &config, top)?;
        points.push((out.hits[1].clone(), out.hits[0].clone()));
        heads = vec![out.heads.remove(1), out.heads.remove(0)];
        top = out.top;
    }
    Ok(points)
}

/// Study (g): A's accuracy epoch by epoch while B trains the top layers,
/// A's head frozen or trained on a replay set.
pub fn forgetting(lab: &Lab) -> Result<Vec<ForgettingSeries>> {
    let plan = &lab.plan;
    let seeds = &plan.seeds;
    let mut out = Vec::new();
    for (name, replay) in [
        ("A's head frozen".to_string(), 0),
        (
            format!(
                "A's head trained on {} replayed examples a class",
                plan.replay_per_class
            ),
            plan.replay_per_class,
        ),
    ] {
        lab.host.log(&format!("(g) {name}"));
        let runs = seeds
            .iter()
            .map(|&seed| series_seed(lab, seed, replay))
            .collect::<Result<Vec<_>>>()?;
        let column = |epoch: usize, side: usize| {
            let hits: Vec<Hits> = runs
                .iter()
                .map(|r| {
                    if side == 0 {
                        r[epoch].0.clone()
                    } else {
                        r[epoch].1.clone()
                    }
                })
                .collect();
            Spread::scored(&hits)
        };
        let epochs = runs.first().map_or(0, Vec::len);
        out.push(ForgettingSeries {
            name,
            a: (0..epochs).map(|e| column(e, 0)).collect(),
            b: (0..epochs).map(|e| column(e, 1)).collect(),
        });
    }
    Ok(out)
}
