//! Study (h): a new task's few-shot curve, taught as the page teaches it.
//! At each size a task learns from `per_class` examples a class through the
//! library's own lessons with their defaults: the head alone on the frozen
//! embedding ([`teach`]), or the few-shot lesson ([`teach_adapted`]): a
//! fresh copy of the top layers trained on pairs of the examples (SetFit's
//! cosine loss), then the head. The page's lesson copies 3 layers; on all 6
//! it trains the whole encoder, as SetFit does. Scored on the task's
//! evaluation set through the head's own adapter, as `predict` reads it.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::lab::Lab;
use super::stats::Spread;
use super::TaskData;
use sentence_multitask::error::{Error, Result};
use sentence_multitask::model::heads::Head;
use sentence_multitask::training::adapted::teach_adapted;
use sentence_multitask::training::contrast::ContrastConfig;
use sentence_multitask::training::lesson::{new_task_head, teach, LessonConfig};
use sentence_multitask::training::trainer::Control;

/// One task taught one way at every size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FewShotSeries {
    /// The task.
    pub task: String,
    /// Layers of the task's adapter (0: the head alone on the frozen embedding).
    pub layers: usize,
    /// One point per size.
    pub points: Vec<FewShotPoint>,
}

/// One size of a few-shot series.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FewShotPoint {
    /// Examples per class.
    pub per_class: usize,
    /// Examples in all.
    pub examples: usize,
    /// Accuracy on the evaluation set, per seed.
    pub accuracy: Spread,
    /// Seconds of the lesson, per seed (for the head alone, not counting
    /// the embeddings of the examples, which the page has already computed).
    pub seconds: Spread,
}

/// The texts of pool `rows` of `task` and their class names.
fn named(task: &TaskData, rows: &[usize]) -> (Vec<String>, Vec<String>) {
    rows.iter()
        .map(|&r| {
            let class = &task.labels[task.train_labels[r]];
            (task.train_texts[r].clone(), class.clone())
        })
        .unzip()
}

/// The lesson for a new task `t` on pool `rows`: the head alone (`layers`
/// 0) or with a fresh adapter of `layers` layers.
fn lesson(lab: &Lab, t: usize, rows: &[usize], layers: usize, seed: u64) -> Result<Head> {
    let task = lab.task(t);
    let (texts, labels) = named(task, rows);
    let mut config = LessonConfig {
        classes: Some(task.labels.clone()),
        seed,
        ..LessonConfig::default()
    };
    let start = new_task_head(&task.name, &labels, &config, lab.encoder.encoder_ref())?;
    let mut go = |_: &_| Control::Continue;
    let taught = if layers == 0 {
        lab.host.heads_only(true);
        let x = lab.frozen_rows(t, false, rows)?;
        teach(&start, &x, &labels, None, &config, &mut go)?
    } else {
        lab.host.heads_only(false);
        let defaults = ContrastConfig::default();
        config.adapt = Some(ContrastConfig {
            layers,
            seed,
            steps: lab.plan.few_shot_steps.unwrap_or(defaults.steps),
            ..defaults
        });
        teach_adapted(lab.encoder, &start, &texts, &labels, &config, &mut go)?
    };
    taught.head.ok_or_else(|| Error::InvalidArgument {
        what: format!("(h) {}'s lesson", task.name),
        reason: "ended without a head".into(),
    })
}

/// Study (h): every task, way and size of the plan, over its seeds. The
/// ways run one after another so that the lab keeps one layer's states.
pub fn few_shot(lab: &Lab) -> Result<Vec<FewShotSeries>> {
    let plan = &lab.plan;
    let mut out = Vec::new();
    for &(layers, up_to) in &plan.few_shot_layers {
        for t in 0..2 {
            let name = &lab.task(t).name;
            let mut points = Vec::new();
            for &per_class in plan.few_shot_per_class.iter().filter(|&&n| n <= up_to) {
                lab.host.log(&format!(
                    "(h) {name}: {per_class} a class, adapter of {layers} layers"
                ));
                let (mut hits, mut seconds, mut examples) = (Vec::new(), Vec::new(), 0);
                for &seed in &plan.seeds {
                    let rows = lab.sample(t, per_class, seed);
                    examples = rows.len();
                    let started = Instant::now();
                    let head = lesson(lab, t, &rows, layers, seed)?;
                    seconds.push(started.elapsed().as_secs_f64());
                    hits.push(lab.hits(&head, t, None)?);
                }
                points.push(FewShotPoint {
                    per_class,
                    examples,
                    accuracy: Spread::scored(&hits),
                    seconds: Spread::of(seconds),
                });
            }
            out.push(FewShotSeries {
                task: name.clone(),
                layers,
                points,
            });
        }
    }
    Ok(out)
}

/// What (h) teaches at each of `sizes` a class with each seed, and each
/// task's evaluation set, as `(file name, rows {"text", "label"})`: the same
/// examples for an outside trainer (the SetFit anchor) to learn from.
pub fn example_files(lab: &Lab, sizes: &[usize]) -> Vec<(String, Vec<Value>)> {
    let mut out = Vec::new();
    for t in 0..2 {
        let task = lab.task(t);
        let row = |text: &String, label: &String| json!({"text": text, "label": label});
        for &per_class in sizes {
            for &seed in &lab.plan.seeds {
                let (texts, labels) = named(task, &lab.sample(t, per_class, seed));
                let examples = texts
                    .iter()
                    .zip(&labels)
                    .map(|(text, label)| row(text, label))
                    .collect();
                out.push((
                    format!("{}-{per_class}-seed{seed}.jsonl", task.name),
                    examples,
                ));
            }
        }
        let evaluation = lab.eval_rows[t]
            .iter()
            .map(|&r| row(&task.eval_texts[r], &task.labels[task.eval_labels[r]]))
            .collect();
        out.push((format!("{}-evaluation.jsonl", task.name), evaluation));
    }
    out
}

/// `new`'s points in `series`: each replaces the point of the same task,
/// depth and size, or joins its series in size order (a new depth gets a
/// series of its own).
pub fn merge(series: &mut Vec<FewShotSeries>, new: Vec<FewShotSeries>) {
    for add in new {
        let found = (series.iter_mut()).find(|s| s.task == add.task && s.layers == add.layers);
        let Some(into) = found else {
            series.push(add);
            continue;
        };
        for point in add.points {
            into.points.retain(|p| p.per_class != point.per_class);
            into.points.push(point);
        }
        into.points.sort_by_key(|p| p.per_class);
    }
}
