//! Synthetic embeddings for trainer tests: well-separated clusters on the unit sphere.

use candle_core::{Device, Tensor};
use sentence_multitask::model::heads::{Architecture, EncoderRef, Head};
use sentence_multitask::rng::Rng;

pub const DIM: usize = 384;

pub fn encoder_ref() -> EncoderRef {
    EncoderRef {
        id: sentence_multitask::ENCODER_ID.into(),
        dim: DIM,
    }
}

pub fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

pub fn head(name: &str, classes: &[&str], arch: Architecture, seed: u64) -> Head {
    Head::new(name, labels(classes), arch, encoder_ref(), seed).unwrap()
}

/// `per_class` points around each of `classes` random centres, with `noise`.
/// Returns `(embeddings (n, DIM), labels)`.
pub fn clusters(
    classes: usize,
    per_class: &[usize],
    noise: f32,
    seed: u64,
) -> (Tensor, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let centres: Vec<Vec<f32>> = (0..classes)
        .map(|_| (0..DIM).map(|_| rng.uniform(-1.0, 1.0)).collect())
        .collect();
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for (c, centre) in centres.iter().enumerate() {
        for _ in 0..per_class[c] {
            let v: Vec<f32> = centre
                .iter()
                .map(|x| x + noise * rng.uniform(-1.0, 1.0))
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            data.extend(v.iter().map(|x| x / norm));
            labels.push(c);
        }
    }
    let n = labels.len();
    (
        Tensor::from_vec(data, (n, DIM), &Device::Cpu).unwrap(),
        labels,
    )
}
