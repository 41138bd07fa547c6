//! Head files: bit-exact round trips, and refusal of foreign or broken heads.

mod common;

use common::synthetic::{encoder_ref, head, labels};
use sentence_multitask::model::heads::{read_heads, Activation, Architecture, EncoderRef, Head};

fn mlp() -> Architecture {
    Architecture::Mlp {
        hidden: 16,
        activation: Activation::Relu,
        dropout: 0.2,
    }
}

fn params(h: &Head) -> Vec<Vec<u32>> {
    h.vars()
        .iter()
        .map(|v| {
            let flat = v
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            flat.iter().map(|x| x.to_bits()).collect()
        })
        .collect()
}

#[test]
fn bytes_round_trip_is_bit_exact() {
    for arch in [Architecture::Linear, mlp()] {
        let h = head("topic", &["a", "b", "c"], arch, 7);
        let back = Head::from_bytes(
            &h.to_json().unwrap(),
            &h.to_safetensors().unwrap(),
            &encoder_ref(),
            "t",
        )
        .unwrap();
        assert_eq!(back.meta(), h.meta());
        assert_eq!(params(&back), params(&h));
    }
}

#[test]
fn file_round_trip_and_directory_reading() {
    let dir = tempfile::tempdir().unwrap();
    let a = head("topic", &["x", "y"], mlp(), 1);
    let b = head("sentiment", &["neg", "pos"], Architecture::Linear, 2);
    let a_json = a.write(dir.path()).unwrap();
    b.write(dir.path()).unwrap();
    assert!(dir.path().join("topic.safetensors").exists());
    let one = Head::read(&dir.path().join("topic.safetensors"), &encoder_ref()).unwrap();
    assert_eq!(params(&one), params(&a));
    assert_eq!(
        Head::read(&a_json, &encoder_ref()).unwrap().meta(),
        a.meta()
    );
    let all = read_heads(dir.path(), &encoder_ref()).unwrap();
    let names: Vec<&str> = all.iter().map(|h| h.name()).collect();
    assert_eq!(names, ["sentiment", "topic"]);
}

fn refusal(json: &serde_json::Value, weights: &[u8]) -> String {
    let bytes = serde_json::to_vec(json).unwrap();
    Head::from_bytes(&bytes, weights, &encoder_ref(), "h.json")
        .unwrap_err()
        .to_string()
}

#[test]
fn head_for_another_encoder_or_dimension_is_refused() {
    let h = head("topic", &["a", "b"], Architecture::Linear, 0);
    let w = h.to_safetensors().unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&h.to_json().unwrap()).unwrap();
    json["encoder"]["id"] = "bert-base-uncased".into();
    assert!(refusal(&json, &w).contains("made for encoder \"bert-base-uncased\""));
    let other = EncoderRef {
        id: sentence_multitask::ENCODER_ID.into(),
        dim: 768,
    };
    let err = Head::from_bytes(&h.to_json().unwrap(), &w, &other, "h.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expects 384-dimensional embeddings, the encoder gives 768"),
        "{err}"
    );
}

#[test]
fn bad_labels_are_refused() {
    let h = head("topic", &["a", "b"], Architecture::Linear, 0);
    let w = h.to_safetensors().unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&h.to_json().unwrap()).unwrap();
    json["labels"] = serde_json::json!([]);
    assert!(refusal(&json, &w).contains("needs at least 2 labels"));
    json["labels"] = serde_json::json!(["a", "a"]);
    assert!(refusal(&json, &w).contains("has the label \"a\" twice"));
    json["labels"] = serde_json::json!(["a", " "]);
    assert!(refusal(&json, &w).contains("empty label"));
    assert!(Head::new("t", labels(&[]), Architecture::Linear, encoder_ref(), 0).is_err());
    assert!(Head::new(
        "t",
        labels(&["a", "a"]),
        Architecture::Linear,
        encoder_ref(),
        0
    )
    .is_err());
}

#[test]
fn shapes_that_do_not_agree_are_refused() {
    let three = head("topic", &["a", "b", "c"], Architecture::Linear, 0);
    let two = head("topic", &["a", "b"], Architecture::Linear, 0);
    let err = Head::from_bytes(
        &two.to_json().unwrap(),
        &three.to_safetensors().unwrap(),
        &encoder_ref(),
        "h.json",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("tensor `output.bias`") || err.contains("tensor `output.weight`"),
        "{err}"
    );
    assert!(err.contains("expected F32"), "{err}");
    let mlp_head = head("topic", &["a", "b"], mlp(), 0);
    let err = Head::from_bytes(
        &two.to_json().unwrap(),
        &mlp_head.to_safetensors().unwrap(),
        &encoder_ref(),
        "h.json",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("weights hold tensors"), "{err}");
}

#[test]
fn foreign_or_corrupt_files_are_refused() {
    let h = head("topic", &["a", "b"], Architecture::Linear, 0);
    let err = Head::from_bytes(
        b"{}",
        &h.to_safetensors().unwrap(),
        &encoder_ref(),
        "h.json",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("h.json: not a head description"),
        "{err}"
    );
    let err =
        Head::from_bytes(&h.to_json().unwrap(), b"garbage", &encoder_ref(), "h.json").unwrap_err();
    assert!(
        err.to_string().contains("not readable safetensors"),
        "{err}"
    );
    let mut json: serde_json::Value = serde_json::from_slice(&h.to_json().unwrap()).unwrap();
    json["format"] = "something-else/9".into();
    assert!(refusal(&json, &h.to_safetensors().unwrap()).contains("format"));
}

#[test]
fn nan_weights_are_refused() {
    let h = head("topic", &["a", "b"], Architecture::Linear, 0);
    let nan = candle_core::Tensor::full(f32::NAN, (2, 384), &candle_core::Device::Cpu).unwrap();
    h.vars()[1].set(&nan).unwrap();
    let err = Head::from_bytes(
        &h.to_json().unwrap(),
        &h.to_safetensors().unwrap(),
        &encoder_ref(),
        "h.json",
    )
    .unwrap_err();
    assert!(err.to_string().contains("NaN"), "{err}");
}

#[test]
fn bad_names_and_settings_are_refused() {
    for name in ["", "../evil", "a b", &"x".repeat(65)] {
        assert!(
            Head::new(
                name,
                labels(&["a", "b"]),
                Architecture::Linear,
                encoder_ref(),
                0
            )
            .is_err(),
            "{name:?}"
        );
    }
    let bad = Architecture::Mlp {
        hidden: 0,
        activation: Activation::Gelu,
        dropout: 0.0,
    };
    assert!(Head::new("t", labels(&["a", "b"]), bad, encoder_ref(), 0).is_err());
}

#[test]
fn a_deep_copy_does_not_share_weights() {
    let head = Head::new("copy", labels(&["a", "b"]), mlp(), encoder_ref(), 1).unwrap();
    let copy = head.deep_copy().unwrap();
    assert_eq!(params(&head), params(&copy));
    let zeros: Vec<_> = copy
        .snapshot()
        .unwrap()
        .iter()
        .map(|t| t.zeros_like().unwrap())
        .collect();
    copy.restore(&zeros).unwrap();
    assert_ne!(params(&head), params(&copy), "the copy changed on its own");
    assert!(params(&head).iter().flatten().any(|&bits| bits != 0));
}

#[test]
fn architectures_print_and_parse_back() {
    for text in ["linear", "mlp:256:gelu:0.1", "mlp:64:relu:0"] {
        let arch: Architecture = text.parse().unwrap();
        assert_eq!(arch.to_string().parse::<Architecture>().unwrap(), arch);
    }
    assert_eq!(
        "mlp".parse::<Architecture>().unwrap(),
        Architecture::default()
    );
    assert_eq!(
        "mlp:32".parse::<Architecture>().unwrap(),
        Architecture::mlp(32)
    );
    for bad in [
        "",
        "mlp:0",
        "mlp:8:swish:0.1",
        "mlp:8:gelu:1.5",
        "linear:3",
        "cnn",
    ] {
        assert!(bad.parse::<Architecture>().is_err(), "{bad:?} parsed");
    }
}
