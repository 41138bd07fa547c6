//! Study (j): do the two tasks' gradients on the shared layer conflict?
//! PCGrad (Yu et al., 2020) removes from one task's gradient its component
//! along the other's when their cosine is negative, and GradNorm or
//! uncertainty weighting rescale tasks whose gradients differ in size. Both
//! act only through the angle and the sizes measured here: per seed, from
//! the heads (d) and (f) start their moving-encoder runs with and the fresh
//! top layer, pairs of training batches of A and B are drawn and their
//! gradients on the layer compared.

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::lab::Lab;
use super::low_data::{b_examples, frozen_start};
use super::related::pair_lab;
use super::stats::Spread;
use super::Host;
use sentence_multitask::error::Result;
use sentence_multitask::model::encoder::Encoder;
use sentence_multitask::model::heads::Head;
use sentence_multitask::rng::Rng;
use sentence_multitask::training::features::TopLayers;
use sentence_multitask::training::trainer::{cross_entropy, Trainable};

/// Batch pairs compared per seed.
const PAIRS: usize = 16;

/// (j) The gradients of one pair of tasks on the shared layers, per seed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConflictRow {
    /// Task A's name (many examples).
    pub a: String,
    /// Task B's name (few examples).
    pub b: String,
    /// The shared layers.
    pub trainable: String,
    /// Batch pairs per seed.
    pub pairs: usize,
    /// Mean cosine between A's and B's gradients.
    pub cosine: Spread,
    /// Share of batch pairs whose cosine is negative (where PCGrad acts).
    pub negative: Spread,
    /// Mean share of a gradient's length PCGrad would remove (`max(0, -cos)`).
    pub pcgrad_change: Spread,
    /// Mean length of B's gradient over A's.
    pub norm_ratio: Spread,
}

/// The gradient of `head`'s loss on `rows` of task `t` with respect to
/// `top`'s variables, flattened.
fn gradient(
    lab: &Lab,
    top: &TopLayers,
    vars: &[Var],
    head: &Head,
    t: usize,
    rows: &[usize],
) -> Result<Vec<f32>> {
    let states = lab.layer_rows(top.first(), t, false, rows)?;
    let x = top.forward(&states.iter().collect::<Vec<_>>())?;
    let labels: Vec<u32> = rows
        .iter()
        .map(|&r| lab.task(t).train_labels[r] as u32)
        .collect();
    let y = Tensor::from_vec(labels, rows.len(), &Device::Cpu)?;
    let uniform = Tensor::ones(head.labels().len(), DType::F32, &Device::Cpu)?;
    let grads = cross_entropy(&head.logits(&x, None)?, &y, &uniform)?.backward()?;
    let mut flat = Vec::new();
    for var in vars {
        // A weight the loss does not reach counts as zeros, so both tasks'
        // vectors stay aligned weight for weight.
        match grads.get(var) {
            Some(g) => flat.extend(g.flatten_all()?.to_vec1::<f32>()?),
            None => flat.extend(std::iter::repeat_n(0.0, var.elem_count())),
        }
    }
    Ok(flat)
}

/// `batch` rows of `rows`, drawn without replacement.
fn batch(rows: &[usize], size: usize, rng: &mut Rng) -> Vec<usize> {
    let mut rows = rows.to_vec();
    rng.shuffle(&mut rows);
    rows.truncate(size);
    rows
}

/// Per batch pair: the cosine and B's length over A's.
fn measure(
    lab: &Lab,
    setting: Trainable,
    a_per_class: usize,
    seed: u64,
) -> Result<Vec<(f64, f64)>> {
    let heads = frozen_start(lab, &setting.to_string(), a_per_class, seed)?;
    let Some(top) = lab.encoder.trainable_layers(setting)? else {
        return Ok(Vec::new());
    };
    let vars = top.vars()?;
    let rows = [
        lab.sample(0, a_per_class, seed),
        b_examples(lab, lab.plan.low_data_b_per_class, seed, false).0,
    ];
    let mut rng = Rng::new(seed ^ 0xC0F1);
    let mut out = Vec::with_capacity(PAIRS);
    for _ in 0..PAIRS {
        let [ga, gb] = [0, 1].map(|t| {
            let rows = batch(&rows[t], 32, &mut rng);
            gradient(lab, &top, &vars, &heads[t], t, &rows)
        });
        let (ga, gb) = (ga?, gb?);
        let dot = |x: &[f32], y: &[f32]| {
            x.iter()
                .zip(y)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum::<f64>()
        };
        let (na, nb) = (dot(&ga, &ga).sqrt(), dot(&gb, &gb).sqrt());
        out.push((dot(&ga, &gb) / (na * nb).max(1e-30), nb / na.max(1e-30)));
    }
    Ok(out)
}

/// Study (j): the unrelated pair of (d) (`lab`'s) and the related pair of (f).
pub fn conflicts(lab: &Lab, encoder: &Encoder, host: &dyn Host) -> Result<Vec<ConflictRow>> {
    let mut rows: Vec<ConflictRow> = conflict(lab)?.into_iter().collect();
    rows.extend(conflict(&pair_lab(lab, encoder, host)?)?);
    Ok(rows)
}

/// Study (j) on `lab`'s pair, under (d)'s moving-encoder setting and seeds.
fn conflict(lab: &Lab) -> Result<Option<ConflictRow>> {
    let plan = &lab.plan;
    let Some((setting, a_per_class)) = plan.low_data_moving else {
        return Ok(None);
    };
    let seeds = &plan.low_data_seeds[..plan.low_data_seeds.len().min(3)];
    let mut per_seed = Vec::new();
    for &seed in seeds {
        lab.host.log(&format!(
            "(j) gradients of {} and {}, seed {seed}",
            lab.task(0).name,
            lab.task(1).name
        ));
        per_seed.push(measure(lab, setting, a_per_class, seed)?);
    }
    let mean = |f: &dyn Fn(&(f64, f64)) -> f64| {
        Spread::of(
            per_seed
                .iter()
                .map(|p| p.iter().map(f).sum::<f64>() / p.len().max(1) as f64)
                .collect(),
        )
    };
    Ok(Some(ConflictRow {
        a: lab.task(0).name.clone(),
        b: lab.task(1).name.clone(),
        trainable: setting.to_string(),
        pairs: PAIRS,
        cosine: mean(&|p| p.0),
        negative: mean(&|p| if p.0 < 0.0 { 1.0 } else { 0.0 }),
        pcgrad_change: mean(&|p| (-p.0).max(0.0)),
        norm_ratio: mean(&|p| p.1),
    }))
}
