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

let model = null;

/** Run a few times before `ready`, so V8 has compiled the hot code with its
 * optimising tier before real batches arrive (the first runs are slower). */
const WARM_UP = [
  'A short sentence.',
  'A longer sentence about markets, sport and science, run a few times before the real batches.',
];

self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'load') {
      await init();
      model = new WebModel(data.config, data.tokenizer, data.weights, data.weightsFile);
      for (let i = 0; i < 12; i++) model.predict(WARM_UP);
      self.postMessage({ type: 'ready' });
    } else if (data.type === 'embed') {
      const out = model.predict(data.texts);
      self.postMessage({ type: 'embedded', id: data.id, dim: out.dim, embeddings: out.embeddings, tokens: out.tokens }, [
        out.embeddings.buffer,
        out.tokens.buffer,
      ]);
    }
  } catch (e) {
    self.postMessage({ type: 'error', id: data.id, message: (e && e.message) || String(e) });
  }
};
