// The worker owns the wasm model; the page talks to it only through the typed
// messages below (ToWorker and FromWorker in protocol.js), so typing never
// waits on the encoder.
//
// page -> worker
//   {type: 'load', weights}                download (or read from cache) and build the model;
//                                          weights: the encoder file, model.safetensors or model-int8.safetensors
//   {type: 'encode', id, texts}            embed + predict; replaces texts still queued
//   {type: 'train', id, head, examples: [{text, label}], config, stop}
//                                          a head the model lacks is a new task's: it starts from its classes
//                                          stop: SharedArrayBuffer; the page sets [0] = 1 to stop
//   {type: 'set-head', id, json, safetensors, source}   import (or restore) a head
//   {type: 'reset-head', id, head}         back to the shipped head
//   {type: 'remove-head', id, head}        drop a head (a deleted task, or the undo of an import the page could not store)
//   {type: 'check-task-name', id, name}    replies with an error when the name cannot name a head
//   {type: 'cross-validate', id, head, examples, config}   held-out view of the lesson train would give
//   {type: 'head-files', id, head}         NAME.json + NAME.safetensors bytes
//   {type: 'read-examples', id, bytes, name} / {type: 'write-examples', id, examples, format}
//   {type: 'bench', id, texts, batch, reps, workers}  sentences/s at one batch size (make bench-web);
//                                          workers: 1 = this worker alone, 2 = with the second encoder
//   {type: 'embed', id, texts}             embeddings only (make bench-web's parity check)
// worker -> page
//   {type: 'progress', loaded, total, cached}
//   {type: 'ready', info, heads, defaults: {lesson, mlp, contrast}, timings, sizes}
//   {type: 'results', id, encoder, texts, dim, embeddings, tokens, predictions, ms}
//   {type: 'encode-error', id, text, message}   the line that could not be encoded
//   {type: 'idle', id}                     the queue is empty
//   {type: 'train-event', id, phase, ...}   wasm's TrainEvent as it is (a contrastive step or an epoch)
//   {type: 'reply', id, ok, value | message}   answer to train, set-head, reset-head, remove-head, head-files, *-examples
//   {type: 'error', stage, message}

import { loadModelFiles, loadModelFile, clearModelCache } from './model-files.js';
import { startWasm } from './wasm-build.js';

/**
 * @import { InitOutput, Outputs, WebModel } from './pkg/sentence_multitask.js'
 * @import { Api } from './wasm-build.js'
 * @import { Calls, FromEncoder, FromWorker, ToEncoder, ToWorker } from './protocol.js'
 */

/** Sentences per call into wasm: small enough that results stream in. */
const CHUNK = 16;
/**
 * A second encoder that has not answered a batch in this long is dropped (it
 * may have died without an error event) and this worker redoes its batches.
 * A healthy one answers a batch of 16 in well under a second.
 */
const HELPER_TIMEOUT_MS = 8_000;

/** The wasm build's functions and classes, once started. @type {Api | null} */
let api = null;
/** @type {WebModel | null} */
let model = null;
/** The wasm instance's exports (for its memory size). @type {InitOutput | null} */
let wasm = null;
/** The shipped head files, for "reset head to default". @type {Map<string, {json: Uint8Array, safetensors: Uint8Array}>} */
const shipped = new Map();
/** Replay sets not fetched yet, by head name (fetched at that head's first lesson). @type {Map<string, {file: string, sha256: string}>} */
const lazyReplay = new Map();
/** Embeddings already computed (training reuses them). @type {Map<string, Float32Array>} */
const embeddings = new Map();
const MAX_CACHED_EMBEDDINGS = 50_000;
let loading = false;
/** The second encoder (encoder-worker.js) once it is ready, else null. @type {Worker | null} */
let helper = null;
/** Resolves to the second encoder, or null if there is none (one core, or it failed). @type {Promise<Worker | null>} */
let helperReady = Promise.resolve(null);
/**
 * Batches out at the second encoder.
 * @typedef {Extract<FromEncoder, { type: 'embedded' }>} Embedded
 * @type {Map<number, {resolve: (embedded: Embedded) => void, reject: (error: Error) => void}>}
 */
const helperCalls = new Map();
let helperCallId = 0;
/** Bumped whenever this worker's heads change; the second encoder's answers
 * count only when they carry the current one. */
let headsVersion = 0;
/** @type {string[]} */
let queue = [];
let queueId = 0;
let pumping = false;

/** The started wasm build; messages needing it before then get this error. */
function wasmApi() {
  if (!api) throw new Error('the model is still loading');
  return api;
}

/** @param {FromWorker} message @param {Transferable[]} [transfer] */
const post = (message, transfer = []) => self.postMessage(message, transfer);
/** @param {unknown} e */
const errorText = (e) => (e instanceof Error && e.message) || String(e);

/** @param {string} weightsFile */
async function load(weightsFile) {
  if (loading || model) return;
  loading = true;
  const t0 = performance.now();
  // Downloads still running when another file has failed must not report.
  let live = true;
  try {
    const [{ files, lazy, downloadedBytes, fromCache }, started] = await Promise.all([
      loadModelFiles(weightsFile, (p) => live && post({ type: 'progress', ...p })),
      startWasm(),
    ]);
    ({ api, exports: wasm } = started);
    const { lessonDefaults, defaultArchitecture, contrastDefaults } = api;
    const t1 = performance.now();
    let built;
    try {
      built = buildModel(files, weightsFile);
    } catch (e) {
      // Unusable files in the cache would fail every visit: forget them.
      await clearModelCache();
      throw e;
    }
    model = built;
    for (const entry of lazy) {
      const head = /^replay\/([^/]+)\.safetensors$/.exec(entry.file);
      if (head) lazyReplay.set(head[1], entry);
    }
    const t2 = performance.now();
    post({
      type: 'ready',
      info: built.info(),
      heads: built.heads(),
      defaults: { lesson: lessonDefaults(), mlp: defaultArchitecture(), contrast: contrastDefaults() },
      timings: { downloadMs: t1 - t0, buildMs: t2 - t1, readyMs: t2 - t0, downloadedBytes, fromCache },
      sizes: Object.fromEntries([...files].map(([name, bytes]) => [name, bytes.length])),
    });
    // After `ready`: copying the files to the second encoder need not delay the first results.
    startHelper(files, weightsFile);
  } catch (e) {
    live = false;
    post({ type: 'error', stage: 'load', message: errorText(e) });
  } finally {
    loading = false;
  }
}

/**
 * @param {Map<string, Uint8Array>} files
 * @param {string} weightsFile
 */
function buildModel(files, weightsFile) {
  /** @param {string} name */
  const need = (name) => {
    const bytes = files.get(name);
    if (!bytes) throw new Error(`weights/SHA256SUMS does not list ${name}`);
    return bytes;
  };
  const built = new (wasmApi().WebModel)(need('config.json'), need('tokenizer.json'), need(weightsFile), weightsFile);
  for (const name of files.keys()) {
    const head = /^heads\/([^/]+)\.json$/.exec(name);
    if (head) {
      const pair = { json: need(name), safetensors: need(`heads/${head[1]}.safetensors`) };
      built.setHead(pair.json, pair.safetensors, name);
      shipped.set(head[1], pair);
    }
  }
  return built;
}

/**
 * Starts the second encoder on another core with copies of the model files.
 * @param {Map<string, Uint8Array>} files
 * @param {string} weightsFile
 */
function startHelper(files, weightsFile) {
  if ((navigator.hardwareConcurrency || 1) < 2) return;
  const url = new URL('./encoder-worker.js', import.meta.url);
  // The same build as this worker (the page's `?simd=` reaches both).
  url.search = self.location.search;
  const worker = new Worker(url, { type: 'module' });
  helperReady = new Promise((resolve) => {
    /** @param {string} message */
    const fail = (message) => {
      clearTimeout(late);
      dropHelper(worker, message);
      resolve(null);
    };
    // It builds the encoder and warms it up: seconds, never a minute.
    const late = setTimeout(() => fail('the second encoder did not get ready in 60 s'), 60_000);
    /** @param {MessageEvent<FromEncoder>} event */
    worker.onmessage = ({ data }) => {
      if (data.type === 'ready') {
        clearTimeout(late);
        helper = worker;
        syncHelper();
        resolve(worker);
      } else if (data.type === 'embedded') {
        helperCalls.get(data.id)?.resolve(data);
      } else if (data.type === 'error' && data.id !== undefined) {
        helperCalls.get(data.id)?.reject(new Error(data.message));
      } else {
        fail(`the second encoder failed: ${data.message}`);
      }
    };
    worker.onerror = (event) => fail(`the second encoder failed: ${event.message || 'unknown error'}`);
  });
  const config = files.get('config.json');
  const tokenizer = files.get('tokenizer.json');
  const weights = files.get(weightsFile);
  // buildModel has read all three.
  if (!config || !tokenizer || !weights) return;
  /** @type {ToEncoder} */
  const message = { type: 'load', config, tokenizer, weights, weightsFile };
  worker.postMessage(message);
}

/** Sends the second encoder a copy of every head, after any change here. */
function syncHelper() {
  headsVersion++;
  if (!helper || !model) return;
  const built = model;
  const heads = built.heads().map((h) => ({ name: h.name, source: `${h.name}.json`, ...built.headFiles(h.name) }));
  /** @type {ToEncoder} */
  const message = { type: 'heads', version: headsVersion, heads };
  helper.postMessage(message);
}

/**
 * Stops the second encoder for good; its batches still out fail, so that this
 * worker encodes them itself.
 * @param {Worker} worker
 * @param {string} message
 */
function dropHelper(worker, message) {
  if (helper === worker) helper = null;
  worker.terminate();
  for (const call of helperCalls.values()) call.reject(new Error(message));
  helperCalls.clear();
}

/**
 * The second encoder's `{version, dim, embeddings, tokens, predictions}` for `texts`; rejects (and
 * drops the encoder) when it does not answer within HELPER_TIMEOUT_MS.
 * @param {Worker} helper
 * @param {string[]} texts
 * @returns {Promise<Embedded>}
 */
function helperEmbed(helper, texts) {
  const id = ++helperCallId;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => dropHelper(helper, `the second encoder did not answer in ${HELPER_TIMEOUT_MS / 1000} s`),
      HELPER_TIMEOUT_MS,
    );
    /** @param {() => void} settle */
    const done = (settle) => {
      clearTimeout(timer);
      helperCalls.delete(id);
      settle();
    };
    helperCalls.set(id, { resolve: (e) => done(() => resolve(e)), reject: (e) => done(() => reject(e)) });
    /** @type {ToEncoder} */
    const message = { type: 'embed', id, texts };
    helper.postMessage(message);
  });
}

/**
 * `predict` of each batch, in order, with the encoder that embedded it (1:
 * this worker, 2: the second one). With the second encoder ready, every
 * other batch runs there (its copy of the heads included) while this worker
 * runs its own; if it fails, or answered with heads since replaced, this
 * worker runs that batch itself.
 * @param {WebModel} model
 * @param {string[][]} batches
 * @returns {Promise<{ out: Outputs, encoder: 1 | 2 }[]>}
 */
async function predictBatches(model, batches, shared = true) {
  /** @type {{ out: Outputs, encoder: 1 | 2 }[]} */
  const results = [];
  for (let i = 0; i < batches.length; i += 2) {
    const next = batches[i + 1];
    const remote = shared && helper && next ? helperEmbed(helper, next).catch(() => null) : null;
    results.push({ out: model.predict(batches[i]), encoder: 1 });
    if (!next) break;
    const embedded = remote && (await remote);
    results.push(embedded && embedded.version === headsVersion ? { out: embedded, encoder: 2 } : { out: model.predict(next), encoder: 1 });
  }
  return results;
}

/**
 * Posts one batch's results.
 * @param {number} id
 * @param {string[]} texts
 * @param {{ out: Outputs, encoder: 1 | 2 }} result
 * @param {number} ms
 */
function postResults(id, texts, { out, encoder }, ms) {
  remember(texts, out.embeddings, out.dim);
  post({ type: 'results', id, encoder, texts, ms, dim: out.dim, embeddings: out.embeddings, tokens: out.tokens, predictions: out.predictions }, [
    out.embeddings.buffer,
    out.tokens.buffer,
  ]);
}

/**
 * After a batch failed: each line on its own, so the error lands on the line
 * that caused it and the others still get their results. Failed lines are
 * not queued again; the page shows them and offers Retry.
 * @param {WebModel} model
 * @param {number} id
 * @param {string[]} texts
 */
function lineByLine(model, id, texts) {
  for (const text of texts) {
    const t0 = performance.now();
    try {
      postResults(id, [text], { out: model.predict([text]), encoder: 1 }, performance.now() - t0);
    } catch (e) {
      post({ type: 'encode-error', id, text, message: errorText(e) });
    }
  }
}

/** @param {WebModel} model */
async function pump(model) {
  if (pumping) return;
  pumping = true;
  try {
    while (queue.length > 0) {
      const id = queueId;
      const texts = queue.splice(0, helper ? 2 * CHUNK : CHUNK);
      const batches = [texts.slice(0, CHUNK), texts.slice(CHUNK)].filter((b) => b.length > 0);
      const t0 = performance.now();
      try {
        const results = await predictBatches(model, batches);
        const ms = performance.now() - t0;
        batches.forEach((texts, i) => postResults(id, texts, results[i], ms));
      } catch {
        lineByLine(model, id, texts);
      }
      // Let a newer request replace what is still queued.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } finally {
    pumping = false;
    post({ type: 'idle', id: queueId });
  }
}

/**
 * @param {string[]} texts
 * @param {Float32Array} flat `texts.length × dim` row-major
 * @param {number} dim
 */
function remember(texts, flat, dim) {
  if (embeddings.size > MAX_CACHED_EMBEDDINGS) embeddings.clear();
  texts.forEach((text, i) => embeddings.set(text, flat.slice(i * dim, (i + 1) * dim)));
}

/**
 * Embeddings of `texts` as one flat array, computing only the new ones.
 * @param {WebModel} model
 * @param {string[]} texts
 */
function embedAll(model, texts) {
  const dim = model.info().dim;
  /** @type {Map<string, Float32Array>} */
  const found = new Map();
  for (const text of texts) {
    const known = embeddings.get(text);
    if (known) found.set(text, known);
  }
  const missing = [...new Set(texts.filter((t) => !found.has(t)))];
  for (let i = 0; i < missing.length; i += CHUNK) {
    const chunk = missing.slice(i, i + CHUNK);
    const flat = model.embed(chunk);
    // The cache may be cleared as it fills: keep this call's own copy.
    chunk.forEach((text, k) => found.set(text, flat.subarray(k * dim, (k + 1) * dim)));
    remember(chunk, flat, dim);
  }
  const flat = new Float32Array(texts.length * dim);
  texts.forEach((text, i) => flat.set(/** @type {Float32Array} */ (found.get(text)), i * dim));
  return flat;
}

/**
 * What head `name` reads for `texts`: its adapter's outputs when it has one
 * (computed anew), else the embeddings (cached ones reused).
 * @param {WebModel} model
 * @param {string} name
 * @param {string[]} texts
 */
function headInputs(model, name, texts) {
  const adapted = model.heads().some((h) => h.name === name && h.adapter);
  return adapted ? model.headInputs(name, texts) : embedAll(model, texts);
}

/**
 * Loads shipped head `head`'s replay set (the stored examples that keep its
 * classes while it learns) if it has one not fetched yet: lessons and their
 * held-out view need it, nothing else does.
 * @param {WebModel} model
 * @param {string} head
 */
async function ensureReplay(model, head) {
  const entry = lazyReplay.get(head);
  if (!entry) return;
  let bytes;
  try {
    bytes = await loadModelFile(entry);
  } catch (e) {
    throw new Error(`${errorText(e)} (the stored examples that keep the ${head} head's classes while it learns)`);
  }
  model.setReplay(bytes, entry.file);
  lazyReplay.delete(head);
}

/**
 * @param {WebModel} model
 * @param {import('./protocol.js').CallMessage<'train'>} request
 * @returns {Calls['train']['reply']}
 */
function train(model, { id, head, examples, config, stop }) {
  const t0 = performance.now();
  const texts = examples.map((e) => e.text);
  // A few-shot lesson trains a new adapter on the texts: old inputs would be stale.
  const flat = config.adapt ? new Float32Array(0) : headInputs(model, head, texts);
  const t1 = performance.now();
  // A new task has no head yet: nothing to put back.
  const previous = model.heads().some((h) => h.name === head) ? model.headFiles(head) : null;
  // Only the shipped classes the person kept count, before and after.
  const kept = config.classes ?? undefined;
  const before = model.replayAccuracy(head, kept);
  const result = model.train(
    head,
    texts,
    flat,
    examples.map((e) => e.label),
    config,
    (event) => post({ type: 'train-event', id, ...event }),
    stop ? new Int32Array(stop) : undefined,
  );
  const t2 = performance.now();
  if (result.changed) syncHelper();
  return {
    ...result,
    embedMs: t1 - t0,
    trainMs: t2 - t1,
    replayAccuracy: { before, after: model.replayAccuracy(head, kept) },
    heads: model.heads(),
    files: model.headFiles(head),
    previous,
  };
}

/**
 * Runs a request that expects one reply, answering with its value or error.
 * @template {keyof Calls} K
 * @param {{ type: K, id: string }} request
 * @param {() => Calls[K]['reply'] | Promise<Calls[K]['reply']>} work
 */
async function reply({ id }, work) {
  try {
    post({ type: 'reply', id, ok: true, value: await work() });
  } catch (e) {
    post({ type: 'reply', id, ok: false, message: errorText(e) });
  }
}

/**
 * `work` on the model, or an error before it is loaded.
 * @template T
 * @param {(model: WebModel, memory: WebAssembly.Memory) => T} work
 * @returns {() => T}
 */
const whenModel = (work) => () => {
  if (!model || !wasm) throw new Error('the model is not loaded yet');
  return work(model, wasm.memory);
};

/** @param {MessageEvent<ToWorker>} event */
self.onmessage = ({ data }) => {
  switch (data.type) {
    case 'train':
      reply(data, whenModel(async (model) => {
        await ensureReplay(model, data.head);
        return train(model, data);
      }));
      break;
    case 'set-head':
      reply(data, whenModel((model) => {
        const { head, previous } = model.setHead(data.json, data.safetensors, data.source);
        syncHelper();
        return { head, heads: model.heads(), files: model.headFiles(head.name), previous };
      }));
      break;
    case 'reset-head':
      reply(data, whenModel((model) => {
        const pair = shipped.get(data.head);
        if (!pair) throw new Error(`there is no shipped head ${JSON.stringify(data.head)}`);
        model.setHead(pair.json, pair.safetensors, `heads/${data.head}.json`);
        syncHelper();
        return { heads: model.heads() };
      }));
      break;
    case 'remove-head':
      reply(data, whenModel((model) => {
        model.removeHead(data.head);
        syncHelper();
        return { heads: model.heads() };
      }));
      break;
    case 'bench':
      reply(data, whenModel(async (model, memory) => {
        // A second encoder dropped since it got ready no longer counts.
        const shared = data.workers !== 1 && (await helperReady) !== null && helper !== null;
        const batches = [];
        for (let i = 0; i < data.texts.length; i += data.batch) batches.push(data.texts.slice(i, i + data.batch));
        await predictBatches(model, batches, shared);
        const t0 = performance.now();
        for (let r = 0; r < data.reps; r++) await predictBatches(model, batches, shared);
        const seconds = (performance.now() - t0) / 1000;
        return { sps: (data.texts.length * data.reps) / seconds, workers: shared ? 2 : 1, wasmMemoryBytes: memory.buffer.byteLength };
      }));
      break;
    case 'embed':
      reply(data, whenModel((model, memory) => ({ embeddings: model.embed(data.texts), wasmMemoryBytes: memory.buffer.byteLength })));
      break;
    case 'head-files':
      reply(data, whenModel((model) => model.headFiles(data.head)));
      break;
    case 'cross-validate':
      reply(data, whenModel(async (model) => {
        await ensureReplay(model, data.head);
        const flat = headInputs(model, data.head, data.examples.map((e) => e.text));
        return model.crossValidate(data.head, flat, data.examples.map((e) => e.label), data.config);
      }));
      break;
    case 'check-task-name':
      reply(data, () => {
        wasmApi().checkTaskName(data.name);
        return null;
      });
      break;
    case 'read-examples':
      reply(data, () => wasmApi().readExamples(data.bytes, data.name));
      break;
    case 'write-examples':
      reply(data, () => wasmApi().writeExamples(data.examples, data.format));
      break;
    case 'load':
      load(data.weights);
      break;
    case 'encode':
      if (!model) {
        post({ type: 'error', stage: 'encode', message: 'the model is not loaded yet' });
        return;
      }
      queue = [...new Set(data.texts)];
      queueId = data.id;
      pump(model);
      break;
    default:
      post({ type: 'error', stage: 'message', message: `unknown message type ${JSON.stringify(/** @type {{type: unknown}} */ (data).type)}` });
  }
};
