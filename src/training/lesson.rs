//! Teaching a head new examples, as the page does: the head's classes grow
//! by the new labels, its known weights are kept, and a replay set of stored
//! embeddings of its original training data is mixed in so it does not forget
//! the classes it had. The encoder stays frozen: examples arrive as what the
//! head reads ([`crate::model::head_inputs`]: the embedding, or the output of
//! the head's adapter, which a lesson keeps as it is).
//! Settings come from [`defaults::for_data`], as for the CLI's `train`; a lesson
//! with a replay set counts its epochs in passes over the person's examples
//! ([`defaults::REPLAY_LESSON_EPOCHS`]).

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::heads::{Architecture, EncoderRef, Head, TrainingRecord};
use crate::training::contrast::ContrastConfig;
use crate::training::defaults;
use crate::training::features::select_rows;
use crate::training::fit::{fit, Embedded};
use crate::training::replay::ReplaySet;
use crate::training::trainer::{Control, Progress, Split, Task, TrainConfig, TrainReport};

/// What a person asks for when they train a head in the page.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LessonConfig {
    /// Passes over the examples at most (None: chosen from the data size).
    pub epochs: Option<usize>,
    /// AdamW learning rate (None: chosen from the data size).
    pub learning_rate: Option<f64>,
    /// Head structure; `None` keeps the current head's.
    pub architecture: Option<Architecture>,
    /// Weight classes so that each counts the same, however many examples it
    /// has (the page's few examples sit beside 128 replayed ones a class).
    pub class_weighted: bool,
    /// Forget the head's classes and weights: train only the examples' classes.
    pub from_scratch: bool,
    /// The classes the taught head has, in order (the page's class list,
    /// where a person may have deleted some); `None`: the current head's
    /// classes, then the examples' new labels.
    pub classes: Option<Vec<String>>,
    /// Replay examples per class at most (0, the default: all of them).
    /// Fewer lets a few new examples weigh more but makes the old classes
    /// drift (measured: 3.5 points lost at 32 a class, none at 128).
    pub replay_per_class: usize,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
    /// Few-shot: a fresh adapter for the task, trained contrastively on
    /// pairs of the examples before the head ([`crate::training::adapted`]);
    /// `None`: the head alone learns.
    pub adapt: Option<ContrastConfig>,
}

impl Default for LessonConfig {
    fn default() -> Self {
        Self {
            epochs: None,
            learning_rate: None,
            architecture: None,
            class_weighted: true,
            from_scratch: false,
            classes: None,
            replay_per_class: 0,
            seed: 0,
            adapt: None,
        }
    }
}

/// The outcome of a lesson: the trained head and how training went.
#[derive(Debug)]
pub struct Lesson {
    /// The new head (same name as before); `None` when the run was stopped
    /// before its first epoch ended, so the current head stays as it is
    /// (half an epoch of a new class row is worse than what was there).
    pub head: Option<Head>,
    /// Epochs, losses, validation.
    pub report: TrainReport,
    /// Examples trained on per class, replay included.
    pub examples_per_class: BTreeMap<String, usize>,
}

/// Classes of the taught head: `current` (the head's, or a list the person
/// edited), then new labels in order of first appearance (or only the
/// examples' labels, from scratch).
pub fn lesson_classes(current: &[String], labels: &[String], from_scratch: bool) -> Vec<String> {
    let mut classes: Vec<String> = if from_scratch {
        Vec::new()
    } else {
        current.to_vec()
    };
    for label in labels {
        if !classes.contains(label) {
            classes.push(label.clone());
        }
    }
    classes
}

/// Embeddings and classes of a lesson's training and validation examples.
struct Parts {
    /// Distinct examples of each class (the person's and replayed), before
    /// any is held out: what the settings are chosen from, as for `train`.
    per_class: Vec<usize>,
    train_x: Vec<Tensor>,
    train_y: Vec<usize>,
    val_x: Vec<Tensor>,
    val_y: Vec<usize>,
}

/// Trains a new version of `current` on `examples` (`(n, dim)` embeddings)
/// labelled `labels`, mixing in `replay` (unless from scratch) so the old
/// classes stay. The person's examples are held out as the library's
/// defaults say for their number; with a replay set, early stopping also
/// watches every fourth replayed example and the person's training examples
/// (a new class must be learned before the run may stop).
pub fn teach(
    current: &Head,
    examples: &Tensor,
    labels: &[String],
    replay: Option<&ReplaySet>,
    config: &LessonConfig,
    progress: &mut dyn FnMut(&Progress) -> Control,
) -> Result<Lesson> {
    check_examples(current, examples, labels)?;
    let classes = taught_classes(current, labels, config);
    if classes.len() < 2 {
        return Err(invalid(
            current,
            format!("a classifier needs at least 2 classes; the examples name only {classes:?}"),
        ));
    }
    // An adapter stays as it is: the examples arrive as its outputs, and the
    // head trains without it.
    let mut head = starting_head(current, &classes, config)?;
    let adapter = head.take_adapter();
    let class_of = class_indices(&classes, labels);
    let mut parts = own_examples(examples, &class_of, classes.len())?;
    let replay = replay.filter(|_| !config.from_scratch);
    if let Some(replay) = replay {
        add_replay(&mut parts, replay, &classes, config.replay_per_class)?;
    }
    let mut examples_per_class = BTreeMap::new();
    for &c in &parts.train_y {
        *examples_per_class.entry(classes[c].clone()).or_insert(0) += 1;
    }
    let train_config = settings(&parts.per_class, replay.is_some(), config);
    let mut tasks = [Task {
        head,
        train: Split::from_labels(parts.train_y),
        val: Split::from_labels(parts.val_y),
        loss_weight: 1.0,
        frozen: false,
    }];
    let mut embedded = Embedded {
        tasks: vec![(
            Tensor::cat(&parts.train_x, 0)?,
            Tensor::cat(&parts.val_x, 0)?,
        )],
    };
    let report = fit(&mut tasks, None, &mut embedded, &train_config, progress)?.report;
    if report.epochs_run == 0 {
        return Ok(Lesson {
            head: None,
            report,
            examples_per_class,
        });
    }
    let [task] = tasks;
    let mut head = task.head;
    if let Some(adapter) = adapter {
        head = head.with_adapter(adapter);
    }
    head.set_training(TrainingRecord {
        data: vec!["examples labelled in the page".into()],
        examples_per_class: examples_per_class.clone(),
        metrics: report.validation[0]
            .as_ref()
            .and_then(|m| serde_json::to_value(m).ok()),
        seed: config.seed,
        extra: BTreeMap::from([
            (
                "lesson".to_string(),
                serde_json::to_value(config).unwrap_or_default(),
            ),
            (
                "config".to_string(),
                serde_json::to_value(&train_config).unwrap_or_default(),
            ),
        ]),
    });
    Ok(Lesson {
        head: Some(head),
        report,
        examples_per_class,
    })
}

/// Each label's position in `classes` (labels the list lacks count as the first).
pub fn class_indices(classes: &[String], labels: &[String]) -> Vec<usize> {
    (labels.iter())
        .map(|l| classes.iter().position(|c| c == l).unwrap_or(0))
        .collect()
}

/// The classes `teach(current, _, labels, _, config)` trains: the person's
/// class list (else the head's), then the new labels (or only the labels,
/// from scratch). Cross-validation must hold out over the same list.
pub fn taught_classes(current: &Head, labels: &[String], config: &LessonConfig) -> Vec<String> {
    let start = config.classes.as_deref().unwrap_or(current.labels());
    lesson_classes(start, labels, config.from_scratch)
}

/// The head a lesson starts from for a task of the person's own that has
/// none yet: named `name`, with the classes of `config.classes` then the new
/// labels in order, of `config.architecture` (else the default MLP).
pub fn new_task_head(
    name: &str,
    labels: &[String],
    config: &LessonConfig,
    encoder: EncoderRef,
) -> Result<Head> {
    let start = config.classes.as_deref().unwrap_or_default();
    let classes = lesson_classes(start, labels, false);
    if classes.len() < 2 {
        return Err(Error::InvalidArgument {
            what: format!("training the new task {name:?}"),
            reason: format!(
                "a classifier needs at least 2 classes; the examples name only {classes:?}"
            ),
        });
    }
    let architecture = config.architecture.unwrap_or_default();
    Head::new(name, classes, architecture, encoder, config.seed)
}

/// The trainer's settings for a lesson on `per_class` examples a class
/// (before any is held out): the library's for that much data, epochs
/// counted in passes over the person's examples beside a replay set, and
/// what the person set.
fn settings(per_class: &[usize], with_replay: bool, config: &LessonConfig) -> TrainConfig {
    let examples = per_class.iter().sum();
    let smallest = per_class.iter().copied().min().unwrap_or(0);
    let mut train_config = defaults::for_data(examples, smallest).config;
    if with_replay && smallest < defaults::LARGE_CLASS {
        train_config.epochs = defaults::REPLAY_LESSON_EPOCHS;
    }
    train_config.epochs = config.epochs.unwrap_or(train_config.epochs);
    train_config.learning_rate = config.learning_rate.unwrap_or(train_config.learning_rate);
    train_config.seed = config.seed;
    train_config.class_weighted = config.class_weighted;
    train_config
}

fn invalid(current: &Head, reason: String) -> Error {
    Error::InvalidArgument {
        what: format!("training head {:?}", current.name()),
        reason,
    }
}

/// Refuses examples that do not match their labels or hold no usable values.
fn check_examples(current: &Head, examples: &Tensor, labels: &[String]) -> Result<()> {
    let (rows, _) = examples.dims2()?;
    if rows != labels.len() {
        return Err(invalid(
            current,
            format!("{rows} embeddings but {} labels", labels.len()),
        ));
    }
    if rows == 0 {
        return Err(invalid(
            current,
            "there are no examples to learn from".into(),
        ));
    }
    if let Some(blank) = labels.iter().position(|l| l.trim().is_empty()) {
        return Err(invalid(
            current,
            format!("example {} has an empty label", blank + 1),
        ));
    }
    if !crate::model::weights::all_finite(examples)? {
        return Err(invalid(
            current,
            "an example's embedding holds NaN or infinity".into(),
        ));
    }
    Ok(())
}

/// The head training starts from: `current` grown to `classes`, or a fresh
/// one from scratch or for another architecture.
/// The head a lesson starts from, with a copy of `current`'s adapter if it has one.
fn starting_head(current: &Head, classes: &[String], config: &LessonConfig) -> Result<Head> {
    let architecture = config.architecture.unwrap_or(current.meta().architecture);
    if !config.from_scratch && architecture == current.meta().architecture {
        return current.with_labels(classes.to_vec(), config.seed);
    }
    let fresh = Head::new(
        current.name(),
        classes.to_vec(),
        architecture,
        current.meta().encoder.clone(),
        config.seed,
    )?;
    Ok(match current.adapter() {
        Some(adapter) => fresh.with_adapter(adapter.deep_copy()?),
        None => fresh,
    })
}

/// The person's examples, split as the library's defaults say for their number.
fn own_examples(examples: &Tensor, class_of: &[usize], classes: usize) -> Result<Parts> {
    let mut per_class = vec![0; classes];
    for &c in class_of {
        per_class[c] += 1;
    }
    let smallest = per_class
        .iter()
        .copied()
        .filter(|&n| n > 0)
        .min()
        .unwrap_or(0);
    let holdout = defaults::for_data(class_of.len(), smallest).holdout;
    let (train_rows, val_rows) = holdout.split(class_of, classes);
    let dim = examples.dims2()?.1;
    let val_x = if val_rows.is_empty() {
        Tensor::zeros((0, dim), DType::F32, &Device::Cpu)?
    } else {
        select_rows(examples, &val_rows)?
    };
    Ok(Parts {
        per_class,
        train_x: vec![select_rows(examples, &train_rows)?],
        train_y: train_rows.iter().map(|&i| class_of[i]).collect(),
        val_x: vec![val_x],
        val_y: val_rows.iter().map(|&i| class_of[i]).collect(),
    })
}

/// Mixes `replay`'s rows of the taught classes into `parts` (up to `cap` a
/// class; 0: all): every fourth validates, so early stopping watches the old
/// classes before they drift; the person's training examples validate too,
/// or the run would stop before a new class is learned.
fn add_replay(parts: &mut Parts, replay: &ReplaySet, classes: &[String], cap: usize) -> Result<()> {
    let cap = if cap == 0 { usize::MAX } else { cap };
    let mut taken = vec![0usize; replay.labels.len()];
    let keep: Vec<(usize, usize)> = replay
        .classes
        .iter()
        .enumerate()
        .filter_map(|(row, &c)| {
            taken[c] += 1;
            let target = classes.iter().position(|name| *name == replay.labels[c])?;
            (taken[c] <= cap).then_some((row, target))
        })
        .collect();
    for &(_, c) in &keep {
        parts.per_class[c] += 1;
    }
    let (val, train): (Vec<_>, Vec<_>) = keep.iter().enumerate().partition(|(k, _)| k % 4 == 3);
    let rows_of = |part: &[(usize, &(usize, usize))]| {
        let rows: Vec<usize> = part.iter().map(|(_, &(r, _))| r).collect();
        select_rows(&replay.embeddings, &rows)
    };
    let own_x = parts.train_x[0].clone();
    let own_y = parts.train_y.clone();
    parts.train_x.push(rows_of(&train)?);
    parts.train_y.extend(train.iter().map(|(_, &(_, c))| c));
    parts.val_x.push(rows_of(&val)?);
    parts.val_y.extend(val.iter().map(|(_, &(_, c))| c));
    parts.val_x.push(own_x);
    parts.val_y.extend(own_y);
    Ok(())
}
