//! The wasm build, in headless Chromium through wasm-bindgen-test (`make
//! wasm-test`): the browser encoder reproduces the golden fixture at the same
//! bar as natively, its integer kernels give their scalar reference's bits,
//! and its predictions equal the native `predict` output.
#![cfg(target_arch = "wasm32")]

#[path = "common/kernels.rs"]
mod kernels;
#[path = "common/predictions.rs"]
mod predictions;
#[path = "common/vectors.rs"]
mod vectors;

use std::collections::BTreeMap;

use js_sys::{Float32Array, Function, Reflect, Uint32Array, Uint8Array};
use sentence_multitask::training::lesson::LessonConfig;
use sentence_multitask::web::{lesson_defaults, WebModel};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const CONFIG: &[u8] = include_bytes!("../weights/config.json");
const TOKENIZER: &[u8] = include_bytes!("../weights/tokenizer.json");
const WEIGHTS: &[u8] = include_bytes!("../weights/model.safetensors");
const COMPACT_WEIGHTS: &[u8] = include_bytes!("../weights/model-int8.safetensors");
const GOLDEN: &str = include_str!("fixtures/all-MiniLM-L6-v2.public.json");
/// In the order the native CLI reads weights/heads/ (by file name).
const HEADS: [(&str, &[u8], &[u8]); 2] = [
    (
        "sentiment",
        include_bytes!("../weights/heads/sentiment.json"),
        include_bytes!("../weights/heads/sentiment.safetensors"),
    ),
    (
        "topic",
        include_bytes!("../weights/heads/topic.json"),
        include_bytes!("../weights/heads/topic.safetensors"),
    ),
];

#[derive(serde::Deserialize)]
struct GoldenItem {
    text: String,
    token_ids: Vec<u32>,
    embedding: Vec<f32>,
}

#[derive(serde::Deserialize)]
struct Golden {
    items: Vec<GoldenItem>,
}

/// One head's answer: the CLI's `{"label", "probabilities": {label: p}}`.
#[derive(serde::Deserialize)]
struct HeadAnswer {
    label: String,
    probabilities: BTreeMap<String, f32>,
}

/// `HeadInfo` as `heads()` gives it (the fields these tests read).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeadInfo {
    name: String,
    labels: Vec<String>,
}

/// Each head's labels, by head name.
fn labels_by_head(model: &WebModel) -> BTreeMap<String, Vec<String>> {
    let heads: Vec<HeadInfo> =
        serde_wasm_bindgen::from_value(model.heads().unwrap_or_else(|_| panic!("heads")))
            .expect("HeadInfo shape");
    heads.into_iter().map(|h| (h.name, h.labels)).collect()
}

/// `answer`'s probabilities in `labels` order; every label has one.
fn in_label_order(answer: &HeadAnswer, labels: &[String]) -> Vec<f32> {
    assert_eq!(
        answer.probabilities.len(),
        labels.len(),
        "one probability per label"
    );
    labels.iter().map(|l| answer.probabilities[l]).collect()
}

fn model() -> WebModel {
    let mut model = WebModel::new(CONFIG.to_vec(), TOKENIZER.to_vec(), WEIGHTS.to_vec(), None)
        .unwrap_or_else(|_| panic!("the shipped weights load in wasm"));
    for (name, json, weights) in HEADS {
        model
            .set_head(json, weights, name)
            .unwrap_or_else(|_| panic!("head {name} loads"));
    }
    model
}

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).expect("field present")
}

/// `(dim, embeddings, pieces)` of `texts` through `predict`.
fn embed_all(model: &WebModel, texts: Vec<String>) -> (usize, Vec<f32>, Vec<u32>) {
    let out: JsValue = model
        .predict(texts)
        .unwrap_or_else(|_| panic!("predict"))
        .into();
    let dim = get(&out, "dim").as_f64().expect("dim") as usize;
    assert_eq!(dim, 384);
    let embeddings = Float32Array::from(get(&out, "embeddings")).to_vec();
    (
        dim,
        embeddings,
        Uint32Array::from(get(&out, "tokens")).to_vec(),
    )
}

#[wasm_bindgen_test]
fn wasm_integer_kernels_give_the_reference_bits() {
    kernels::assert_every_kernel_matches_reference();
}

#[wasm_bindgen_test]
fn wasm_compact_weights_stay_within_0_999_of_the_reference() {
    let golden: Golden = serde_json::from_str(GOLDEN).expect("golden JSON");
    let model = WebModel::new(
        CONFIG.to_vec(),
        TOKENIZER.to_vec(),
        COMPACT_WEIGHTS.to_vec(),
        Some("model-int8.safetensors".into()),
    )
    .unwrap_or_else(|_| panic!("the compact weights load in wasm"));
    let texts: Vec<String> = golden.items.iter().map(|i| i.text.clone()).collect();
    let (dim, embeddings, _) = embed_all(&model, texts);
    let worst = (golden.items.iter().enumerate())
        .map(|(i, item)| vectors::cosine(&embeddings[i * dim..(i + 1) * dim], &item.embedding))
        .fold(f64::INFINITY, f64::min);
    assert!(worst >= 0.999, "minimum cosine {worst}");
}

#[wasm_bindgen_test]
fn wasm_encoder_matches_the_golden_fixture() {
    let golden: Golden = serde_json::from_str(GOLDEN).expect("golden JSON");
    let model = model();
    let texts: Vec<String> = golden.items.iter().map(|i| i.text.clone()).collect();
    for item in &golden.items {
        let ids = model
            .tokenize(&item.text)
            .unwrap_or_else(|_| panic!("tokenize {:?}", item.text));
        assert_eq!(ids, item.token_ids, "token ids of {:?}", item.text);
    }
    let (dim, embeddings, tokens) = embed_all(&model, texts);
    assert_eq!(embeddings.len(), golden.items.len() * dim);
    let mut worst = f64::INFINITY;
    for (i, item) in golden.items.iter().enumerate() {
        let vector = &embeddings[i * dim..(i + 1) * dim];
        let c = vectors::cosine(vector, &item.embedding);
        assert!(c >= 0.99999, "cosine {c} for {:?}", item.text);
        assert!(
            (vectors::norm(vector) - 1.0).abs() < 1e-4,
            "norm of {:?}",
            item.text
        );
        assert_eq!(
            tokens[i] as usize,
            item.token_ids.len(),
            "pieces of {:?}",
            item.text
        );
        worst = worst.min(c);
    }
    assert!(worst >= 0.99999, "minimum cosine {worst}");
}

#[wasm_bindgen_test]
fn wasm_predictions_equal_the_native_predict_output() {
    let model = model();
    let texts = predictions::texts();
    let out: JsValue = model
        .predict(texts.clone())
        .unwrap_or_else(|_| panic!("predict"))
        .into();
    let per_text: Vec<BTreeMap<String, HeadAnswer>> =
        serde_wasm_bindgen::from_value(get(&out, "predictions")).expect("predictions shape");
    let labels = labels_by_head(&model);
    let mut actual = Vec::new();
    for (text, answers) in texts.iter().zip(per_text) {
        // The native output lists heads in the order they were loaded.
        for (name, _, _) in HEADS {
            let answer = &answers[name];
            actual.push((
                text.clone(),
                name.to_string(),
                answer.label.clone(),
                in_label_order(answer, &labels[name]),
            ));
        }
    }
    let expected = predictions::answers_of_predict_output(predictions::EXPECTED);
    predictions::assert_same_answers(&actual, &expected, 1e-4);
}

#[wasm_bindgen_test]
fn a_head_for_another_encoder_is_refused_in_wasm() {
    let mut model = model();
    let (_, json, weights) = HEADS[0];
    let foreign = String::from_utf8(json.to_vec())
        .expect("UTF-8")
        .replace("\"dim\": 384", "\"dim\": 768");
    assert!(model
        .set_head(foreign.as_bytes(), weights, "foreign.json")
        .is_err());
    // The page's undo of an import it could not store.
    let name = HEADS[0].0;
    assert!(model.remove_head(name));
    assert!(!model.remove_head(name), "removed once");
    let names: Vec<String> = serde_wasm_bindgen::from_value::<Vec<serde_json::Value>>(
        model.heads().unwrap_or_else(|_| panic!("heads")),
    )
    .expect("HeadInfo[]")
    .iter()
    .map(|h| h["name"].as_str().expect("name").to_string())
    .collect();
    assert!(!names.iter().any(|n| n == name), "{names:?}");
    assert!(WebModel::new(
        CONFIG.to_vec(),
        TOKENIZER.to_vec(),
        WEIGHTS[..1000].to_vec(),
        None
    )
    .is_err());
}

#[wasm_bindgen_test]
fn set_head_gives_back_the_head_it_replaced() {
    let mut model = model();
    let (name, json, weights) = HEADS[0];
    let result: JsValue = model
        .set_head(json, weights, name)
        .unwrap_or_else(|_| panic!("setHead"))
        .into();
    let previous = get(&result, "previous");
    let bytes = |key: &str| Uint8Array::from(get(&previous, key)).to_vec();
    assert_eq!(bytes("json"), json.to_vec());
    assert_eq!(bytes("safetensors"), weights.to_vec());
    assert_eq!(
        get(&get(&result, "head"), "name").as_string().as_deref(),
        Some("sentiment")
    );
    // A head's inputs: its adapter's outputs if it has one, else the embedding.
    let texts = vec!["Shares fell after the loss.".to_string()];
    let (_, embedding, _) = embed_all(&model, texts.clone());
    for (head, _, _) in HEADS {
        let inputs = model
            .head_inputs(head, texts.clone())
            .unwrap_or_else(|_| panic!("headInputs"))
            .to_vec();
        assert_eq!(inputs.len(), 384);
        let norm: f32 = inputs.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{head}: norm {norm}");
    }
    let unknown = model
        .head_inputs("no-such-task", texts)
        .unwrap_or_else(|_| panic!("headInputs"));
    assert_eq!(unknown.to_vec(), embedding);
}

#[wasm_bindgen_test]
fn lesson_defaults_are_the_trainers_in_camel_case() {
    let defaults = lesson_defaults().unwrap_or_else(|_| panic!("lessonDefaults"));
    // The keys the page reads, camelCase.
    for key in ["epochs", "learningRate", "classWeighted", "fromScratch"] {
        assert!(
            Reflect::has(&defaults, &JsValue::from_str(key)).unwrap_or(false),
            "lessonDefaults() has {key}"
        );
    }
    let read: LessonConfig = serde_wasm_bindgen::from_value(defaults).expect("a LessonConfig");
    assert_eq!(
        serde_json::to_value(&read).expect("JSON"),
        serde_json::to_value(LessonConfig::default()).expect("JSON")
    );
}

#[wasm_bindgen_test]
fn training_reports_camel_case_epochs_and_result() {
    let mut model = model();
    let labels: Vec<String> = ["positive", "negative", "positive", "negative"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let texts = vec![
        "A lovely, warm film.".to_string(),
        "Dull and far too long.".to_string(),
        "I enjoyed every minute.".to_string(),
        "The worst meal I have had.".to_string(),
    ];
    let embeddings = model
        .embed(texts.clone())
        .unwrap_or_else(|_| panic!("embed"));
    let events = js_sys::Array::new();
    let sink = events.clone();
    let on_epoch = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        sink.push(&event);
    });
    let config = js_sys::JSON::parse(r#"{"epochs": 3, "fromScratch": true}"#).expect("JSON");
    let result = model
        .train(
            "sentiment",
            texts,
            embeddings.to_vec(),
            labels,
            config,
            on_epoch.as_ref().unchecked_ref::<Function>(),
            None,
        )
        .unwrap_or_else(|e| panic!("train: {:?}", JsValue::from(e)));
    assert_eq!(events.length(), 3);
    let first = events.get(0);
    assert_eq!(get(&first, "phase").as_string().as_deref(), Some("head"));
    assert_eq!(get(&first, "epoch").as_f64(), Some(1.0));
    assert!(get(&first, "trainLoss")
        .as_f64()
        .is_some_and(f64::is_finite));
    assert!(js_sys::Array::is_array(&get(&first, "validation")));
    assert_eq!(get(&result, "epochsRun").as_f64(), Some(3.0));
    assert!(get(&result, "bestEpoch").as_f64().is_some());
    assert_eq!(get(&result, "stoppedEarly").as_bool(), Some(false));
    let per_class = get(&result, "examplesPerClass");
    assert_eq!(get(&per_class, "positive").as_f64(), Some(2.0));
}

#[wasm_bindgen_test]
fn a_few_shot_lesson_adapts_a_new_task_and_leaves_the_shipped_heads_alone() {
    let mut model = model();
    let files = |model: &WebModel, name: &str| {
        let files = model
            .head_files(name)
            .unwrap_or_else(|_| panic!("headFiles"));
        let bytes = |key| Uint8Array::new(&get(&files, key)).to_vec();
        (bytes("json"), bytes("safetensors"))
    };
    let shipped: Vec<_> = ["topic", "sentiment"].map(|h| files(&model, h)).into();
    let texts: Vec<String> = [
        "Where is the station?",
        "When does it open?",
        "Where can I park?",
        "When is the show?",
    ]
    .map(String::from)
    .into();
    let labels: Vec<String> = ["where", "when", "where", "when"].map(String::from).into();
    let events = js_sys::Array::new();
    let sink = events.clone();
    let on_event = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        sink.push(&event);
    });
    let config = js_sys::JSON::parse(
        r#"{"epochs": 2, "adapt": {"layers": 1, "steps": 3, "batchSize": 64, "learningRate": 0.0001, "weightDecay": 0.01, "seed": 0}}"#,
    )
    .expect("JSON");
    let result = model
        .train(
            "question",
            texts,
            Vec::new(),
            labels,
            config,
            on_event.as_ref().unchecked_ref::<Function>(),
            None,
        )
        .unwrap_or_else(|e| panic!("train: {:?}", JsValue::from(e)));
    assert_eq!(get(&result, "changed").as_bool(), Some(true));
    let phases: Vec<String> = (events.iter())
        .map(|e| get(&e, "phase").as_string().unwrap_or_default())
        .collect();
    assert_eq!(phases, ["pairs", "pairs", "pairs", "head", "head"]);
    assert_eq!(get(&events.get(2), "steps").as_f64(), Some(3.0));
    let heads = model.heads().unwrap_or_else(|_| panic!("heads"));
    let question = js_sys::Array::from(&heads)
        .iter()
        .find(|h| get(h, "name").as_string().as_deref() == Some("question"))
        .expect("the new task's head");
    assert_eq!(
        js_sys::Array::from(&get(&question, "adapter")).length(),
        1,
        "one adapted layer"
    );
    let after: Vec<_> = ["topic", "sentiment"].map(|h| files(&model, h)).into();
    assert!(shipped == after, "the shipped heads changed");
}
