// The page: input, status, results. No model code here; the worker owns it.

import { byId, el, heatmap, resultRow } from './render.js';
import { labelControl, refreshHeads, refreshSuggestions, setupTeaching } from './teach.js';

/**
 * @import { HeadInfo } from './pkg/sentence_multitask.js'
 * @import { Calls, FromWorker, Timings, ToWorker } from './protocol.js'
 * @import { Result } from './render.js'
 */

/** @typedef {'pending' | 'ready' | 'failed'} RowState */

const EXAMPLES = [
  'The striker scored twice in the final minutes to win the cup.',
  'Shares fell sharply after the bank reported a quarterly loss.',
  'The new chip doubles battery life for laptops and phones.',
  'Leaders met in Geneva to discuss the ceasefire.',
  'What a wonderful, heartfelt film. I loved every minute.',
  'The service was slow and the food was cold. Never again.',
];
/** Pause after the last keystroke before encoding. */
const DEBOUNCE_MS = 150;
/**
 * The stored forms of the encoder weights (weights/README.md): compact is the
 * default; exact is the f16 file, within 0.99999 of the reference.
 */
/** @type {Record<string, {file: string, label: string}>} */
const PRECISIONS = {
  compact: { file: 'model-int8.safetensors', label: 'int8' },
  exact: { file: 'model.safetensors', label: 'f16' },
};
const PRECISION_KEY = 'sentence-multitask-precision';
const TEXT_KEY = 'sentence-multitask-text';
/** `?precision=` first, then the person's last choice, then compact. */
const precision = [new URLSearchParams(location.search).get('precision'), localStorage.getItem(PRECISION_KEY)].find(
  (p) => p !== null && Object.hasOwn(PRECISIONS, p),
) ?? 'compact';
/** Sentences shown in the heat map (it grows as n²). */
const HEATMAP_MAX = 16;

const $ = byId;
const status = /** @type {HTMLElement} */ (document.querySelector('[data-testid="status"]'));
const input = $('sentences', HTMLTextAreaElement);
const list = $('results');
const precisionSelect = $('precision', HTMLSelectElement);
const download = $('download', HTMLProgressElement);

const state = {
  /** @type {HeadInfo[]} */
  heads: [],
  /** @type {Map<string, Result>} */
  cache: new Map(),
  /** lines the worker could not encode -> why (not asked again until Retry) @type {Map<string, string>} */
  failed: new Map(),
  /** rendered rows, by non-empty line @type {{text: string, shown: RowState, node: HTMLElement}[]} */
  rows: [],
  requestId: 0,
  ready: false,
  /** @type {Timings | undefined} */
  timings: undefined,
};

const workerUrl = new URL('./worker.js', import.meta.url);
// `?simd=baseline` runs the simd128 build where relaxed SIMD would be chosen (benchmarks, tests).
const simd = new URLSearchParams(location.search).get('simd');
if (simd) workerUrl.searchParams.set('simd', simd);
const worker = new Worker(workerUrl, { type: 'module' });
/** @param {ToWorker} message */
const send = (message) => worker.postMessage(message);
/** For tests and the benchmark (make bench-web). */
Object.assign(window, { sentenceMultitask: { state, worker, call } });

/**
 * Requests that expect one reply.
 * @type {Map<string, {resolve: (value: any) => void, reject: (error: Error) => void, onEvent?: (event: any) => void}>}
 */
const pending = new Map();
let nextCall = 0;

/**
 * Sends `{type, id, ...payload}` to the worker; resolves with its reply.
 * `onEvent` hears the request's own events (`train-event`).
 * @template {keyof Calls} K
 * @param {K} type
 * @param {Calls[K]['request']} payload
 * @param {(event: Extract<FromWorker, { type: 'train-event' }>) => void} [onEvent]
 * @returns {Promise<Calls[K]['reply']>}
 */
function call(type, payload, onEvent) {
  const id = `call-${++nextCall}`;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onEvent });
    send(/** @type {ToWorker} */ ({ type, id, ...payload }));
  });
}

/**
 * The model's heads changed (trained, imported, reset): predict again.
 * @param {HeadInfo[]} heads
 */
function headsChanged(heads) {
  state.heads = heads;
  state.cache.clear();
  state.rows = [];
  list.replaceChildren();
  heatmapKey = '';
  refreshHeads();
  requestMissing();
}

/**
 * @param {'loading' | 'ready' | 'error'} kind
 * @param {string} text
 */
function setStatus(kind, text) {
  status.dataset.state = kind;
  $('status-text').textContent = text;
  $('retry').hidden = kind !== 'error';
  download.hidden = kind !== 'loading';
}

/** @param {number} n */
const megabytes = (n) => `${(n / 1e6).toFixed(1)} MB`;

function lines() {
  return input.value.split('\n').filter((line) => line.trim() !== '');
}

/** Lines without a result that the worker has not refused. */
const missingLines = () => [...new Set(lines().filter((text) => !state.cache.has(text) && !state.failed.has(text)))];

function requestMissing() {
  if (!state.ready) return;
  const missing = missingLines();
  if (missing.length > 0) {
    state.requestId += 1;
    send({ type: 'encode', id: state.requestId, texts: missing });
  }
  render();
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let debounce;
input.addEventListener('input', () => {
  clearTimeout(debounce);
  debounce = setTimeout(requestMissing, DEBOUNCE_MS);
});

/** Up to this many lines, every result shows its bars and strip; beyond, a line of labels each (a click opens one). */
const OPEN_ROWS = 5;
/** Rows built per task, so thousands of lines never block the page for long. */
const ROWS_PER_TASK = 150;
let renderQueued = false;

/**
 * Brings the result rows in line with the text: only changed rows are
 * rebuilt, at most ROWS_PER_TASK at a time (the rest in following tasks).
 */
function render() {
  const texts = lines();
  const added = document.createDocumentFragment();
  let built = 0;
  for (let i = 0; i < texts.length && built < ROWS_PER_TASK; i++) {
    const text = texts[i];
    const result = state.cache.get(text);
    const failure = state.failed.get(text);
    /** @type {RowState} */
    const shown = result ? 'ready' : failure === undefined ? 'pending' : 'failed';
    const old = state.rows[i];
    if (old && old.text === text && old.shown === shown) continue;
    const node = resultRow(text, result ?? failure, state.heads, (row) => row.append(labelControl(text)), texts.length <= OPEN_ROWS);
    if (old) old.node.replaceWith(node);
    else added.append(node);
    state.rows[i] = { text, shown, node };
    built += 1;
  }
  list.append(added);
  for (const row of state.rows.splice(texts.length)) row.node.remove();
  if (built === ROWS_PER_TASK && !renderQueued) {
    renderQueued = true;
    setTimeout(() => {
      renderQueued = false;
      render();
    }, 0);
  }
  const done = texts.filter((t) => state.cache.has(t)).length;
  $('results-meta').textContent = texts.length ? `${done} of ${texts.length} lines` : '';
  drawHeatmap(texts);
  if (state.ready) refreshSuggestions();
}

/** The typed lines that have results, in order, for "Label next". */
function typedResults() {
  return [...new Set(lines())].flatMap((text) => {
    const result = state.cache.get(text);
    return result ? [{ text, predictions: result.predictions }] : [];
  });
}

let heatmapKey = '';
/** @param {string[]} texts */
function drawHeatmap(texts) {
  const shown = [...new Set(texts)].slice(0, HEATMAP_MAX).filter((t) => state.cache.has(t));
  const key = JSON.stringify(shown);
  if (key === heatmapKey) return;
  heatmapKey = key;
  const section = $('similarity');
  section.hidden = shown.length < 2;
  if (section.hidden) return;
  $('similarity-meta').textContent = texts.length > HEATMAP_MAX ? `first ${HEATMAP_MAX} distinct lines` : '';
  heatmap(
    $('heatmap'),
    shown.map((text) => {
      const { vector, predictions } = /** @type {Result} */ (state.cache.get(text));
      return { text, vector, predictions };
    }),
  );
}

/** @param {MessageEvent<FromWorker>} event */
worker.onmessage = ({ data }) => {
  switch (data.type) {
    case 'progress': {
      download.max = Math.max(1, data.total);
      download.value = data.loaded;
      setStatus('loading', `Downloading the model: ${megabytes(data.loaded)} of ${megabytes(data.total)}`);
      break;
    }
    case 'ready': {
      state.ready = true;
      state.heads = data.heads;
      state.timings = data.timings;
      const weights = data.sizes[PRECISIONS[precision].file];
      $('runs-text').textContent =
        `Model: all-MiniLM-L6-v2, ${data.info.layers} layers, ${data.info.dim} dimensions, ` +
        `${megabytes(weights)} of ${PRECISIONS[precision].label} weights, Rust + candle in WebAssembly` +
        ` with ${data.info.kernel}, in a worker thread.`;
      const source = data.timings.fromCache ? 'from this browser\u2019s cache' : `downloaded ${megabytes(data.timings.downloadedBytes)}`;
      setStatus('ready', `Ready in ${Math.round(data.timings.readyMs)} ms (${source}).`);
      requestMissing();
      setupTeaching(call, () => state.heads, headsChanged, data.defaults, typedResults);
      break;
    }
    case 'results': {
      data.texts.forEach((text, i) => {
        state.cache.set(text, {
          vector: data.embeddings.subarray(i * data.dim, (i + 1) * data.dim),
          tokens: data.tokens[i],
          predictions: data.predictions[i],
        });
      });
      render();
      break;
    }
    case 'encode-error': {
      state.failed.set(data.text, data.message);
      const n = lines().filter((t) => state.failed.has(t)).length;
      setStatus('error', `${n} line${n === 1 ? '' : 's'} could not be encoded (${data.message}). Retry reloads the model.`);
      render();
      break;
    }
    case 'train-event':
      pending.get(data.id)?.onEvent?.(data);
      break;
    case 'reply': {
      const waiting = pending.get(data.id);
      pending.delete(data.id);
      if (data.ok) waiting?.resolve(data.value);
      else waiting?.reject(new Error(data.message));
      break;
    }
    case 'idle':
      // Lines typed while the worker was busy may still be missing.
      if (missingLines().length > 0) requestMissing();
      break;
    case 'error':
      if (data.stage === 'load') setStatus('error', `The model could not be loaded: ${data.message}`);
      else setStatus('error', `Something went wrong: ${data.message}`);
      break;
  }
};
/** @param {ErrorEvent} event */
worker.onerror = (event) => setStatus('error', `The model worker failed: ${event.message || 'unknown error'}`);

/**
 * Loads the page again with the text kept: a new worker builds the model
 * from scratch (a wasm instance that failed may not recover), and the heads
 * come back from this browser's store.
 */
function reloadKeepingText() {
  sessionStorage.setItem(TEXT_KEY, input.value);
  const url = new URL(location.href);
  url.searchParams.delete('precision');
  location.replace(url);
}

$('retry').addEventListener('click', () => {
  setStatus('loading', 'Retrying…');
  reloadKeepingText();
});

// Switching weights rebuilds the worker's model.
precisionSelect.value = precision;
precisionSelect.addEventListener('change', () => {
  localStorage.setItem(PRECISION_KEY, precisionSelect.value);
  reloadKeepingText();
});
const kept = sessionStorage.getItem(TEXT_KEY);
if (kept !== null) {
  sessionStorage.removeItem(TEXT_KEY);
  input.value = kept;
}

for (const example of EXAMPLES) {
  const chip = el('button', { type: 'button', class: 'chip', text: example });
  chip.addEventListener('click', () => {
    const current = input.value.replace(/\n+$/, '');
    input.value = current ? `${current}\n${example}` : example;
    requestMissing();
    input.focus();
  });
  $('examples').append(chip);
}

setStatus('loading', 'Downloading the model…');
send({ type: 'load', weights: PRECISIONS[precision].file });
