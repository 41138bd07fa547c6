//! The inference-cost half of study (c): one encoder pass for both tasks, or
//! two; timed on this machine and sized from the encoder's configuration.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::lab::Lab;
use super::Spread;
use sentence_multitask::error::Result;
use sentence_multitask::model::heads::Head;

/// (c) What serving both tasks costs: one encoder pass or two.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CostStudy {
    /// Sentences timed per repetition (half from each task's evaluation set).
    pub sentences: usize,
    /// Milliseconds per sentence of one full encoder pass (batch 32), per repetition.
    pub encoder_ms: Spread,
    /// Milliseconds per sentence of both heads on the embeddings.
    pub heads_ms: Spread,
    /// Milliseconds per sentence of only the top K layers (and pooling), by K,
    /// run over each text's pieces as in training (K = all layers included).
    pub top_layers_ms: Vec<(usize, Spread)>,
    /// Parameters of the embedding tables, of one transformer layer, and in all.
    pub encoder_parameters: [usize; 3],
    /// Bytes of each task's head file (f32 safetensors).
    pub head_bytes: [usize; 2],
    /// Ways to serve both tasks, with their cost.
    pub options: Vec<CostOption>,
}

/// One way of serving both tasks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CostOption {
    /// What is deployed.
    pub name: String,
    /// Encoder passes (layer stacks) per sentence.
    pub encoder_passes: f64,
    /// Milliseconds per sentence for both tasks (encoder work plus heads).
    pub ms_per_sentence: f64,
    /// Download in MB with encoder weights stored in f16 and heads in f32.
    pub download_mb: f64,
    /// Weights in memory in MB (f32, as the encoder computes).
    pub memory_mb: f64,
}

/// Times the encoder, the heads and the top layers alone, and sizes each way
/// of serving both tasks.
pub fn cost(lab: &Lab) -> Result<CostStudy> {
    lab.host.log("(c) inference cost");
    lab.host.heads_only(false);
    let n = lab.plan.timing_sentences;
    let texts: Vec<String> = (0..2)
        .flat_map(|t| lab.task(t).eval_texts.iter().take(n / 2).cloned())
        .collect();
    let heads = [lab.new_head(0, 0)?, lab.new_head(1, 0)?];
    let (encoder_ms, heads_ms) = time_encoder_and_heads(lab, &texts, &heads)?;
    let top_layers_ms = time_top_layers(lab, &texts)?;
    let encoder_parameters = parameters(lab);
    let head_bytes = [
        heads[0].to_safetensors()?.len(),
        heads[1].to_safetensors()?.len(),
    ];
    let options = options(
        lab.encoder.num_layers(),
        encoder_parameters,
        (head_bytes[0] + head_bytes[1]) as f64 / 1e6,
        [
            Spread::of(encoder_ms.clone()).mean,
            Spread::of(heads_ms.clone()).mean,
        ],
        &top_layers_ms,
    );
    Ok(CostStudy {
        sentences: texts.len(),
        encoder_ms: Spread::of(encoder_ms),
        heads_ms: Spread::of(heads_ms),
        top_layers_ms,
        encoder_parameters,
        head_bytes,
        options,
    })
}

/// Milliseconds per sentence since `start` for `sentences` sentences.
fn ms_per(start: Instant, sentences: usize) -> f64 {
    start.elapsed().as_secs_f64() * 1e3 / sentences.max(1) as f64
}

/// Three repetitions of a full encoder pass (batch 32) over `texts` and of
/// both heads on its embeddings: milliseconds per sentence of each.
fn time_encoder_and_heads(
    lab: &Lab,
    texts: &[String],
    heads: &[Head; 2],
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut encoder_ms, mut heads_ms) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let start = Instant::now();
        let embeddings = lab.encoder.embed(texts, 32)?;
        encoder_ms.push(ms_per(start, texts.len()));
        let x = sentence_multitask::model::stack_embeddings(&embeddings, lab.encoder.dim())?;
        let start = Instant::now();
        for head in heads {
            head.predict(&x)?;
        }
        heads_ms.push(ms_per(start, texts.len()));
    }
    Ok((encoder_ms, heads_ms))
}

/// Milliseconds per sentence of the top 1, 2 and all layers alone, run over
/// each text's pieces as in training, three repetitions each.
fn time_top_layers(lab: &Lab, texts: &[String]) -> Result<Vec<(usize, Spread)>> {
    let mut top_layers_ms = Vec::new();
    for k in [1, 2, lab.encoder.num_layers()] {
        let top = lab.encoder.trainable_top_layers(k)?;
        let states = lab.encoder.states_below(texts, top.first())?;
        let mut times = Vec::new();
        for _ in 0..3 {
            let start = Instant::now();
            for chunk in states.chunks(32) {
                top.forward(&chunk.iter().collect::<Vec<_>>())?;
            }
            times.push(ms_per(start, texts.len()));
        }
        top_layers_ms.push((k, Spread::of(times)));
    }
    Ok(top_layers_ms)
}

/// Parameters of the embedding tables, of one transformer layer, and in all.
fn parameters(lab: &Lab) -> [usize; 3] {
    let mut per_layer = 0;
    let mut total = 0;
    for (name, shape) in sentence_multitask::model::weights::expected_tensors(lab.encoder.config())
    {
        let count: usize = shape.iter().product();
        total += count;
        if name.starts_with("encoder.layer.0.") {
            per_layer += count;
        }
    }
    [
        total - per_layer * lab.encoder.num_layers(),
        per_layer,
        total,
    ]
}

/// Each way of serving both tasks, from the encoder's `layers` and
/// `parameters`, the heads' size in MB, the milliseconds per sentence of an
/// encoder pass and of both heads, and those of the top layers alone.
fn options(
    layers: usize,
    [_, per_layer, total]: [usize; 3],
    heads_mb: f64,
    [enc, head]: [f64; 2],
    top_layers_ms: &[(usize, Spread)],
) -> Vec<CostOption> {
    let mb = |params: usize, bytes: usize| (params * bytes) as f64 / 1e6;
    // The top layers alone run unbatched over pieces (as in training), so their
    // time is scaled by the full encoder pass over all layers timed the same way.
    let all_layers = top_layers_ms.last().map_or(enc, |(_, s)| s.mean).max(1e-9);
    let mut options = vec![CostOption {
        name: "one encoder (frozen or fine-tuned for both tasks), two heads".into(),
        encoder_passes: 1.0,
        ms_per_sentence: enc + head,
        download_mb: mb(total, 2) + heads_mb,
        memory_mb: mb(total, 4) + heads_mb,
    }];
    for (k, time) in top_layers_ms {
        if *k == layers {
            continue;
        }
        let extra = k * per_layer;
        options.push(CostOption {
            name: format!("shared lower layers, top {k} duplicated per task"),
            encoder_passes: 1.0 + *k as f64 / layers as f64,
            ms_per_sentence: enc * (1.0 + time.mean / all_layers) + head,
            download_mb: mb(total + extra, 2) + heads_mb,
            memory_mb: mb(total + extra, 4) + heads_mb,
        });
    }
    options.push(CostOption {
        name: "two separate encoders, one head each".into(),
        encoder_passes: 2.0,
        ms_per_sentence: 2.0 * enc + head,
        download_mb: mb(2 * total, 2) + heads_mb,
        memory_mb: mb(2 * total, 4) + heads_mb,
    });
    options
}
