//! What a person learns from a lesson on few examples: cross-validation.
//! Each of the person's examples is held out once (stratified folds), a
//! lesson with the same settings is taught on the rest, and the held-out
//! predictions give per-class precision and recall, a confusion matrix and
//! the examples the head still gets wrong. Lessons on a frozen encoder take
//! milliseconds, so a few more of them cost little beside the one that counts.

use candle_core::Tensor;

use crate::error::Result;
use crate::model::heads::Head;
use crate::training::features::select_rows;
use crate::training::lesson::{class_indices, taught_classes, teach, LessonConfig};
use crate::training::metrics::Metrics;
use crate::training::replay::ReplaySet;
use crate::training::trainer::{predict_classes, Control};

/// Folds at most: five lessons beside the one that counts.
pub const MAX_FOLDS: usize = 5;

/// The held-out view of a lesson.
#[derive(Clone, Debug)]
pub struct CrossValidation {
    /// Folds used (each example held out once).
    pub folds: usize,
    /// Held-out predictions against the person's labels, over the lesson's classes.
    pub metrics: Metrics,
    /// `(example index, predicted label)` of every example predicted wrong.
    pub wrong: Vec<(usize, String)>,
}

/// Cross-validates the lesson `teach(current, examples, labels, replay,
/// config)` would give; `None` when some class has fewer than 2 examples
/// (it could not be both trained on and held out). Folds: as many as the
/// smallest class allows, at most [`MAX_FOLDS`].
pub fn cross_validate(
    current: &Head,
    examples: &Tensor,
    labels: &[String],
    replay: Option<&ReplaySet>,
    config: &LessonConfig,
) -> Result<Option<CrossValidation>> {
    let classes = taught_classes(current, labels, config);
    let fold_of = stratified_folds(labels);
    let Some(folds) = fold_of.iter().max().map(|&f| f + 1).filter(|&k| k >= 2) else {
        return Ok(None);
    };
    let mut predicted = vec![String::new(); labels.len()];
    for fold in 0..folds {
        let (held, kept): (Vec<usize>, Vec<usize>) =
            (0..labels.len()).partition(|&i| fold_of[i] == fold);
        let kept_labels: Vec<String> = kept.iter().map(|&i| labels[i].clone()).collect();
        // A few-shot head sits on an adapter trained on every example, the
        // held-out ones too (this view is then optimistic); its head at
        // least starts afresh in each fold instead of from the final one.
        let fold_config = LessonConfig {
            classes: Some(classes.clone()),
            from_scratch: config.from_scratch || config.adapt.is_some(),
            ..config.clone()
        };
        let rows = select_rows(examples, &kept)?;
        let lesson = teach(
            current,
            &rows,
            &kept_labels,
            replay,
            &fold_config,
            &mut |_| Control::Continue,
        )?;
        let Some(head) = lesson.head else {
            return Ok(None);
        };
        let answers = predict_classes(&head, &select_rows(examples, &held)?)?;
        for (&i, &p) in held.iter().zip(&answers) {
            predicted[i] = head.labels()[p].clone();
        }
    }
    let gold = class_indices(&classes, labels);
    let guessed = class_indices(&classes, &predicted);
    let wrong = (0..labels.len())
        .filter(|&i| predicted[i] != labels[i])
        .map(|i| (i, predicted[i].clone()))
        .collect();
    Ok(Some(CrossValidation {
        folds,
        metrics: Metrics::compute(&classes, &gold, &guessed),
        wrong,
    }))
}

/// The fold of each example: the k-th example of a class goes to fold
/// `k mod folds`, with `folds` the smallest class's size capped at
/// [`MAX_FOLDS`], so every fold holds every class out at most once per round
/// and trains on every class. All zero when a class has a single example.
fn stratified_folds(labels: &[String]) -> Vec<usize> {
    let mut counts = std::collections::BTreeMap::<&String, usize>::new();
    for label in labels {
        *counts.entry(label).or_default() += 1;
    }
    let folds = counts.values().copied().min().unwrap_or(0).min(MAX_FOLDS);
    if folds < 2 {
        return vec![0; labels.len()];
    }
    let mut seen = std::collections::BTreeMap::<&String, usize>::new();
    labels
        .iter()
        .map(|label| {
            let k = seen.entry(label).or_default();
            *k += 1;
            (*k - 1) % folds
        })
        .collect()
}
