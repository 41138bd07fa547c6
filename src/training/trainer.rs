//! The trainer: AdamW on cross-entropy over candle-nn `Var`s, for one head or
//! several heads together over one backbone, with freezing, loss weights,
//! batch sampling, class weighting, validation and early stopping.

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::heads::Head;
use crate::rng::Rng;
use crate::training::distil::{self, Distillation};
use crate::training::metrics::Metrics;

/// Which parts of the encoder train. Frozen parts stay bit-identical.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "layers")]
pub enum Trainable {
    /// Encoder frozen: texts are encoded once and only heads train.
    #[default]
    Heads,
    /// The top `k` transformer layers train too (lower layers' output is cached).
    TopLayers(usize),
    /// Every transformer layer trains. The token, position and type
    /// embedding tables stay frozen (their output is cached like a lower layer's).
    All,
}

/// How batches of different tasks are interleaved.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "temperature")]
pub enum Sampling {
    /// Each task's batches once per epoch, shuffled together: big tasks get more steps.
    Proportional,
    /// Tasks take turns, the smaller ones cycling, until the largest has had every batch.
    Alternating,
    /// Each step picks task `i` with probability proportional to `n_i^(1/T)`.
    Temperature(f64),
}

impl Trainable {
    /// How many top layers train in an encoder of `num_layers` (0: heads only).
    pub fn layers(self, num_layers: usize) -> usize {
        match self {
            Trainable::Heads => 0,
            Trainable::TopLayers(k) => k,
            Trainable::All => num_layers,
        }
    }
}

impl std::fmt::Display for Trainable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trainable::Heads => f.write_str("heads"),
            Trainable::TopLayers(k) => write!(f, "top-{k}"),
            Trainable::All => f.write_str("all"),
        }
    }
}

impl std::str::FromStr for Trainable {
    type Err = String;

    /// `heads` (or `none`), `top-K` with K >= 1, or `all`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "heads" | "none" => Ok(Trainable::Heads),
            "all" => Ok(Trainable::All),
            _ => s
                .strip_prefix("top-")
                .and_then(|k| k.parse::<usize>().ok())
                .filter(|&k| k > 0)
                .map(Trainable::TopLayers)
                .ok_or_else(|| format!("{s:?} is not heads, top-K (K >= 1) or all")),
        }
    }
}

impl std::fmt::Display for Sampling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sampling::Proportional => f.write_str("proportional"),
            Sampling::Alternating => f.write_str("alternating"),
            Sampling::Temperature(t) => write!(f, "temperature:{t}"),
        }
    }
}

impl std::str::FromStr for Sampling {
    type Err = String;

    /// `proportional`, `alternating` or `temperature:T` with T > 0.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "proportional" => Ok(Sampling::Proportional),
            "alternating" => Ok(Sampling::Alternating),
            _ => s
                .strip_prefix("temperature:")
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|t| t.is_finite() && *t > 0.0)
                .map(Sampling::Temperature)
                .ok_or_else(|| {
                    format!("{s:?} is not proportional, alternating or temperature:T (T > 0)")
                }),
        }
    }
}

/// Settings of a run. The defaults train a head on a frozen encoder well.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training data at most.
    pub epochs: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// AdamW learning rate of the heads.
    pub learning_rate: f64,
    /// AdamW learning rate of trainable encoder weights.
    pub encoder_learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Seed for initialisation, shuffling and dropout.
    pub seed: u64,
    /// Stop after this many epochs without a better validation loss (0: never stop early).
    pub patience: usize,
    /// Weight each class's loss by `n / (classes * n_class)`.
    pub class_weighted: bool,
    /// How tasks share steps.
    pub sampling: Sampling,
    /// How the encoder's learning rate moves over the run.
    #[serde(default)]
    pub encoder_schedule: Schedule,
    /// Layer-wise learning rates: the trainable layer `d` below the top one
    /// learns at `encoder_learning_rate * encoder_layer_decay^d` (1: one rate).
    #[serde(default = "one")]
    pub encoder_layer_decay: f64,
    /// Gradual unfreezing: in epoch `e` of `epochs`, only the top
    /// `ceil(layers * e / epochs)` trainable layers step; the rest wait.
    #[serde(default)]
    pub unfreeze: bool,
    /// How each step's loss is scaled besides its task's fixed weight.
    #[serde(default)]
    pub loss_weighting: LossWeighting,
    /// Validate and keep a moving average of the trained weights rather
    /// than the weights of the last step, with this decay a step (None:
    /// the last step's weights). A high encoder rate swings validation
    /// from epoch to epoch; the average follows the run and not its last
    /// batches (Polyak averaging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_average: Option<f64>,
    /// Learn from a teacher's probabilities as well as the labels, on the
    /// tasks whose training split carries them (None: labels only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distillation: Option<Distillation>,
}

fn one() -> f64 {
    1.0
}

/// How the encoder's learning rate moves over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// The same rate throughout.
    #[default]
    Constant,
    /// BERT's fine-tuning schedule: a linear warm-up over the first 6% of
    /// the run's steps, then a linear decay to 0 at its last step.
    Linear,
}

impl Schedule {
    /// The factor of the learning rate at step `step` (from 0) of `total`.
    pub fn factor(self, step: usize, total: usize) -> f64 {
        match self {
            Schedule::Constant => 1.0,
            Schedule::Linear => {
                let warm = ((total as f64 * 0.06).round() as usize).max(1);
                if step < warm {
                    (step + 1) as f64 / warm as f64
                } else {
                    let rest = total.saturating_sub(warm).max(1);
                    (total.saturating_sub(step) as f64 / rest as f64).clamp(0.0, 1.0)
                }
            }
        }
    }
}

impl std::str::FromStr for Schedule {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "constant" => Ok(Schedule::Constant),
            "linear" => Ok(Schedule::Linear),
            _ => Err(format!("{s:?} is not constant or linear")),
        }
    }
}

/// How a task's loss is scaled on its steps, besides its fixed weight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossWeighting {
    /// The task's fixed weight only.
    #[default]
    Fixed,
    /// Uncertainty weighting (Kendall et al., 2018) at its analytic optimum:
    /// the weight `exp(-s)` that minimises `exp(-s) * L + s` is `1 / L`, so
    /// each step divides its loss by a running mean of that task's loss
    /// (Kirchdorfer et al., 2024). Tasks with a lower loss weigh more on
    /// what they share; a head's own weights change little, since AdamW
    /// divides each weight's step by its own gradient scale.
    Uncertainty,
}

/// Memory of the running mean of each task's loss under
/// [`LossWeighting::Uncertainty`] (about the last ten of its steps).
const LOSS_MEAN_DECAY: f64 = 0.9;

impl LossWeighting {
    /// The factor of a step's loss given the task's running mean loss.
    fn factor(self, mean: f64) -> f64 {
        match self {
            LossWeighting::Fixed => 1.0,
            LossWeighting::Uncertainty => 1.0 / mean.max(1e-6),
        }
    }
}

/// A task's running mean loss after a step of loss `value`.
fn running_mean(before: Option<f64>, value: f64) -> f64 {
    match before {
        Some(m) => LOSS_MEAN_DECAY * m + (1.0 - LOSS_MEAN_DECAY) * value,
        None => value,
    }
}

impl std::str::FromStr for LossWeighting {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "fixed" => Ok(LossWeighting::Fixed),
            "uncertainty" => Ok(LossWeighting::Uncertainty),
            _ => Err(format!("{s:?} is not fixed or uncertainty")),
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 32,
            learning_rate: 1e-3,
            encoder_learning_rate: 2e-5,
            weight_decay: 0.01,
            seed: 0,
            patience: 3,
            class_weighted: false,
            sampling: Sampling::Proportional,
            encoder_schedule: Schedule::Constant,
            encoder_layer_decay: 1.0,
            unfreeze: false,
            loss_weighting: LossWeighting::Fixed,
            weight_average: None,
            distillation: None,
        }
    }
}

/// Labelled examples as rows of a task's features, with class indices.
#[derive(Clone, Debug, Default)]
pub struct Split {
    /// Feature rows (indices into what the [`Features`] source holds for this split).
    pub rows: Vec<usize>,
    /// Class index of each row.
    pub labels: Vec<usize>,
    /// A teacher's class probabilities of each row, for
    /// [`TrainConfig::distillation`] (empty: no teacher).
    pub teacher: Vec<Vec<f32>>,
}

impl Split {
    /// Rows `0..labels.len()` with these labels.
    pub fn from_labels(labels: Vec<usize>) -> Self {
        Self {
            rows: (0..labels.len()).collect(),
            labels,
            teacher: Vec::new(),
        }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Which split of a task a batch comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Training examples.
    Train,
    /// Validation examples.
    Val,
}

/// Turns rows of a task's split into the embeddings its head reads. With a
/// frozen encoder these are cached embeddings; with trainable layers, the
/// cached lower-layer states run through the layers that train.
pub trait Features {
    /// Embeddings `(rows.len(), dim)` for `rows` of `task`'s `part`.
    fn embeddings(&self, task: usize, part: Part, rows: &[usize]) -> Result<Tensor>;
    /// Encoder weights that train, by layer with the top layer first (empty
    /// when the encoder is frozen).
    fn layer_vars(&self) -> Vec<Vec<Var>>;
}

/// One task of a run: a head and its data.
pub struct Task {
    /// The head that learns the task.
    pub head: Head,
    /// Training examples.
    pub train: Split,
    /// Validation examples (may be empty: then no early stopping on this task).
    pub val: Split,
    /// Multiplier of this task's loss.
    pub loss_weight: f64,
    /// A frozen head does not train (bit-identical afterwards) but is still validated.
    pub frozen: bool,
}

/// Validation figures of one task after an epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskValidation {
    /// The head's name.
    pub task: String,
    /// Mean (class-weighted) cross-entropy.
    pub loss: f64,
    /// Share correct.
    pub accuracy: f64,
}

/// What the trainer reports while it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Progress {
    /// After each optimiser step.
    Step {
        /// Name of the head this step trained.
        task: String,
        /// 1-based epoch.
        epoch: usize,
        /// Steps done in this epoch.
        step: usize,
        /// Steps in this epoch.
        steps: usize,
        /// Loss of this step.
        loss: f64,
    },
    /// After each step of a task adapter's contrastive phase
    /// ([`crate::training::contrast`]), before its head trains.
    Pairs {
        /// 1-based step.
        step: usize,
        /// Steps in the phase.
        steps: usize,
        /// Loss of this step.
        loss: f64,
    },
    /// After each epoch.
    Epoch {
        /// 1-based epoch.
        epoch: usize,
        /// Mean training loss of the epoch.
        train_loss: f64,
        /// Validation of each task with validation data.
        validation: Vec<TaskValidation>,
    },
}

/// Whether the run goes on after a progress report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// Stop now, keeping the best weights so far.
    Stop,
}

/// The outcome of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainReport {
    /// Epochs completed.
    pub epochs_run: usize,
    /// Epoch whose weights were kept (the best validation loss, else the last).
    pub best_epoch: usize,
    /// True when early stopping or the callback ended the run.
    pub stopped_early: bool,
    /// Epoch reports in order.
    pub history: Vec<Progress>,
    /// Per task: validation metrics of the kept weights (None without validation data).
    pub validation: Vec<Option<Metrics>>,
}

/// Cross-entropy of `logits` against `labels`, each example weighted by its
/// class's weight (PyTorch's `weight=` semantics: divided by the weight sum).
pub fn cross_entropy(logits: &Tensor, labels: &Tensor, class_weights: &Tensor) -> Result<Tensor> {
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = log_probs.gather(&labels.unsqueeze(1)?, 1)?.squeeze(1)?;
    let weights = class_weights.index_select(labels, 0)?;
    let total = weights.sum_all()?;
    Ok(((picked * &weights)?.sum_all()?.neg()? / total)?)
}

/// Class weights `n / (classes * n_c)` (0 for absent classes), or all ones.
pub fn class_weights(labels: &[usize], classes: usize, balanced: bool) -> Vec<f32> {
    if !balanced {
        return vec![1.0; classes];
    }
    let mut counts = vec![0usize; classes];
    for &l in labels {
        if l < classes {
            counts[l] += 1;
        }
    }
    let n = labels.len() as f32;
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                n / (classes as f32 * c as f32)
            }
        })
        .collect()
}

/// Task order of one epoch's steps for `batches[i]` batches per task.
pub fn schedule(batches: &[usize], sampling: Sampling, rng: &mut Rng) -> Vec<usize> {
    let active: Vec<usize> = (0..batches.len()).filter(|&i| batches[i] > 0).collect();
    match sampling {
        Sampling::Proportional => {
            let mut order: Vec<usize> = active
                .iter()
                .flat_map(|&i| std::iter::repeat_n(i, batches[i]))
                .collect();
            rng.shuffle(&mut order);
            order
        }
        Sampling::Alternating => {
            let longest = active.iter().map(|&i| batches[i]).max().unwrap_or(0);
            (0..longest).flat_map(|_| active.iter().copied()).collect()
        }
        Sampling::Temperature(t) => {
            let t = if t.is_finite() && t > 0.0 { t } else { 1.0 };
            let weights: Vec<f64> = active
                .iter()
                .map(|&i| (batches[i] as f64).powf(1.0 / t))
                .collect();
            let total: f64 = weights.iter().sum();
            let steps: usize = active.iter().map(|&i| batches[i]).sum();
            (0..steps)
                .map(|_| {
                    let mut x = f64::from(rng.next_f32()) * total;
                    for (k, w) in weights.iter().enumerate() {
                        if x < *w {
                            return active[k];
                        }
                        x -= w;
                    }
                    active[active.len() - 1]
                })
                .collect()
        }
    }
}

/// Hands out a task's training rows in shuffled batches, reshuffling when used up.
struct BatchCycle {
    order: Vec<usize>,
    next: usize,
    batch_size: usize,
}

impl BatchCycle {
    fn new(len: usize, batch_size: usize, rng: &mut Rng) -> Self {
        let mut order: Vec<usize> = (0..len).collect();
        rng.shuffle(&mut order);
        Self {
            order,
            next: 0,
            batch_size,
        }
    }

    fn batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// Positions (into the split) of the next batch.
    fn take(&mut self, rng: &mut Rng) -> Vec<usize> {
        if self.next >= self.order.len() {
            rng.shuffle(&mut self.order);
            self.next = 0;
        }
        let end = (self.next + self.batch_size).min(self.order.len());
        let batch = self.order[self.next..end].to_vec();
        self.next = end;
        batch
    }
}

fn check(tasks: &[Task], features: &dyn Features, config: &TrainConfig) -> Result<()> {
    let invalid = |what: &str, reason: String| {
        Err(Error::InvalidArgument {
            what: what.into(),
            reason,
        })
    };
    if config.batch_size == 0 || config.epochs == 0 {
        return invalid(
            "training settings",
            "epochs and batch size must be at least 1".into(),
        );
    }
    let usable =
        |x: f64, min_exclusive: bool| x.is_finite() && (x > 0.0 || !min_exclusive && x == 0.0);
    if !(usable(config.learning_rate, true)
        && usable(config.encoder_learning_rate, false)
        && usable(config.weight_decay, false))
    {
        return invalid(
            "training settings",
            "the learning rate must be finite and > 0, the encoder learning rate and weight decay finite and >= 0".into(),
        );
    }
    if let Some(d) = config.weight_average.filter(|d| !(*d > 0.0 && *d < 1.0)) {
        return invalid(
            "training settings",
            format!("the weight average's decay is {d}; it must be > 0 and < 1"),
        );
    }
    if !(config.encoder_layer_decay > 0.0 && config.encoder_layer_decay <= 1.0) {
        return invalid(
            "training settings",
            format!(
                "the encoder's layer decay is {}; it must be > 0 and <= 1",
                config.encoder_layer_decay
            ),
        );
    }
    for task in tasks {
        let name = task.head.name();
        let classes = task.head.labels().len();
        if task.train.rows.len() != task.train.labels.len()
            || task.val.rows.len() != task.val.labels.len()
        {
            return invalid(name, "rows and labels differ in length".into());
        }
        if let Some(&bad) = task
            .train
            .labels
            .iter()
            .chain(&task.val.labels)
            .find(|&&l| l >= classes)
        {
            return invalid(
                name,
                format!("label index {bad} but the head has {classes} labels"),
            );
        }
        if !(task.loss_weight.is_finite() && task.loss_weight >= 0.0) {
            return invalid(
                name,
                format!("loss weight {} must be finite and >= 0", task.loss_weight),
            );
        }
        if !task.frozen && task.train.is_empty() {
            return invalid(name, "no training examples".into());
        }
    }
    if let Some((what, why)) = distil::problem(tasks, config) {
        return invalid(&what, why);
    }
    if tasks.iter().all(|t| t.frozen) && features.layer_vars().iter().all(Vec::is_empty) {
        return invalid(
            "training",
            "every head and the encoder are frozen: nothing would train".into(),
        );
    }
    Ok(())
}

/// Weights worth going back to: the heads' and the trainable encoder's values.
struct Snapshot {
    heads: Vec<Vec<Tensor>>,
    encoder: Vec<Tensor>,
}

/// One run's moving parts: optimisers, batch cycles and the best weights so far.
struct Run<'a> {
    tasks: &'a mut [Task],
    features: &'a dyn Features,
    config: &'a TrainConfig,
    rng: Rng,
    class_weights: Vec<Tensor>,
    encoder_vars: Vec<Var>,
    head_opt: AdamW,
    /// One optimiser per trainable encoder layer, the top one first.
    encoder_opts: Vec<AdamW>,
    cycles: Vec<BatchCycle>,
    /// Steps taken, for the encoder's learning-rate schedule.
    steps_done: usize,
    /// Each task's running mean loss (none before its first step).
    loss_means: Vec<Option<f64>>,
    /// The moving average of the weights ([`TrainConfig::weight_average`]),
    /// from the first step on.
    average: Option<Snapshot>,
}

impl<'a> Run<'a> {
    fn new(
        tasks: &'a mut [Task],
        features: &'a dyn Features,
        config: &'a TrainConfig,
    ) -> Result<Self> {
        check(tasks, features, config)?;
        let mut rng = Rng::new(config.seed);
        let class_weights = tasks
            .iter()
            .map(|t| {
                let w = class_weights(
                    &t.train.labels,
                    t.head.labels().len(),
                    config.class_weighted,
                );
                Tensor::from_vec(w.clone(), w.len(), &Device::Cpu)
            })
            .collect::<candle_core::Result<_>>()?;
        let head_vars: Vec<Var> = tasks
            .iter()
            .filter(|t| !t.frozen)
            .flat_map(|t| t.head.vars())
            .collect();
        let layer_vars = features.layer_vars();
        let encoder_vars = layer_vars.concat();
        let adam = |vars: Vec<Var>, lr: f64| {
            AdamW::new(
                vars,
                ParamsAdamW {
                    lr,
                    weight_decay: config.weight_decay,
                    ..Default::default()
                },
            )
        };
        let head_opt = adam(head_vars, config.learning_rate)?;
        let encoder_opts = (layer_vars.into_iter())
            .map(|vars| adam(vars, config.encoder_learning_rate))
            .collect::<candle_core::Result<_>>()?;
        let cycles = tasks
            .iter()
            .map(|t| {
                let len = if t.frozen { 0 } else { t.train.len() };
                BatchCycle::new(len, config.batch_size, &mut rng)
            })
            .collect();
        Ok(Self {
            loss_means: vec![None; tasks.len()],
            tasks,
            features,
            config,
            rng,
            class_weights,
            encoder_vars,
            head_opt,
            encoder_opts,
            cycles,
            steps_done: 0,
            average: None,
        })
    }

    /// Moves the weight average towards the weights after step `steps_done`.
    /// Its decay starts low, `(1 + n) / (10 + n)` after `n` steps, so the
    /// starting weights fade out within the first epoch whatever its length.
    /// Frozen heads are left out, so they stay bit-identical.
    fn update_average(&mut self) -> Result<()> {
        let Some(decay) = self.config.weight_average else {
            return Ok(());
        };
        let Some(average) = &mut self.average else {
            self.average = Some(self.snapshot()?);
            return Ok(());
        };
        let n = self.steps_done as f64;
        let d = decay.min((1.0 + n) / (10.0 + n));
        // Detached, or the average would record the steps that made it and
        // hold every earlier average alive through that record.
        let blend = |avg: &mut Tensor, now: &Tensor| -> candle_core::Result<()> {
            *avg = ((&*avg * d)? + (now * (1.0 - d))?)?.detach();
            Ok(())
        };
        for (task, values) in self.tasks.iter().zip(&mut average.heads) {
            if task.frozen {
                continue;
            }
            for (avg, var) in values.iter_mut().zip(task.head.vars()) {
                blend(avg, var.as_tensor())?;
            }
        }
        for (avg, var) in average.encoder.iter_mut().zip(&self.encoder_vars) {
            blend(avg, var.as_tensor())?;
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<Snapshot> {
        Ok(Snapshot {
            heads: self
                .tasks
                .iter()
                .map(|t| t.head.snapshot())
                .collect::<Result<_>>()?,
            encoder: self
                .encoder_vars
                .iter()
                .map(|v| v.as_tensor().copy())
                .collect::<candle_core::Result<_>>()?,
        })
    }

    fn restore(&self, snapshot: &Snapshot) -> Result<()> {
        for (task, values) in self.tasks.iter().zip(&snapshot.heads) {
            task.head.restore(values)?;
        }
        for (var, value) in self.encoder_vars.iter().zip(&snapshot.encoder) {
            var.set(value)?;
        }
        Ok(())
    }

    /// One epoch of steps; `None` when the callback asked to stop, else the mean loss.
    fn epoch(
        &mut self,
        epoch: usize,
        progress: &mut dyn FnMut(&Progress) -> Control,
    ) -> Result<Option<f64>> {
        let batches: Vec<usize> = self.cycles.iter().map(BatchCycle::batches).collect();
        let order = schedule(&batches, self.config.sampling, &mut self.rng);
        let mut loss_sum = 0.0;
        let total = order.len() * self.config.epochs;
        let layers = self.encoder_opts.len();
        let moving = if self.config.unfreeze {
            (layers * epoch).div_ceil(self.config.epochs).min(layers)
        } else {
            layers
        };
        for (step, &t) in order.iter().enumerate() {
            let factor = (self.config.encoder_schedule).factor(self.steps_done, total);
            let mut rate = self.config.encoder_learning_rate * factor;
            for opt in &mut self.encoder_opts {
                opt.set_learning_rate(rate);
                rate *= self.config.encoder_layer_decay;
            }
            self.steps_done += 1;
            let value = self.step(t, moving)?;
            if !value.is_finite() {
                return Err(Error::InvalidArgument {
                    what: "training".into(),
                    reason: format!(
                        "loss became {value} at epoch {epoch}, step {}; lower the learning rate",
                        step + 1
                    ),
                });
            }
            loss_sum += value;
            self.update_average()?;
            let report = Progress::Step {
                task: self.tasks[t].head.name().into(),
                epoch,
                step: step + 1,
                steps: order.len(),
                loss: value,
            };
            if progress(&report) == Control::Stop {
                return Ok(None);
            }
        }
        Ok(Some(loss_sum / order.len().max(1) as f64))
    }

    /// One optimiser step on the next batch of task `t`, moving the top
    /// `moving` encoder layers; its loss (not finite: no step was taken).
    fn step(&mut self, t: usize, moving: usize) -> Result<f64> {
        let positions = self.cycles[t].take(&mut self.rng);
        let task = &self.tasks[t];
        let rows: Vec<usize> = positions.iter().map(|&p| task.train.rows[p]).collect();
        let labels: Vec<u32> = positions
            .iter()
            .map(|&p| task.train.labels[p] as u32)
            .collect();
        let y = Tensor::from_vec(labels, positions.len(), &Device::Cpu)?;
        let x = self.features.embeddings(t, Part::Train, &rows)?;
        let logits = task.head.logits(&x, Some(&mut self.rng))?;
        let loss = cross_entropy(&logits, &y, &self.class_weights[t])?;
        let loss = match self.config.distillation {
            Some(d) if !task.train.teacher.is_empty() => {
                d.loss(&logits, loss, &d.targets(&task.train.teacher, &positions)?)?
            }
            _ => loss,
        };
        let value = f64::from(loss.to_scalar::<f32>()?);
        if !value.is_finite() {
            return Ok(value);
        }
        let mean = running_mean(self.loss_means[t], value);
        self.loss_means[t] = Some(mean);
        let weight = task.loss_weight * self.config.loss_weighting.factor(mean);
        let grads = (loss * weight)?.backward()?;
        self.head_opt.step(&grads)?;
        for opt in &mut self.encoder_opts[..moving] {
            opt.step(&grads)?;
        }
        Ok(value)
    }

    /// Loss and predicted classes of task `index` on its validation split,
    /// without dropout.
    fn evaluate(&self, index: usize) -> Result<(f64, Vec<usize>)> {
        let task = &self.tasks[index];
        evaluate(task, index, self.features, &self.class_weights[index])
    }

    /// Each validated task's figures, and their loss-weighted total.
    fn validate(&self) -> Result<(Vec<TaskValidation>, f64)> {
        let mut validation = Vec::new();
        let mut total = 0.0;
        for (i, task) in self.tasks.iter().enumerate() {
            if task.val.is_empty() {
                continue;
            }
            let (loss, predicted) = self.evaluate(i)?;
            let correct = predicted
                .iter()
                .zip(&task.val.labels)
                .filter(|(p, g)| p == g)
                .count();
            total += task.loss_weight.max(1e-12) * loss;
            validation.push(TaskValidation {
                task: task.head.name().into(),
                loss,
                accuracy: correct as f64 / task.val.len() as f64,
            });
        }
        Ok((validation, total))
    }

    /// Validation metrics of the current weights, per task.
    fn metrics(&self) -> Result<Vec<Option<Metrics>>> {
        validation_metrics(self.tasks, self.features)
    }
}

/// Validation metrics of `tasks` as they are now, per task (None: no
/// validation data): after a run, and again once adapters are rounded to
/// what their files store.
pub fn validation_metrics(tasks: &[Task], features: &dyn Features) -> Result<Vec<Option<Metrics>>> {
    tasks
        .iter()
        .enumerate()
        .map(|(i, task)| {
            if task.val.is_empty() {
                return Ok(None);
            }
            let uniform = Tensor::ones(task.head.labels().len(), DType::F32, &Device::Cpu)?;
            let (_, predicted) = evaluate(task, i, features, &uniform)?;
            Ok(Some(Metrics::compute(
                task.head.labels(),
                &task.val.labels,
                &predicted,
            )))
        })
        .collect()
}

/// Loss (classes weighted by `weights`) and predicted classes of `task`,
/// task `index` of `features`, on its validation split, without dropout.
fn evaluate(
    task: &Task,
    index: usize,
    features: &dyn Features,
    weights: &Tensor,
) -> Result<(f64, Vec<usize>)> {
    let batch_size = 256;
    let split = &task.val;
    let mut loss_sum = 0.0;
    let mut weight_sum = 0.0;
    let mut predicted = Vec::with_capacity(split.len());
    for (rows, labels) in split
        .rows
        .chunks(batch_size)
        .zip(split.labels.chunks(batch_size))
    {
        let x = features.embeddings(index, Part::Val, rows)?;
        let logits = task.head.logits(&x, None)?;
        let y = Tensor::from_vec(
            labels.iter().map(|&l| l as u32).collect::<Vec<_>>(),
            labels.len(),
            &Device::Cpu,
        )?;
        let batch_weight = f64::from(weights.index_select(&y, 0)?.sum_all()?.to_scalar::<f32>()?);
        let loss = f64::from(cross_entropy(&logits, &y, weights)?.to_scalar::<f32>()?);
        loss_sum += loss * batch_weight;
        weight_sum += batch_weight;
        predicted.extend(
            logits
                .argmax(D::Minus1)?
                .to_vec1::<u32>()?
                .into_iter()
                .map(|p| p as usize),
        );
    }
    let loss = if weight_sum > 0.0 {
        loss_sum / weight_sum
    } else {
        0.0
    };
    Ok((loss, predicted))
}

/// Trains `tasks` over `features`. Returns with the best weights (lowest
/// total validation loss) in the heads and the encoder vars; without
/// validation data, with the last epoch's (or, stopped before any epoch
/// ended, the starting weights).
pub fn train(
    tasks: &mut [Task],
    features: &dyn Features,
    config: &TrainConfig,
    progress: &mut dyn FnMut(&Progress) -> Control,
) -> Result<TrainReport> {
    let mut run = Run::new(tasks, features, config)?;
    let has_val = run.tasks.iter().any(|t| !t.val.is_empty());
    let mut best = (f64::INFINITY, 0usize, run.snapshot()?);
    let (mut history, mut since_best, mut stopped_early, mut epochs_run) =
        (Vec::new(), 0, false, 0);
    for epoch in 1..=config.epochs {
        let Some(train_loss) = run.epoch(epoch, progress)? else {
            stopped_early = true;
            break;
        };
        epochs_run = epoch;
        // With a weight average, validate the average (and keep it if it is
        // the best), then go on training from the last step's weights.
        let current = match &run.average {
            Some(average) => {
                let current = run.snapshot()?;
                run.restore(average)?;
                Some(current)
            }
            None => None,
        };
        let (validation, total_val) = run.validate()?;
        let report = Progress::Epoch {
            epoch,
            train_loss,
            validation,
        };
        history.push(report.clone());
        let control = progress(&report);
        if !has_val || total_val < best.0 - 1e-6 {
            best = (total_val, epoch, run.snapshot()?);
            since_best = 0;
        } else {
            since_best += 1;
        }
        if let Some(current) = &current {
            run.restore(current)?;
        }
        if control == Control::Stop || (config.patience > 0 && since_best >= config.patience) {
            stopped_early = epoch < config.epochs;
            break;
        }
    }
    if has_val || stopped_early || run.average.is_some() {
        run.restore(&best.2)?;
    }
    Ok(TrainReport {
        epochs_run,
        best_epoch: best.1,
        stopped_early,
        history,
        validation: run.metrics()?,
    })
}

/// Predicted class indices of `head` for embeddings `(n, dim)`.
pub fn predict_classes(head: &Head, embeddings: &Tensor) -> Result<Vec<usize>> {
    let logits = head.logits(embeddings, None)?;
    Ok(logits
        .argmax(D::Minus1)?
        .to_vec1::<u32>()?
        .into_iter()
        .map(|p| p as usize)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{running_mean, LossWeighting, Schedule};

    #[test]
    fn uncertainty_weighting_divides_by_the_running_mean_loss() {
        assert_eq!(running_mean(None, 2.0), 2.0);
        assert!((running_mean(Some(2.0), 1.0) - 1.9).abs() < 1e-12);
        // Ten steps at a lower loss move the mean about two thirds of the way.
        let mean = (0..10).fold(2.0, |m, _| running_mean(Some(m), 1.0));
        assert!((mean - (1.0 + 0.9f64.powi(10))).abs() < 1e-12);
        assert_eq!(LossWeighting::Fixed.factor(0.25), 1.0);
        assert_eq!(LossWeighting::Uncertainty.factor(0.25), 4.0);
        assert!(LossWeighting::Uncertainty.factor(0.0).is_finite());
        assert_eq!("uncertainty".parse(), Ok(LossWeighting::Uncertainty));
        assert!("gradnorm"
            .parse::<LossWeighting>()
            .unwrap_err()
            .contains("fixed or uncertainty"));
    }

    #[test]
    fn the_linear_schedule_warms_up_then_decays_to_zero() {
        let f = |step| Schedule::Linear.factor(step, 100);
        // 6 warm-up steps of 100: 1/6, 2/6 ... 1, then 94 steps down to 1/94.
        assert!((f(0) - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(f(5), 1.0);
        assert_eq!(f(6), 1.0);
        assert!((f(99) - 1.0 / 94.0).abs() < 1e-12);
        assert_eq!(f(100), 0.0);
        assert!((1..100).all(|s| f(s) <= f(s - 1) || s < 6));
        assert_eq!(Schedule::Constant.factor(99, 100), 1.0);
        assert_eq!(Schedule::Linear.factor(0, 1), 1.0);
        assert_eq!("linear".parse(), Ok(Schedule::Linear));
        assert!("cosine"
            .parse::<Schedule>()
            .unwrap_err()
            .contains("constant or linear"));
    }
}
