//! Broken model files give errors that name the file and the tensor, never a panic.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use common::model_files;
use sentence_multitask::model::weights::{load_tensors, parse_config, serialize_tensors};
use sentence_multitask::{Encoder, Error, ModelFiles};

fn load_error(files: &ModelFiles) -> String {
    match Encoder::from_files(files) {
        Ok(_) => panic!("broken files were accepted"),
        Err(e) => e.to_string(),
    }
}

/// The shipped files with the weights replaced by `tensors` (edited by the caller).
fn with_tensors(edit: impl FnOnce(&mut HashMap<String, Tensor>)) -> ModelFiles {
    let files = model_files();
    let config = parse_config(&files.config).unwrap();
    let mut tensors =
        load_tensors(&files.weights, &files.weights_file, &config, &Device::Cpu).unwrap();
    edit(&mut tensors);
    ModelFiles {
        weights: serialize_tensors(&tensors, DType::F16, HashMap::new()).unwrap(),
        ..files.clone()
    }
}

const TENSOR: &str = "encoder.layer.3.attention.self.key.weight";

#[test]
fn truncated_safetensors() {
    let mut files = model_files().clone();
    files.weights.truncate(files.weights.len() / 2);
    let msg = load_error(&files);
    assert!(
        msg.contains("model.safetensors") && msg.contains("safetensors"),
        "{msg}"
    );
}

#[test]
fn corrupt_safetensors_header() {
    let mut files = model_files().clone();
    for b in &mut files.weights[8..64] {
        *b = b'#';
    }
    let msg = load_error(&files);
    assert!(
        msg.starts_with("model.safetensors: not a readable safetensors file"),
        "{msg}"
    );
}

#[test]
fn empty_safetensors() {
    let files = ModelFiles {
        weights: Vec::new(),
        ..model_files().clone()
    };
    assert!(load_error(&files).contains("model.safetensors"));
}

#[test]
fn missing_tensor() {
    let files = with_tensors(|t| {
        t.remove(TENSOR);
    });
    let msg = load_error(&files);
    assert_eq!(
        msg,
        format!("model.safetensors: tensor `{TENSOR}` is missing")
    );
}

#[test]
fn wrong_shape() {
    let files = with_tensors(|t| {
        t.insert(
            TENSOR.into(),
            Tensor::zeros((384, 383), DType::F32, &Device::Cpu).unwrap(),
        );
    });
    let msg = load_error(&files);
    assert_eq!(
        msg,
        format!("model.safetensors: tensor `{TENSOR}` has shape [384, 383], expected [384, 384]")
    );
}

#[test]
fn wrong_dtype() {
    let files = model_files();
    let config = parse_config(&files.config).unwrap();
    let mut tensors =
        load_tensors(&files.weights, &files.weights_file, &config, &Device::Cpu).unwrap();
    tensors.insert(
        TENSOR.into(),
        Tensor::zeros((384, 384), DType::I64, &Device::Cpu).unwrap(),
    );
    let weights = serialize_tensors(&tensors, DType::I64, HashMap::new()).unwrap();
    let msg = load_error(&ModelFiles {
        weights,
        ..files.clone()
    });
    assert!(msg.contains("has dtype I64"), "{msg}");
}

#[test]
fn nan_in_weights() {
    let files = with_tensors(|t| {
        t.insert(
            TENSOR.into(),
            Tensor::full(f32::NAN, (384, 384), &Device::Cpu).unwrap(),
        );
    });
    let msg = load_error(&files);
    assert_eq!(
        msg,
        format!("model.safetensors: tensor `{TENSOR}` contains NaN or infinite values")
    );
}

#[test]
fn config_that_is_not_json() {
    let files = ModelFiles {
        config: b"{ this is not json".to_vec(),
        ..model_files().clone()
    };
    let msg = load_error(&files);
    assert!(msg.starts_with("config.json: not a BERT config"), "{msg}");
}

#[test]
fn config_with_impossible_sizes() {
    let mut config: serde_json::Value = serde_json::from_slice(&model_files().config).unwrap();
    config["num_attention_heads"] = 5.into();
    let files = ModelFiles {
        config: serde_json::to_vec(&config).unwrap(),
        ..model_files().clone()
    };
    assert!(load_error(&files).contains("num_attention_heads 5"));
}

#[test]
fn tokenizer_that_is_not_a_tokenizer() {
    let files = ModelFiles {
        tokenizer: br#"{"hello": "world"}"#.to_vec(),
        ..model_files().clone()
    };
    let msg = load_error(&files);
    assert!(
        msg.starts_with("tokenizer.json: not a Hugging Face tokenizer"),
        "{msg}"
    );
}

#[test]
fn missing_weights_dir_names_path_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let err = ModelFiles::read_dir(&missing).unwrap_err();
    assert!(matches!(err, Error::WeightsMissing { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains(&missing.display().to_string()) && msg.contains("make weights"),
        "{msg}"
    );
}

#[test]
fn missing_file_in_weights_dir_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), &model_files().config).unwrap();
    let msg = ModelFiles::read_dir(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("tokenizer.json"), "{msg}");
}
