// The messages between the page (app.js, teach.js), the model worker
// (worker.js) and the second encoder (encoder-worker.js). Types only, for
// `make typecheck`: the other files import them in JSDoc comments, and
// nothing loads this file at run time. The payloads that come from Rust are
// declared in pkg/sentence_multitask.d.ts, which wasm-bindgen writes.

/**
 * @import { Architecture, ContrastConfig, CrossValidation, EncoderInfo, TrainEvent, Example, HeadFiles, HeadInfo, LessonConfig, LessonResult, Prediction } from './pkg/sentence_multitask.js'
 */

/** @typedef {{ text: string, label: string }} LabelledText */

/**
 * What `train` replies: the wasm `LessonResult` and what the worker adds.
 * `previous` is the head as it was before, for the page to put back if it
 * cannot store the new one (null for a new task's first head).
 * @typedef {LessonResult & {
 *   embedMs: number,
 *   trainMs: number,
 *   replayAccuracy: { before: number | undefined, after: number | undefined },
 *   heads: HeadInfo[],
 *   files: HeadFiles,
 *   previous: HeadFiles | null,
 * }} TrainResult
 */

/**
 * Requests that get one `reply`: what the page sends besides `type` and
 * `id`, and the value a successful reply carries.
 * @typedef {{
 *   'train': {
 *     request: { head: string, examples: LabelledText[], config: Partial<LessonConfig>, stop: SharedArrayBuffer | null },
 *     reply: TrainResult,
 *   },
 *   'set-head': {
 *     request: { json: Uint8Array, safetensors: Uint8Array, source: string },
 *     reply: { head: HeadInfo, heads: HeadInfo[], files: HeadFiles, previous: HeadFiles | null },
 *   },
 *   'reset-head': { request: { head: string }, reply: { heads: HeadInfo[] } },
 *   'remove-head': { request: { head: string }, reply: { heads: HeadInfo[] } },
 *   'check-task-name': { request: { name: string }, reply: null },
 *   'cross-validate': {
 *     request: { head: string, examples: LabelledText[], config: Partial<LessonConfig> },
 *     reply: CrossValidation | undefined,
 *   },
 *   'head-files': { request: { head: string }, reply: HeadFiles },
 *   'read-examples': { request: { bytes: Uint8Array, name: string }, reply: Example[] },
 *   'write-examples': { request: { examples: Example[], format: 'jsonl' | 'csv' }, reply: string },
 *   'bench': {
 *     request: { texts: string[], batch: number, reps: number, workers?: number },
 *     reply: { sps: number, workers: number, wasmMemoryBytes: number },
 *   },
 *   'embed': { request: { texts: string[] }, reply: { embeddings: Float32Array, wasmMemoryBytes: number } },
 * }} Calls
 */

/**
 * @template {keyof Calls} K
 * @typedef {{ type: K, id: string } & Calls[K]['request']} CallMessage
 */

/**
 * Page -> model worker.
 * @typedef {{ [K in keyof Calls]: CallMessage<K> }[keyof Calls]
 *   | { type: 'load', weights: string }
 *   | { type: 'encode', id: number, texts: string[] }} ToWorker
 */

/** @typedef {{ loaded: number, total: number, cached: number }} DownloadProgress */

/**
 * @typedef {{
 *   downloadMs: number,
 *   buildMs: number,
 *   readyMs: number,
 *   downloadedBytes: number,
 *   fromCache: boolean,
 * }} Timings
 */

/**
 * The trainer's defaults, asked from wasm: `lesson` for whatever the
 * Advanced panel leaves empty, `mlp` for its "MLP" choice, `contrast` for
 * a few-shot lesson's adapter.
 * @typedef {{ lesson: LessonConfig, mlp: Architecture, contrast: ContrastConfig }} Defaults
 */

/**
 * One `results` message: a batch of texts with their embeddings
 * (`texts.length × dim`, row-major) and every head's answer; `encoder` 1 is
 * the model worker, 2 the second encoder.
 * @typedef {{
 *   type: 'results',
 *   id: number,
 *   encoder: 1 | 2,
 *   texts: string[],
 *   ms: number,
 *   dim: number,
 *   embeddings: Float32Array,
 *   tokens: Uint32Array,
 *   predictions: Record<string, Prediction>[],
 * }} Results
 */

/**
 * Model worker -> page.
 * @typedef {({ type: 'progress' } & DownloadProgress)
 *   | { type: 'ready', info: EncoderInfo, heads: HeadInfo[], defaults: Defaults, timings: Timings, sizes: Record<string, number> }
 *   | Results
 *   | { type: 'encode-error', id: number, text: string, message: string }
 *   | { type: 'idle', id: number }
 *   | ({ type: 'train-event', id: string } & TrainEvent)
 *   | { type: 'reply', id: string, ok: true, value: unknown }
 *   | { type: 'reply', id: string, ok: false, message: string }
 *   | { type: 'error', stage: 'load' | 'encode' | 'message', message: string }} FromWorker
 */

/**
 * Model worker -> second encoder.
 * @typedef {{ type: 'load', config: Uint8Array, tokenizer: Uint8Array, weights: Uint8Array, weightsFile: string }
 *   | { type: 'heads', version: number, heads: { name: string, json: Uint8Array, safetensors: Uint8Array, source: string }[] }
 *   | { type: 'embed', id: number, texts: string[] }} ToEncoder
 */

/**
 * Second encoder -> model worker (`id` is undefined for a failed load).
 * @typedef {{ type: 'ready' }
 *   | { type: 'embedded', id: number, version: number, dim: number, embeddings: Float32Array, tokens: Uint32Array, predictions: Record<string, Prediction>[] }
 *   | { type: 'error', id: number | undefined, message: string }} FromEncoder
 */

export {};
