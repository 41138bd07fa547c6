// The wasm API, from whichever of the two builds (same API, each with its own
// JS glue) this browser runs best: relaxed SIMD where the browser has it
// (pkg/relaxed/), else baseline simd128 (pkg/). A browser without SIMD gets a
// clear message instead of a bare compile error. `?simd=baseline` on the page
// (passed down to the workers) forces the baseline build.

/** A module of one function returning `i8x16.popcnt(i8x16.splat(0))` (as
 * wasm-feature-detect's probe): valid only where WebAssembly SIMD is. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);
/** A module of one function returning `i32x4.relaxed_dot_i8x16_i7x16_add_s` of
 * three splats: valid only where the relaxed build's kernel instruction is. */
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 19, 1, 17, 0, 65, 1, 253, 15, 65, 2, 253, 15, 65,
  3, 253, 17, 253, 147, 2, 11,
]);
const NO_SIMD =
  'this browser cannot run WebAssembly SIMD, which the model needs: use a current Chrome, Edge, Firefox or Safari (16.4 or later)';

/** @typedef {typeof import('./pkg/sentence_multitask.js')} Api */

/**
 * Imports and instantiates the build this browser runs best (the API of both
 * is pkg/'s declarations). Called from a message handler, not at the top
 * level: a module worker that awaited there would miss its first messages.
 * @returns {Promise<{ api: Api, exports: import('./pkg/sentence_multitask.js').InitOutput }>}
 */
export async function startWasm() {
  if (!WebAssembly.validate(SIMD_PROBE)) throw new Error(NO_SIMD);
  const forced = new URLSearchParams(self.location.search).get('simd') === 'baseline';
  /** @type {Api} */
  const api =
    !forced && WebAssembly.validate(RELAXED_PROBE)
      ? await import('./pkg/relaxed/sentence_multitask.js')
      : await import('./pkg/sentence_multitask.js');
  return { api, exports: await api.default() };
}
