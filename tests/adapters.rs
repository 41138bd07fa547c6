//! Task adapters: an untrained one reproduces the frozen output, files round
//! trip bit for bit and mismatched ones are refused, training moves only the
//! adapter (the shared encoder and other heads stay bit-identical), and a
//! lesson on an adapted head keeps its adapter.

mod common;

use candle_core::Tensor;
use common::encoder;
use common::synthetic::{encoder_ref, labels};
use sentence_multitask::model::heads::{Architecture, Head};
use sentence_multitask::model::{head_inputs, MultiTaskModel};
use sentence_multitask::training::distil::teacher_probabilities;
use sentence_multitask::training::fit::{fit, TaskTexts, Texts};
use sentence_multitask::training::lesson::{teach, LessonConfig};
use sentence_multitask::training::trainer::{Control, Progress, Split, Task, TrainConfig};
use sentence_multitask::Encoder;

const TEXTS: [&str; 8] = [
    "Bake the bread for forty minutes.",
    "Whisk the eggs with sugar.",
    "Simmer the sauce until it thickens.",
    "Knead the dough on a floured board.",
    "The rocket reached orbit.",
    "Astronomers found a new planet.",
    "The probe landed on a comet.",
    "A telescope imaged a distant galaxy.",
];

fn bits(t: &Tensor) -> Vec<u32> {
    let values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    values.into_iter().map(f32::to_bits).collect()
}

fn plain(name: &str, seed: u64) -> Head {
    Head::new(
        name,
        labels(&["cooking", "space"]),
        Architecture::Linear,
        encoder_ref(),
        seed,
    )
    .unwrap()
}

/// `head` written to its files and read back.
fn reloaded(head: &Head) -> Head {
    let (json, weights) = (head.to_json().unwrap(), head.to_safetensors().unwrap());
    Head::from_bytes(&json, &weights, &encoder_ref(), "t.json").unwrap()
}

fn adapted(name: &str, k: usize) -> Head {
    plain(name, 1).with_adapter(encoder().trainable_top_layers(k).unwrap())
}

fn model_with(heads: Vec<Head>) -> MultiTaskModel {
    let mut model = MultiTaskModel::new(Encoder::from_files(common::model_files()).unwrap());
    for head in heads {
        model.set_head(head).unwrap();
    }
    model
}

fn probabilities(model: &MultiTaskModel, head: &str) -> Vec<f32> {
    let outputs = model.predict(&TEXTS, 3).unwrap();
    outputs
        .iter()
        .flat_map(|o| {
            let (_, p) = o.predictions.iter().find(|(n, _)| n == head).unwrap();
            p.probabilities.iter().map(|(_, v)| *v).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn an_untrained_adapter_reproduces_the_frozen_head() {
    let mut head = adapted("t", 2);
    let adapter = head.take_adapter().unwrap();
    let frozen = model_with(vec![head.deep_copy().unwrap()]);
    let with_adapter = model_with(vec![head.with_adapter(adapter)]);
    let (a, b) = (
        probabilities(&frozen, "t"),
        probabilities(&with_adapter, "t"),
    );
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-5, "differs by {diff}");
    // The embedding shown stays the shared encoder's, bit for bit.
    let shared = encoder().embed(&TEXTS, 3).unwrap();
    let shown = with_adapter.predict(&TEXTS, 3).unwrap();
    for (s, o) in shared.iter().zip(&shown) {
        assert_eq!(s.vector, o.embedding.vector);
    }
}

#[test]
fn adapter_files_round_trip_bit_for_bit() {
    let head = adapted("t", 1);
    head.adapter().unwrap().round_to_storage().unwrap();
    let (json, weights) = (head.to_json().unwrap(), head.to_safetensors().unwrap());
    assert!(weights.len() < 2_000_000, "{} bytes", weights.len());
    let back = Head::from_bytes(&json, &weights, &encoder_ref(), "t.json").unwrap();
    assert_eq!(back.to_safetensors().unwrap(), weights);
    assert_eq!(back.to_json().unwrap(), json);
    assert_eq!(back.meta().adapter.as_ref().unwrap().layers, vec![5]);
    let (a, b) = (model_with(vec![head]), model_with(vec![back]));
    assert_eq!(probabilities(&a, "t"), probabilities(&b, "t"));
}

#[test]
fn four_bit_adapters_halve_the_bytes_and_round_trip_bit_for_bit() {
    let head = plain("t", 1).with_adapter(
        encoder()
            .trainable_top_layers(1)
            .unwrap()
            .stored_in(4)
            .unwrap(),
    );
    head.adapter().unwrap().round_to_storage().unwrap();
    let (json, weights) = (head.to_json().unwrap(), head.to_safetensors().unwrap());
    assert!(weights.len() < 1_000_000, "{} bytes", weights.len());
    assert_eq!(head.meta().adapter.as_ref().unwrap().bits, 4);
    let back = Head::from_bytes(&json, &weights, &encoder_ref(), "t.json").unwrap();
    assert_eq!(back.to_safetensors().unwrap(), weights);
    assert_eq!(back.to_json().unwrap(), json);
    let (a, b) = (model_with(vec![head]), model_with(vec![back]));
    assert_eq!(probabilities(&a, "t"), probabilities(&b, "t"));
    // Still close to the frozen head: 4 bits a value moves a layer only a little.
    let frozen = model_with(vec![plain("t", 1)]);
    let gap = (probabilities(&a, "t")
        .iter()
        .zip(probabilities(&frozen, "t")))
    .map(|(x, y)| (x - y).abs())
    .fold(0f32, f32::max);
    assert!(gap < 0.05, "4-bit rounding moved a probability by {gap}");
    // The description must say how the values are stored.
    let mut meta: serde_json::Value = serde_json::from_slice(&json).unwrap();
    meta["adapter"]["bits"] = 8.into();
    let err = Head::from_bytes(
        meta.to_string().as_bytes(),
        &weights,
        &encoder_ref(),
        "t.json",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("8-bit values"), "{err}");
    assert!(encoder()
        .trainable_top_layers(1)
        .unwrap()
        .stored_in(5)
        .is_err());
}

#[test]
fn mismatched_adapters_are_refused_with_the_reason() {
    let head = adapted("t", 1);
    let (json, weights) = (head.to_json().unwrap(), head.to_safetensors().unwrap());
    let edited = |pointer: &str, value: serde_json::Value| {
        let mut meta: serde_json::Value = serde_json::from_slice(&json).unwrap();
        *meta.pointer_mut(pointer).unwrap() = value;
        meta.to_string()
    };
    let refuse = |json: &str, weights: &[u8]| {
        Head::from_bytes(json.as_bytes(), weights, &encoder_ref(), "t.json")
            .unwrap_err()
            .to_string()
    };
    // Layers that are not there in the file.
    let err = refuse(&edited("/adapter/layers", serde_json::json!([4])), &weights);
    assert!(err.contains("adapter.encoder.layer.4"), "{err}");
    // Another shape.
    let err = refuse(
        &edited("/adapter/shape/intermediate", 1024.into()),
        &weights,
    );
    assert!(err.contains("shape"), "{err}");
    // Adapter tensors without an adapter in the description.
    let plain_json = plain("t", 1).to_json().unwrap();
    let err = refuse(std::str::from_utf8(&plain_json).unwrap(), &weights);
    assert!(err.contains("describes no adapter"), "{err}");
    // An adapter whose layers are not the encoder's top ones.
    let mut model = MultiTaskModel::new(Encoder::from_files(common::model_files()).unwrap());
    let mut low = head.meta().adapter.clone().unwrap();
    low.layers = vec![2];
    let err = model.encoder.check_adapter(&low).unwrap_err();
    assert!(err.contains("not top layers"), "{err}");
    low.layers = vec![5];
    low.shape.heads = 6;
    assert!(model
        .encoder
        .check_adapter(&low)
        .unwrap_err()
        .contains("layers are"));
    assert!(model.set_head(head).unwrap().is_none());
}

/// Trains adapted head `t` (and plain frozen head `other`) on TEXTS.
fn train_adapter(enc: &Encoder) -> (Vec<Task>, Vec<f64>) {
    train_head(enc, adapted("t", 1))
}

/// Trains `head` (and plain frozen head `other`) on TEXTS.
fn train_head(enc: &Encoder, head: Head) -> (Vec<Task>, Vec<f64>) {
    let y = vec![0, 0, 0, 0, 1, 1, 1, 1];
    let task = |head: Head, frozen: bool| Task {
        head,
        train: Split::from_labels(y.clone()),
        val: Split::default(),
        loss_weight: 1.0,
        frozen,
    };
    let mut tasks = vec![task(head, false), task(plain("other", 3), true)];
    let texts = || TaskTexts {
        train: TEXTS.iter().map(|t| t.to_string()).collect(),
        val: Vec::new(),
    };
    let mut examples = Texts {
        encoder: enc,
        tasks: vec![texts(), texts()],
    };
    let config = TrainConfig {
        epochs: 12,
        batch_size: 4,
        learning_rate: 1e-2,
        encoder_learning_rate: 1e-3,
        ..Default::default()
    };
    let mut losses = Vec::new();
    fit(
        &mut tasks,
        None,
        &mut examples,
        &config,
        &mut |p: &Progress| {
            if let Progress::Epoch { train_loss, .. } = p {
                losses.push(*train_loss);
            }
            Control::Continue
        },
    )
    .unwrap();
    (tasks, losses)
}

#[test]
fn training_moves_the_adapter_and_nothing_shared() {
    let enc = encoder();
    let shared = || -> Vec<Vec<u32>> {
        let states = enc.states_below(&TEXTS, 6).unwrap();
        states.iter().map(bits).collect()
    };
    let shared_before = shared();
    let fresh = encoder().trainable_top_layers(1).unwrap();
    let other_before = plain("other", 3).to_safetensors().unwrap();
    let (tasks, losses) = train_adapter(enc);
    assert!(
        losses.last().unwrap() < &(losses[0] * 0.5),
        "loss {losses:?}"
    );
    assert_eq!(shared_before, shared(), "the shared encoder changed");
    assert_eq!(
        tasks[1].head.to_safetensors().unwrap(),
        other_before,
        "a frozen head changed"
    );
    let trained = tasks[0].head.adapter().unwrap().tensors().unwrap();
    let start = fresh.tensors().unwrap();
    let moved = trained
        .iter()
        .filter(|(n, t)| bits(t) != bits(&start[*n]))
        .count();
    assert_eq!(moved, trained.len(), "every adapter weight trained");
    // Trained weights are what the file stores: a reload predicts the same.
    let head = &tasks[0].head;
    let back = reloaded(head);
    let inferred = head_inputs(enc, head, &TEXTS).unwrap();
    assert_eq!(
        bits(&inferred),
        bits(&head_inputs(enc, &back, &TEXTS).unwrap())
    );
    // Inference runs plain copies of the trained layers: the trainer's own
    // (differentiable) forward pass gives the same vectors.
    let states = enc.states_below(&TEXTS, 5).unwrap();
    let trained_forward = head
        .adapter()
        .unwrap()
        .forward(&states.iter().collect::<Vec<_>>());
    let gap = (trained_forward.unwrap() - &inferred)
        .unwrap()
        .abs()
        .unwrap();
    let gap = gap
        .max_keepdim(1)
        .unwrap()
        .max(0)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()[0];
    assert!(gap < 1e-5, "inference and training paths differ by {gap}");
    let model = model_with(vec![back]);
    let right = model
        .predict(&TEXTS, 8)
        .unwrap()
        .iter()
        .zip([0, 0, 0, 0, 1, 1, 1, 1])
        .filter(|(o, y)| o.predictions[0].1.label == ["cooking", "space"][*y])
        .count();
    assert_eq!(right, TEXTS.len());
}

#[test]
fn a_lesson_keeps_the_adapter_and_reads_its_outputs() {
    let (mut tasks, _) = train_adapter(encoder());
    let head = tasks.remove(0).head;
    let before = head.adapter().unwrap().tensors().unwrap();
    let texts = [
        "Roast the vegetables.",
        "A satellite circled the moon.",
        "Fry the onions.",
        "The astronaut walked in space.",
    ];
    let x = head_inputs(encoder(), &head, &texts).unwrap();
    let labels = labels(&["cooking", "space", "cooking", "space"]);
    let lesson = teach(
        &head,
        &x,
        &labels,
        None,
        &LessonConfig::default(),
        &mut |_: &Progress| Control::Continue,
    )
    .unwrap();
    let taught = lesson.head.unwrap();
    let after = taught
        .adapter()
        .expect("the adapter stays")
        .tensors()
        .unwrap();
    for (name, t) in &before {
        assert_eq!(bits(t), bits(&after[name]), "{name} changed in a lesson");
    }
}

#[test]
fn a_low_rank_adapter_trains_its_factors_then_folds_into_the_copy() {
    let enc = encoder();
    let fresh = enc.trainable_top_layers(1).unwrap();
    let low = fresh.deep_copy().unwrap().low_rank(4, 7).unwrap();
    // Six matrices a layer (query, key, value, attention output, FFN in and
    // out), an A and a B each; B starts at zero, so the output is the copy's.
    assert_eq!(low.vars().unwrap().len(), 12);
    let states = enc.states_below(&TEXTS, 5).unwrap();
    let states: Vec<&Tensor> = states.iter().collect();
    let gap = (low.forward(&states).unwrap() - fresh.forward(&states).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(
        gap < 1e-6,
        "an untrained low-rank adapter moves the output by {gap}"
    );
    assert!(fresh.low_rank(0, 0).is_err(), "rank 0 is refused");

    let (tasks, losses) = train_head(enc, plain("t", 1).with_adapter(low));
    assert!(
        losses.last().unwrap() < &(losses[0] * 0.5),
        "loss {losses:?}"
    );
    // Folded: the matrices moved, layer norms and biases are the copy's.
    let head = &tasks[0].head;
    let trained = head.adapter().unwrap().tensors().unwrap();
    let start = enc.trainable_top_layers(1).unwrap().tensors().unwrap();
    for (name, t) in &trained {
        let moved = bits(t) != bits(&start[name]);
        assert_eq!(moved, t.rank() == 2, "{name}: moved {moved}");
    }
    let back = reloaded(head);
    assert_eq!(
        bits(&head_inputs(enc, head, &TEXTS).unwrap()),
        bits(&head_inputs(enc, &back, &TEXTS).unwrap())
    );
}

/// A teacher (here with an adapter) gives what `predict` shows, in the
/// student's label order; a teacher of other labels is refused.
#[test]
fn a_teachers_probabilities_are_its_predictions_in_the_students_order() {
    let shown = probabilities(&model_with(vec![adapted("t", 1)]), "t");
    let teacher = adapted("t", 1);
    let swapped = labels(&["space", "cooking"]);
    let given = teacher_probabilities(encoder(), &teacher, &swapped, &TEXTS).unwrap();
    assert_eq!(given.len(), TEXTS.len());
    for (row, shown) in given.iter().zip(shown.chunks(2)) {
        assert!(
            (row[0] - shown[1]).abs() < 1e-5,
            "{row:?} against {shown:?}"
        );
        assert!(
            (row[1] - shown[0]).abs() < 1e-5,
            "{row:?} against {shown:?}"
        );
    }
    let other = labels(&["cooking", "baking"]);
    let err = teacher_probabilities(encoder(), &teacher, &other, &TEXTS).unwrap_err();
    assert!(err.to_string().contains("are not the student's"), "{err}");
}
