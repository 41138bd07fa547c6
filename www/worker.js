// The worker owns the wasm model; the page talks to it only through the typed
// messages below, so typing never waits on the encoder.
//
// page -> worker
//   {type: 'load'}                         download (or read from cache) and build the model
//   {type: 'encode', id, texts}            embed + predict; replaces texts still queued
// worker -> page
//   {type: 'progress', loaded, total, cached}
//   {type: 'ready', info, heads, timings}
//   {type: 'results', id, texts, dim, embeddings, tokens, predictions, ms}
//   {type: 'idle', id}                     the queue is empty
//   {type: 'error', stage, message}

import init, { WebModel } from './pkg/sentence_multitask.js';
import { loadModelFiles, clearModelCache } from './model-files.js';

/** Sentences per call into wasm: small enough that results stream in. */
const CHUNK = 16;

let model = null;
let loading = false;
let queue = [];
let queueId = 0;
let pumping = false;

const post = (message, transfer = []) => self.postMessage(message, transfer);
const errorText = (e) => (e && e.message) || String(e);

async function load() {
  if (loading || model) return;
  loading = true;
  const t0 = performance.now();
  // Downloads still running when another file has failed must not report.
  let live = true;
  try {
    const [{ files, downloadedBytes, fromCache }] = await Promise.all([
      loadModelFiles((p) => live && post({ type: 'progress', ...p })),
      init(),
    ]);
    const t1 = performance.now();
    try {
      model = buildModel(files);
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
  } catch (e) {
    live = false;
    post({ type: 'error', stage: 'load', message: errorText(e) });
  } finally {
    loading = false;
  }
}

function buildModel(files) {
  const need = (name) => {
    const bytes = files.get(name);
    if (!bytes) throw new Error(`weights/SHA256SUMS does not list ${name}`);
    return bytes;
  };
  const built = new WebModel(need('config.json'), need('tokenizer.json'), need('model.safetensors'));
  for (const name of files.keys()) {
    const match = /^heads\/([^/]+)\.json$/.exec(name);
    if (match) built.setHead(files.get(name), need(`heads/${match[1]}.safetensors`), name);
  }
  return built;
}

async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    while (queue.length > 0) {
      const id = queueId;
      const texts = queue.splice(0, CHUNK);
      const t0 = performance.now();
      let out;
      try {
        out = model.predict(texts);
      } catch (e) {
        post({ type: 'error', stage: 'encode', message: errorText(e) });
        continue;
      }
      const ms = performance.now() - t0;
      post({ type: 'results', id, texts, ms, dim: out.dim, embeddings: out.embeddings, tokens: out.tokens, predictions: out.predictions }, [
        out.embeddings.buffer,
        out.tokens.buffer,
      ]);
      // Let a newer request replace what is still queued.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } finally {
    pumping = false;
    post({ type: 'idle', id: queueId });
  }
}

self.onmessage = ({ data }) => {
  switch (data.type) {
    case 'load':
      load();
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
