//! The browser binding: a thin `wasm-bindgen` layer over [`MultiTaskModel`].
//! The page's worker builds one [`WebModel`] from the downloaded files and
//! asks it for embeddings and predictions; everything it computes is the
//! same Rust the native CLI runs.
//!
//! Everything that crosses into JS is typed: the camelCase edge types below,
//! declared for TypeScript in the custom section (wasm-bindgen writes them
//! into `sentence_multitask.d.ts`), or types whose serde form is already the
//! JS one ([`Prediction`], [`LessonConfig`], [`Architecture`]). Types that are
//! also file formats (a head's JSON and its training record, the trainer's
//! progress lines, metrics) are converted here, so those formats stay as
//! they are.

use std::collections::{BTreeMap, HashMap};

use candle_core::{Device, Tensor};
use js_sys::{
    Atomics, Float32Array, Function, Int32Array, Object, Reflect, Uint32Array, Uint8Array,
};
use serde::{Serialize, Serializer};
use wasm_bindgen::prelude::*;

use crate::model::encoder::Encoder;
use crate::model::heads::{Architecture, EncoderRef, Head, Prediction};
use crate::model::weights::{ModelFiles, WEIGHTS_FILE};
use crate::model::{MultiTaskModel, Output};
use crate::training::adapted::teach_adapted;
use crate::training::crossval::{cross_validate, CrossValidation};
use crate::training::lesson::{new_task_head, teach, LessonConfig};
use crate::training::metrics::{ClassMetrics, Metrics};
use crate::training::replay::ReplaySet;
use crate::training::trainer::{Control, Progress, TaskValidation, TrainReport};

/// Sentences per encoder batch: texts are grouped by length first, so a
/// batch of similar lengths pads little.
const BATCH_SIZE: usize = 8;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** One head's answer for one sentence: the shape of the CLI's `predict` JSON. */
export interface Prediction {
  label: string;
  /** Probability of every label, keyed by label (written in the head's label order). */
  probabilities: Record<string, number>;
}

/** `predict`: `n` sentences' embeddings (row-major) and every head's answer. */
export interface Outputs {
  dim: number;
  embeddings: Float32Array;
  /** Word pieces of each sentence, with [CLS] and [SEP]. */
  tokens: Uint32Array;
  /** Per sentence: head name -> prediction. */
  predictions: Record<string, Prediction>[];
}

export interface EncoderInfo {
  id: string;
  dim: number;
  layers: number;
  maxTokens: number;
  kernel: string;
}

export type Activation = "relu" | "gelu" | "tanh";
export type Architecture =
  | { kind: "linear" }
  | { kind: "mlp"; hidden: number; activation: Activation; dropout: number };

export interface HeadInfo {
  name: string;
  /** Class labels in output order. */
  labels: string[];
  architecture: Architecture;
  encoder: { id: string; dim: number };
  /** How it was trained, if its file says. */
  training: { data: string[]; examplesPerClass: Record<string, number> } | null;
  /** The encoder layers its own adapter replaces (it reads their output, not the shared embedding), or null. */
  adapter: number[] | null;
}

/** `setHead`: the head added, and the files of the one it replaced. */
export interface SetHeadResult {
  head: HeadInfo;
  previous: HeadFiles | null;
}

/** `{json, safetensors}`: the two files of a head, as the CLI reads them. */
export interface HeadFiles {
  json: Uint8Array;
  safetensors: Uint8Array;
}

/** One labelled text of an examples file. */
export interface Example {
  text: string;
  label: string;
  head?: string | null;
}

/**
 * The settings of a lesson (`lessonDefaults()` gives the defaults). A number
 * that is `null` is chosen from the data ("auto"); a field left out takes
 * its default.
 */
export interface LessonConfig {
  epochs: number | null;
  learningRate: number | null;
  batchSize?: number | null;
  /** `null` keeps the current head's shape. */
  architecture: Architecture | null;
  classWeighted: boolean;
  fromScratch: boolean;
  /** The taught head's classes in order; `null`: the head's, then the examples' new labels. */
  classes: string[] | null;
  replayPerClass: number;
  seed: number;
  /** Few-shot: first train a new adapter for the task on pairs of the examples (`null`: the head alone learns). */
  adapt: ContrastConfig | null;
}

export interface TaskValidation {
  task: string;
  loss: number;
  accuracy: number;
}

/** Reported by `train`: after each contrastive step of a few-shot lesson, and after each epoch of the head. */
export type TrainEvent =
  | { phase: "pairs"; step: number; steps: number; loss: number }
  | { phase: "head"; epoch: number; trainLoss: number; validation: TaskValidation[] };

/** A few-shot lesson's contrastive phase (`LessonConfig.adapt`). */
export interface ContrastConfig {
  /** Top encoder layers the task's adapter copies. */
  layers: number;
  steps: number;
  /** Examples per step; every pair among them is scored. */
  batchSize: number;
  learningRate: number;
  weightDecay: number;
  seed: number;
  loss: { kind: "cosine" } | { kind: "batch"; temperature: number };
  /** Rank of LoRA factors the adapter trains through; null: all its values. */
  lora: number | null;
}

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface Metrics {
  count: number;
  accuracy: number;
  macroF1: number;
  perClass: Record<string, ClassMetrics>;
  labels: string[];
  /** `confusion[gold][predicted]` counts, in `labels` order. */
  confusion: number[][];
}

/** Held-out predictions of a lesson (`crossValidate`): each example held out once. */
export interface CrossValidation {
  folds: number;
  metrics: Metrics;
  /** Examples predicted wrong: their index in the examples given, and the label predicted. */
  wrong: { index: number; predicted: string }[];
}

/** What `train` returns. */
export interface LessonResult {
  epochsRun: number;
  bestEpoch: number;
  stoppedEarly: boolean;
  /** False when Stop came before the first epoch ended: the head is unchanged. */
  changed: boolean;
  /** Validation of the kept weights, when there was a validation split. */
  validation: Metrics | null;
  /** Examples trained on per class, replay included. */
  examplesPerClass: Record<string, number>;
}
"#;

/// Routes Rust panics to the console with their message and stack, once.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_error(error: crate::Error) -> JsError {
    JsError::new(&error.to_string())
}

fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

/// `EncoderInfo`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EncoderInfo {
    id: &'static str,
    dim: usize,
    layers: usize,
    max_tokens: usize,
    /// What the encoder's products run on: with the compact weights, the
    /// integer kernel of the build (in the relaxed-SIMD one, the kernel timed
    /// fastest); with the exact ones, candle's f32 kernels.
    kernel: &'static str,
}

/// `HeadInfo`: what the page shows about one head (the head's JSON file
/// stays as it is; `headFiles` gives it whole).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeadInfo<'a> {
    name: &'a str,
    labels: &'a [String],
    architecture: Architecture,
    encoder: &'a EncoderRef,
    training: Option<TrainingInfo<'a>>,
    adapter: Option<&'a [usize]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TrainingInfo<'a> {
    data: &'a [String],
    examples_per_class: &'a BTreeMap<String, usize>,
}

impl<'a> HeadInfo<'a> {
    fn of(head: &'a Head) -> Self {
        let meta = head.meta();
        Self {
            name: head.name(),
            labels: head.labels(),
            architecture: meta.architecture,
            encoder: &meta.encoder,
            training: meta.training.as_ref().map(|t| TrainingInfo {
                data: &t.data,
                examples_per_class: &t.examples_per_class,
            }),
            adapter: meta.adapter.as_ref().map(|a| a.layers.as_slice()),
        }
    }
}

/// One sentence's answers, `{head: Prediction}` in head order.
struct ByHead<'a>(&'a [(String, Prediction)]);

impl Serialize for ByHead<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, p)| (name, p)))
    }
}

/// `TaskValidation` (the trainer's own is written in its progress lines).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ValidationEdge<'a> {
    task: &'a str,
    loss: f64,
    accuracy: f64,
}

/// `TrainEvent`: [`Progress::Pairs`] and [`Progress::Epoch`] as the page
/// reads them.
#[derive(Serialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
enum TrainEvent<'a> {
    Pairs {
        step: usize,
        steps: usize,
        loss: f64,
    },
    #[serde(rename_all = "camelCase")]
    Head {
        epoch: usize,
        train_loss: f64,
        validation: Vec<ValidationEdge<'a>>,
    },
}

impl<'a> TrainEvent<'a> {
    /// The page hears of contrastive steps and of epochs, not of the head's steps.
    fn of(progress: &'a Progress) -> Option<Self> {
        match progress {
            Progress::Step { .. } => None,
            &Progress::Pairs { step, steps, loss } => Some(Self::Pairs { step, steps, loss }),
            Progress::Epoch {
                epoch,
                train_loss,
                validation,
            } => Some(Self::Head {
                epoch: *epoch,
                train_loss: *train_loss,
                validation: validation
                    .iter()
                    .map(|v: &TaskValidation| ValidationEdge {
                        task: &v.task,
                        loss: v.loss,
                        accuracy: v.accuracy,
                    })
                    .collect(),
            }),
        }
    }
}

/// `Metrics` (a head's JSON keeps the snake_case form).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetricsEdge<'a> {
    count: usize,
    accuracy: f64,
    macro_f1: f64,
    per_class: &'a BTreeMap<String, ClassMetrics>,
    labels: &'a [String],
    confusion: &'a [Vec<usize>],
}

impl<'a> MetricsEdge<'a> {
    fn of(m: &'a Metrics) -> Self {
        Self {
            count: m.count,
            accuracy: m.accuracy,
            macro_f1: m.macro_f1,
            per_class: &m.per_class,
            labels: &m.labels,
            confusion: &m.confusion,
        }
    }
}

/// `LessonResult`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LessonResult<'a> {
    epochs_run: usize,
    best_epoch: usize,
    stopped_early: bool,
    changed: bool,
    validation: Option<MetricsEdge<'a>>,
    examples_per_class: &'a BTreeMap<String, usize>,
}

impl<'a> LessonResult<'a> {
    fn of(
        report: &'a TrainReport,
        examples_per_class: &'a BTreeMap<String, usize>,
        changed: bool,
    ) -> Self {
        Self {
            epochs_run: report.epochs_run,
            best_epoch: report.best_epoch,
            stopped_early: report.stopped_early,
            changed,
            validation: report
                .validation
                .first()
                .and_then(Option::as_ref)
                .map(MetricsEdge::of),
            examples_per_class,
        }
    }
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
    /// and the weights file `weights_file` (default `model.safetensors`);
    /// every file is checked and a bad one is named in the error.
    #[wasm_bindgen(constructor)]
    pub fn new(
        config: Vec<u8>,
        tokenizer: Vec<u8>,
        weights: Vec<u8>,
        weights_file: Option<String>,
    ) -> Result<WebModel, JsError> {
        let files = ModelFiles {
            config,
            tokenizer,
            weights,
            weights_file: weights_file.unwrap_or_else(|| WEIGHTS_FILE.into()),
        };
        let encoder = Encoder::from_files(&files).map_err(js_error)?;
        Ok(Self {
            model: MultiTaskModel::new(encoder),
            replay: HashMap::new(),
        })
    }

    /// Adds (or replaces, by name) a head from its `NAME.json` and
    /// `NAME.safetensors` bytes; returns `SetHeadResult` (its `HeadInfo`,
    /// and the files of the head it replaced, for undo). A head made for
    /// another encoder, or whose files disagree, is refused and the model is
    /// left as it was. `source` names the files in errors.
    #[wasm_bindgen(js_name = setHead, unchecked_return_type = "SetHeadResult")]
    pub fn set_head(
        &mut self,
        json: &[u8],
        safetensors: &[u8],
        source: &str,
    ) -> Result<Object, JsError> {
        let encoder = self.model.encoder.encoder_ref();
        let head = Head::from_bytes(json, safetensors, &encoder, source).map_err(js_error)?;
        let info = to_js(&HeadInfo::of(&head))?;
        let previous = match self.model.set_head(head).map_err(js_error)? {
            Some(old) => files_of(&old)?.into(),
            None => JsValue::NULL,
        };
        let result = Object::new();
        set(&result, "head", &info)?;
        set(&result, "previous", &previous)?;
        Ok(result)
    }

    /// Removes head `name` (the page's undo of an import it could not store);
    /// false when there was none.
    #[wasm_bindgen(js_name = removeHead)]
    pub fn remove_head(&mut self, name: &str) -> bool {
        self.model.remove_head(name).is_some()
    }

    /// Every head's `HeadInfo`, in order.
    #[wasm_bindgen(unchecked_return_type = "HeadInfo[]")]
    pub fn heads(&self) -> Result<JsValue, JsError> {
        to_js(
            &self
                .model
                .heads()
                .iter()
                .map(HeadInfo::of)
                .collect::<Vec<_>>(),
        )
    }

    /// The encoder: `{id, dim, layers, maxTokens, kernel}`.
    #[wasm_bindgen(unchecked_return_type = "EncoderInfo")]
    pub fn info(&self) -> Result<JsValue, JsError> {
        let encoder = &self.model.encoder;
        to_js(&EncoderInfo {
            id: crate::ENCODER_ID,
            dim: encoder.dim(),
            layers: encoder.num_layers(),
            max_tokens: crate::model::tokenize::MAX_SEQ_LEN,
            kernel: match encoder.on_integer_kernels() {
                true => crate::model::qmatmul::Kernel::best().name(),
                false => "f32 SIMD kernels",
            },
        })
    }

    /// Word-piece ids of `text`, with `[CLS]` and `[SEP]`, cut at 256.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, JsError> {
        self.model.encoder.tokenize(text).map_err(js_error)
    }

    /// Embeds `texts` and runs every head: `Outputs` (`{dim, embeddings:
    /// Float32Array (n × dim, row-major), tokens: Uint32Array, predictions:
    /// [{head: Prediction}]}`).
    #[wasm_bindgen(unchecked_return_type = "Outputs")]
    pub fn predict(&self, texts: Vec<String>) -> Result<Object, JsError> {
        let outputs = self.model.predict(&texts, BATCH_SIZE).map_err(js_error)?;
        self.outputs_to_js(outputs)
    }

    /// What head `name` reads for `texts`, `n × dim` row-major: its
    /// adapter's outputs when it has one, else (also for a task with no head
    /// yet) the shared embeddings. Lessons train on these.
    #[wasm_bindgen(js_name = headInputs)]
    pub fn head_inputs(&self, name: &str, texts: Vec<String>) -> Result<Float32Array, JsError> {
        let flat: Vec<f32> = match self.model.head(name) {
            Some(head) if head.adapter().is_some() => {
                let x = crate::model::head_inputs(&self.model.encoder, head, &texts);
                x.and_then(|x| Ok(x.flatten_all()?.to_vec1::<f32>()?))
                    .map_err(js_error)?
            }
            _ => return self.embed(texts),
        };
        Ok(Float32Array::from(&flat[..]))
    }

    fn outputs_to_js(&self, outputs: Vec<Output>) -> Result<Object, JsError> {
        let dim = self.model.encoder.dim();
        let mut embeddings = Vec::with_capacity(outputs.len() * dim);
        let mut tokens = Vec::with_capacity(outputs.len());
        for out in &outputs {
            embeddings.extend_from_slice(&out.embedding.vector);
            tokens.push(out.embedding.tokens as u32);
        }
        let predictions: Vec<ByHead> = outputs.iter().map(|o| ByHead(&o.predictions)).collect();
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

    /// Share of the replay set of head `name` that the head labels right,
    /// counting only the examples of `classes` when given (the shipped
    /// classes the person kept); `undefined` without a replay set or such
    /// examples.
    #[wasm_bindgen(js_name = replayAccuracy)]
    pub fn replay_accuracy(
        &self,
        name: &str,
        classes: Option<Vec<String>>,
    ) -> Result<Option<f64>, JsError> {
        let (Some(head), Some(set)) = (self.model.head(name), self.replay.get(name)) else {
            return Ok(None);
        };
        let classes = classes.unwrap_or_else(|| set.labels.clone());
        set.accuracy_among(head, &classes).map_err(js_error)
    }

    /// `HeadFiles`: the `{json, safetensors}` bytes of head `name`, the
    /// files the CLI reads.
    #[wasm_bindgen(js_name = headFiles, unchecked_return_type = "HeadFiles")]
    pub fn head_files(&self, name: &str) -> Result<Object, JsError> {
        let head = self
            .model
            .head(name)
            .ok_or_else(|| JsError::new(&format!("there is no head {name:?}")))?;
        files_of(head)
    }

    /// Trains head `name` on `texts` labelled `labels`, whose head inputs
    /// (`headInputs`, or the embeddings for a head without adapter) the page
    /// passes as `embeddings`; with `config.adapt` the task gets a new
    /// adapter trained on the texts first, and `embeddings` may be empty.
    /// `on_event(TrainEvent)` is called after each contrastive step and each
    /// epoch; a non-zero `stop[0]` (shared memory the page writes) ends the
    /// phase, keeping the best weights. The trained head replaces the old
    /// one, unless Stop came before the first epoch ended (`changed:
    /// false`); returns a `LessonResult`.
    #[wasm_bindgen(unchecked_return_type = "LessonResult")]
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        &mut self,
        name: &str,
        texts: Vec<String>,
        embeddings: Vec<f32>,
        labels: Vec<String>,
        #[wasm_bindgen(unchecked_param_type = "Partial<LessonConfig> | null | undefined")]
        config: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(event: TrainEvent) => void")] on_event: &Function,
        stop: Option<Int32Array>,
    ) -> Result<JsValue, JsError> {
        let mut events = Events::new(on_event, stop);
        let mut progress = |event: &Progress| events.report(event);
        let config = parse_config(config)?;
        let mut fresh = None;
        let lesson = if config.adapt.is_some() {
            if self.replay.contains_key(name) && !config.from_scratch {
                return Err(JsError::new(&format!(
                    "{name} keeps its shipped classes through stored examples of its current outputs, which a new adapter would make stale: adapt a task of your own, or train {name} from scratch"
                )));
            }
            let start = self.lesson_start(name, &labels, &config, &mut fresh)?;
            let encoder = &self.model.encoder;
            teach_adapted(encoder, start, &texts, &labels, &config, &mut progress)
        } else {
            let examples = self.examples(embeddings, &labels)?;
            let start = self.lesson_start(name, &labels, &config, &mut fresh)?;
            let replay = self.replay.get(name);
            teach(start, &examples, &labels, replay, &config, &mut progress)
        }
        .map_err(js_error)?;
        events.finish()?;
        let result = to_js(&LessonResult::of(
            &lesson.report,
            &lesson.examples_per_class,
            lesson.head.is_some(),
        ))?;
        if let Some(head) = lesson.head {
            self.model.set_head(head).map_err(js_error)?;
        }
        Ok(result)
    }

    /// Cross-validates the lesson `train` would give on these examples
    /// (same arguments, no callback): `CrossValidation`, or `undefined`
    /// when a class has a single example. The head is not changed.
    #[wasm_bindgen(js_name = crossValidate, unchecked_return_type = "CrossValidation | undefined")]
    pub fn cross_validate(
        &self,
        name: &str,
        embeddings: Vec<f32>,
        labels: Vec<String>,
        #[wasm_bindgen(unchecked_param_type = "Partial<LessonConfig> | null | undefined")]
        config: JsValue,
    ) -> Result<JsValue, JsError> {
        let config = parse_config(config)?;
        let examples = self.examples(embeddings, &labels)?;
        let mut fresh = None;
        let start = self.lesson_start(name, &labels, &config, &mut fresh)?;
        let replay = self.replay.get(name);
        match cross_validate(start, &examples, &labels, replay, &config).map_err(js_error)? {
            Some(cv) => to_js(&CrossValidationEdge::of(&cv)),
            None => Ok(JsValue::UNDEFINED),
        }
    }
}

impl WebModel {
    /// What a lesson on head `name` starts from: the model's head (lessons
    /// copy what they train, so it is lent, not copied), or a new task's,
    /// made by the library and kept in `fresh`, when the model has none.
    fn lesson_start<'a>(
        &'a self,
        name: &str,
        labels: &[String],
        config: &LessonConfig,
        fresh: &'a mut Option<Head>,
    ) -> Result<&'a Head, JsError> {
        if let Some(head) = self.model.head(name) {
            return Ok(head);
        }
        let encoder = self.model.encoder.encoder_ref();
        let head = new_task_head(name, labels, config, encoder).map_err(js_error)?;
        Ok(fresh.insert(head))
    }

    /// The examples' head inputs as an `(n, dim)` tensor, checked against `labels`.
    fn examples(&self, embeddings: Vec<f32>, labels: &[String]) -> Result<Tensor, JsError> {
        let dim = self.model.encoder.dim();
        if embeddings.len() != labels.len() * dim {
            return Err(JsError::new(&format!(
                "{} embedding values for {} labels of dimension {dim}",
                embeddings.len(),
                labels.len()
            )));
        }
        Tensor::from_vec(embeddings, (labels.len(), dim), &Device::Cpu)
            .map_err(|e| js_error(e.into()))
    }
}

/// A lesson's settings: `config`'s fields, the defaults for the rest.
fn parse_config(config: JsValue) -> Result<LessonConfig, JsError> {
    if config.is_undefined() || config.is_null() {
        return Ok(LessonConfig::default());
    }
    serde_wasm_bindgen::from_value(config)
        .map_err(|e| JsError::new(&format!("training settings: {e}")))
}

/// The page's callback and Stop flag, as the trainer's progress function.
struct Events<'a> {
    on_event: &'a Function,
    stop: Option<Int32Array>,
    error: Option<String>,
}

impl<'a> Events<'a> {
    fn new(on_event: &'a Function, stop: Option<Int32Array>) -> Self {
        Self {
            on_event,
            stop,
            error: None,
        }
    }

    /// Tells the page of `event` (`TrainEvent`); Stop when the page asked
    /// for it or its callback failed.
    fn report(&mut self, event: &Progress) -> Control {
        if let Some(event) = TrainEvent::of(event) {
            match to_js(&event).map(|e| self.on_event.call1(&JsValue::NULL, &e)) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => self.error = Some(format!("{e:?}")),
                Err(e) => self.error = Some(format!("{e:?}")),
            }
        }
        let stopped = (self.stop.as_ref()).is_some_and(|s| Atomics::load(s, 0).unwrap_or(0) != 0);
        if stopped || self.error.is_some() {
            Control::Stop
        } else {
            Control::Continue
        }
    }

    /// The callback's failure, if it failed.
    fn finish(self) -> Result<(), JsError> {
        match self.error {
            Some(e) => Err(JsError::new(&format!("progress callback failed: {e}"))),
            None => Ok(()),
        }
    }
}

/// `CrossValidation`.
#[derive(Serialize)]
struct CrossValidationEdge<'a> {
    folds: usize,
    metrics: MetricsEdge<'a>,
    wrong: Vec<WrongEdge<'a>>,
}

/// One example the held-out lessons got wrong.
#[derive(Serialize)]
struct WrongEdge<'a> {
    index: usize,
    predicted: &'a str,
}

impl<'a> CrossValidationEdge<'a> {
    fn of(cv: &'a CrossValidation) -> Self {
        Self {
            folds: cv.folds,
            metrics: MetricsEdge::of(&cv.metrics),
            wrong: (cv.wrong.iter())
                .map(|(index, predicted)| WrongEdge {
                    index: *index,
                    predicted,
                })
                .collect(),
        }
    }
}

fn set(target: &Object, key: &str, value: &JsValue) -> Result<(), JsError> {
    Reflect::set(target, &JsValue::from_str(key), value)
        .map(|_| ())
        .map_err(|_| JsError::new(&format!("could not set {key}")))
}

/// A head's `HeadFiles`: `{json, safetensors}` bytes.
fn files_of(head: &Head) -> Result<Object, JsError> {
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

/// The settings `train` uses for the fields its `config` leaves out
/// (`LessonConfig::default()`); the page's Advanced panel shows them.
#[wasm_bindgen(js_name = lessonDefaults, unchecked_return_type = "LessonConfig")]
pub fn lesson_defaults() -> Result<JsValue, JsError> {
    to_js(&LessonConfig::default())
}

/// The contrastive phase's settings when the page asks for a few-shot
/// lesson (`LessonConfig.adapt`), chosen by measurement (weights/README.md).
#[wasm_bindgen(js_name = contrastDefaults, unchecked_return_type = "ContrastConfig")]
pub fn contrast_defaults() -> Result<JsValue, JsError> {
    to_js(&crate::training::contrast::ContrastConfig::default())
}

/// Why `name` cannot name a task's head (1-64 letters, digits, '-' or '_'),
/// or nothing: the page asks before it creates a task.
#[wasm_bindgen(js_name = checkTaskName)]
pub fn check_task_name(name: &str) -> Result<(), JsError> {
    crate::model::heads::check_name(name).map_err(|reason| JsError::new(&reason))
}

/// The shape of a new MLP head (`Architecture::default()`), for the
/// Advanced panel's "MLP" choice.
#[wasm_bindgen(js_name = defaultArchitecture, unchecked_return_type = "Architecture")]
pub fn default_architecture() -> Result<JsValue, JsError> {
    to_js(&Architecture::default())
}

/// Parses an examples file the person imports (JSONL `{"text","label","head"}`
/// or CSV `text,label[,head]` with a header, by `file_name`'s extension) with
/// the same reader as the native trainer: `Example[]`, or an error naming
/// the file and line.
#[wasm_bindgen(js_name = readExamples, unchecked_return_type = "Example[]")]
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

/// Writes examples as `"jsonl"` or `"csv"`, the formats [`read_examples`]
/// and the native trainer read.
#[wasm_bindgen(js_name = writeExamples)]
pub fn write_examples(
    #[wasm_bindgen(unchecked_param_type = "Example[]")] examples: JsValue,
    #[wasm_bindgen(unchecked_param_type = "\"jsonl\" | \"csv\"")] format: &str,
) -> Result<String, JsError> {
    let examples: Vec<crate::data::Example> = serde_wasm_bindgen::from_value(examples)
        .map_err(|e| JsError::new(&format!("examples: {e}")))?;
    match format {
        "jsonl" => Ok(crate::data::write_jsonl(&examples)),
        "csv" => crate::data::write_csv(&examples).map_err(js_error),
        other => Err(JsError::new(&format!("unknown examples format {other:?}"))),
    }
}
