//! Training the top encoder layers: same output before training, gradients
//! reach the layers, lower layers stay bit-identical.

mod common;

use common::encoder;
use common::synthetic::{encoder_ref, labels};
use sentence_multitask::model::heads::{Architecture, Head};
use sentence_multitask::training::features::{LayerFeatures, Source};
use sentence_multitask::training::trainer::{train, Control, Progress, Split, Task, TrainConfig};

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
    let top = enc.trainable_top_layers(1).unwrap();
    let first = top.first();
    let before_top: Vec<Vec<u32>> = top
        .vars()
        .unwrap()
        .iter()
        .map(|v| bits(v.as_tensor()))
        .collect();
    let below_before = enc.states_below(&TEXTS, first).unwrap();
    let states = enc.states_below(&TEXTS, first).unwrap();
    let head = Head::new(
        "t",
        labels(&["cooking", "space", "football"]),
        Architecture::Linear,
        encoder_ref(),
        0,
    )
    .unwrap();
    let y = vec![0, 0, 1, 1, 2, 2];
    let mut tasks = vec![Task {
        head,
        train: Split::from_labels(y),
        val: Split::default(),
        loss_weight: 1.0,
        frozen: false,
    }];
    let features = LayerFeatures {
        vars: top.vars().unwrap(),
        sources: vec![Source::Layers {
            top: top.clone(),
            train: states,
            val: Vec::new(),
        }],
    };
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
