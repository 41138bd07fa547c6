//! Training settings chosen from the data size, the same for the CLI's
//! `train` and the page's lessons, so one library gives one answer.
//!
//! Small data needs small batches (enough optimiser steps per epoch), a
//! larger learning rate and no held-out split too small to judge by; large
//! data keeps the settings the default heads were trained with. Chosen by
//! measurement on few-shot subsets of AG News and SST-2 (weights/README.md).

use serde::{Deserialize, Serialize};

use crate::training::trainer::TrainConfig;

/// Below this many training examples in all, the small-data settings apply.
pub const SMALL_DATA: usize = 1000;

/// Fewer examples than this in a class: nothing of it is held out.
pub const MIN_PER_CLASS_FOR_VALIDATION: usize = 10;

/// Which examples validate (and drive early stopping and the weights kept).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "share")]
pub enum Holdout {
    /// Nothing: a fixed number of epochs, the last one kept.
    Nothing,
    /// The last `share` of each class, in the data's order (at least one
    /// example of a class always trains).
    LastOfEachClass(f64),
}

impl Holdout {
    /// `(train, validation)` positions of `labels` (class indices below `classes`).
    pub fn split(self, labels: &[usize], classes: usize) -> (Vec<usize>, Vec<usize>) {
        let share = match self {
            Holdout::Nothing => 0.0,
            Holdout::LastOfEachClass(share) => share,
        };
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
        for (i, &l) in labels.iter().enumerate() {
            by_class[l].push(i);
        }
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for members in by_class {
            let n_val = ((members.len() as f64) * share).round() as usize;
            let n_val = n_val.min(members.len().saturating_sub(1));
            let (t, v) = members.split_at(members.len() - n_val);
            train.extend_from_slice(t);
            val.extend_from_slice(v);
        }
        train.sort_unstable();
        val.sort_unstable();
        (train, val)
    }
}

/// Settings for training on `examples` labelled examples (all of them,
/// before anything is held out), the smallest class having `smallest_class`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chosen {
    /// The trainer's settings.
    pub config: TrainConfig,
    /// What validates.
    pub holdout: Holdout,
}

/// The settings for this much data.
pub fn for_data(examples: usize, smallest_class: usize) -> Chosen {
    let large = TrainConfig::default();
    if examples >= SMALL_DATA {
        return Chosen {
            config: large,
            holdout: Holdout::LastOfEachClass(0.1),
        };
    }
    let holdout = if smallest_class >= MIN_PER_CLASS_FOR_VALIDATION {
        Holdout::LastOfEachClass(0.2)
    } else {
        Holdout::Nothing
    };
    Chosen {
        config: TrainConfig {
            epochs: 40,
            batch_size: (examples / 8).clamp(4, 32),
            learning_rate: 3e-3,
            ..large
        },
        holdout,
    }
}
