// `make bench-web`: the page's real worker in headless Chromium. Prints one
// JSON object per measurement and the summary object as the last line:
// {b1_sps, b8_sps, b32_sps (the page's default: two encoder workers on two
//  cores), b1_one_worker_sps, ..., cold_ready_ms, warm_ready_ms, download_bytes,
//  min_cosine, peak_heap_bytes, typing_ms (median), ...}.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { REPO, browser, serve } from './harness.mjs';

const REPS = Number(process.env.REPS || 3);
const sentences = JSON.parse(readFileSync(join(REPO, 'tests/fixtures/sentences-64.json'), 'utf8'));
const texts = Array.isArray(sentences) ? sentences : sentences.sentences;
const golden = JSON.parse(readFileSync(join(REPO, 'tests/fixtures/all-MiniLM-L6-v2.public.json'), 'utf8')).items;

const server = await serve();
const chrome = await browser();
const summary = { date: new Date().toISOString(), browser: chrome.context.browser()?.version() ?? 'chromium' };
try {
  const page = await chrome.context.newPage();
  // Every response of the visit, the worker's included (bodies as sent, plus headers).
  let sizes = [];
  page.on('requestfinished', (request) =>
    sizes.push(request.sizes().then((s) => s.responseBodySize + s.responseHeadersSize)),
  );
  const ready = async () => {
    const t0 = Date.now();
    await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 120_000 });
    return { wall: Date.now() - t0, page: await page.evaluate(() => window.sentenceMultitask.state.timings) };
  };
  await page.goto(server.url);
  const cold = await ready();
  summary.cold_ready_ms = Math.round(cold.page.readyMs);
  summary.download_bytes = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
  sizes = [];
  console.log(JSON.stringify({ visit: 'cold', ...cold.page, wall_ms: cold.wall, download_bytes: summary.download_bytes }));
  await page.reload();
  const warm = await ready();
  summary.warm_ready_ms = Math.round(warm.page.readyMs);
  const warmBytes = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({ visit: 'warm', ...warm.page, wall_ms: warm.wall, download_bytes: warmBytes }));

  const call = (type, payload) => page.evaluate(([t, p]) => window.sentenceMultitask.call(t, p), [type, payload]);
  // The page's default (two encoders when the machine has two cores), then one worker alone.
  for (const workers of [2, 1]) {
    for (const batch of [1, 8, 32]) {
      const { sps, workers: used } = await call('bench', { texts, batch, reps: REPS, workers });
      summary[workers === 2 ? `b${batch}_sps` : `b${batch}_one_worker_sps`] = Number(sps.toFixed(1));
      if (workers === 2) summary.workers = used;
      console.log(JSON.stringify({ batch, workers: used, sentences: texts.length, reps: REPS, sps }));
    }
  }
  // Typing: an edited 12-word line's result, from the debounce firing (150 ms
  // after the input event) to its row showing a label; the other lines are
  // already encoded and must not be encoded again.
  const typing = [];
  for (let i = 0; i < 7; i++) {
    typing.push(
      await page.evaluate(async (i) => {
        const input = document.querySelector('[data-testid="sentence-input"]');
        const line = `The council voted on the new budget for road repairs, edit ${i}.`;
        const t0 = performance.now();
        input.value = `Stocks rose today.\nThe match ended in a draw.\n${line}`;
        input.dispatchEvent(new Event('input', { bubbles: true }));
        for (;;) {
          const rows = [...document.querySelectorAll('[data-testid="result"]')];
          const row = rows.find((r) => r.textContent.includes(`edit ${i}.`));
          if (row?.querySelector('[data-testid="prediction-topic"][data-label]')) break;
          await new Promise((r) => setTimeout(r, 1));
        }
        return performance.now() - t0 - 150;
      }, i),
    );
  }
  typing.sort((a, b) => a - b);
  summary.typing_ms = Math.round(typing[3]);
  console.log(JSON.stringify({ typing_ms: typing.map(Math.round) }));

  const { embeddings } = await call('embed', { texts: golden.map((g) => g.text) });
  const flat = Object.values(embeddings);
  let min = 1;
  golden.forEach((g, i) => {
    let dot = 0;
    let a = 0;
    let b = 0;
    g.embedding.forEach((v, k) => {
      const x = flat[i * 384 + k];
      dot += x * v;
      a += x * x;
      b += v * v;
    });
    min = Math.min(min, dot / Math.sqrt(a * b));
  });
  summary.min_cosine = Number(min.toFixed(7));
  const lines = Array.from({ length: 2000 }, (_, i) => `${texts[i % texts.length]} (${i})`);
  const { wasmMemoryBytes } = await call('embed', { texts: lines });
  summary.peak_heap_bytes = wasmMemoryBytes;
  console.log(JSON.stringify({ embedded_lines: lines.length, wasm_memory_bytes: wasmMemoryBytes }));
} finally {
  await chrome.close();
  server.stop();
}
console.log(JSON.stringify(summary));
