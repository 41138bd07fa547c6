//! The browser binding: a thin `wasm-bindgen` layer over [`MultiTaskModel`].
//! The page's worker builds one [`WebModel`] from the downloaded files and
//! asks it for embeddings and predictions; everything it computes is the
//! same Rust the native CLI runs.

use js_sys::{Float32Array, Object, Reflect, Uint32Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::encoder::Encoder;
use crate::heads::{Head, HeadMeta};
use crate::model::MultiTaskModel;
use crate::weights::ModelFiles;

/// Sentences per encoder batch: texts are grouped by length first, so a
/// batch of similar lengths pads little.
const BATCH_SIZE: usize = 8;

/// Routes Rust panics to the console with their message, once.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&JsValue::from_str(&info.to_string()));
    }));
}

fn js_error(error: crate::Error) -> JsError {
    JsError::new(&error.to_string())
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

/// What the page shows about one head.
#[derive(Serialize)]
struct HeadInfo<'a> {
    name: &'a str,
    labels: &'a [String],
    meta: &'a HeadMeta,
}

/// One head's answer for one sentence, as the page reads it.
#[derive(Serialize)]
struct HeadAnswer {
    label: String,
    /// In the head's label order.
    probabilities: Vec<f32>,
}

/// The encoder and its heads, owned by the page's worker.
#[wasm_bindgen]
pub struct WebModel {
    model: MultiTaskModel,
}

#[wasm_bindgen]
impl WebModel {
    /// Builds the encoder from the bytes of `config.json`, `tokenizer.json`
    /// and `model.safetensors`; every file is checked and a bad one is
    /// named in the error.
    #[wasm_bindgen(constructor)]
    pub fn new(config: Vec<u8>, tokenizer: Vec<u8>, weights: Vec<u8>) -> Result<WebModel, JsError> {
        let files = ModelFiles {
            config,
            tokenizer,
            weights,
        };
        let encoder = Encoder::from_files(&files).map_err(js_error)?;
        Ok(Self {
            model: MultiTaskModel::new(encoder),
        })
    }

    /// Adds (or replaces, by name) a head from its `NAME.json` and
    /// `NAME.safetensors` bytes; returns `{name, labels, meta}`. A head made
    /// for another encoder, or whose files disagree, is refused and the
    /// model is left as it was. `source` names the files in errors.
    #[wasm_bindgen(js_name = setHead)]
    pub fn set_head(
        &mut self,
        json: &[u8],
        safetensors: &[u8],
        source: &str,
    ) -> Result<JsValue, JsError> {
        let encoder = self.model.encoder.encoder_ref();
        let head = Head::from_bytes(json, safetensors, &encoder, source).map_err(js_error)?;
        let info = to_js(&head_info(&head))?;
        self.model.set_head(head).map_err(js_error)?;
        Ok(info)
    }

    /// Every head as `{name, labels, meta}`, in order.
    pub fn heads(&self) -> Result<JsValue, JsError> {
        to_js(&self.model.heads().iter().map(head_info).collect::<Vec<_>>())
    }

    /// The encoder: `{id, dim, layers, maxTokens, simd}`.
    pub fn info(&self) -> Result<JsValue, JsError> {
        let encoder = &self.model.encoder;
        let info = serde_json::json!({
            "id": crate::ENCODER_ID,
            "dim": encoder.dim(),
            "layers": encoder.num_layers(),
            "maxTokens": crate::tokenize::MAX_SEQ_LEN,
            "simd": cfg!(target_feature = "simd128"),
        });
        to_js(&info)
    }

    /// Word-piece ids of `text`, with `[CLS]` and `[SEP]`, cut at 256.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, JsError> {
        self.model.encoder.tokenize(text).map_err(js_error)
    }

    /// Embeds `texts` and runs every head: `{dim, embeddings: Float32Array
    /// (n × dim, row-major), tokens: Uint32Array, predictions: [{head:
    /// {label, probabilities}}]}`.
    pub fn predict(&self, texts: Vec<String>) -> Result<Object, JsError> {
        let outputs = self.model.predict(&texts, BATCH_SIZE).map_err(js_error)?;
        let dim = self.model.encoder.dim();
        let mut embeddings = Vec::with_capacity(outputs.len() * dim);
        let mut tokens = Vec::with_capacity(outputs.len());
        let mut predictions = Vec::with_capacity(outputs.len());
        for out in outputs {
            embeddings.extend_from_slice(&out.embedding.vector);
            tokens.push(out.embedding.tokens as u32);
            let answers: serde_json::Map<String, serde_json::Value> = out
                .predictions
                .into_iter()
                .map(|(name, p)| {
                    let answer = HeadAnswer {
                        label: p.label,
                        probabilities: p.probabilities.into_iter().map(|(_, v)| v).collect(),
                    };
                    (name, serde_json::json!(answer))
                })
                .collect();
            predictions.push(answers);
        }
        let result = Object::new();
        set(&result, "dim", &JsValue::from(dim as u32))?;
        set(
            &result,
            "embeddings",
            &Float32Array::from(&embeddings[..]).into(),
        )?;
        set(&result, "tokens", &Uint32Array::from(&tokens[..]).into())?;
        set(&result, "predictions", &to_js(&predictions)?)?;
        Ok(result)
    }
}

fn head_info(head: &Head) -> HeadInfo<'_> {
    HeadInfo {
        name: head.name(),
        labels: head.labels(),
        meta: head.meta(),
    }
}

fn set(target: &Object, key: &str, value: &JsValue) -> Result<(), JsError> {
    Reflect::set(target, &JsValue::from_str(key), value)
        .map(|_| ())
        .map_err(|_| JsError::new(&format!("could not set {key}")))
}
