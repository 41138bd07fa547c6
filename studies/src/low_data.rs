//! Studies (d) and (e): task B with a handful of examples. (d) puts B's few
//! examples next to A's many and tries each remedy; (e) draws B's learning
//! curve. B has no selection set here (with 64 labelled examples there is
//! none to spare): B's heads train for about [`super::Plan::step_budget`]
//! steps when alone, and joint runs stop early on A's selection set only.

use serde::{Deserialize, Serialize};

use super::augment::augment;
use super::lab::Lab;
use super::run::TaskSpec;
use super::stats::{Hits, Spread};
use sentence_multitask::error::Result;
use sentence_multitask::model::heads::Head;
use sentence_multitask::rng::Rng;
use sentence_multitask::training::trainer::{LossWeighting, Sampling, TrainConfig, Trainable};

/// (d) One remedy under one encoder setting.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemedyRow {
    /// What was done.
    pub remedy: String,
    /// `heads` (frozen encoder) or the trainable layers.
    pub encoder: String,
    /// A's accuracy at the end (none when A was not in the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<Spread>,
    /// B's accuracy at the end.
    pub b: Spread,
    /// Optimiser steps B's head took.
    pub b_steps: Spread,
    /// Training seconds (all stages).
    pub seconds: Spread,
}

/// (e) One point of a learning curve.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Examples per class asked for (0: the whole pool).
    pub per_class: usize,
    /// Training examples actually used (before augmentation).
    pub examples: usize,
    /// B's accuracy.
    pub accuracy: Spread,
}

/// (e) One learning curve.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CurveSeries {
    /// What trained.
    pub name: String,
    /// Points by increasing size.
    pub points: Vec<CurvePoint>,
}

/// One way of training B next to A.
#[derive(Clone, Copy)]
pub(crate) enum Remedy {
    /// Both tasks in one run.
    Joint {
        sampling: Sampling,
        b_weight: f64,
        augment: bool,
        weighting: LossWeighting,
    },
    /// A alone, then B alone with A's head frozen.
    Sequential { augment: bool },
    /// B alone for the step budget: the baseline every remedy is compared with.
    Alone,
}

/// The label of [`Remedy::Alone`], the baseline the report compares every remedy with.
pub const ALONE: &str = "B alone";

/// What one seed of one remedy gave.
struct RemedyOutcome {
    a: Option<Hits>,
    b: Hits,
    b_steps: f64,
    seconds: f64,
}

fn label(remedy: Remedy) -> String {
    let aug = |on: bool| if on { " + augmentation" } else { "" };
    match remedy {
        Remedy::Joint {
            sampling,
            b_weight,
            augment,
            weighting,
        } => {
            let s = sampling.to_string();
            let w = if b_weight == 1.0 {
                String::new()
            } else {
                format!(", B's loss x{b_weight}")
            };
            let u = match weighting {
                LossWeighting::Fixed => "",
                LossWeighting::Uncertainty => ", uncertainty weighting",
            };
            format!("{s}{w}{u}{}", aug(augment))
        }
        Remedy::Sequential { augment } => format!("A first, then B{}", aug(augment)),
        Remedy::Alone => ALONE.into(),
    }
}

/// B's training rows for `seed`, and their augmented copies when asked.
pub(crate) fn b_examples(
    lab: &Lab,
    per_class: usize,
    seed: u64,
    on: bool,
) -> (Vec<usize>, Vec<(String, usize)>) {
    let rows = lab.sample(1, per_class, seed);
    let mut extra = Vec::new();
    if on {
        let task = lab.task(1);
        let mut rng = Rng::new(seed ^ 0xA6);
        for &r in &rows {
            let variants = augment(&task.train_texts[r], lab.plan.augment_copies, &mut rng);
            extra.extend(variants.into_iter().map(|v| (v, task.train_labels[r])));
        }
    }
    (rows, extra)
}

/// One seed of one remedy under one encoder setting.
struct RemedyRun<'l> {
    lab: &'l Lab<'l>,
    setting: Trainable,
    a_per_class: usize,
    seed: u64,
    /// Heads to start from (copied), or none for fresh ones.
    start: Option<&'l [Head; 2]>,
}

impl RemedyRun<'_> {
    fn run(&self, remedy: Remedy) -> Result<RemedyOutcome> {
        match remedy {
            Remedy::Joint {
                sampling,
                b_weight,
                augment,
                weighting,
            } => self.joint(sampling, b_weight, augment, weighting),
            Remedy::Sequential { augment } => self.sequential(augment),
            Remedy::Alone => self.alone(),
        }
    }

    fn head(&self, t: usize) -> Result<Head> {
        match self.start {
            Some(heads) => heads[t].deep_copy(),
            None => self.lab.new_head(t, self.seed.wrapping_add(t as u64)),
        }
    }

    /// A with its many examples, stopping early on its selection set.
    fn a_spec(&self) -> Result<TaskSpec> {
        let rows = self.lab.sample(0, self.a_per_class, self.seed);
        Ok(TaskSpec {
            val: self.lab.selection(0),
            ..TaskSpec::new(0, self.head(0)?, rows)
        })
    }

    /// The setting's usual configuration (heads alone get
    /// [`super::Plan::low_data_epochs`]) with this sampling and loss weighting.
    fn config(&self, sampling: Sampling, loss_weighting: LossWeighting) -> TrainConfig {
        let lab = self.lab;
        TrainConfig {
            sampling,
            loss_weighting,
            ..match self.setting {
                Trainable::Heads => TrainConfig {
                    epochs: lab.plan.low_data_epochs,
                    ..lab.head_config(self.seed)
                },
                _ => lab.fine_tune_config(self.seed),
            }
        }
    }

    /// Both tasks in one run.
    fn joint(
        &self,
        sampling: Sampling,
        b_weight: f64,
        augment: bool,
        weighting: LossWeighting,
    ) -> Result<RemedyOutcome> {
        let lab = self.lab;
        let (rows, extra) = b_examples(lab, lab.plan.low_data_b_per_class, self.seed, augment);
        let b = TaskSpec {
            extra,
            loss_weight: b_weight,
            ..TaskSpec::new(1, self.head(1)?, rows)
        };
        let specs = vec![self.a_spec()?, b];
        let config = self.config(sampling, weighting);
        let mut out = lab.run(specs, self.setting, &config, None)?;
        Ok(RemedyOutcome {
            b: out.hits.remove(1),
            a: Some(out.hits.remove(0)),
            b_steps: out.steps[1] as f64,
            seconds: out.seconds,
        })
    }

    /// B alone for the step budget (and the encoder layers, if any, from
    /// where they start).
    fn alone(&self) -> Result<RemedyOutcome> {
        let lab = self.lab;
        let (rows, _) = b_examples(lab, lab.plan.low_data_b_per_class, self.seed, false);
        let config = lab.budget_config(self.seed, rows.len());
        let spec = TaskSpec::new(1, self.head(1)?, rows);
        let mut out = lab.run(vec![spec], self.setting, &config, None)?;
        Ok(RemedyOutcome {
            a: None,
            b: out.hits.remove(0),
            b_steps: out.steps[0] as f64,
            seconds: out.seconds,
        })
    }

    /// A alone, then B alone for the step budget with A's head frozen (and
    /// the encoder layers A trained, if any).
    fn sequential(&self, augment: bool) -> Result<RemedyOutcome> {
        let lab = self.lab;
        let config = self.config(Sampling::Proportional, LossWeighting::Fixed);
        let first = lab.run(vec![self.a_spec()?], self.setting, &config, None)?;
        let (rows, extra) = b_examples(lab, lab.plan.low_data_b_per_class, self.seed, augment);
        let config = lab.budget_config(self.seed, rows.len() + extra.len());
        let a_head = first.heads[0].deep_copy()?;
        let b = TaskSpec {
            extra,
            ..TaskSpec::new(1, self.head(1)?, rows)
        };
        let specs = vec![b, TaskSpec::frozen(0, a_head)];
        let mut second = lab.run(specs, self.setting, &config, first.top)?;
        Ok(RemedyOutcome {
            a: Some(second.hits.remove(1)),
            b: second.hits.remove(0),
            b_steps: second.steps[0] as f64,
            seconds: first.seconds + second.seconds,
        })
    }
}

impl Remedy {
    /// Both tasks in one run.
    pub(crate) const fn joint(sampling: Sampling, b_weight: f64, augment: bool) -> Self {
        Self::Joint {
            sampling,
            b_weight,
            augment,
            weighting: LossWeighting::Fixed,
        }
    }

    /// Both tasks in one run, each step's loss divided by its task's running
    /// mean loss (uncertainty weighting).
    const fn uncertainty(sampling: Sampling) -> Self {
        Self::Joint {
            sampling,
            b_weight: 1.0,
            augment: false,
            weighting: LossWeighting::Uncertainty,
        }
    }
}

/// The remedies tried on the frozen encoder.
const FROZEN_REMEDIES: [Remedy; 9] = [
    Remedy::Alone,
    Remedy::joint(Sampling::Proportional, 1.0, false),
    Remedy::joint(Sampling::Proportional, 10.0, false),
    Remedy::joint(Sampling::Temperature(2.0), 1.0, false),
    Remedy::joint(Sampling::Temperature(5.0), 1.0, false),
    Remedy::joint(Sampling::Alternating, 1.0, false),
    Remedy::joint(Sampling::Alternating, 1.0, true),
    Remedy::Sequential { augment: false },
    Remedy::Sequential { augment: true },
];

/// The remedies tried on a moving encoder (each run costs far more). The
/// loss weights act here through the shared layer's optimiser, which both
/// tasks' steps feed; alternating gives B the most joint steps.
const MOVING_REMEDIES: [Remedy; 7] = [
    Remedy::Alone,
    Remedy::joint(Sampling::Proportional, 1.0, false),
    Remedy::joint(Sampling::Temperature(2.0), 1.0, false),
    Remedy::joint(Sampling::Alternating, 1.0, false),
    Remedy::joint(Sampling::Alternating, 10.0, false),
    Remedy::uncertainty(Sampling::Alternating),
    Remedy::Sequential { augment: false },
];

/// Study (d): every remedy on the frozen encoder, and some on a moving one
/// (with at most three seeds).
pub fn remedies(lab: &Lab) -> Result<Vec<RemedyRow>> {
    let plan = &lab.plan;
    let seeds = &plan.low_data_seeds;
    let a_per_class = plan.low_data_a_per_class;
    let mut rows = setting_rows(lab, Trainable::Heads, a_per_class, &FROZEN_REMEDIES, seeds)?;
    if let Some((setting, a_per_class)) = plan.low_data_moving {
        let seeds = &seeds[..seeds.len().min(3)];
        rows.extend(setting_rows(
            lab,
            setting,
            a_per_class,
            &MOVING_REMEDIES,
            seeds,
        )?);
    }
    Ok(rows)
}

/// One row per remedy under one encoder setting, over `seeds`.
pub(crate) fn setting_rows(
    lab: &Lab,
    setting: Trainable,
    a_per_class: usize,
    remedies: &[Remedy],
    seeds: &[u64],
) -> Result<Vec<RemedyRow>> {
    let name = setting.to_string();
    // A moving encoder starts from heads trained on the frozen one, per seed.
    let starts = match setting {
        Trainable::Heads => Vec::new(),
        _ => seeds
            .iter()
            .map(|&seed| frozen_start(lab, &name, a_per_class, seed))
            .collect::<Result<Vec<_>>>()?,
    };
    let mut rows = Vec::new();
    for &remedy in remedies {
        lab.host.log(&format!("(d) {name}: {}", label(remedy)));
        let mut figures = Vec::new();
        for (i, &seed) in seeds.iter().enumerate() {
            let run = RemedyRun {
                lab,
                setting,
                a_per_class,
                seed,
                start: starts.get(i),
            };
            figures.push(run.run(remedy)?);
        }
        let a: Option<Vec<Hits>> = figures.iter().map(|f| f.a.clone()).collect();
        let b: Vec<Hits> = figures.iter().map(|f| f.b.clone()).collect();
        rows.push(RemedyRow {
            remedy: label(remedy),
            encoder: name.clone(),
            a: a.map(|a| Spread::scored(&a)),
            b: Spread::scored(&b),
            b_steps: Spread::of(figures.iter().map(|f| f.b_steps).collect()),
            seconds: Spread::of(figures.iter().map(|f| f.seconds).collect()),
        });
    }
    Ok(rows)
}

/// A's and B's heads trained on the frozen encoder for one seed (A stopping
/// early on its selection set, B for the step budget): where the runs of a
/// moving encoder `name` start.
pub(crate) fn frozen_start(
    lab: &Lab,
    name: &str,
    a_per_class: usize,
    seed: u64,
) -> Result<[Head; 2]> {
    let plan = &lab.plan;
    lab.host.log(&format!(
        "(d) {name}: heads on the frozen encoder, seed {seed}"
    ));
    let mut a = lab.run(
        vec![TaskSpec {
            val: lab.selection(0),
            ..TaskSpec::new(0, lab.new_head(0, seed)?, lab.sample(0, a_per_class, seed))
        }],
        Trainable::Heads,
        &lab.head_config(seed),
        None,
    )?;
    let (b_rows, _) = b_examples(lab, plan.low_data_b_per_class, seed, false);
    let config = lab.budget_config(seed, b_rows.len());
    let b_spec = TaskSpec::new(1, lab.new_head(1, seed.wrapping_add(1))?, b_rows);
    let mut b = lab.run(vec![b_spec], Trainable::Heads, &config, None)?;
    Ok([a.heads.remove(0), b.heads.remove(0)])
}

/// Study (e): B alone on the frozen encoder at each size, with and without
/// augmentation, and B with its whole pool (early stopping on its selection set).
pub fn curves(lab: &Lab) -> Result<Vec<CurveSeries>> {
    let plan = &lab.plan;
    let mut plain = Vec::new();
    let mut augmented = Vec::new();
    for &per_class in &plan.curve_per_class {
        lab.host.log(&format!("(e) {per_class} examples per class"));
        for (on, series) in [(false, &mut plain), (true, &mut augmented)] {
            if on && per_class > plan.augment_up_to {
                continue;
            }
            let mut accuracy = Vec::new();
            let mut examples = 0;
            for &seed in &plan.low_data_seeds {
                let (rows, extra) = b_examples(lab, per_class, seed, on);
                examples = rows.len();
                let config = lab.budget_config(seed, rows.len() + extra.len());
                let spec = TaskSpec {
                    extra,
                    ..TaskSpec::new(1, lab.new_head(1, seed.wrapping_add(1))?, rows)
                };
                let mut out = lab.run(vec![spec], Trainable::Heads, &config, None)?;
                accuracy.push(out.hits.remove(0));
            }
            series.push(CurvePoint {
                per_class,
                examples,
                accuracy: Spread::scored(&accuracy),
            });
        }
    }
    lab.host.log("(e) the whole pool");
    let seed = plan.low_data_seeds[0];
    let rows = lab.sample(1, usize::MAX, seed);
    let examples = rows.len();
    let spec = TaskSpec {
        val: lab.selection(1),
        ..TaskSpec::new(1, lab.new_head(1, seed.wrapping_add(1))?, rows)
    };
    let mut full = lab.run(vec![spec], Trainable::Heads, &lab.head_config(seed), None)?;
    let copies = plan.augment_copies;
    Ok(vec![
        CurveSeries {
            name: "head alone".into(),
            points: plain,
        },
        CurveSeries {
            name: format!("head alone, + {copies} augmented copies of each example"),
            points: augmented,
        },
        CurveSeries {
            name: "whole pool (one seed, early stopping on the selection set)".into(),
            points: vec![CurvePoint {
                per_class: 0,
                examples,
                accuracy: Spread::scored(&[full.hits.remove(0)]),
            }],
        },
    ])
}
