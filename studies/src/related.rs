//! Study (f): the small-task question for a *related* pair, as a bound on
//! study (d)'s unrelated one. A is a coarse two-class topic task (World or
//! Business against Sports or Sci/Tech) with plenty of examples, B the
//! four-class topic task with few; both read AG News, so what A teaches the
//! shared layers is what B needs. The same remedies as (d) on a trainable
//! top layer, B alone first.

use super::lab::Lab;
use super::low_data::{setting_rows, Remedy, RemedyRow};
use super::{Host, TaskData};
use sentence_multitask::error::Result;
use sentence_multitask::model::encoder::Encoder;
use sentence_multitask::model::heads::Architecture;
use sentence_multitask::training::trainer::{Sampling, Trainable};

/// The coarse task's name.
pub const COARSE_NAME: &str = "topic-2";

/// The coarse task's classes, and which of them each four-class label falls in.
const COARSE: [&str; 2] = ["World or Business", "Sports or Sci/Tech"];

/// The coarse class of each of AG News' classes (World, Sports, Business, Sci/Tech).
const COARSE_OF: [usize; 4] = [0, 1, 0, 1];

/// The coarse two-class task on the topic task's texts.
fn coarse(topic: &TaskData) -> TaskData {
    let map = |labels: &[usize]| labels.iter().map(|&l| COARSE_OF[l % 4]).collect();
    TaskData {
        name: COARSE_NAME.into(),
        labels: COARSE.map(String::from).to_vec(),
        architecture: Architecture::Linear,
        train_labels: map(&topic.train_labels),
        eval_labels: map(&topic.eval_labels),
        ..topic.clone()
    }
}

/// The related pair's lab: the coarse task as A and `lab`'s topic task (its
/// A) as B, at `lab`'s encoder learning rate.
pub fn pair_lab<'a>(lab: &Lab, encoder: &'a Encoder, host: &'a dyn Host) -> Result<Lab<'a>> {
    let topic = lab.task(0).clone();
    let pair = Lab::new(encoder, host, [coarse(&topic), topic], lab.plan.clone())?;
    pair.set_encoder_lr(lab.encoder_lr());
    Ok(pair)
}

/// The remedies of the related pair (each run trains the top layer).
const REMEDIES: [Remedy; 4] = [
    Remedy::Alone,
    Remedy::joint(Sampling::Proportional, 1.0, false),
    Remedy::joint(Sampling::Alternating, 1.0, false),
    Remedy::Sequential { augment: false },
];

/// Runs study (f) on `lab`'s topic task (A of `lab`) under `lab`'s plan and
/// encoder learning rate: one row per remedy.
pub fn related(lab: &Lab, encoder: &Encoder, host: &dyn Host) -> Result<Vec<RemedyRow>> {
    let pair = pair_lab(lab, encoder, host)?;
    let plan = &lab.plan;
    let Some((setting, a_per_class)) = plan.low_data_moving else {
        return Ok(Vec::new());
    };
    let seeds = &plan.low_data_seeds[..plan.low_data_seeds.len().min(3)];
    let setting = match setting {
        Trainable::Heads => Trainable::TopLayers(1),
        s => s,
    };
    setting_rows(&pair, setting, a_per_class, &REMEDIES, seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_classes_group_world_with_business() {
        let topic = TaskData {
            name: "topic".into(),
            labels: ["World", "Sports", "Business", "Sci/Tech"]
                .map(String::from)
                .to_vec(),
            architecture: Architecture::Linear,
            train_texts: vec!["a".into(); 4],
            train_labels: vec![0, 1, 2, 3],
            eval_texts: vec!["b".into(); 2],
            eval_labels: vec![2, 3],
        };
        let c = coarse(&topic);
        assert_eq!(c.train_labels, vec![0, 1, 0, 1]);
        assert_eq!(c.eval_labels, vec![0, 1]);
        assert_eq!(c.train_texts, topic.train_texts);
        assert_eq!(c.labels.len(), 2);
    }
}
