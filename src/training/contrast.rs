//! Few-shot adaptation of a task's adapter, SetFit-style: the adapter's
//! layers learn to put sentences of one class close together and sentences
//! of different classes apart (cosine similarity pushed to 1 and to 0, a
//! squared error as in SetFit's `CosineSimilarityLoss`), before the head is
//! fitted on what the adapter then outputs.
//!
//! Unlike SetFit, which samples pairs into batches of 16, each step embeds a
//! batch of examples once and scores every pair among them, positives and
//! negatives weighted to count half each: with a few dozen examples that is
//! every pair of the data at every step, for one forward pass per example.

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::adapter::TopLayers;
use crate::rng::Rng;
use crate::training::trainer::{Control, Progress};

/// Settings of the contrastive phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContrastConfig {
    /// Encoder layers the task's adapter copies (the top ones).
    pub layers: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Examples embedded per step (every pair among them is scored); the
    /// whole data when it has no more.
    pub batch_size: usize,
    /// AdamW learning rate of the adapter's weights.
    pub learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Seed of the batches.
    pub seed: u64,
    /// What the pairs are scored by.
    pub loss: PairLoss,
    /// Train the adapter through rank-R factors (LoRA) instead of all its values.
    pub lora: Option<usize>,
}

/// The contrastive loss.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PairLoss {
    /// SetFit's: squared error of each pair's cosine against 1 or 0.
    Cosine,
    /// Supervised batch contrastive (SupCon, as FastFit's batch loss): each
    /// example's same-class partners against all others in a softmax over
    /// cosines divided by `temperature`.
    Batch {
        /// Softmax temperature (FastFit and SupCon use 0.07 to 0.1).
        temperature: f64,
    },
}

impl std::str::FromStr for PairLoss {
    type Err = String;

    /// `cosine`, or `batch:T` with T > 0.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "cosine" {
            return Ok(PairLoss::Cosine);
        }
        s.strip_prefix("batch:")
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(|temperature| PairLoss::Batch { temperature })
            .ok_or_else(|| format!("{s:?} is not cosine or batch:T (T > 0)"))
    }
}

/// Chosen on validation data, 8 examples a class of AG News, SST-2 and a
/// six-class question-type set written for it, 3 to 5 seeds (weights/README.md,
/// "Few-shot"): 3 layers for 20 steps beat 2 for 30 on all three at the same
/// training time (+1.8 points on question type); 1 or 6 layers, 15 or 60
/// steps, 3e-4, a linear head and the batch contrastive loss did worse.
impl Default for ContrastConfig {
    fn default() -> Self {
        Self {
            layers: 3,
            steps: 20,
            batch_size: 64,
            learning_rate: 1e-4,
            weight_decay: 0.01,
            seed: 0,
            loss: PairLoss::Cosine,
            lora: None,
        }
    }
}

/// How the contrastive phase went.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContrastReport {
    /// Loss of each step taken.
    pub losses: Vec<f64>,
    /// True when the callback stopped the phase before its last step.
    pub stopped: bool,
}

/// Trains `adapter` on `states` (each example's output of the layers below
/// it) labelled `labels` (class indices). `progress` hears of every step
/// ([`Progress::Pairs`]); Stop ends the phase, keeping the weights so far
/// (the loss is on training pairs only, so later weights are the best known).
pub fn contrast(
    adapter: &TopLayers,
    states: &[Tensor],
    labels: &[usize],
    config: &ContrastConfig,
    progress: &mut dyn FnMut(&Progress) -> Control,
) -> Result<ContrastReport> {
    check(states, labels, config)?;
    let mut optimiser = AdamW::new(
        adapter.vars()?,
        ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: config.weight_decay,
            ..Default::default()
        },
    )?;
    let mut rng = Rng::new(config.seed);
    let mut report = ContrastReport::default();
    for step in 1..=config.steps {
        let rows = batch(labels, config.batch_size, &mut rng);
        let batch_states: Vec<&Tensor> = rows.iter().map(|&r| &states[r]).collect();
        let batch_labels: Vec<usize> = rows.iter().map(|&r| labels[r]).collect();
        let embeddings = adapter.forward(&batch_states)?;
        let loss = match config.loss {
            PairLoss::Cosine => pair_loss(&embeddings, &batch_labels)?,
            PairLoss::Batch { temperature } => batch_loss(&embeddings, &batch_labels, temperature)?,
        };
        optimiser.backward_step(&loss)?;
        let loss = f64::from(loss.to_scalar::<f32>()?);
        if !loss.is_finite() {
            return Err(Error::InvalidArgument {
                what: "contrastive training".into(),
                reason: format!("the loss became {loss} at step {step}; try a lower learning rate"),
            });
        }
        report.losses.push(loss);
        let event = Progress::Pairs {
            step,
            steps: config.steps,
            loss,
        };
        if progress(&event) == Control::Stop && step < config.steps {
            report.stopped = true;
            break;
        }
    }
    Ok(report)
}

fn check(states: &[Tensor], labels: &[usize], config: &ContrastConfig) -> Result<()> {
    let invalid = |reason: String| Error::InvalidArgument {
        what: "contrastive training".into(),
        reason,
    };
    if states.len() != labels.len() {
        return Err(invalid(format!(
            "{} examples but {} labels",
            states.len(),
            labels.len()
        )));
    }
    let mut classes = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    if classes.len() < 2 || classes.len() == labels.len() {
        return Err(invalid(
            "pairs need at least 2 classes and a class with 2 examples".into(),
        ));
    }
    if config.batch_size < 2 || config.learning_rate.is_nan() || config.learning_rate <= 0.0 {
        return Err(invalid(format!(
            "batch size {} and learning rate {} (need at least 2 and above 0)",
            config.batch_size, config.learning_rate
        )));
    }
    Ok(())
}

/// Rows of one step: all of them when they fit, else `size` drawn without
/// replacement in proportion to the classes (every class keeps at least 2,
/// so it has a positive pair).
fn batch(labels: &[usize], size: usize, rng: &mut Rng) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..labels.len()).collect();
    if labels.len() <= size {
        return rows;
    }
    rng.shuffle(&mut rows);
    let classes = labels.iter().max().map_or(0, |&m| m + 1);
    let mut taken = vec![0usize; classes];
    let mut chosen = Vec::with_capacity(size);
    // Two of each class first, then the shuffled rest in order.
    for pass in [true, false] {
        for &r in &rows {
            let c = labels[r];
            let wanted = if pass {
                taken[c] < 2
            } else {
                !chosen.contains(&r)
            };
            if chosen.len() < size && wanted {
                taken[c] += 1;
                chosen.push(r);
            }
        }
    }
    chosen.sort_unstable();
    chosen
}

/// Squared error of each pair's cosine similarity against 1 (same class) or
/// 0 (different classes), over every pair of distinct rows of `embeddings`
/// (L2-normalised, `(n, dim)`); positive and negative pairs each weigh half.
pub fn pair_loss(embeddings: &Tensor, labels: &[usize]) -> Result<Tensor> {
    let n = labels.len();
    let (mut target, mut weight) = (vec![0f32; n * n], vec![0f32; n * n]);
    let positives = (0..n)
        .map(|i| (0..n).filter(|&j| j != i && labels[j] == labels[i]).count())
        .sum::<usize>();
    let negatives = n * n.saturating_sub(1) - positives;
    for i in 0..n {
        for j in (0..n).filter(|&j| j != i) {
            let same = labels[i] == labels[j];
            target[i * n + j] = if same { 1.0 } else { 0.0 };
            let count = if same { positives } else { negatives };
            weight[i * n + j] = 0.5 / count.max(1) as f32;
        }
    }
    let target = Tensor::from_vec(target, (n, n), &Device::Cpu)?;
    let weight = Tensor::from_vec(weight, (n, n), &Device::Cpu)?;
    let cosine = embeddings.matmul(&embeddings.t()?)?;
    Ok((cosine - target)?.sqr()?.mul(&weight)?.sum_all()?)
}

/// Supervised contrastive loss over the rows of `embeddings` (L2-normalised):
/// for each example with a same-class partner, the mean over its partners of
/// minus the log-softmax (over every other example) of cosine / `temperature`.
pub fn batch_loss(embeddings: &Tensor, labels: &[usize], temperature: f64) -> Result<Tensor> {
    let n = labels.len();
    let mut self_mask = vec![0f32; n * n];
    let mut partners = vec![0f32; n * n];
    let mut anchors = 0usize;
    for i in 0..n {
        self_mask[i * n + i] = -1e4;
        let same: Vec<usize> = (0..n)
            .filter(|&j| j != i && labels[j] == labels[i])
            .collect();
        if !same.is_empty() {
            anchors += 1;
        }
        for &j in &same {
            partners[i * n + j] = 1.0 / same.len() as f32;
        }
    }
    let self_mask = Tensor::from_vec(self_mask, (n, n), &Device::Cpu)?;
    let partners = Tensor::from_vec(partners, (n, n), &Device::Cpu)?;
    let scores = ((embeddings.matmul(&embeddings.t()?)? / temperature)? + self_mask)?;
    let log_p = candle_nn::ops::log_softmax(&scores, 1)?;
    let total = log_p.mul(&partners)?.sum_all()?;
    Ok((total.neg()? / anchors.max(1) as f64)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_loss_is_zero_when_classes_are_orthogonal_points() {
        let e = Tensor::new(&[[1f32, 0.], [1., 0.], [0., 1.]], &Device::Cpu).unwrap();
        let loss = pair_loss(&e, &[0, 0, 1])
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(loss.abs() < 1e-7, "{loss}");
    }

    #[test]
    fn pair_loss_weighs_positives_and_negatives_half_each() {
        // Everything identical: positive pairs are right, negatives all wrong by 1.
        let e = Tensor::new(&[[1f32, 0.], [1., 0.], [1., 0.]], &Device::Cpu).unwrap();
        let loss = pair_loss(&e, &[0, 0, 1])
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((loss - 0.5).abs() < 1e-6, "{loss}");
    }

    #[test]
    fn batch_loss_is_lower_when_classes_cluster() {
        let apart = Tensor::new(&[[1f32, 0.], [1., 0.], [0., 1.], [0., 1.]], &Device::Cpu).unwrap();
        let mixed = Tensor::new(&[[1f32, 0.], [0., 1.], [1., 0.], [0., 1.]], &Device::Cpu).unwrap();
        let labels = [0, 0, 1, 1];
        let loss = |e: &Tensor| {
            batch_loss(e, &labels, 0.1)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert!(loss(&apart) < 1e-3, "{}", loss(&apart));
        assert!(loss(&mixed) > 5.0, "{}", loss(&mixed));
        assert_eq!(
            "batch:0.1".parse::<PairLoss>(),
            Ok(PairLoss::Batch { temperature: 0.1 })
        );
        assert!("batch:0".parse::<PairLoss>().is_err());
    }

    #[test]
    fn batches_keep_two_of_every_class() {
        let labels: Vec<usize> = (0..40).map(|i| usize::from(i >= 36)).collect();
        let mut rng = Rng::new(3);
        for _ in 0..20 {
            let rows = batch(&labels, 8, &mut rng);
            assert_eq!(rows.len(), 8);
            assert!(rows.iter().filter(|&&r| labels[r] == 1).count() >= 2);
        }
        assert_eq!(batch(&labels, 64, &mut rng).len(), 40);
    }
}
