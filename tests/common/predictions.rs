//! The predictions fixture (`tests/fixtures/predictions.jsonl`, written by the
//! native `predict`) and the comparison both the native and the wasm tests
//! make against it.

/// One head's answer for one text: `(text, head, label, probabilities in
/// label order)`.
pub type Answer = (String, String, String, Vec<f32>);

/// The texts the fixture was made from, one JSON object per line.
pub const SENTENCES: &str = include_str!("../fixtures/predict-sentences.jsonl");
/// `sentence-multitask predict --jsonl --input tests/fixtures/predict-sentences.jsonl`.
pub const EXPECTED: &str = include_str!("../fixtures/predictions.jsonl");

/// The texts of [`SENTENCES`].
pub fn texts() -> Vec<String> {
    SENTENCES
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            value["text"].as_str().expect("text field").to_string()
        })
        .collect()
}

/// Every head's answer in `predict` output lines, in order.
pub fn answers_of_predict_output(jsonl: &str) -> Vec<Answer> {
    let mut answers = Vec::new();
    for line in jsonl.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let text = value["text"].as_str().expect("text").to_string();
        for (head, p) in value["predictions"].as_object().expect("predictions") {
            let probabilities = p["probabilities"]
                .as_object()
                .expect("probabilities")
                .values()
                .map(|v| v.as_f64().expect("number") as f32)
                .collect();
            let label = p["label"].as_str().expect("label").to_string();
            answers.push((text.clone(), head.clone(), label, probabilities));
        }
    }
    answers
}

/// Asserts the same texts, heads and labels, and probabilities within `tolerance`.
pub fn assert_same_answers(actual: &[Answer], expected: &[Answer], tolerance: f32) {
    assert_eq!(actual.len(), expected.len(), "number of answers");
    for (a, e) in actual.iter().zip(expected) {
        assert_eq!(
            (&a.0, &a.1, &a.2),
            (&e.0, &e.1, &e.2),
            "text, head and label"
        );
        assert_eq!(a.3.len(), e.3.len(), "classes of {:?} for {:?}", e.1, e.0);
        for (x, y) in a.3.iter().zip(&e.3) {
            assert!(
                (x - y).abs() <= tolerance,
                "{:?} on {:?}: probability {x} vs {y}",
                e.1,
                e.0
            );
        }
    }
}
