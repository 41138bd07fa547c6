// A second encoder, started by the model worker (worker.js) once its model is
// built: the same wasm and weights, and a copy of the model worker's heads
// (sent again whenever they change), so two cores each run whole batches,
// adapters included. The model worker posts the results it gets back.
//
// model worker -> here
//   {type: 'load', config, tokenizer, weights, weightsFile}   build the encoder from these bytes
//   {type: 'heads', version, heads: [{json, safetensors, source}]}   replace every head with these
//   {type: 'embed', id, texts}                 embed + predict
// here -> model worker
//   {type: 'ready'}
//   {type: 'embedded', id, version, dim, embeddings, tokens, predictions}   version: of the heads that predicted
//   {type: 'error', id, message}                 id is undefined for a failed load or heads message

import { startWasm } from './wasm-build.js';

/**
 * @import { WebModel } from './pkg/sentence_multitask.js'
 * @import { FromEncoder, ToEncoder } from './protocol.js'
 */

/** @type {WebModel | null} */
let model = null;
/** Version of the heads the model holds (0: none sent yet). */
let version = 0;

/** @param {FromEncoder} message @param {Transferable[]} [transfer] */
const post = (message, transfer = []) => self.postMessage(message, transfer);

/** Run a few times before `ready`, so V8 has compiled the hot code with its
 * optimising tier before real batches arrive (the first runs are slower). */
const WARM_UP = [
  'A short sentence.',
  'A longer sentence about markets, sport and science, run a few times before the real batches.',
];

/** @param {WebModel} model @param {Extract<ToEncoder, { type: 'heads' }>} message */
function setHeads(model, { heads }) {
  const keep = new Set(heads.map((h) => h.name));
  for (const h of model.heads()) if (!keep.has(h.name)) model.removeHead(h.name);
  for (const h of heads) model.setHead(h.json, h.safetensors, h.source);
}

/** @param {MessageEvent<ToEncoder>} event */
self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'load') {
      const { api } = await startWasm();
      const built = new api.WebModel(data.config, data.tokenizer, data.weights, data.weightsFile);
      for (let i = 0; i < 12; i++) built.predict(WARM_UP);
      model = built;
      post({ type: 'ready' });
    } else if (data.type === 'heads') {
      if (!model) throw new Error('the second encoder is not loaded yet');
      // Until every head is in place, answers carry no version that matches.
      version = 0;
      setHeads(model, data);
      version = data.version;
    } else if (data.type === 'embed') {
      if (!model) throw new Error('the second encoder is not loaded yet');
      const out = model.predict(data.texts);
      post({ type: 'embedded', id: data.id, version, dim: out.dim, embeddings: out.embeddings, tokens: out.tokens, predictions: out.predictions }, [
        out.embeddings.buffer,
        out.tokens.buffer,
      ]);
    }
  } catch (e) {
    post({ type: 'error', id: data.type === 'embed' ? data.id : undefined, message: (e instanceof Error && e.message) || String(e) });
  }
};
