//! `predict`, `train` and `eval` end to end.

mod common;

use std::path::Path;
use std::process::Output;

use common::fixture;

fn run(args: &[&str], stdin: &str) -> Output {
    common::run_cli(args, stdin.as_bytes())
}

fn ok_lines(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stderr(out: &Output) -> String {
    assert!(!out.status.success(), "unexpected success");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn predict_with_the_default_heads() {
    let input = "The striker scored twice as the team won the championship final.\n\
                 I loved this movie, a wonderful and moving story.\n\
                 \n";
    let out = ok_lines(&run(&["predict", "--with-embedding"], input));
    assert_eq!(out.len(), 3);
    let topic = &out[0]["predictions"]["topic"];
    assert_eq!(topic["label"], "Sports");
    let labels: Vec<&String> = topic["probabilities"].as_object().unwrap().keys().collect();
    assert_eq!(labels, ["World", "Sports", "Business", "Sci/Tech"]);
    assert_eq!(out[1]["predictions"]["sentiment"]["label"], "positive");
    for line in &out {
        for head in ["topic", "sentiment"] {
            let sum: f64 = line["predictions"][head]["probabilities"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_f64().unwrap())
                .sum();
            assert!(
                (sum - 1.0).abs() < 1e-4,
                "{head} probabilities sum to {sum}"
            );
        }
        assert_eq!(line["embedding"].as_array().unwrap().len(), 384);
    }
    assert_eq!(out[2]["text"], "");
    let plain = ok_lines(&run(&["predict"], "hello\n"));
    assert!(plain[0].get("embedding").is_none());
}

#[test]
fn train_a_new_three_class_head_then_predict_and_eval() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("heads");
    let data = fixture("data/three_topics.jsonl");
    let out = run(
        &[
            "train",
            "--head",
            "hobby",
            "--data",
            data.to_str().unwrap(),
            "--val-fraction",
            "0",
            "--arch",
            "linear",
            "--epochs",
            "60",
            "--lr",
            "0.02",
            "--no-cache",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        "",
    );
    let summary = &ok_lines(&out)[0];
    assert_eq!(summary["heads"][0]["head"], "hobby");
    let head_json = out_dir.join("hobby.json");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&head_json).unwrap()).unwrap();
    assert_eq!(
        meta["labels"],
        serde_json::json!(["cooking", "space", "football"])
    );
    assert_eq!(meta["training"]["examples_per_class"]["space"], 8);
    assert_eq!(meta["encoder"]["dim"], 384);

    let held_out = "Fry the mushrooms in butter with a pinch of salt.\n\
                    The spacecraft entered orbit around the moon.\n\
                    The winger crossed the ball and the captain headed it in.\n";
    let out = ok_lines(&run(
        &["predict", "--head", head_json.to_str().unwrap()],
        held_out,
    ));
    let got: Vec<&str> = out
        .iter()
        .map(|l| l["predictions"]["hobby"]["label"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["cooking", "space", "football"]);
    assert!(
        out[0]["predictions"].get("topic").is_none(),
        "only the heads asked for"
    );

    let eval = run(
        &[
            "eval",
            "--head",
            head_json.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--no-cache",
        ],
        "",
    );
    let metrics = &ok_lines(&eval)[0];
    assert_eq!(metrics["count"], 24);
    assert_eq!(metrics["accuracy"], 1.0);
    assert_eq!(metrics["confusion"][1], serde_json::json!([0, 8, 0]));
    assert!(metrics["per_class"]["football"]["recall"].as_f64().unwrap() == 1.0);
    assert!(metrics["macro_f1"].as_f64().unwrap() > 0.99);
}

#[test]
fn foreign_head_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/heads");
    for ext in ["json", "safetensors"] {
        std::fs::copy(
            src.join(format!("topic.{ext}")),
            dir.path().join(format!("topic.{ext}")),
        )
        .unwrap();
    }
    let json_path = dir.path().join("topic.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    meta["encoder"]["id"] = "some/other-model".into();
    std::fs::write(&json_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let err = stderr(&run(
        &["predict", "--head", json_path.to_str().unwrap()],
        "x\n",
    ));
    assert!(
        err.contains("made for encoder \"some/other-model\""),
        "{err}"
    );
}

#[test]
fn train_reports_bad_data_and_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\"}\n",
    )
    .unwrap();
    let out_dir = dir.path().join("o");
    let args = |data: &str| {
        vec![
            "train".to_string(),
            "--head".into(),
            "h".into(),
            "--data".into(),
            data.into(),
            "--no-cache".into(),
            "--out".into(),
            out_dir.to_str().unwrap().into(),
        ]
    };
    let a = args(bad.to_str().unwrap());
    let err = stderr(&run(&a.iter().map(String::as_str).collect::<Vec<_>>(), ""));
    assert!(err.contains("bad.jsonl") && err.contains("line 2"), "{err}");
    let one_class = dir.path().join("one.jsonl");
    std::fs::write(&one_class, "{\"text\": \"a\", \"label\": \"x\"}\n").unwrap();
    let a = args(one_class.to_str().unwrap());
    let err = stderr(&run(&a.iter().map(String::as_str).collect::<Vec<_>>(), ""));
    assert!(err.contains("needs at least 2 labels"), "{err}");
    let err = stderr(&run(
        &["train", "--head", "a", "--head", "b", "--data", "x.jsonl"],
        "",
    ));
    assert!(err.contains("1 files for 2 heads"), "{err}");
    let err = stderr(&run(&["train", "--head", "a", "--data", "x.txt"], ""));
    assert!(err.contains("pass --format"), "{err}");
    let err = stderr(&run(
        &[
            "train",
            "--head",
            "a",
            "--data",
            "x.jsonl",
            "--sampling",
            "hot",
        ],
        "",
    ));
    assert!(err.contains("temperature:T"), "{err}");
    assert!(!out_dir.exists(), "nothing written on failure");
}

#[test]
fn train_with_the_top_layer_writes_the_changed_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("ft");
    let data = fixture("data/three_topics.jsonl");
    let out = run(
        &[
            "train",
            "--head",
            "hobby",
            "--data",
            data.to_str().unwrap(),
            "--val-fraction",
            "0",
            "--arch",
            "linear",
            "--epochs",
            "3",
            "--lr",
            "0.02",
            "--trainable",
            "top-1",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        "",
    );
    let summary = &ok_lines(&out)[0];
    let encoder_dir = out_dir.join("encoder");
    assert_eq!(summary["encoder"], encoder_dir.to_str().unwrap());
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("hobby.json")).unwrap()).unwrap();
    assert_eq!(
        meta["training"]["trainable"],
        serde_json::json!({"kind": "top-layers", "layers": 1})
    );
    // The fine-tuned encoder loads and its embeddings moved away from the shipped ones.
    let moved = ok_lines(&run(
        &["embed", "--weights", encoder_dir.to_str().unwrap()],
        "Bake the bread.\n",
    ));
    let shipped = ok_lines(&run(&["embed"], "Bake the bread.\n"));
    assert_ne!(moved[0]["embedding"], shipped[0]["embedding"]);
    assert_eq!(moved[0]["embedding"].as_array().unwrap().len(), 384);
    let err = stderr(&run(
        &[
            "train",
            "--head",
            "a",
            "--data",
            "x.jsonl",
            "--trainable",
            "top-0",
        ],
        "",
    ));
    assert!(err.contains("top-K (K >= 1)"), "{err}");
}

#[test]
fn predict_matches_the_fixture_the_wasm_test_checks() {
    use common::predictions::{answers_of_predict_output, assert_same_answers, EXPECTED};
    let input = fixture("predict-sentences.jsonl");
    let out = run(
        &["predict", "--jsonl", "--input", input.to_str().unwrap()],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let actual = answers_of_predict_output(&String::from_utf8_lossy(&out.stdout));
    let expected = answers_of_predict_output(EXPECTED);
    assert_eq!(expected.len(), 66 * 2);
    assert_same_answers(&actual, &expected, 1e-5);
}
