//! The studies behind DISCUSSION.md: what to train and what to freeze (with
//! the encoder's learning rate chosen on selection data), one multi-task
//! model or two single-task ones, a task with little data next to one with
//! plenty (an unrelated and a related pair), forgetting epoch by epoch,
//! a new task's few-shot curve through the page's lessons, layer-wise
//! learning rates and gradual unfreezing, and how the two tasks' gradients
//! on a shared layer relate.
//! Every accuracy keeps which evaluation examples each seed got right, so
//! the report compares settings pairwise ([`stats`]). They run on the project's own trainer
//! ([`sentence_multitask::training::trainer::train`]) with fixed seeds and write plain results that
//! [`report`] turns into markdown tables and SVG charts.
//!
//! Task A is the one with plenty of data (topic, AG News), task B the one
//! with little (sentiment: the whole sentences of SST-2's training file,
//! [`sentences`]). Every accuracy is measured on an
//! evaluation set no run trains or stops on; early stopping, where there is
//! any, uses a selection set held out of the training pool.
//!
//! Native only: runs are timed with the system clock.

mod augment;
mod chart;
mod conflict;
mod cost;
mod few_shot;
mod fine_tune;
mod forgetting;
mod lab;
mod low_data;
mod related;
pub mod report;
mod run;
mod schedules;
pub mod sentences;
pub mod stats;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use sentence_multitask::error::{Error, Result};
use sentence_multitask::model::encoder::Encoder;
use sentence_multitask::model::heads::Architecture;
use sentence_multitask::training::trainer::Trainable;

pub use augment::augment;
pub use conflict::ConflictRow;
pub use cost::{CostOption, CostStudy};
pub use few_shot::{example_files, few_shot, FewShotPoint, FewShotSeries};
pub use fine_tune::{FreezeRow, MultiTaskRow, SweepRow, TrainableRow};
pub use forgetting::ForgettingSeries;
pub use lab::Lab;
pub use low_data::{CurvePoint, CurveSeries, RemedyRow};
pub use run::{Outcome, TaskSpec};
pub use schedules::ScheduleRow;
pub use stats::{paired, Hits, Paired, Spread};

/// What the studies need from their host: embeddings of texts through the
/// frozen encoder (the CLI reads them from its on-disk cache), thread
/// control and a place for progress messages.
pub trait Host {
    /// Embeddings `(texts.len(), dim)` of `texts` through the frozen encoder.
    fn embed(&self, texts: &[String], what: &str) -> Result<Tensor>;
    /// Called before each run: `true` when only heads train (small products,
    /// best on one thread), `false` when encoder layers run.
    fn heads_only(&self, heads_only: bool);
    /// A progress message for the person waiting.
    fn log(&self, message: &str);
}

/// One task's data: a training pool and an evaluation set.
#[derive(Clone, Debug)]
pub struct TaskData {
    /// Head name (`topic`, `sentiment`).
    pub name: String,
    /// Class labels in head order.
    pub labels: Vec<String>,
    /// Architecture of this task's heads.
    pub architecture: Architecture,
    /// Texts of the training pool (subsets, and the selection set, come from here).
    pub train_texts: Vec<String>,
    /// Class index of each training text.
    pub train_labels: Vec<usize>,
    /// Texts of the evaluation set (never trained or stopped on).
    pub eval_texts: Vec<String>,
    /// Class index of each evaluation text.
    pub eval_labels: Vec<usize>,
}

/// Sizes, seeds and settings of a full or quick run of every study.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// True for the quick form.
    pub quick: bool,
    /// Seeds of the frozen-encoder runs of studies (a) to (c).
    pub seeds: Vec<u64>,
    /// Encoder settings compared with the frozen encoder in studies (a) to
    /// (c), each with how many of `seeds` it runs (the costly ones run fewer).
    pub layer_settings: Vec<(Trainable, usize)>,
    /// Training examples per class of A and B in studies (a) to (c).
    pub fine_tune_per_class: [usize; 2],
    /// Selection (early-stopping) examples per class held out of each training pool.
    pub selection_per_class: [usize; 2],
    /// At most this many evaluation examples per class of A and B.
    pub eval_per_class: [usize; 2],
    /// Maximum epochs of a run that trains encoder layers.
    pub fine_tune_epochs: usize,
    /// Encoder learning rates tried (first seed, each task alone, under
    /// `sweep_setting`); the best on the selection sets is used for every
    /// run that trains encoder layers.
    pub encoder_lrs: Vec<f64>,
    /// The encoder setting of the learning-rate sweep.
    pub sweep_setting: Trainable,
    /// Study (d): A's examples per class (capped by the pool).
    pub low_data_a_per_class: usize,
    /// Study (d): B's examples per class.
    pub low_data_b_per_class: usize,
    /// Study (d): maximum epochs of the joint runs (early stopping on A's selection set).
    pub low_data_epochs: usize,
    /// Study (d) with a moving encoder: this setting and A's examples per class, if run.
    pub low_data_moving: Option<(Trainable, usize)>,
    /// Study (e): B's examples per class.
    pub curve_per_class: Vec<usize>,
    /// Seeds of studies (d) and (e).
    pub low_data_seeds: Vec<u64>,
    /// Optimiser steps of a head trained without a selection set (no early stopping).
    pub step_budget: usize,
    /// Augmented copies made of each of B's examples.
    pub augment_copies: usize,
    /// Augmentation is tried up to this many examples per class in study (e).
    pub augment_up_to: usize,
    /// Study (g): B's epochs with the top layers moving, A scored after each.
    pub forgetting_epochs: usize,
    /// Study (g): the layers that move.
    pub forgetting_setting: Trainable,
    /// Study (g): A's examples per class replayed beside B in the replay series.
    pub replay_per_class: usize,
    /// Sentences timed per repetition in the inference-cost part of study (c).
    pub timing_sentences: usize,
    /// Study (h): examples per class of each point (seeds: `seeds`).
    #[serde(default)]
    pub few_shot_per_class: Vec<usize>,
    /// Study (h): the adapter's layers of each series (0: the head alone),
    /// each run up to this many examples per class.
    #[serde(default)]
    pub few_shot_layers: Vec<(usize, usize)>,
    /// Study (h): contrastive steps (None: the page's default).
    #[serde(default)]
    pub few_shot_steps: Option<usize>,
    /// Study (i): the layers that train, as in one of (a)'s settings.
    #[serde(default)]
    pub schedule_setting: Trainable,
    /// Study (i): layer-wise rate decays tried on the first seed; the best
    /// on the selection sets runs on every seed.
    #[serde(default)]
    pub layer_decays: Vec<f64>,
}

impl Plan {
    /// The full form: what DISCUSSION.md reports.
    pub fn full() -> Self {
        Self {
            quick: false,
            seeds: vec![0, 1, 2],
            layer_settings: vec![
                (Trainable::TopLayers(1), 3),
                (Trainable::TopLayers(2), 3),
                (Trainable::All, 3),
            ],
            fine_tune_per_class: [125, 250],
            selection_per_class: [50, 100],
            eval_per_class: [usize::MAX, usize::MAX],
            fine_tune_epochs: 3,
            encoder_lrs: vec![2e-5, 1e-4, 5e-4],
            sweep_setting: Trainable::TopLayers(2),
            low_data_a_per_class: usize::MAX,
            low_data_b_per_class: 32,
            low_data_epochs: 10,
            low_data_moving: Some((Trainable::TopLayers(1), 125)),
            curve_per_class: vec![8, 16, 32, 64, 256],
            low_data_seeds: vec![0, 1, 2, 3, 4],
            step_budget: 300,
            augment_copies: 4,
            augment_up_to: 64,
            forgetting_epochs: 5,
            forgetting_setting: Trainable::TopLayers(2),
            replay_per_class: 32,
            timing_sentences: 512,
            few_shot_per_class: vec![8, 16, 32, 64, 256],
            few_shot_layers: vec![(0, usize::MAX), (3, usize::MAX), (6, 8)],
            few_shot_steps: None,
            schedule_setting: Trainable::All,
            layer_decays: vec![0.8, 0.5],
        }
    }

    /// This plan with `study`'s settings as the current form of it has
    /// them: a rerun of that study after they changed keeps every other setting.
    pub fn with_current(mut self, study: Rerun) -> Self {
        let current = if self.quick {
            Self::quick()
        } else {
            Self::full()
        };
        match study {
            Rerun::FewShot => {
                self.few_shot_per_class = current.few_shot_per_class;
                self.few_shot_layers = current.few_shot_layers;
                self.few_shot_steps = current.few_shot_steps;
            }
            Rerun::Schedules => {
                self.schedule_setting = current.schedule_setting;
                self.layer_decays = current.layer_decays;
            }
            Rerun::Conflict | Rerun::LowData => {}
        }
        self
    }

    /// The quick form: the same studies on small subsets, in minutes.
    pub fn quick() -> Self {
        Self {
            quick: true,
            seeds: vec![0, 1],
            layer_settings: vec![
                (Trainable::TopLayers(1), 2),
                (Trainable::TopLayers(2), 2),
                (Trainable::All, 1),
            ],
            fine_tune_per_class: [8, 16],
            selection_per_class: [2, 4],
            eval_per_class: [25, 50],
            fine_tune_epochs: 1,
            encoder_lrs: vec![2e-5, 1e-4],
            sweep_setting: Trainable::TopLayers(1),
            low_data_a_per_class: 250,
            low_data_b_per_class: 8,
            low_data_epochs: 4,
            low_data_moving: Some((Trainable::TopLayers(1), 8)),
            curve_per_class: vec![4, 8, 16],
            low_data_seeds: vec![0, 1],
            step_budget: 40,
            augment_copies: 2,
            augment_up_to: 8,
            forgetting_epochs: 2,
            forgetting_setting: Trainable::TopLayers(1),
            replay_per_class: 4,
            timing_sentences: 32,
            few_shot_per_class: vec![2, 4],
            few_shot_layers: vec![(0, usize::MAX), (1, 2)],
            few_shot_steps: Some(2),
            schedule_setting: Trainable::TopLayers(2),
            layer_decays: vec![0.5],
        }
    }
}

/// Everything the studies found, as written to `results.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Results {
    /// The settings of the run.
    pub plan: Plan,
    /// Names of task A and task B.
    pub tasks: [String; 2],
    /// Examples in each task's training pool, selection set and evaluation set.
    pub sizes: serde_json::Value,
    /// The encoder learning-rate sweep that chose the rate of (a) to (d).
    #[serde(default)]
    pub lr_sweep: Vec<SweepRow>,
    /// (a) Frozen encoder against trainable top layers, per task.
    pub trainable: Vec<TrainableRow>,
    /// (b) Freezing A's head while B trains, on a frozen or a moving encoder.
    pub freeze_head: Vec<FreezeRow>,
    /// (c) One multi-task model against two single-task models: accuracy.
    pub multitask: Vec<MultiTaskRow>,
    /// (c) One multi-task model against two single-task models: inference cost.
    pub cost: CostStudy,
    /// (d) B with few examples next to A with many, under each remedy.
    pub low_data: Vec<RemedyRow>,
    /// (e) B's accuracy against its number of examples.
    pub learning_curve: Vec<CurveSeries>,
    /// (f) The small-task question for a related pair (coarse and fine topic).
    #[serde(default)]
    pub related: Vec<RemedyRow>,
    /// (g) A's accuracy epoch by epoch while B moves the top layers.
    #[serde(default)]
    pub forgetting: Vec<ForgettingSeries>,
    /// (h) A new task's few-shot curve: the head alone against the lesson
    /// with an adapter.
    #[serde(default)]
    pub few_shot: Vec<FewShotSeries>,
    /// (i) Layer-wise learning rates and gradual unfreezing beside (a)'s one rate.
    #[serde(default)]
    pub schedules: Vec<ScheduleRow>,
    /// (j) The angle and sizes of the two tasks' gradients on the shared
    /// layer, for (d)'s unrelated pair and (f)'s related one.
    #[serde(default)]
    pub conflict: Vec<ConflictRow>,
    /// Wall time of each study in seconds.
    pub seconds: serde_json::Map<String, serde_json::Value>,
}

/// A study that can run again alone into an earlier run's results, after a
/// fix to it, a change of its settings or its first run: the others are
/// seeded and would repeat bit for bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Rerun {
    /// (h) A new task's few-shot curve.
    FewShot,
    /// (i) Layer-wise learning rates and gradual unfreezing (uses the
    /// earlier run's chosen encoder rate).
    Schedules,
    /// (j) The two tasks' gradients on the shared layer.
    Conflict,
    /// (d) Task B's few examples next to A's many, each remedy (uses the
    /// earlier run's chosen encoder rate).
    LowData,
}

/// `study` alone, with `earlier`'s plan (and chosen encoder rate) but the
/// study's current settings, in place of its rows in `earlier`.
pub fn rerun(
    encoder: &Encoder,
    host: &dyn Host,
    tasks: [TaskData; 2],
    mut earlier: Results,
    study: Rerun,
) -> Result<Results> {
    let lab = Lab::new(
        encoder,
        host,
        tasks,
        earlier.plan.clone().with_current(study),
    )?;
    if let Some(row) = earlier.lr_sweep.iter().find(|r| r.chosen) {
        lab.set_encoder_lr(row.encoder_lr);
    }
    let started = std::time::Instant::now();
    let key = match study {
        Rerun::FewShot => {
            earlier.few_shot = few_shot::few_shot(&lab)?;
            "few_shot"
        }
        Rerun::Schedules => {
            earlier.schedules = schedules::schedules(&lab)?;
            "schedules"
        }
        Rerun::LowData => {
            earlier.low_data = low_data::remedies(&lab)?;
            "low_data"
        }
        Rerun::Conflict => {
            earlier.conflict = conflict::conflicts(&lab, encoder, host)?;
            "conflict"
        }
    };
    earlier.plan = lab.plan.clone();
    set_seconds(&mut earlier, key, started.elapsed().as_secs_f64());
    Ok(earlier)
}

/// A study's wall time in `results`, the total following.
fn set_seconds(results: &mut Results, key: &str, seconds: f64) {
    let before = results.seconds.insert(key.into(), seconds.into());
    if let Some(total) = results.seconds.get("total").and_then(|v| v.as_f64()) {
        let before = before.and_then(|v| v.as_f64()).unwrap_or(0.0);
        (results.seconds).insert("total".into(), (total - before + seconds).into());
    }
}

/// Study (h)'s lessons with adapters of `layers` layers (0: the head alone)
/// at `sizes` a class, added to an earlier run's (h) in place of any points
/// they repeat: points `make experiments` leaves out to stay near two
/// hours. The plan then records every depth and size results.json holds
/// (refused when `sizes` would leave a gap in a depth's range), and (h)'s
/// seconds those of every point.
pub fn extend_few_shot(
    encoder: &Encoder,
    host: &dyn Host,
    tasks: [TaskData; 2],
    mut earlier: Results,
    layers: &[usize],
    sizes: &[usize],
) -> Result<Results> {
    let largest = sizes.iter().copied().max().unwrap_or(0);
    for &l in layers {
        let done = (earlier.plan.few_shot_layers.iter())
            .find(|(d, _)| *d == l)
            .map_or(0, |&(_, up_to)| up_to);
        let mut known = earlier.plan.few_shot_per_class.iter();
        if let Some(gap) = known.find(|&&n| n > done && n < largest && !sizes.contains(&n)) {
            return Err(Error::InvalidArgument {
                what: "--few-shot-sizes".into(),
                reason: format!(
                    "leaves out {gap} a class for {l} layers, which runs up to {done}: \
                     the plan records each depth's sizes as a range"
                ),
            });
        }
    }
    let mut plan = earlier.plan.clone();
    plan.few_shot_layers = layers.iter().map(|&l| (l, usize::MAX)).collect();
    plan.few_shot_per_class = sizes.to_vec();
    let lab = Lab::new(encoder, host, tasks, plan)?;
    let started = std::time::Instant::now();
    few_shot::merge(&mut earlier.few_shot, few_shot::few_shot(&lab)?);
    let plan = &mut earlier.plan;
    for &l in layers {
        match plan.few_shot_layers.iter_mut().find(|(d, _)| *d == l) {
            Some((_, up_to)) => *up_to = (*up_to).max(largest),
            None => plan.few_shot_layers.push((l, largest)),
        }
    }
    plan.few_shot_per_class.extend(sizes);
    plan.few_shot_per_class.sort_unstable();
    plan.few_shot_per_class.dedup();
    let before = earlier.seconds.get("few_shot").and_then(|v| v.as_f64());
    let seconds = before.unwrap_or(0.0) + started.elapsed().as_secs_f64();
    set_seconds(&mut earlier, "few_shot", seconds);
    Ok(earlier)
}

/// Runs every study. `tasks` are A then B.
pub fn run_all(
    encoder: &Encoder,
    host: &dyn Host,
    tasks: [TaskData; 2],
    plan: Plan,
) -> Result<Results> {
    let start = std::time::Instant::now();
    let lab = Lab::new(encoder, host, tasks, plan)?;
    let mut seconds = serde_json::Map::new();
    let mut lap = |name: &str, since: &mut std::time::Instant| {
        seconds.insert(name.into(), since.elapsed().as_secs_f64().into());
        *since = std::time::Instant::now();
    };
    // Setup is embedding both tasks' pools (cached on disk after a first run).
    let mut since = start;
    lap("setup", &mut since);
    let grid = fine_tune::run_grid(&lab)?;
    lap("trainable_freeze_multitask", &mut since);
    let schedules = schedules::schedules(&lab)?;
    lap("schedules", &mut since);
    let cost = cost::cost(&lab)?;
    lap("cost", &mut since);
    let low_data = low_data::remedies(&lab)?;
    lap("low_data", &mut since);
    let learning_curve = low_data::curves(&lab)?;
    lap("learning_curve", &mut since);
    let related = related::related(&lab, encoder, host)?;
    lap("related", &mut since);
    let conflict = conflict::conflicts(&lab, encoder, host)?;
    lap("conflict", &mut since);
    let forgetting = forgetting::forgetting(&lab)?;
    lap("forgetting", &mut since);
    let few_shot = few_shot::few_shot(&lab)?;
    lap("few_shot", &mut since);
    seconds.insert("total".into(), start.elapsed().as_secs_f64().into());
    Ok(Results {
        tasks: [lab.task(0).name.clone(), lab.task(1).name.clone()],
        sizes: lab.sizes(),
        plan: lab.plan.clone(),
        trainable: grid.trainable_rows(),
        lr_sweep: grid.sweep.clone(),
        freeze_head: grid.freeze_rows(),
        multitask: grid.multitask_rows(),
        cost,
        low_data,
        learning_curve,
        related,
        forgetting,
        few_shot,
        schedules,
        conflict,
        seconds,
    })
}
