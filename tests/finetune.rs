//! Training the top encoder layers: same output before training, gradients
//! reach the layers, lower layers stay bit-identical.

mod common;

use common::encoder;
use common::synthetic::{encoder_ref, labels};
use sentence_multitask::model::heads::{Architecture, Head};
use sentence_multitask::training::features::{LayerFeatures, Source, TopLayers};
use sentence_multitask::training::trainer::{
    train, Control, LossWeighting, Progress, Sampling, Split, Task, TrainConfig,
};

const TEXTS: [&str; 6] = [
    "Bake the bread for forty minutes.",
    "Whisk the eggs with sugar.",
    "The rocket reached orbit.",
    "Astronomers found a new planet.",
    "The striker scored a late goal.",
    "The goalkeeper saved a penalty.",
];

fn bits(t: &candle_core::Tensor) -> Vec<u32> {
    t.flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(f32::to_bits)
        .collect()
}

#[test]
fn untrained_top_layers_reproduce_the_encoder() {
    let enc = encoder();
    for k in [1, 2, enc.num_layers()] {
        let top = enc.trainable_top_layers(k).unwrap();
        let states = enc.states_below(&TEXTS, top.first()).unwrap();
        let got = top
            .forward(&states.iter().collect::<Vec<_>>())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let want = enc.embed_batch(&TEXTS).unwrap();
        for (g, w) in got.iter().zip(&want) {
            let diff = g
                .iter()
                .zip(&w.vector)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-5, "top-{k}: differs by {diff}");
        }
    }
    assert!(enc.trainable_top_layers(0).is_err());
    assert!(enc.trainable_top_layers(enc.num_layers() + 1).is_err());
}

#[test]
fn training_the_top_layer_changes_it_and_nothing_below() {
    let mut enc = sentence_multitask::Encoder::from_files(common::model_files()).unwrap();
    let (mut tasks, features, top) = top_run(1);
    let first = top.first();
    let before_top: Vec<Vec<u32>> = top
        .vars()
        .unwrap()
        .iter()
        .map(|v| bits(v.as_tensor()))
        .collect();
    let below_before = enc.states_below(&TEXTS, first).unwrap();
    let config = TrainConfig {
        epochs: 15,
        batch_size: 3,
        learning_rate: 1e-2,
        encoder_learning_rate: 1e-3,
        ..Default::default()
    };
    let mut losses = Vec::new();
    train(&mut tasks, &features, &config, &mut |p: &Progress| {
        if let Progress::Epoch { train_loss, .. } = p {
            losses.push(*train_loss);
        }
        Control::Continue
    })
    .unwrap();
    assert!(
        losses.last().unwrap() < &(losses[0] * 0.5),
        "loss {losses:?}"
    );
    let after_top: Vec<Vec<u32>> = top
        .vars()
        .unwrap()
        .iter()
        .map(|v| bits(v.as_tensor()))
        .collect();
    let changed = before_top
        .iter()
        .zip(&after_top)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        changed,
        before_top.len(),
        "every weight of the top layer, layer norms included, trained"
    );
    enc.set_top_layers(&top).unwrap();
    let below_after = enc.states_below(&TEXTS, first).unwrap();
    for (a, b) in below_before.iter().zip(&below_after) {
        assert_eq!(bits(a), bits(b), "a frozen lower layer changed");
    }
    let moved = enc.embed_batch(&TEXTS[..1]).unwrap();
    let original = encoder().embed_batch(&TEXTS[..1]).unwrap();
    assert_ne!(
        moved[0].vector, original[0].vector,
        "the encoder now uses the trained layer"
    );
}

/// A head and the top `k` layers, trainable, over [`TEXTS`], ready for `train`.
fn top_run(k: usize) -> (Vec<Task>, LayerFeatures, TopLayers) {
    let enc = encoder();
    let top = enc.trainable_top_layers(k).unwrap();
    let states = enc.states_below(&TEXTS, top.first()).unwrap();
    let head = Head::new(
        "t",
        labels(&["cooking", "space", "football"]),
        Architecture::Linear,
        encoder_ref(),
        0,
    )
    .unwrap();
    let tasks = vec![Task {
        head,
        train: Split::from_labels(vec![0, 0, 1, 1, 2, 2]),
        val: Split::default(),
        loss_weight: 1.0,
        frozen: false,
    }];
    let features = LayerFeatures {
        vars: top.vars_by_depth().unwrap(),
        sources: vec![Source::Layers {
            top: top.clone(),
            train: states,
            val: Vec::new(),
        }],
    };
    (tasks, features, top)
}

/// Each layer's weights as bits, the top layer first.
fn layer_bits(top: &TopLayers) -> Vec<Vec<Vec<u32>>> {
    let groups = top.vars_by_depth().unwrap();
    groups
        .iter()
        .map(|g| g.iter().map(|v| bits(v.as_tensor())).collect())
        .collect()
}

/// Weights stored as bits, as f64.
fn floats(bits: &[u32]) -> Vec<f64> {
    bits.iter().map(|&x| f64::from(f32::from_bits(x))).collect()
}

/// Summed absolute change of layer `depth`'s weights between two snapshots.
fn moved(before: &[Vec<Vec<u32>>], after: &[Vec<Vec<u32>>], depth: usize) -> f64 {
    (before[depth].iter().zip(&after[depth]))
        .flat_map(|(b, a)| floats(b).into_iter().zip(floats(a)))
        .map(|(b, a)| (a - b).abs())
        .sum()
}

/// Two epochs of three-example steps, the encoder's top layer at 1e-3.
fn two_epochs(encoder_layer_decay: f64, unfreeze: bool) -> TrainConfig {
    TrainConfig {
        epochs: 2,
        batch_size: 3,
        encoder_learning_rate: 1e-3,
        encoder_layer_decay,
        unfreeze,
        ..Default::default()
    }
}

#[test]
fn gradual_unfreezing_moves_the_lower_layer_only_from_its_epoch() {
    let (mut tasks, features, top) = top_run(2);
    let start = layer_bits(&top);
    let config = two_epochs(1.0, true);
    let mut after_first = None;
    train(&mut tasks, &features, &config, &mut |p: &Progress| {
        if let Progress::Epoch { epoch: 1, .. } = p {
            after_first = Some(layer_bits(&top));
        }
        Control::Continue
    })
    .unwrap();
    let after_first = after_first.unwrap();
    assert_ne!(
        after_first[0], start[0],
        "the top layer trains from epoch 1"
    );
    assert_eq!(
        after_first[1], start[1],
        "the lower layer waits for epoch 2"
    );
    assert_ne!(
        layer_bits(&top)[1],
        start[1],
        "the lower layer trains in epoch 2"
    );
}

#[test]
fn a_layer_decay_slows_the_lower_layer() {
    let lower_change = |decay: f64| {
        let (mut tasks, features, top) = top_run(2);
        let start = layer_bits(&top);
        let config = two_epochs(decay, false);
        train(&mut tasks, &features, &config, &mut |_: &Progress| {
            Control::Continue
        })
        .unwrap();
        let end = layer_bits(&top);
        (moved(&start, &end, 0), moved(&start, &end, 1))
    };
    let (top_one, lower_one) = lower_change(1.0);
    let (top_tenth, lower_tenth) = lower_change(0.1);
    assert!(
        lower_tenth < 0.2 * lower_one,
        "lower layer moved {lower_tenth} at decay 0.1, {lower_one} at 1"
    );
    assert!(
        top_tenth > 0.5 * top_one,
        "top layer moved {top_tenth} at decay 0.1, {top_one} at 1"
    );
    for bad in [0.0, 1.5, f64::NAN] {
        let err = refusal(TrainConfig {
            encoder_layer_decay: bad,
            ..Default::default()
        });
        assert!(err.contains("layer decay"), "{err}");
    }
}

/// The error `train` gives for `config` on two trainable layers.
fn refusal(config: TrainConfig) -> String {
    let (mut tasks, features, _) = top_run(2);
    train(&mut tasks, &features, &config, &mut |_: &Progress| {
        Control::Continue
    })
    .unwrap_err()
    .to_string()
}

/// Two heads (topic and "is it food") over one trainable top layer.
fn two_task_run() -> (Vec<Task>, LayerFeatures, TopLayers) {
    let (mut tasks, mut features, top) = top_run(1);
    let food = Head::new(
        "food",
        labels(&["food", "other"]),
        Architecture::Linear,
        encoder_ref(),
        1,
    )
    .unwrap();
    tasks.push(Task {
        head: food,
        train: Split::from_labels(vec![0, 0, 1, 1, 1, 1]),
        val: Split::default(),
        loss_weight: 1.0,
        frozen: false,
    });
    let Source::Layers { train, .. } = &features.sources[0] else {
        unreachable!("top_run's source is the layers")
    };
    let shared = Source::Layers {
        top: top.clone(),
        train: train.clone(),
        val: Vec::new(),
    };
    features.sources.push(shared);
    (tasks, features, top)
}

#[test]
fn uncertainty_weighting_trains_both_tasks_on_the_shared_layer() {
    let run = |loss_weighting: LossWeighting| {
        let (mut tasks, features, top) = two_task_run();
        let config = TrainConfig {
            epochs: 8,
            batch_size: 3,
            learning_rate: 1e-2,
            encoder_learning_rate: 1e-3,
            sampling: Sampling::Alternating,
            loss_weighting,
            ..Default::default()
        };
        let mut losses: [Vec<f64>; 2] = Default::default();
        train(&mut tasks, &features, &config, &mut |p: &Progress| {
            if let Progress::Step { task, loss, .. } = p {
                losses[usize::from(task == "food")].push(*loss);
            }
            Control::Continue
        })
        .unwrap();
        (losses, layer_bits(&top))
    };
    let (losses, layer) = run(LossWeighting::Uncertainty);
    for (t, l) in losses.iter().enumerate() {
        let (first, last) = (
            l[..2].iter().sum::<f64>(),
            l[l.len() - 2..].iter().sum::<f64>(),
        );
        assert!(last < 0.5 * first, "task {t}: loss {first} -> {last}");
    }
    let (_, fixed) = run(LossWeighting::Fixed);
    assert_ne!(
        layer, fixed,
        "the weighting changes the shared layer's steps"
    );
    assert_eq!(
        run(LossWeighting::Uncertainty).1,
        layer,
        "and is deterministic"
    );
}

#[test]
fn a_weight_average_is_what_the_run_keeps() {
    let (mut tasks, features, top) = two_task_run();
    tasks[1].frozen = true;
    let frozen_bits = |tasks: &[Task]| -> Vec<Vec<u32>> {
        tasks[1]
            .head
            .vars()
            .iter()
            .map(|v| bits(v.as_tensor()))
            .collect()
    };
    let frozen_before = frozen_bits(&tasks);
    let decay = 0.5;
    let config = TrainConfig {
        epochs: 2,
        batch_size: 3,
        encoder_learning_rate: 1e-3,
        weight_average: Some(decay),
        ..Default::default()
    };
    // The top layer's weights after each step, as f64.
    let mut steps: Vec<Vec<Vec<f64>>> = Vec::new();
    let values = |top: &TopLayers| -> Vec<Vec<f64>> {
        layer_bits(top)[0].iter().map(|b| floats(b)).collect()
    };
    train(&mut tasks, &features, &config, &mut |p: &Progress| {
        if let Progress::Step { .. } = p {
            steps.push(values(&top));
        }
        Control::Continue
    })
    .unwrap();
    assert_eq!(steps.len(), 4, "two steps an epoch");
    // The average starts at the first step's weights; after step n its
    // decay is min(decay, (1 + n) / (10 + n)).
    let mut want = steps[0].clone();
    for (n, now) in steps.iter().enumerate().skip(1) {
        let step = (n + 1) as f64;
        let d = f64::min(decay, (1.0 + step) / (10.0 + step));
        for (avg, w) in want.iter_mut().zip(now) {
            for (a, x) in avg.iter_mut().zip(w) {
                *a = d * *a + (1.0 - d) * x;
            }
        }
    }
    let kept = values(&top);
    let diff = (kept.iter().flatten())
        .zip(want.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0f64, f64::max);
    assert!(
        diff < 1e-6,
        "kept weights differ from the average by {diff}"
    );
    assert_ne!(kept, steps[3], "the average is not the last step's weights");
    assert_eq!(
        frozen_bits(&tasks),
        frozen_before,
        "a frozen head stays bit-identical"
    );
    for bad in [0.0, 1.0, f64::NAN] {
        let err = refusal(TrainConfig {
            weight_average: Some(bad),
            ..Default::default()
        });
        assert!(err.contains("weight average"), "{err}");
    }
}
