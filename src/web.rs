//! The browser binding: a thin `wasm-bindgen` layer over [`MultiTaskModel`].
//! The page's worker builds one [`WebModel`] from the downloaded files and
//! asks it for embeddings and predictions; everything it computes is the
//! same Rust the native CLI runs.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use js_sys::{
    Atomics, Float32Array, Function, Int32Array, Object, Reflect, Uint32Array, Uint8Array,
};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::encoder::{Embedding, Encoder};
use crate::heads::{Head, HeadMeta};
use crate::model::{MultiTaskModel, Output};
use crate::teach::{teach, LessonConfig, ReplaySet};
use crate::train::{Control, Progress};
use crate::weights::ModelFiles;

/// Sentences per encoder batch: texts are grouped by length first, so a
/// batch of similar lengths pads little.
const BATCH_SIZE: usize = 8;

/// Routes Rust panics to the console with their message and stack, once.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
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
    /// Replay sets by head name.
    replay: HashMap<String, ReplaySet>,
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
            replay: HashMap::new(),
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
        self.outputs_to_js(outputs)
    }

    /// Runs every head on embeddings computed elsewhere (another worker's
    /// `predict`): `embeddings` is `tokens.length × dim` row-major; returns
    /// what `predict` returns for those texts.
    pub fn classify(&self, embeddings: Vec<f32>, tokens: Vec<u32>) -> Result<Object, JsError> {
        let dim = self.model.encoder.dim();
        if embeddings.len() != tokens.len() * dim {
            return Err(JsError::new(&format!(
                "classify: {} values are not {} embeddings of {dim}",
                embeddings.len(),
                tokens.len()
            )));
        }
        if let Some(at) = embeddings.iter().position(|v| !v.is_finite()) {
            return Err(JsError::new(&format!(
                "classify: embedding {} holds a non-finite value",
                at / dim
            )));
        }
        let embeddings = (embeddings.chunks(dim).zip(tokens))
            .map(|(vector, tokens)| Embedding {
                tokens: tokens as usize,
                vector: vector.to_vec(),
            })
            .collect();
        let outputs = self
            .model
            .predict_embeddings(embeddings)
            .map_err(js_error)?;
        self.outputs_to_js(outputs)
    }

    fn outputs_to_js(&self, outputs: Vec<Output>) -> Result<Object, JsError> {
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

    /// Embeddings of `texts`, `n × dim` row-major.
    pub fn embed(&self, texts: Vec<String>) -> Result<Float32Array, JsError> {
        let embeddings = self
            .model
            .encoder
            .embed(&texts, BATCH_SIZE)
            .map_err(js_error)?;
        let flat: Vec<f32> = embeddings.into_iter().flat_map(|e| e.vector).collect();
        Ok(Float32Array::from(&flat[..]))
    }

    /// Loads a head's replay set (stored embeddings of its training data).
    #[wasm_bindgen(js_name = setReplay)]
    pub fn set_replay(&mut self, bytes: &[u8], source: &str) -> Result<(), JsError> {
        let set = ReplaySet::from_safetensors(bytes, &self.model.encoder.encoder_ref(), source)
            .map_err(js_error)?;
        self.replay.insert(set.head.clone(), set);
        Ok(())
    }

    /// Share of the replay set of head `name` that the head labels right
    /// (`undefined` without a replay set).
    #[wasm_bindgen(js_name = replayAccuracy)]
    pub fn replay_accuracy(&self, name: &str) -> Result<Option<f64>, JsError> {
        let (Some(head), Some(set)) = (self.model.head(name), self.replay.get(name)) else {
            return Ok(None);
        };
        set.accuracy(head).map(Some).map_err(js_error)
    }

    /// `{json, safetensors}` bytes of head `name`: the files the CLI reads.
    #[wasm_bindgen(js_name = headFiles)]
    pub fn head_files(&self, name: &str) -> Result<Object, JsError> {
        let head = self
            .model
            .head(name)
            .ok_or_else(|| JsError::new(&format!("there is no head {name:?}")))?;
        let files = Object::new();
        let json = head.to_json().map_err(js_error)?;
        let weights = head.to_safetensors().map_err(js_error)?;
        set(&files, "json", &Uint8Array::from(&json[..]).into())?;
        set(
            &files,
            "safetensors",
            &Uint8Array::from(&weights[..]).into(),
        )?;
        Ok(files)
    }

    /// Trains head `name` on examples (`embeddings`: `n × dim` row-major,
    /// with `labels`), mixing in its replay set unless `config.fromScratch`.
    /// `on_epoch({epoch, trainLoss, validation})` is called after each epoch;
    /// a non-zero `stop[0]` (shared memory the page writes) ends the run,
    /// keeping the best weights. The trained head replaces the old one.
    pub fn train(
        &mut self,
        name: &str,
        embeddings: Vec<f32>,
        labels: Vec<String>,
        config: JsValue,
        on_epoch: &Function,
        stop: Option<Int32Array>,
    ) -> Result<JsValue, JsError> {
        let config: LessonConfig = if config.is_undefined() || config.is_null() {
            LessonConfig::default()
        } else {
            serde_wasm_bindgen::from_value(config)
                .map_err(|e| JsError::new(&format!("training settings: {e}")))?
        };
        let current = self
            .model
            .head(name)
            .ok_or_else(|| JsError::new(&format!("there is no head {name:?}")))?;
        let dim = self.model.encoder.dim();
        if embeddings.len() != labels.len() * dim {
            return Err(JsError::new(&format!(
                "{} embedding values for {} labels of dimension {dim}",
                embeddings.len(),
                labels.len()
            )));
        }
        let examples = Tensor::from_vec(embeddings, (labels.len(), dim), &Device::Cpu)
            .map_err(|e| js_error(e.into()))?;
        let stopped = || {
            stop.as_ref()
                .is_some_and(|s| Atomics::load(s, 0).unwrap_or(0) != 0)
        };
        let mut callback_error = None;
        let mut progress = |event: &Progress| {
            if let Progress::Epoch { .. } = event {
                match to_js(event).map(|e| on_epoch.call1(&JsValue::NULL, &e)) {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => callback_error = Some(format!("{e:?}")),
                    Err(e) => callback_error = Some(format!("{e:?}")),
                }
            }
            if stopped() || callback_error.is_some() {
                Control::Stop
            } else {
                Control::Continue
            }
        };
        let lesson = teach(
            current,
            &examples,
            &labels,
            self.replay.get(name),
            &config,
            &mut progress,
        )
        .map_err(js_error)?;
        if let Some(e) = callback_error {
            return Err(JsError::new(&format!("progress callback failed: {e}")));
        }
        let summary = serde_json::json!({
            "epochsRun": lesson.report.epochs_run,
            "bestEpoch": lesson.report.best_epoch,
            "stoppedEarly": lesson.report.stopped_early,
            "validation": lesson.report.validation[0],
            "examplesPerClass": lesson.examples_per_class,
        });
        self.model.set_head(lesson.head).map_err(js_error)?;
        to_js(&summary)
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

/// Parses an examples file the person imports (JSONL `{"text","label","head"}`
/// or CSV `text,label[,head]` with a header, by `file_name`'s extension) with
/// the same reader as the native trainer: `[{text, label, head?}]`, or an
/// error naming the file and line.
#[wasm_bindgen(js_name = readExamples)]
pub fn read_examples(bytes: &[u8], file_name: &str) -> Result<JsValue, JsError> {
    let format = crate::data::DataFormat::guess(file_name)
        .filter(|f| {
            matches!(
                f,
                crate::data::DataFormat::Jsonl | crate::data::DataFormat::Csv
            )
        })
        .ok_or_else(|| {
            JsError::new(&format!(
                "{file_name}: examples are imported from .jsonl or .csv files"
            ))
        })?;
    let set = crate::data::read_examples(bytes, file_name, format, false).map_err(js_error)?;
    to_js(&set.examples)
}

/// Writes examples (`[{text, label, head?}]`) as `"jsonl"` or `"csv"`, the
/// formats [`read_examples`] and the native trainer read.
#[wasm_bindgen(js_name = writeExamples)]
pub fn write_examples(examples: JsValue, format: &str) -> Result<String, JsError> {
    let examples: Vec<crate::data::Example> = serde_wasm_bindgen::from_value(examples)
        .map_err(|e| JsError::new(&format!("examples: {e}")))?;
    match format {
        "jsonl" => Ok(crate::data::write_jsonl(&examples)),
        "csv" => crate::data::write_csv(&examples).map_err(js_error),
        other => Err(JsError::new(&format!("unknown examples format {other:?}"))),
    }
}
