//! Classification metrics: accuracy, macro-F1, per-class precision and
//! recall, and the confusion matrix.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Precision, recall and F1 of one class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Of the inputs predicted as this class, the share that were.
    pub precision: f64,
    /// Of the inputs of this class, the share predicted so.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Inputs of this class.
    pub support: usize,
}

/// How well predictions match gold labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Inputs scored.
    pub count: usize,
    /// Share predicted correctly.
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1.
    pub macro_f1: f64,
    /// Per-class figures by label.
    pub per_class: BTreeMap<String, ClassMetrics>,
    /// Labels in matrix order.
    pub labels: Vec<String>,
    /// `confusion[gold][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

impl Metrics {
    /// Scores `predicted` against `gold` (class indices into `labels`).
    /// Indices out of range are ignored; lengths beyond the shorter are ignored.
    pub fn compute(labels: &[String], gold: &[usize], predicted: &[usize]) -> Self {
        let k = labels.len();
        let mut confusion = vec![vec![0usize; k]; k];
        let mut count = 0;
        for (&g, &p) in gold.iter().zip(predicted) {
            if g < k && p < k {
                confusion[g][p] += 1;
                count += 1;
            }
        }
        let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
        let per_class: BTreeMap<String, ClassMetrics> = labels
            .iter()
            .enumerate()
            .map(|(c, label)| {
                let tp = confusion[c][c];
                let predicted_c: usize = confusion.iter().map(|row| row[c]).sum();
                let support: usize = confusion[c].iter().sum();
                let precision = ratio(tp, predicted_c);
                let recall = ratio(tp, support);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                let m = ClassMetrics {
                    precision,
                    recall,
                    f1,
                    support,
                };
                (label.clone(), m)
            })
            .collect();
        let macro_f1 = if k == 0 {
            0.0
        } else {
            per_class.values().map(|m| m.f1).sum::<f64>() / k as f64
        };
        Self {
            count,
            accuracy: ratio(correct, count),
            macro_f1,
            per_class,
            labels: labels.to_vec(),
            confusion,
        }
    }
}
