// The worker owns the wasm model; the page talks to it only through the typed
// messages below, so typing never waits on the encoder.
//
// page -> worker
//   {type: 'load', weights}                download (or read from cache) and build the model;
//                                          weights: the encoder file, model.safetensors or model-int8.safetensors
//   {type: 'encode', id, texts}            embed + predict; replaces texts still queued
//   {type: 'train', id, head, examples: [{text, label}], config, stop}
//                                          stop: SharedArrayBuffer; the page sets [0] = 1 to stop
//   {type: 'set-head', id, json, safetensors, source}   import (or restore) a head
//   {type: 'reset-head', id, head}         back to the shipped head
//   {type: 'head-files', id, head}         NAME.json + NAME.safetensors bytes
//   {type: 'read-examples', id, bytes, name} / {type: 'write-examples', id, examples, format}
//   {type: 'bench', id, texts, batch, reps, workers}  sentences/s at one batch size (make bench-web);
//                                          workers: 1 = this worker alone, 2 = with the second encoder
//   {type: 'embed', id, texts}             embeddings only (make bench-web's parity check)
// worker -> page
//   {type: 'progress', loaded, total, cached}
//   {type: 'ready', info, heads, timings}
//   {type: 'results', id, texts, dim, embeddings, tokens, predictions, ms}
//   {type: 'idle', id}                     the queue is empty
//   {type: 'train-epoch', id, epoch, trainLoss, validation}
//   {type: 'reply', id, ok, value | message}   answer to train, set-head, reset-head, head-files, *-examples
//   {type: 'error', stage, message}

import init, { WebModel, readExamples, writeExamples } from './pkg/sentence_multitask.js';
import { loadModelFiles, clearModelCache } from './model-files.js';

/** Sentences per call into wasm: small enough that results stream in. */
const CHUNK = 16;

let model = null;
/** The wasm instance's exports (for its memory size). */
let wasm = null;
/** The shipped head files, for "reset head to default": name -> {json, safetensors}. */
const shipped = new Map();
/** Embeddings already computed: text -> Float32Array (training reuses them). */
const embeddings = new Map();
const MAX_CACHED_EMBEDDINGS = 50_000;
let loading = false;
/** The second encoder (encoder-worker.js) once it is ready, else null. */
let helper = null;
/** Resolves to the second encoder, or null if there is none (one core, or it failed). */
let helperReady = Promise.resolve(null);
/** Batches out at the second encoder: id -> {resolve, reject}. */
const helperCalls = new Map();
let helperCallId = 0;
let queue = [];
let queueId = 0;
let pumping = false;

const post = (message, transfer = []) => self.postMessage(message, transfer);
const errorText = (e) => (e && e.message) || String(e);

async function load(weightsFile) {
  if (loading || model) return;
  loading = true;
  const t0 = performance.now();
  // Downloads still running when another file has failed must not report.
  let live = true;
  try {
    let files, downloadedBytes, fromCache;
    [{ files, downloadedBytes, fromCache }, wasm] = await Promise.all([
      loadModelFiles(weightsFile, (p) => live && post({ type: 'progress', ...p })),
      init(),
    ]);
    const t1 = performance.now();
    try {
      model = buildModel(files, weightsFile);
    } catch (e) {
      // Unusable files in the cache would fail every visit: forget them.
      await clearModelCache();
      throw e;
    }
    const t2 = performance.now();
    post({
      type: 'ready',
      info: model.info(),
      heads: model.heads(),
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

function buildModel(files, weightsFile) {
  const need = (name) => {
    const bytes = files.get(name);
    if (!bytes) throw new Error(`weights/SHA256SUMS does not list ${name}`);
    return bytes;
  };
  const built = new WebModel(need('config.json'), need('tokenizer.json'), need(weightsFile), weightsFile);
  for (const name of files.keys()) {
    const head = /^heads\/([^/]+)\.json$/.exec(name);
    if (head) {
      const pair = { json: files.get(name), safetensors: need(`heads/${head[1]}.safetensors`) };
      built.setHead(pair.json, pair.safetensors, name);
      shipped.set(head[1], pair);
    }
    if (/^replay\/[^/]+\.safetensors$/.test(name)) built.setReplay(files.get(name), name);
  }
  return built;
}

/** Starts the second encoder on another core with copies of the model files. */
function startHelper(files, weightsFile) {
  if ((navigator.hardwareConcurrency || 1) < 2) return;
  const worker = new Worker(new URL('./encoder-worker.js', import.meta.url), { type: 'module' });
  helperReady = new Promise((resolve) => {
    const fail = (message) => {
      if (helper === worker) helper = null;
      worker.terminate();
      for (const call of helperCalls.values()) call.reject(new Error(message));
      helperCalls.clear();
      resolve(null);
    };
    worker.onmessage = ({ data }) => {
      if (data.type === 'ready') {
        helper = worker;
        resolve(worker);
      } else if (data.type === 'embedded') {
        helperCalls.get(data.id)?.resolve(data);
        helperCalls.delete(data.id);
      } else if (data.type === 'error' && data.id !== undefined) {
        helperCalls.get(data.id)?.reject(new Error(data.message));
        helperCalls.delete(data.id);
      } else {
        fail(`the second encoder failed: ${data.message}`);
      }
    };
    worker.onerror = (event) => fail(`the second encoder failed: ${event.message || 'unknown error'}`);
  });
  worker.postMessage({
    type: 'load',
    config: files.get('config.json'),
    tokenizer: files.get('tokenizer.json'),
    weights: files.get(weightsFile),
    weightsFile,
  });
}

/** The second encoder's `{dim, embeddings, tokens}` for `texts`. */
function helperEmbed(texts) {
  const id = ++helperCallId;
  return new Promise((resolve, reject) => {
    helperCalls.set(id, { resolve, reject });
    helper.postMessage({ type: 'embed', id, texts });
  });
}

/**
 * `predict` of each batch, in order. With the second encoder ready, every
 * other batch is embedded there while this worker encodes its own, and the
 * heads run here; if it fails, this worker encodes that batch itself.
 */
async function predictBatches(batches, shared = true) {
  const results = [];
  for (let i = 0; i < batches.length; i += 2) {
    const next = batches[i + 1];
    const remote = shared && helper && next ? helperEmbed(next).catch(() => null) : null;
    results.push(model.predict(batches[i]));
    if (!next) break;
    const embedded = remote && (await remote);
    results.push(embedded ? model.classify(embedded.embeddings, embedded.tokens) : model.predict(next));
  }
  return results;
}

async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    while (queue.length > 0) {
      const id = queueId;
      const texts = queue.splice(0, helper ? 2 * CHUNK : CHUNK);
      const batches = [texts.slice(0, CHUNK), texts.slice(CHUNK)].filter((b) => b.length > 0);
      const t0 = performance.now();
      let outs;
      try {
        outs = await predictBatches(batches);
      } catch (e) {
        post({ type: 'error', stage: 'encode', message: errorText(e) });
        continue;
      }
      const ms = performance.now() - t0;
      batches.forEach((texts, i) => {
        const out = outs[i];
        remember(texts, out.embeddings, out.dim);
        post({ type: 'results', id, texts, ms, dim: out.dim, embeddings: out.embeddings, tokens: out.tokens, predictions: out.predictions }, [
          out.embeddings.buffer,
          out.tokens.buffer,
        ]);
      });
      // Let a newer request replace what is still queued.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } finally {
    pumping = false;
    post({ type: 'idle', id: queueId });
  }
}

function remember(texts, flat, dim) {
  if (embeddings.size > MAX_CACHED_EMBEDDINGS) embeddings.clear();
  texts.forEach((text, i) => embeddings.set(text, flat.slice(i * dim, (i + 1) * dim)));
}

/** Embeddings of `texts` as one flat array, computing only the new ones. */
function embedAll(texts) {
  const missing = [...new Set(texts.filter((t) => !embeddings.has(t)))];
  for (let i = 0; i < missing.length; i += CHUNK) {
    const chunk = missing.slice(i, i + CHUNK);
    remember(chunk, model.embed(chunk), model.info().dim);
  }
  const dim = model.info().dim;
  const flat = new Float32Array(texts.length * dim);
  texts.forEach((text, i) => flat.set(embeddings.get(text), i * dim));
  return flat;
}

function train({ id, head, examples, config, stop }) {
  const t0 = performance.now();
  const flat = embedAll(examples.map((e) => e.text));
  const t1 = performance.now();
  const before = model.replayAccuracy(head);
  const summary = model.train(
    head,
    flat,
    examples.map((e) => e.label),
    config,
    (event) => post({ type: 'train-epoch', id, epoch: event.epoch, trainLoss: event.train_loss, validation: event.validation }),
    stop ? new Int32Array(stop) : undefined,
  );
  const t2 = performance.now();
  return {
    ...summary,
    embedMs: t1 - t0,
    trainMs: t2 - t1,
    replayAccuracy: { before, after: model.replayAccuracy(head) },
    heads: model.heads(),
    files: model.headFiles(head),
  };
}

/** Runs a request that expects one reply, answering with its value or error. */
async function reply(id, work) {
  try {
    post({ type: 'reply', id, ok: true, value: await work() });
  } catch (e) {
    post({ type: 'reply', id, ok: false, message: errorText(e) });
  }
}

const whenModel = (work) => () => {
  if (!model) throw new Error('the model is not loaded yet');
  return work();
};

self.onmessage = ({ data }) => {
  switch (data.type) {
    case 'train':
      reply(data.id, whenModel(() => train(data)));
      break;
    case 'set-head':
      reply(data.id, whenModel(() => {
        const info = model.setHead(data.json, data.safetensors, data.source);
        return { head: info, heads: model.heads(), files: model.headFiles(info.name) };
      }));
      break;
    case 'reset-head':
      reply(data.id, whenModel(() => {
        const pair = shipped.get(data.head);
        if (!pair) throw new Error(`there is no shipped head ${JSON.stringify(data.head)}`);
        model.setHead(pair.json, pair.safetensors, `heads/${data.head}.json`);
        return { heads: model.heads() };
      }));
      break;
    case 'bench':
      reply(data.id, whenModel(async () => {
        const shared = data.workers !== 1 && (await helperReady) !== null;
        const batches = [];
        for (let i = 0; i < data.texts.length; i += data.batch) batches.push(data.texts.slice(i, i + data.batch));
        await predictBatches(batches, shared);
        const t0 = performance.now();
        for (let r = 0; r < data.reps; r++) await predictBatches(batches, shared);
        const seconds = (performance.now() - t0) / 1000;
        return { sps: (data.texts.length * data.reps) / seconds, workers: shared ? 2 : 1, wasmMemoryBytes: wasm.memory.buffer.byteLength };
      }));
      break;
    case 'embed':
      reply(data.id, whenModel(() => ({ embeddings: model.embed(data.texts), wasmMemoryBytes: wasm.memory.buffer.byteLength })));
      break;
    case 'head-files':
      reply(data.id, whenModel(() => model.headFiles(data.head)));
      break;
    case 'read-examples':
      reply(data.id, () => readExamples(data.bytes, data.name));
      break;
    case 'write-examples':
      reply(data.id, () => writeExamples(data.examples, data.format));
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
      pump();
      break;
    default:
      post({ type: 'error', stage: 'message', message: `unknown message type ${JSON.stringify(data.type)}` });
  }
};
