//! Teaching a head new examples, as the page does: the head's classes grow
//! by the new labels, its known weights are kept, and a replay set of stored
//! embeddings of its original training data is mixed in so it does not forget
//! the classes it had. The encoder stays frozen: examples arrive as embeddings.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::heads::{Architecture, EncoderRef, Head, TrainingRecord};
use crate::train::{
    self, select_rows, CachedEmbeddings, Control, Progress, Split, Task, TrainConfig, TrainReport,
};

/// `format` in a replay file's metadata.
pub const REPLAY_FORMAT: &str = "sentence-multitask-replay/1";

/// Examples per class from which a validation split is held out.
const MIN_PER_CLASS_FOR_VALIDATION: usize = 10;

/// Stored sentence embeddings with their labels: a head's memory of its
/// training data (or a held-out set), kept in f16 on disk.
#[derive(Clone, Debug)]
pub struct ReplaySet {
    /// The head these examples belong to.
    pub head: String,
    /// Class names; `classes` index into them.
    pub labels: Vec<String>,
    /// `(n, dim)` f32 embeddings.
    pub embeddings: Tensor,
    /// Class of each row.
    pub classes: Vec<usize>,
}

#[derive(Serialize, Deserialize)]
struct ReplayMeta {
    format: String,
    head: String,
    labels: Vec<String>,
    encoder: EncoderRef,
}

impl ReplaySet {
    /// Rows of `embeddings` (`(n, dim)`) with `classes`, checked for agreement.
    pub fn new(
        head: &str,
        labels: Vec<String>,
        embeddings: Tensor,
        classes: Vec<usize>,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidArgument {
            what: format!("replay set of {head:?}"),
            reason,
        };
        let (rows, _) = embeddings.dims2().map_err(|e| invalid(e.to_string()))?;
        if rows != classes.len() {
            return Err(invalid(format!(
                "{rows} embeddings but {} labels",
                classes.len()
            )));
        }
        if let Some(bad) = classes.iter().find(|&&c| c >= labels.len()) {
            return Err(invalid(format!("class {bad} of {} labels", labels.len())));
        }
        Ok(Self {
            head: head.into(),
            labels,
            embeddings: embeddings.to_dtype(DType::F32)?,
            classes,
        })
    }

    /// Reads a replay file, refusing one made for another encoder or with
    /// shapes, labels or values that do not agree.
    pub fn from_safetensors(bytes: &[u8], encoder: &EncoderRef, source: &str) -> Result<Self> {
        let refuse = |reason: String| Error::BadModelFile {
            file: source.into(),
            reason,
        };
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| refuse(format!("not a safetensors file ({e})")))?;
        let meta: ReplayMeta = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("replay"))
            .ok_or_else(|| refuse("no replay metadata".into()))
            .and_then(|json| {
                serde_json::from_str(json).map_err(|e| refuse(format!("bad replay metadata ({e})")))
            })?;
        if meta.format != REPLAY_FORMAT {
            return Err(refuse(format!(
                "format {:?}, expected {REPLAY_FORMAT:?}",
                meta.format
            )));
        }
        if &meta.encoder != encoder {
            return Err(refuse(format!(
                "made for encoder {:?}, this one is {encoder:?}",
                meta.encoder
            )));
        }
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| refuse(e.to_string()))?;
        let embeddings = tensors
            .get("embeddings")
            .ok_or_else(|| refuse("no \"embeddings\" tensor".into()))?
            .to_dtype(DType::F32)?;
        if embeddings.dims().len() != 2 || embeddings.dims()[1] != encoder.dim {
            return Err(refuse(format!(
                "embeddings of shape {:?}, expected (n, {})",
                embeddings.dims(),
                encoder.dim
            )));
        }
        if !crate::weights::all_finite(&embeddings)? {
            return Err(refuse("embeddings hold NaN or infinity".into()));
        }
        let classes: Vec<usize> = tensors
            .get("classes")
            .ok_or_else(|| refuse("no \"classes\" tensor".into()))?
            .to_dtype(DType::U32)?
            .to_vec1::<u32>()
            .map_err(|e| refuse(format!("classes: {e}")))?
            .into_iter()
            .map(|c| c as usize)
            .collect();
        Self::new(&meta.head, meta.labels, embeddings, classes).map_err(|e| refuse(e.to_string()))
    }

    /// The file: f16 embeddings, u32 classes, metadata naming head, labels and encoder.
    pub fn to_safetensors(&self, encoder: &EncoderRef) -> Result<Vec<u8>> {
        let embeddings = self.embeddings.to_dtype(DType::F16)?;
        let rows = self.classes.len();
        let dim = embeddings.dims()[1];
        let embedding_bytes: Vec<u8> = embeddings
            .flatten_all()?
            .to_vec1::<half::f16>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let class_bytes: Vec<u8> = self
            .classes
            .iter()
            .flat_map(|&c| (c as u32).to_le_bytes())
            .collect();
        let meta = ReplayMeta {
            format: REPLAY_FORMAT.into(),
            head: self.head.clone(),
            labels: self.labels.clone(),
            encoder: encoder.clone(),
        };
        let bad = |e: safetensors::SafeTensorError| Error::InvalidArgument {
            what: "replay set".into(),
            reason: e.to_string(),
        };
        let views = [
            (
                "classes",
                TensorView::new(Dtype::U32, vec![rows], &class_bytes).map_err(bad)?,
            ),
            (
                "embeddings",
                TensorView::new(Dtype::F16, vec![rows, dim], &embedding_bytes).map_err(bad)?,
            ),
        ];
        let metadata = std::collections::HashMap::from([(
            "replay".to_string(),
            serde_json::to_string(&meta).map_err(|e| Error::InvalidArgument {
                what: "replay metadata".into(),
                reason: e.to_string(),
            })?,
        )]);
        safetensors::serialize(views, Some(metadata)).map_err(bad)
    }

    /// Share of rows `head` labels correctly (by label name; rows of classes
    /// the head lacks count as wrong).
    pub fn accuracy(&self, head: &Head) -> Result<f64> {
        if self.classes.is_empty() {
            return Ok(0.0);
        }
        let predicted = train::predict_classes(head, &self.embeddings)?;
        let right = predicted
            .iter()
            .zip(&self.classes)
            .filter(|(&p, &c)| head.labels().get(p) == Some(&self.labels[c]))
            .count();
        Ok(right as f64 / self.classes.len() as f64)
    }
}

/// What a person asks for when they train a head in the page.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LessonConfig {
    /// Passes over the examples at most.
    pub epochs: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// Head structure; `None` keeps the current head's.
    pub architecture: Option<Architecture>,
    /// Weight classes so that each counts the same, however many examples it has.
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
    /// Seed of initialisation, shuffling and the validation split.
    pub seed: u64,
}

impl Default for LessonConfig {
    fn default() -> Self {
        Self {
            epochs: 40,
            learning_rate: 3e-3,
            architecture: None,
            class_weighted: true,
            from_scratch: false,
            classes: None,
            replay_per_class: 0,
            seed: 0,
        }
    }
}

/// The outcome of a lesson: the trained head and how training went.
#[derive(Debug)]
pub struct Lesson {
    /// The new head (same name as before).
    pub head: Head,
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

/// Trains a new version of `current` on `examples` (`(n, dim)` embeddings)
/// labelled `labels`, mixing in `replay` (unless from scratch) so the old
/// classes stay. Early stopping watches a validation set of every fourth
/// replayed example, every fifth example of a class with ten or more, and the
/// person's training examples (too few to hold out, and a new class must be
/// learned before the run may stop).
pub fn teach(
    current: &Head,
    examples: &Tensor,
    labels: &[String],
    replay: Option<&ReplaySet>,
    config: &LessonConfig,
    progress: &mut dyn FnMut(&Progress) -> Control,
) -> Result<Lesson> {
    let invalid = |reason: String| Error::InvalidArgument {
        what: format!("training head {:?}", current.name()),
        reason,
    };
    let (rows, dim) = examples.dims2()?;
    if rows != labels.len() {
        return Err(invalid(format!(
            "{rows} embeddings but {} labels",
            labels.len()
        )));
    }
    if rows == 0 {
        return Err(invalid("there are no examples to learn from".into()));
    }
    if let Some(blank) = labels.iter().position(|l| l.trim().is_empty()) {
        return Err(invalid(format!("example {} has an empty label", blank + 1)));
    }
    if !crate::weights::all_finite(examples)? {
        return Err(invalid(
            "an example's embedding holds NaN or infinity".into(),
        ));
    }
    let start = config.classes.as_deref().unwrap_or(current.labels());
    let classes = lesson_classes(start, labels, config.from_scratch);
    if classes.len() < 2 {
        return Err(invalid(format!(
            "a classifier needs at least 2 classes; the examples name only {classes:?}"
        )));
    }
    let architecture = config.architecture.unwrap_or(current.meta().architecture);
    let mut head = if config.from_scratch || architecture != current.meta().architecture {
        Head::new(
            current.name(),
            classes.clone(),
            architecture,
            current.meta().encoder.clone(),
            config.seed,
        )?
    } else {
        current.with_labels(classes.clone(), config.seed)?
    };

    // The person's examples: every fifth of a class with enough of them validates.
    let class_of = |label: &String| classes.iter().position(|c| c == label).unwrap_or(0);
    let mut seen = vec![0usize; classes.len()];
    let counts = labels.iter().fold(vec![0usize; classes.len()], |mut n, l| {
        n[class_of(l)] += 1;
        n
    });
    let (mut train_rows, mut val_rows) = (Vec::new(), Vec::new());
    for (i, label) in labels.iter().enumerate() {
        let c = class_of(label);
        seen[c] += 1;
        if counts[c] >= MIN_PER_CLASS_FOR_VALIDATION && seen[c].is_multiple_of(5) {
            val_rows.push(i);
        } else {
            train_rows.push(i);
        }
    }
    let pick = |rows: &[usize]| select_rows(examples, rows);
    let mut train_x = vec![pick(&train_rows)?];
    let mut train_y: Vec<usize> = train_rows.iter().map(|&i| class_of(&labels[i])).collect();
    let mut val_x = vec![if val_rows.is_empty() {
        Tensor::zeros((0, dim), DType::F32, &Device::Cpu)?
    } else {
        pick(&val_rows)?
    }];
    let mut val_y: Vec<usize> = val_rows.iter().map(|&i| class_of(&labels[i])).collect();
    if let Some(replay) = replay.filter(|_| !config.from_scratch) {
        let cap = match config.replay_per_class {
            0 => usize::MAX,
            n => n,
        };
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
        // Every fourth replayed row validates: early stopping then watches
        // the old classes too, before they drift.
        let (replay_val, replay_train): (Vec<_>, Vec<_>) =
            keep.iter().enumerate().partition(|(k, _)| k % 4 == 3);
        let rows_of = |part: &[(usize, &(usize, usize))]| {
            let rows: Vec<usize> = part.iter().map(|(_, &(r, _))| r).collect();
            select_rows(&replay.embeddings, &rows)
        };
        train_x.push(rows_of(&replay_train)?);
        train_y.extend(replay_train.iter().map(|(_, &(_, c))| c));
        val_x.push(rows_of(&replay_val)?);
        val_y.extend(replay_val.iter().map(|(_, &(_, c))| c));
        // Too few of the person's examples to hold out: their fit joins the
        // stopping criterion, or it would stop before a new class is learned.
        val_x.push(train_x[0].clone());
        val_y.extend(train_rows.iter().map(|&i| class_of(&labels[i])));
    }
    let train_x = Tensor::cat(&train_x, 0)?;
    let val_x = Tensor::cat(&val_x, 0)?;
    let mut examples_per_class = BTreeMap::new();
    for &c in &train_y {
        *examples_per_class.entry(classes[c].clone()).or_insert(0) += 1;
    }

    // A handful of examples still gets enough optimiser steps: small batches.
    let batch_size = (train_y.len() / 8).clamp(4, 32);
    let train_config = TrainConfig {
        epochs: config.epochs,
        batch_size,
        learning_rate: config.learning_rate,
        seed: config.seed,
        class_weighted: config.class_weighted,
        ..TrainConfig::default()
    };
    let mut tasks = [Task {
        head,
        train: Split::from_labels(train_y),
        val: Split::from_labels(val_y),
        loss_weight: 1.0,
        frozen: false,
    }];
    let features = CachedEmbeddings {
        tasks: vec![(train_x, val_x)],
    };
    let report = train::train(&mut tasks, &features, &train_config, progress)?;
    let [task] = tasks;
    head = task.head;
    head.set_training(TrainingRecord {
        data: vec!["examples labelled in the page".into()],
        examples_per_class: examples_per_class.clone(),
        metrics: report.validation[0]
            .as_ref()
            .and_then(|m| serde_json::to_value(m).ok()),
        seed: config.seed,
        extra: BTreeMap::from([(
            "lesson".to_string(),
            serde_json::to_value(config).unwrap_or_default(),
        )]),
    });
    Ok(Lesson {
        head,
        report,
        examples_per_class,
    })
}
