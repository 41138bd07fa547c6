// `make bench-web`: the page's real worker in headless Chromium. Prints one
// JSON object per measurement and the summary object as the last line:
// {b1_sps, b8_sps, b32_sps (the page's default: two encoder workers on two
//  cores, every head's answer included), b1_one_worker_sps, ...,
//  b8_embedding_only_sps (no heads) and b8_with_heads_ratio, cold_ready_ms, warm_ready_ms, download_bytes,
//  min_cosine, peak_heap_bytes, typing_ms (median, debounce to labelled row),
//  typing_results_ms (of which: until the worker's results reach the page),
//  typing_encode_ms (of which: the worker encoding the line), timer_delay_ms
//  and timer_delay_max_ms (a zero-delay timer on the page's thread while the
//  workers encode 2,000 lines: how responsive the page stays), ...}.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { REPO, browser, serve } from './harness.mjs';

const REPS = Number(process.env.REPS || 3);
/** `SIMD=baseline` measures the simd128 build where the page would pick relaxed SIMD. */
const query = process.env.SIMD ? `?simd=${process.env.SIMD}` : '';
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
  await page.goto(server.url + query);
  const cold = await ready();
  // The page says what its products run on ("... with relaxed-SIMD integer kernels, in a worker thread.").
  summary.kernel = (await page.locator('#runs-text').textContent())?.match(/with ([^,]*kernels)/)?.[1];
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
  // V8 tiers each worker's wasm up while it runs: until then the second
  // encoder's batches sometimes take twice as long. Warm both up first, so the
  // first figure measured is not the slowest.
  await call('bench', { texts, batch: 8, reps: 5, workers: 2 });
  // The page's default (two encoders when the machine has two cores), then one worker alone.
  for (const workers of [2, 1]) {
    for (const batch of [1, 8, 32]) {
      const { sps, workers: used } = await call('bench', { texts, batch, reps: REPS, workers });
      summary[workers === 2 ? `b${batch}_sps` : `b${batch}_one_worker_sps`] = Number(sps.toFixed(1));
      if (workers === 2) summary.workers = used;
      console.log(JSON.stringify({ batch, workers: used, sentences: texts.length, reps: REPS, sps }));
    }
  }
  // The same batch-8 work with no head at all (embedding only): what the heads
  // and their adapters cost on top of the shared pass. The shipped heads are put back.
  const shipped = ['sentiment', 'topic'];
  for (const head of shipped) await call('remove-head', { head });
  const { sps: bare } = await call('bench', { texts, batch: 8, reps: REPS, workers: 2 });
  for (const head of shipped) await call('reset-head', { head });
  summary.b8_embedding_only_sps = Number(bare.toFixed(1));
  summary.b8_with_heads_ratio = Number((summary.b8_sps / bare).toFixed(3));
  console.log(JSON.stringify({ batch: 8, heads: 'none', sps: bare }));

  // Typing: an edited 12-word line's result, from the debounce firing (150 ms
  // after the input event) to its row showing a label; the other lines are
  // already encoded and must not be encoded again.
  const typing = [];
  for (let i = 0; i < 7; i++) {
    typing.push(
      await page.evaluate(async (i) => {
        const { worker } = window.sentenceMultitask;
        const input = document.querySelector('[data-testid="sentence-input"]');
        const line = `The council voted on the new budget for road repairs, edit ${i}.`;
        let arrived = 0;
        let computed = 0;
        const onResults = ({ data }) => {
          if (data.type === 'results' && data.texts.includes(line)) [arrived, computed] = [performance.now(), data.ms];
        };
        worker.addEventListener('message', onResults);
        const t0 = performance.now() + 150;
        input.value = `Stocks rose today.\nThe match ended in a draw.\n${line}`;
        input.dispatchEvent(new Event('input', { bubbles: true }));
        for (;;) {
          const rows = [...document.querySelectorAll('[data-testid="result"]')];
          const row = rows.find((r) => r.textContent.includes(`edit ${i}.`));
          if (row?.querySelector('[data-testid="prediction-topic"][data-label]')) break;
          await new Promise((r) => setTimeout(r, 1));
        }
        worker.removeEventListener('message', onResults);
        return { total: performance.now() - t0, toResults: arrived - t0, computed };
      }, i),
    );
  }
  const mid = (xs) => Math.round([...xs].sort((a, b) => a - b)[3]);
  summary.typing_ms = mid(typing.map((t) => t.total));
  summary.typing_results_ms = mid(typing.map((t) => t.toResults));
  summary.typing_encode_ms = mid(typing.map((t) => t.computed));
  console.log(JSON.stringify({ typing_ms: typing.map((t) => Math.round(t.total)), results_arrive_ms: typing.map((t) => Math.round(t.toResults)), encode_ms: typing.map((t) => Math.round(t.computed)) }));

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
  await page.fill('[data-testid="sentence-input"]', lines.join('\n'));
  const delays = [];
  for (let i = 0; i < 15; i++) {
    delays.push(
      await page.evaluate(
        () =>
          new Promise((resolve) => {
            const t0 = performance.now();
            setTimeout(() => resolve(performance.now() - t0), 0);
          }),
      ),
    );
    await new Promise((r) => setTimeout(r, 150));
  }
  delays.sort((a, b) => a - b);
  summary.timer_delay_ms = Math.round(delays[7]);
  summary.timer_delay_max_ms = Math.round(delays.at(-1));
  console.log(JSON.stringify({ timer_delays_while_encoding_ms: delays.map(Math.round) }));
  const { wasmMemoryBytes } = await call('embed', { texts: lines });
  summary.peak_heap_bytes = wasmMemoryBytes;
  console.log(JSON.stringify({ embedded_lines: lines.length, wasm_memory_bytes: wasmMemoryBytes }));
} finally {
  await chrome.close();
  server.stop();
}
console.log(JSON.stringify(summary));
