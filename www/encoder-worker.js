// A second encoder, started by the model worker (worker.js) once its model is
// built: the same wasm and weights, no heads. It embeds the batches the model
// worker hands it, so two cores encode at once; the model worker runs the
// heads on what comes back (WebModel.classify).
//
// model worker -> here
//   {type: 'load', config, tokenizer, weights, weightsFile}   build the encoder from these bytes
//   {type: 'embed', id, texts}
// here -> model worker
//   {type: 'ready'}
//   {type: 'embedded', id, dim, embeddings, tokens}
//   {type: 'error', id, message}                 id is undefined for a failed load

import init, { WebModel } from './pkg/sentence_multitask.js';

/** @import { FromEncoder, ToEncoder } from './protocol.js' */

/** @type {WebModel | null} */
let model = null;

/** @param {FromEncoder} message @param {Transferable[]} [transfer] */
const post = (message, transfer = []) => self.postMessage(message, transfer);

/** Run a few times before `ready`, so V8 has compiled the hot code with its
 * optimising tier before real batches arrive (the first runs are slower). */
const WARM_UP = [
  'A short sentence.',
  'A longer sentence about markets, sport and science, run a few times before the real batches.',
];

/** @param {MessageEvent<ToEncoder>} event */
self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'load') {
      await init();
      const built = new WebModel(data.config, data.tokenizer, data.weights, data.weightsFile);
      for (let i = 0; i < 12; i++) built.predict(WARM_UP);
      model = built;
      post({ type: 'ready' });
    } else if (data.type === 'embed') {
      if (!model) throw new Error('the second encoder is not loaded yet');
      const out = model.predict(data.texts);
      post({ type: 'embedded', id: data.id, dim: out.dim, embeddings: out.embeddings, tokens: out.tokens }, [
        out.embeddings.buffer,
        out.tokens.buffer,
      ]);
    }
  } catch (e) {
    post({ type: 'error', id: data.type === 'embed' ? data.id : undefined, message: (e instanceof Error && e.message) || String(e) });
  }
};
