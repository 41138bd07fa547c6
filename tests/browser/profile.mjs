// `make profile-web`: where the browser encoder's time goes. Builds the wasm
// model on the page's main thread (same module and weights as the worker),
// runs the 64 benchmark sentences at batch 8 under Chromium's sampling CPU
// profiler (DevTools protocol) and prints self time per function, the
// heaviest first; the last line is one JSON object {total_ms, functions: [...]}.
// WEIGHTS=model.safetensors profiles the exact weights (default: compact).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { REPO, browser, openPage, serve } from './harness.mjs';

const WEIGHTS = process.env.WEIGHTS || 'model-int8.safetensors';
const BATCH = Number(process.env.BATCH || 8);
const REPS = Number(process.env.REPS || 5);
const texts = JSON.parse(readFileSync(join(REPO, 'tests/fixtures/sentences-64.json'), 'utf8'));

const server = await serve();
const chrome = await browser();
try {
  const { page } = await openPage(chrome.context, server.url);
  await page.evaluate(async (weights) => {
    // The build the page's workers would start (relaxed SIMD where the browser has it).
    const { api } = await (await import('./wasm-build.js')).startWasm();
    const bytes = async (f) => new Uint8Array(await (await fetch(`./weights/${f}`)).arrayBuffer());
    window.profiled = new api.WebModel(await bytes('config.json'), await bytes('tokenizer.json'), await bytes(weights));
  }, WEIGHTS);
  const run = (reps) =>
    page.evaluate(
      ([texts, batch, reps]) => {
        for (let r = 0; r < reps; r++) {
          for (let i = 0; i < texts.length; i += batch) window.profiled.predict(texts.slice(i, i + batch));
        }
      },
      [texts, BATCH, reps],
    );
  await run(1);
  const cdp = await chrome.context.newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  const t0 = Date.now();
  await run(REPS);
  const wall = Date.now() - t0;
  const { profile } = await cdp.send('Profiler.stop');
  // Self time per function name: samples x their interval.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  profile.samples.forEach((id, i) => {
    const name = byId.get(id).callFrame.functionName || '(anonymous)';
    self.set(name, (self.get(name) || 0) + (profile.timeDeltas[i] || 0) / 1000);
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const functions = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 25)
    .map(([name, ms]) => ({ name: name.slice(0, 120), ms: Math.round(ms), share: Number((ms / total).toFixed(3)) }));
  for (const f of functions) console.log(`${(100 * f.share).toFixed(1).padStart(5)}%  ${f.name}`);
  const sps = (texts.length * REPS) / (wall / 1000);
  const kernel = await page.evaluate(() => window.profiled.info().kernel);
  console.log(JSON.stringify({ weights: WEIGHTS, kernel, batch: BATCH, sps: Number(sps.toFixed(1)), total_ms: Math.round(total), functions }));
} finally {
  await chrome.close();
  server.stop();
}
