//! Knowledge distillation: a head (with its adapter) learns from a
//! teacher's class probabilities as well as from the labels (Hinton et al.,
//! 2015). A teacher too costly for the page (an adapter over every layer)
//! can pass what it learned to one that fits: the probabilities say how
//! sure it is and how close the other classes come, which a label does not.

use candle_core::{Device, Tensor, D};
use serde::{Deserialize, Serialize};

use crate::model::head_inputs;
use crate::model::heads::Head;
use crate::training::trainer::{Split, Task, TrainConfig};
use crate::{Encoder, Error, Result};

/// How the teacher's probabilities weigh in a step's loss.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distillation {
    /// Weight `W` of the teacher's term: the loss is `(1 - W)` of the
    /// labels' cross-entropy plus `W * T^2` of the teacher's (the `T^2`
    /// keeps its gradients at the labels' scale).
    pub weight: f64,
    /// Both the teacher's and the student's probabilities are softened at
    /// this temperature, so the teacher's near-certain answers still say
    /// which other class came closest.
    pub temperature: f64,
}

impl Distillation {
    /// Why these settings cannot train, if they cannot.
    pub fn problem(&self) -> Option<String> {
        let Self {
            weight,
            temperature,
        } = *self;
        if !(0.0..=1.0).contains(&weight) {
            return Some(format!(
                "the distillation weight is {weight}; it must be >= 0 and <= 1"
            ));
        }
        if !(temperature.is_finite() && temperature > 0.0) {
            return Some(format!(
                "the distillation temperature is {temperature}; it must be finite and > 0"
            ));
        }
        None
    }

    /// `probabilities` at this temperature: `p^(1/T)`, normalised (the
    /// softmax of the logits divided by T). Done in logs, from the largest,
    /// so no temperature underflows a row to all zeros.
    pub fn soften(&self, probabilities: &[f32]) -> Vec<f32> {
        let logs: Vec<f64> = probabilities
            .iter()
            .map(|&p| f64::from(p).ln() / self.temperature)
            .collect();
        let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let raised: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
        let sum: f64 = raised.iter().sum();
        raised.into_iter().map(|p| (p / sum) as f32).collect()
    }

    /// The step's loss: `(1 - w) * label_loss + w * T^2 * CE(targets, softmax(logits / T))`,
    /// where `targets` `(batch, classes)` are the teacher's softened
    /// probabilities. `T^2` keeps the soft term's gradients at the labels' scale.
    pub fn loss(&self, logits: &Tensor, label_loss: Tensor, targets: &Tensor) -> Result<Tensor> {
        let log_probs = candle_nn::ops::log_softmax(&(logits / self.temperature)?, D::Minus1)?;
        let soft = (targets * log_probs)?.sum(D::Minus1)?.mean_all()?.neg()?;
        let t2 = self.temperature * self.temperature;
        Ok(((label_loss * (1.0 - self.weight))? + (soft * (self.weight * t2))?)?)
    }

    /// The softened targets of the examples at `positions` of a split whose
    /// teacher probabilities [`problem`] accepted, as a `(positions, classes)` tensor.
    pub(crate) fn targets(&self, teacher: &[Vec<f32>], positions: &[usize]) -> Result<Tensor> {
        let classes = teacher.first().map_or(0, Vec::len);
        let flat: Vec<f32> = positions
            .iter()
            .flat_map(|&p| self.soften(&teacher[p]))
            .collect();
        Ok(Tensor::from_vec(
            flat,
            (positions.len(), classes),
            &Device::Cpu,
        )?)
    }
}

/// Why `tasks`' teacher probabilities and `config`'s distillation settings
/// cannot train, if they cannot: `(what, why)`.
pub(crate) fn problem(tasks: &[Task], config: &TrainConfig) -> Option<(String, String)> {
    for task in tasks {
        let classes = task.head.labels().len();
        if let Some(why) = teacher_problem(&task.train, classes) {
            return Some((task.head.name().into(), why));
        }
        if !task.val.teacher.is_empty() {
            let why = "a teacher's probabilities are for training examples, not validation";
            return Some((task.head.name().into(), why.into()));
        }
    }
    let taught = tasks
        .iter()
        .any(|t| !t.frozen && !t.train.teacher.is_empty());
    let why = match config.distillation {
        Some(d) => d.problem().or_else(|| {
            (!taught).then(|| {
                "distillation needs a teacher's probabilities of a head that trains".into()
            })
        }),
        None if taught => Some("a teacher's probabilities need distillation settings".into()),
        None => None,
    };
    why.map(|why| ("training settings".into(), why))
}

/// Why `split`'s teacher probabilities (if any) cannot train a head of
/// `classes` labels, if they cannot.
fn teacher_problem(split: &Split, classes: usize) -> Option<String> {
    if split.teacher.is_empty() {
        return None;
    }
    if split.teacher.len() != split.labels.len() {
        return Some(format!(
            "{} teacher probabilities for {} training examples",
            split.teacher.len(),
            split.labels.len()
        ));
    }
    let bad = split.teacher.iter().position(|p| {
        p.len() != classes
            || !p.iter().all(|x| x.is_finite() && *x >= 0.0)
            || p.iter().sum::<f32>() <= 0.0
    })?;
    Some(format!(
        "the teacher's probabilities of training example {} are {:?}: \
         they must be {classes} finite values >= 0, not all 0",
        bad + 1,
        split.teacher[bad]
    ))
}

/// The probabilities `teacher` gives each of `texts`, in the order of
/// `labels` (the student's): the teacher must know the same labels.
pub fn teacher_probabilities<S: AsRef<str>>(
    encoder: &Encoder,
    teacher: &Head,
    labels: &[String],
    texts: &[S],
) -> Result<Vec<Vec<f32>>> {
    let known = teacher.labels();
    let order: Option<Vec<usize>> = labels
        .iter()
        .map(|l| known.iter().position(|k| k == l))
        .collect();
    let order = order
        .filter(|_| known.len() == labels.len())
        .ok_or_else(|| Error::InvalidArgument {
            what: format!("teacher {:?}", teacher.name()),
            reason: format!("its labels {known:?} are not the student's {labels:?}"),
        })?;
    let inputs = head_inputs(encoder, teacher, texts)?;
    let probabilities = teacher.probabilities(&inputs)?.to_vec2::<f32>()?;
    Ok(probabilities
        .into_iter()
        .map(|p| order.iter().map(|&k| p[k]).collect())
        .collect())
}
