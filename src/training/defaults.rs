//! Training settings chosen from the data size, the same for the CLI's
//! `train` and the page's lessons, so one library gives one answer.
//!
//! Small data needs small batches (enough optimiser steps per epoch), a
//! larger learning rate and no held-out split too small to judge by; large
//! data keeps the settings the default heads were trained with. Chosen by
//! measurement on few-shot subsets of AG News and SST-2 (weights/README.md).

use serde::{Deserialize, Serialize};

use crate::training::trainer::TrainConfig;

/// From this many examples in the smallest class, the large-data settings
/// apply: every setting measured ties there, and a 10% hold-out has at least
/// 13 examples a class to judge by.
pub const LARGE_CLASS: usize = 128;

/// Optimiser steps a small-data run takes (at learning rate 1e-3 an MLP head
/// fits without overfitting: learning rate x steps near 0.1).
pub const SMALL_DATA_STEPS: usize = 100;

/// Epochs of a small-data lesson that mixes in a replay set. The person's
/// few examples are then a small part of each epoch, so the budget counts
/// passes over them: as many as a small-data run makes alone (about
/// [`SMALL_DATA_STEPS`] steps, 8 to a pass). Measured on a fifth topic from
/// 8 examples (other sentences than the tests'), 2 seeds: 6 epochs (the
/// small-data rule on all 392 examples) learn 3 of 8 new sentences, 10
/// learn 7, 13 all 8 with the old classes at 0.920 on 400 held out (0.910
/// before); 20 to 50 epochs also 8 of 8, the old classes at 0.903 to 0.913.
pub const REPLAY_LESSON_EPOCHS: usize = SMALL_DATA_STEPS.div_ceil(8);

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

/// The settings for this much data. Below [`LARGE_CLASS`] examples in the
/// smallest class: batches of an eighth of the data (4 to 32), about
/// [`SMALL_DATA_STEPS`] steps at 1e-3, nothing held out (a hold-out of a few
/// examples a class stops runs at random and takes a fifth of the data),
/// the last epoch kept. Measured on 4 to 512 examples a class of AG News
/// (4 and 3 classes) and SST-2, 5 seeds: within noise of the best setting
/// everywhere, and up to 7 points above the former defaults (weights/README.md).
pub fn for_data(examples: usize, smallest_class: usize) -> Chosen {
    let large = TrainConfig::default();
    if smallest_class >= LARGE_CLASS {
        return Chosen {
            config: large,
            holdout: Holdout::LastOfEachClass(0.1),
        };
    }
    let batch_size = (examples / 8).clamp(4, 32);
    let steps_per_epoch = examples.div_ceil(batch_size).max(1);
    Chosen {
        config: TrainConfig {
            epochs: SMALL_DATA_STEPS.div_ceil(steps_per_epoch).max(3),
            batch_size,
            learning_rate: 1e-3,
            patience: 0,
            ..large
        },
        holdout: Holdout::Nothing,
    }
}
