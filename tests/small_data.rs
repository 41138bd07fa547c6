//! One library, one answer: `sentence-multitask train` and the page's lesson,
//! given the same 48 examples of a new six-class task (home-assistant
//! intents, written for this test), choose the same settings through the
//! same training path and score alike on held-out sentences.

mod common;

use candle_core::Tensor;
use sentence_multitask::data::{self, DataFormat, Example};
use sentence_multitask::model::heads::{Architecture, Head};
use sentence_multitask::model::stack_embeddings;
use sentence_multitask::training::defaults::{for_data, Holdout};
use sentence_multitask::training::lesson::{teach, LessonConfig};
use sentence_multitask::training::trainer::{predict_classes, Control};

use common::{encoder, fixture};

fn examples(name: &str) -> Vec<Example> {
    let path = fixture(&format!("intents/{name}"));
    let bytes = std::fs::read(&path).unwrap();
    data::read_examples(&bytes, name, DataFormat::Jsonl, false)
        .unwrap()
        .examples
}

fn embed(examples: &[Example]) -> Tensor {
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let enc = encoder();
    stack_embeddings(&enc.embed(&texts, 32).unwrap(), enc.dim()).unwrap()
}

fn accuracy(head: &Head, examples: &[Example]) -> f64 {
    let predicted = predict_classes(head, &embed(examples)).unwrap();
    let right = predicted
        .iter()
        .zip(examples)
        .filter(|(&p, e)| head.labels()[p] == e.label)
        .count();
    right as f64 / examples.len() as f64
}

#[test]
fn small_data_gets_small_batches_and_no_hold_out() {
    let chosen = for_data(48, 8);
    assert_eq!(chosen.holdout, Holdout::Nothing);
    assert!(chosen.config.batch_size <= 8, "{:?}", chosen.config);
    let large = for_data(20_000, 5_000);
    assert_eq!(large.holdout, Holdout::LastOfEachClass(0.1));
    assert_eq!(large.config.batch_size, 32);
}

#[test]
fn train_and_the_page_agree_on_48_examples_of_a_new_task() {
    let train = examples("train.jsonl");
    let heldout = examples("heldout.jsonl");
    assert_eq!((train.len(), heldout.len()), (48, 60));
    let out = tempfile::tempdir().unwrap();
    let cli = common::run_cli(
        &[
            "train",
            "--head",
            "intents",
            "--data",
            fixture("intents/train.jsonl").to_str().unwrap(),
            "--no-cache",
            "--out",
            out.path().to_str().unwrap(),
        ],
        b"",
    );
    let log = String::from_utf8_lossy(&cli.stderr);
    assert!(cli.status.success(), "{log}");
    assert!(
        log.contains("\"settings\""),
        "train prints its settings: {log}"
    );
    let cli_head = Head::read(&out.path().join("intents.json"), &encoder().encoder_ref()).unwrap();

    let mut labels: Vec<String> = Vec::new();
    for e in &train {
        if !labels.contains(&e.label) {
            labels.push(e.label.clone());
        }
    }
    let start = Head::new(
        "intents",
        labels,
        Architecture::default(),
        encoder().encoder_ref(),
        0,
    )
    .unwrap();
    let config = LessonConfig {
        from_scratch: true,
        ..LessonConfig::default()
    };
    let texts: Vec<String> = train.iter().map(|e| e.label.clone()).collect();
    let lesson = teach(&start, &embed(&train), &texts, None, &config, &mut |_| {
        Control::Continue
    })
    .unwrap();
    let lesson_head = lesson.head.expect("a finished lesson has a head");

    let settings = |head: &Head| {
        let extra = &head.meta().training.as_ref().unwrap().extra;
        let mut config = extra["config"].clone();
        config["class_weighted"] = serde_json::Value::Null;
        config
    };
    assert_eq!(settings(&cli_head), settings(&lesson_head));
    let (cli_acc, page_acc) = (
        accuracy(&cli_head, &heldout),
        accuracy(&lesson_head, &heldout),
    );
    assert!(
        (cli_acc - page_acc).abs() <= 0.02,
        "train {cli_acc} vs the page {page_acc}"
    );
    assert!(
        cli_acc >= 0.8,
        "48 examples of six intents learn: {cli_acc}"
    );
}
