//! The trainer on synthetic embeddings: learning, freezing, seeds, weighting,
//! sampling, early stopping, and bad settings.

mod common;

use candle_core::Tensor;
use common::synthetic::{clusters, head};
use sentence_multitask::model::heads::{Activation, Architecture, Head};
use sentence_multitask::rng::Rng;
use sentence_multitask::training::distil::Distillation;
use sentence_multitask::training::features::CachedEmbeddings;
use sentence_multitask::training::trainer::{
    predict_classes, schedule, train, Control, Progress, Sampling, Split, Task, TrainConfig,
    Trainable,
};

fn mlp() -> Architecture {
    Architecture::Mlp {
        hidden: 32,
        activation: Activation::Gelu,
        dropout: 0.1,
    }
}

fn bits(h: &Head) -> Vec<u32> {
    h.vars()
        .iter()
        .flat_map(|v| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .map(f32::to_bits)
        .collect()
}

fn task(h: Head, labels: Vec<usize>, val: Vec<usize>) -> Task {
    Task {
        head: h,
        train: Split::from_labels(labels),
        val: Split::from_labels(val),
        loss_weight: 1.0,
        frozen: false,
    }
}

fn quiet(_: &Progress) -> Control {
    Control::Continue
}

fn epoch_losses(history: &[Progress]) -> Vec<f64> {
    history
        .iter()
        .filter_map(|p| match p {
            Progress::Epoch { train_loss, .. } => Some(*train_loss),
            Progress::Step { .. } | Progress::Pairs { .. } => None,
        })
        .collect()
}

#[test]
fn separable_data_reaches_full_training_accuracy_as_the_loss_falls() {
    for arch in [Architecture::Linear, mlp()] {
        let (x, y) = clusters(3, &[20, 20, 20], 0.3, 1);
        let mut tasks = vec![task(
            head("t", &["a", "b", "c"], arch, 0),
            y.clone(),
            vec![],
        )];
        let features = CachedEmbeddings {
            tasks: vec![(x.clone(), x.zeros_like().unwrap())],
        };
        let config = TrainConfig {
            epochs: 40,
            batch_size: 8,
            learning_rate: 1e-2,
            ..Default::default()
        };
        let report = train(&mut tasks, &features, &config, &mut quiet).unwrap();
        let losses = epoch_losses(&report.history);
        assert_eq!(losses.len(), 40);
        assert!(
            losses[39] < losses[0] * 0.2,
            "loss {} -> {}",
            losses[0],
            losses[39]
        );
        assert_eq!(predict_classes(&tasks[0].head, &x).unwrap(), y, "{arch:?}");
    }
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let run = |seed| {
        let (x, y) = clusters(2, &[30, 30], 1.0, 3);
        let mut tasks = vec![task(head("t", &["a", "b"], mlp(), seed), y, vec![])];
        let features = CachedEmbeddings {
            tasks: vec![(x.clone(), x)],
        };
        let config = TrainConfig {
            epochs: 3,
            seed,
            ..Default::default()
        };
        train(&mut tasks, &features, &config, &mut quiet).unwrap();
        bits(&tasks[0].head)
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn a_frozen_head_is_bit_identical_while_the_other_trains() {
    let (xa, ya) = clusters(2, &[20, 20], 0.5, 1);
    let (xb, yb) = clusters(3, &[10, 10, 10], 0.5, 2);
    let a = head("a", &["p", "q"], mlp(), 1);
    let b = head("b", &["x", "y", "z"], mlp(), 2);
    let (a_before, b_before) = (bits(&a), bits(&b));
    let mut tasks = vec![
        Task {
            frozen: true,
            ..task(a, ya.clone(), ya)
        },
        task(b, yb, vec![]),
    ];
    let features = CachedEmbeddings {
        tasks: vec![(xa.clone(), xa), (xb.clone(), xb)],
    };
    let report = train(
        &mut tasks,
        &features,
        &TrainConfig {
            epochs: 3,
            ..Default::default()
        },
        &mut quiet,
    )
    .unwrap();
    assert_eq!(bits(&tasks[0].head), a_before, "frozen head changed");
    assert_ne!(
        bits(&tasks[1].head),
        b_before,
        "trained head did not change"
    );
    assert!(
        report.validation[0].is_some(),
        "a frozen head is still validated"
    );
}

#[test]
fn everything_frozen_is_refused() {
    let (x, y) = clusters(2, &[5, 5], 0.5, 1);
    let mut tasks = vec![Task {
        frozen: true,
        ..task(head("a", &["p", "q"], mlp(), 1), y, vec![])
    }];
    let features = CachedEmbeddings {
        tasks: vec![(x.clone(), x)],
    };
    let err = train(&mut tasks, &features, &TrainConfig::default(), &mut quiet).unwrap_err();
    assert!(err.to_string().contains("nothing would train"), "{err}");
}

#[test]
fn class_weighting_raises_minority_recall() {
    // One informative coordinate, overlapping classes, 190:10. Unweighted, the
    // boundary sits in the minority's range and swallows most of it.
    let mut rng = Rng::new(11);
    let mut data = vec![0f32; 200 * 384];
    let mut y = Vec::new();
    for i in 0..200 {
        let minority = i >= 190;
        data[i * 384] = if minority {
            rng.uniform(-0.2, 1.0)
        } else {
            rng.uniform(-1.0, 0.2)
        };
        y.push(usize::from(minority));
    }
    let x = Tensor::from_vec(data, (200, 384), &candle_core::Device::Cpu).unwrap();
    let recall = |weighted: bool| {
        let mut tasks = vec![task(
            head("t", &["big", "small"], Architecture::Linear, 0),
            y.clone(),
            vec![],
        )];
        let features = CachedEmbeddings {
            tasks: vec![(x.clone(), x.clone())],
        };
        let config = TrainConfig {
            epochs: 30,
            learning_rate: 1e-2,
            class_weighted: weighted,
            ..Default::default()
        };
        train(&mut tasks, &features, &config, &mut quiet).unwrap();
        let p = predict_classes(&tasks[0].head, &x).unwrap();
        let hits = p
            .iter()
            .zip(&y)
            .filter(|(p, g)| **g == 1 && **p == 1)
            .count();
        hits as f64 / 10.0
    };
    let (plain, weighted) = (recall(false), recall(true));
    assert!(
        weighted >= plain + 0.3,
        "minority recall {plain} unweighted vs {weighted} weighted"
    );
}

#[test]
fn loss_weight_sets_how_fast_a_task_learns() {
    let final_loss_of_a = |weight: f64| {
        let (xa, ya) = clusters(2, &[30, 30], 1.5, 1);
        let (xb, yb) = clusters(2, &[30, 30], 1.5, 2);
        let mut tasks = vec![
            Task {
                loss_weight: weight,
                ..task(
                    head("a", &["p", "q"], Architecture::Linear, 1),
                    ya.clone(),
                    ya,
                )
            },
            task(
                head("b", &["x", "y"], Architecture::Linear, 2),
                yb.clone(),
                yb,
            ),
        ];
        let features = CachedEmbeddings {
            tasks: vec![(xa.clone(), xa), (xb.clone(), xb)],
        };
        let config = TrainConfig {
            epochs: 2,
            patience: 0,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            ..Default::default()
        };
        let report = train(&mut tasks, &features, &config, &mut quiet).unwrap();
        match report.history.last().unwrap() {
            Progress::Epoch { validation, .. } => validation[0].loss,
            _ => unreachable!(),
        }
    };
    // AdamW normalises gradient scale, so a weight only matters through its
    // share of the summed loss: a zero weight freezes the task's learning.
    let learned = final_loss_of_a(1.0);
    let ignored = final_loss_of_a(0.0);
    assert!(
        learned < ignored - 0.01,
        "weight 1: {learned}, weight 0: {ignored}"
    );
}

#[test]
fn schedules_follow_the_sampling_strategy() {
    let mut rng = Rng::new(0);
    let count = |order: &[usize], t: usize| order.iter().filter(|&&x| x == t).count();
    let p = schedule(&[30, 3], Sampling::Proportional, &mut rng);
    assert_eq!((count(&p, 0), count(&p, 1)), (30, 3));
    let a = schedule(&[30, 3], Sampling::Alternating, &mut rng);
    assert_eq!((count(&a, 0), count(&a, 1)), (30, 30));
    assert!(
        a.windows(2).all(|w| w[0] != w[1]),
        "alternating takes turns"
    );
    let hot = schedule(&[300, 30], Sampling::Temperature(100.0), &mut rng);
    let cold = schedule(&[300, 30], Sampling::Temperature(1.0), &mut rng);
    assert_eq!(hot.len(), 330);
    assert!(
        count(&hot, 1) > 130,
        "high temperature is near uniform: {}",
        count(&hot, 1)
    );
    assert!(
        count(&cold, 1) < 60,
        "T=1 is near proportional: {}",
        count(&cold, 1)
    );
}

#[test]
fn alternating_gives_the_small_task_as_many_steps_as_the_big_one() {
    let (xa, ya) = clusters(2, &[64, 64], 0.5, 1);
    let (xb, yb) = clusters(2, &[8, 8], 0.5, 2);
    let steps_of_b = |sampling| {
        let mut tasks = vec![
            task(
                head("a", &["p", "q"], Architecture::Linear, 1),
                ya.clone(),
                vec![],
            ),
            task(
                head("b", &["x", "y"], Architecture::Linear, 2),
                yb.clone(),
                vec![],
            ),
        ];
        let features = CachedEmbeddings {
            tasks: vec![(xa.clone(), xa.clone()), (xb.clone(), xb.clone())],
        };
        let mut steps = 0;
        let config = TrainConfig {
            epochs: 1,
            batch_size: 16,
            sampling,
            ..Default::default()
        };
        train(&mut tasks, &features, &config, &mut |p: &Progress| {
            if matches!(p, Progress::Step { task, .. } if task == "b") {
                steps += 1;
            }
            Control::Continue
        })
        .unwrap();
        steps
    };
    assert_eq!(steps_of_b(Sampling::Proportional), 1);
    assert_eq!(steps_of_b(Sampling::Alternating), 8);
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    // Validation labels are the opposite of training labels: the validation
    // loss rises from the first epoch on.
    let (x, y) = clusters(2, &[20, 20], 0.3, 1);
    let flipped: Vec<usize> = y.iter().map(|l| 1 - l).collect();
    let mut tasks = vec![task(
        head("t", &["a", "b"], Architecture::Linear, 0),
        y,
        flipped,
    )];
    let features = CachedEmbeddings {
        tasks: vec![(x.clone(), x)],
    };
    let config = TrainConfig {
        epochs: 50,
        patience: 2,
        learning_rate: 1e-2,
        ..Default::default()
    };
    let report = train(&mut tasks, &features, &config, &mut quiet).unwrap();
    assert!(report.stopped_early);
    assert_eq!(report.epochs_run, 3);
    assert_eq!(report.best_epoch, 1);
}

#[test]
fn the_callback_can_stop_a_run() {
    let (x, y) = clusters(2, &[50, 50], 0.3, 1);
    let mut tasks = vec![task(
        head("t", &["a", "b"], Architecture::Linear, 0),
        y,
        vec![],
    )];
    let features = CachedEmbeddings {
        tasks: vec![(x.clone(), x)],
    };
    let mut steps = 0;
    let report = train(
        &mut tasks,
        &features,
        &TrainConfig::default(),
        &mut |p: &Progress| {
            if matches!(p, Progress::Step { .. }) {
                steps += 1;
            }
            if steps == 3 {
                Control::Stop
            } else {
                Control::Continue
            }
        },
    )
    .unwrap();
    assert!(report.stopped_early);
    assert_eq!(steps, 3);
}

#[test]
fn nan_inputs_and_bad_settings_give_errors() {
    let x = Tensor::full(f32::NAN, (4, 384), &candle_core::Device::Cpu).unwrap();
    let mut tasks = vec![task(
        head("t", &["a", "b"], Architecture::Linear, 0),
        vec![0, 1, 0, 1],
        vec![],
    )];
    let features = CachedEmbeddings {
        tasks: vec![(x.clone(), x)],
    };
    let err = train(&mut tasks, &features, &TrainConfig::default(), &mut quiet).unwrap_err();
    assert!(err.to_string().contains("loss became NaN"), "{err}");
    let err = train(
        &mut tasks,
        &features,
        &TrainConfig {
            batch_size: 0,
            ..Default::default()
        },
        &mut quiet,
    )
    .unwrap_err();
    assert!(err.to_string().contains("batch size"), "{err}");
    tasks[0].train = Split::from_labels(vec![0, 5]);
    let err = train(&mut tasks, &features, &TrainConfig::default(), &mut quiet).unwrap_err();
    assert!(err.to_string().contains("label index 5"), "{err}");
    tasks[0].train = Split::from_labels(vec![]);
    let err = train(&mut tasks, &features, &TrainConfig::default(), &mut quiet).unwrap_err();
    assert!(err.to_string().contains("no training examples"), "{err}");
}

#[test]
fn a_teachers_probabilities_outweigh_the_labels_as_far_as_its_weight_says() {
    let (x, y) = clusters(2, &[20, 20], 0.3, 1);
    // The teacher disagrees with every label.
    let flipped: Vec<usize> = y.iter().map(|&l| 1 - l).collect();
    let teacher: Vec<Vec<f32>> = flipped
        .iter()
        .map(|&l| {
            if l == 0 {
                vec![0.9, 0.1]
            } else {
                vec![0.1, 0.9]
            }
        })
        .collect();
    let features = CachedEmbeddings {
        tasks: vec![(x.clone(), x.zeros_like().unwrap())],
    };
    for (weight, learned) in [(0.0, &y), (1.0, &flipped)] {
        let mut t = task(
            head("t", &["a", "b"], Architecture::Linear, 0),
            y.clone(),
            vec![],
        );
        t.train.teacher = teacher.clone();
        let config = TrainConfig {
            epochs: 30,
            batch_size: 8,
            learning_rate: 1e-2,
            distillation: Some(Distillation {
                weight,
                temperature: 2.0,
            }),
            ..Default::default()
        };
        let mut tasks = vec![t];
        train(&mut tasks, &features, &config, &mut quiet).unwrap();
        assert_eq!(
            &predict_classes(&tasks[0].head, &x).unwrap(),
            learned,
            "weight {weight}"
        );
    }
}

#[test]
fn the_distillation_loss_is_the_soft_cross_entropy_at_the_temperature() {
    let d = Distillation {
        weight: 0.25,
        temperature: 2.0,
    };
    // sqrt(0.2) : sqrt(0.8) is 1 : 2.
    let soft = d.soften(&[0.2, 0.8]);
    assert!(
        (soft[0] - 1.0 / 3.0).abs() < 1e-6 && (soft[1] - 2.0 / 3.0).abs() < 1e-6,
        "{soft:?}"
    );
    // A temperature near 0 sharpens to the top class and never underflows
    // a row to 0 / 0.
    let sharp = Distillation {
        weight: 0.5,
        temperature: 1e-3,
    };
    assert_eq!(sharp.soften(&[0.5, 0.5]), vec![0.5, 0.5]);
    assert_eq!(sharp.soften(&[0.2, 0.8]), vec![0.0, 1.0]);
    let dev = &candle_core::Device::Cpu;
    let logits = Tensor::new(&[[1.0f32, 3.0]], dev).unwrap();
    let targets = Tensor::new(&[[0.5f32, 0.5]], dev).unwrap();
    let label_loss = Tensor::new(0.7f32, dev).unwrap();
    let loss = d.loss(&logits, label_loss, &targets).unwrap();
    // log_softmax([0.5, 1.5]) = [-1.31326, -0.31326]; soft CE 0.81326;
    // 0.75 * 0.7 + 0.25 * 4 * 0.81326.
    let value = loss.to_scalar::<f32>().unwrap();
    assert!((value - 1.338262).abs() < 1e-5, "{value}");
}

#[test]
fn bad_teacher_probabilities_and_distillation_settings_are_refused() {
    let (x, y) = clusters(2, &[4, 4], 0.3, 1);
    let features = CachedEmbeddings {
        tasks: vec![(x.clone(), x.zeros_like().unwrap())],
    };
    let good = Some(Distillation {
        weight: 0.5,
        temperature: 2.0,
    });
    // The error of a run whose training split (else its validation split)
    // carries `teacher`.
    let refused = |teacher: Vec<Vec<f32>>, distillation: Option<Distillation>, on_train: bool| {
        let mut t = task(
            head("t", &["a", "b"], Architecture::Linear, 0),
            y.clone(),
            y.clone(),
        );
        let split = if on_train { &mut t.train } else { &mut t.val };
        split.teacher = teacher;
        let config = TrainConfig {
            distillation,
            ..Default::default()
        };
        train(&mut [t], &features, &config, &mut quiet)
            .unwrap_err()
            .to_string()
    };
    let even = vec![vec![0.5, 0.5]; 8];
    let heavy = Some(Distillation {
        weight: 1.5,
        temperature: 2.0,
    });
    for (err, message) in [
        (
            refused(vec![vec![0.5, 0.5]; 3], good, true),
            "3 teacher probabilities for 8",
        ),
        (
            refused(vec![vec![1.5, -0.5]; 8], good, true),
            "probabilities of training example 1 are [1.5, -0.5]",
        ),
        (
            refused(even.clone(), heavy, true),
            "distillation weight is 1.5",
        ),
        (
            refused(vec![], good, true),
            "needs a teacher's probabilities",
        ),
        (
            refused(even.clone(), None, true),
            "need distillation settings",
        ),
        (
            refused(even, good, false),
            "for training examples, not validation",
        ),
    ] {
        assert!(err.contains(message), "{err}");
    }
}

#[test]
fn trainable_and_sampling_print_and_parse_back() {
    for text in ["heads", "top-1", "top-6", "all"] {
        let t: Trainable = text.parse().unwrap();
        assert_eq!(t.to_string(), text);
    }
    assert_eq!("none".parse::<Trainable>().unwrap(), Trainable::Heads);
    assert_eq!(Trainable::All.layers(6), 6);
    assert_eq!(Trainable::TopLayers(2).layers(6), 2);
    assert_eq!(Trainable::Heads.layers(6), 0);
    for bad in ["top-0", "top-", "some", ""] {
        assert!(bad.parse::<Trainable>().is_err(), "{bad:?} parsed");
    }
    for text in [
        "proportional",
        "alternating",
        "temperature:2",
        "temperature:0.5",
    ] {
        let s: Sampling = text.parse().unwrap();
        assert_eq!(s.to_string(), text);
    }
    for bad in [
        "temperature:0",
        "temperature:-1",
        "temperature:nan",
        "random",
    ] {
        assert!(bad.parse::<Sampling>().is_err(), "{bad:?} parsed");
    }
}
