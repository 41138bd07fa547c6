// The page as a person uses it, in headless Chromium against `sentence-multitask serve`.

import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { REPO, browser, labels, openPage, serve, typeSentences, waitFor } from './harness.mjs';

const SHOTS = join(REPO, 'target', 'screenshots');
let server;
let chrome;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await serve();
  chrome = await browser();
});

after(async () => {
  await chrome?.close();
  server?.stop();
});

const sameOrigin = (url) => url.startsWith(server.url) || url.startsWith('data:') || url.startsWith('blob:');

test('a person types sentences and sees both predictions, the strip and the heat map; a reload starts from the cache', async () => {
  const { page, requests, errors } = await openPage(chrome.context, server.url);
  assert.match(await page.textContent('[data-testid="status"]'), /downloaded/);
  // Replay sets serve only lessons of the shipped heads: none is fetched to start.
  assert.deepEqual(requests.filter((url) => url.includes('/weights/replay/')), []);
  await typeSentences(
    page,
    [
      'The striker scored twice as the team won the championship final.',
      'This was the worst, most boring film I have ever sat through.',
      'Shares of the bank fell sharply after its quarterly loss.',
    ].join('\n'),
  );
  const got = await labels(page);
  assert.equal(got[0].topic, 'Sports');
  assert.equal(got[1].sentiment, 'negative');
  assert.equal(got[2].topic, 'Business');
  assert.equal(await page.locator('[data-testid="embedding-strip"]').count(), 3);
  assert.equal(await page.locator('[data-testid="heatmap-cell"]').count(), 9);
  const diagonal = await page.locator('[data-testid="heatmap-cell"]').first().textContent();
  assert.equal(diagonal, '1.00');
  // Embedding values on hover.
  const strip = page.locator('[data-testid="embedding-strip"]').first();
  await strip.hover({ position: { x: 5, y: 5 } });
  assert.match(await page.locator('.readout').first().textContent(), /^dim \d+: -?\d\.\d{4}$/);
  // From the top: a scrolled page shows the sticky teaching panel shifted in a full-page shot.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, 'page-results.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(SHOTS, 'page-phone.png'), fullPage: true });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling at phone width (page is ${width}px wide)`);
  await page.setViewportSize({ width: 1100, height: 900 });

  // A second visit reads the weights from the cache instead of the network.
  const before = requests.length;
  await page.reload();
  await page.waitForSelector('[data-testid="status"][data-state="ready"]');
  assert.match(await page.textContent('[data-testid="status"]'), /cache/);
  const refetched = requests.slice(before).filter((url) => /\/weights\/(?!SHA256SUMS)/.test(url));
  assert.deepEqual(refetched, [], 'no weight file is fetched again');
  assert.deepEqual(requests.filter((url) => !sameOrigin(url)), [], 'only the page\u2019s own origin is contacted');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the baseline simd128 build (?simd=baseline) gives the relaxed-SIMD build\u2019s embeddings and answers bit for bit', async () => {
  const texts = ['Shares of the bank fell sharply after its quarterly loss.', 'A quiet, lovely film.'];
  const run = async (query) => {
    const { page, errors } = await openPage(chrome.context, server.url + query);
    await typeSentences(page, texts.join('\n'));
    await labels(page);
    const kernel = await page.locator('#runs-text').textContent();
    const results = await page.evaluate(
      (texts) =>
        texts.map((t) => {
          const r = window.sentenceMultitask.state.cache.get(t);
          return { vector: [...r.vector], predictions: r.predictions };
        }),
      texts,
    );
    assert.deepEqual(errors, []);
    await page.close();
    return { kernel, results };
  };
  const relaxed = await run('');
  const baseline = await run('?simd=baseline');
  // Relaxed where the CPU runs its dot natively (timed at start), else simd128 in the relaxed build.
  assert.match(relaxed.kernel, /with (relaxed-)?SIMD integer kernels/);
  assert.match(baseline.kernel, /with SIMD integer kernels/);
  assert.deepEqual(baseline.results, relaxed.results);
});

test('hostile text is shown as text and runs nothing', async () => {
  const { page, errors } = await openPage(chrome.context, server.url);
  const hostile = '<img src=x onerror=alert(1)><script>alert(2)</script>';
  await typeSentences(page, hostile);
  assert.equal(await page.locator('[data-testid="result"] .sentence').textContent(), hostile);
  assert.equal(await page.locator('main img, main script').count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test('2,000 lines and a 100 KB line all get results, streaming in while the page answers', async () => {
  const { page, requests, errors } = await openPage(chrome.context, server.url);
  const lines = Array.from({ length: 2000 }, (_, i) => `Line ${i}: the market ${i % 2 ? 'rallied' : 'slumped'} on day ${i}.`);
  lines.push('word '.repeat(20_000));
  await page.fill('[data-testid="sentence-input"]', lines.join('\n'));
  // While the workers encode, the page's own thread answers and shows results
  // as they come: some lines done while others still wait. (How fast it
  // answers is a figure of `make bench-web`, not a bound for a shared machine.)
  const seen = [];
  const total = lines.length;
  for (let i = 0; i < 600 && !seen.some((n) => n > 0 && n < total); i++) {
    seen.push(await page.evaluate(() => document.querySelectorAll('[data-testid="prediction-topic"][data-label]').length));
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(seen.some((n) => n > 0 && n < total), `results stream in while the rest is encoded (${seen.slice(-5)})`);
  await waitFor(
    page,
    (n) => document.querySelectorAll('[data-testid="prediction-topic"][data-label]').length === n,
    lines.length,
    { timeout: 240_000 },
  );
  const long = page.locator('[data-testid="result"]').last();
  assert.match(await long.locator('.readout').textContent(), /^256 word pieces$/);
  assert.deepEqual(requests.filter((url) => !sameOrigin(url)), []);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the compact weights load by default; switching to exact keeps the text and the answers', async () => {
  const other = await browser();
  try {
    const { page, requests, errors } = await openPage(other.context, server.url);
    const weightFiles = () => requests.filter((u) => /\/weights\/model[^/]*\.safetensors/.test(u)).map((u) => new URL(u).pathname);
    assert.deepEqual(weightFiles(), ['/weights/model-int8.safetensors']);
    assert.match(await page.textContent('#runs-text'), /of int8 weights/);
    const text = 'The striker scored twice as the team won the final.\nShares fell after the bank reported a loss.';
    await typeSentences(page, text);
    const compact = await labels(page);
    await Promise.all([page.waitForEvent('load'), page.selectOption('[data-testid="precision"]', 'exact')]);
    await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 60_000 });
    assert.equal(await page.inputValue('[data-testid="sentence-input"]'), text);
    assert.deepEqual(weightFiles(), ['/weights/model-int8.safetensors', '/weights/model.safetensors']);
    assert.match(await page.textContent('#runs-text'), /of f16 weights/);
    assert.equal(await page.inputValue('[data-testid="precision"]'), 'exact');
    await waitFor(page, (n) => document.querySelectorAll('[data-testid="prediction-topic"][data-label]').length === n, 2);
    assert.deepEqual(await labels(page), compact);
    assert.deepEqual(errors, []);
  } finally {
    await other.close();
  }
});

test('with two cores a second encoder worker shares the batches and gives the same vectors', async (t) => {
  const { page, errors } = await openPage(chrome.context, server.url);
  if ((await page.evaluate(() => navigator.hardwareConcurrency)) < 2) return t.skip('one core');
  const call = (type, payload) => page.evaluate(([ty, p]) => window.sentenceMultitask.call(ty, p), [type, payload]);
  const texts = Array.from({ length: 40 }, (_, i) => `Sentence number ${i} about ${i % 2 ? 'football' : 'interest rates'}.`);
  assert.equal((await call('bench', { texts: texts.slice(0, 16), batch: 8, reps: 1 })).workers, 2);
  // 40 lines: the page's chunks of 16 go alternately to this worker and the second one.
  await page.evaluate(() => {
    window.encodedBy = new Set();
    window.sentenceMultitask.worker.addEventListener('message', ({ data }) => data.type === 'results' && window.encodedBy.add(data.encoder));
  });
  await typeSentences(page, texts.join('\n'));
  assert.deepEqual(await page.evaluate(() => [...window.encodedBy].sort()), [1, 2], 'both workers encoded batches');
  // Many lines: a compact row each (its labels), the bars and strip a click away.
  assert.equal(await page.locator('[data-testid="result"] details:not([open])').count(), 40);
  const row = page.locator('[data-testid="result"]').nth(3);
  assert.ok((await row.boundingBox()).height < 110, 'a collapsed row stays short');
  await row.locator('summary').click();
  assert.ok(await row.locator('[data-testid="embedding-strip"]').isVisible());
  await page.screenshot({ path: join(SHOTS, 'page-many-lines.png') });
  const shown = await page.evaluate((ts) => ts.map((t) => Array.from(window.sentenceMultitask.state.cache.get(t).vector)), texts);
  const { embeddings } = await call('embed', { texts });
  const local = Object.values(embeddings);
  shown.forEach((v, i) => v.forEach((x, k) => assert.ok(Math.abs(x - local[i * 384 + k]) < 1e-6, `line ${i}`)));
  assert.deepEqual(errors, []);
  await page.close();
});

test('a corrupt download says so and Retry recovers once the file is good', async () => {
  const weights = mkdtempSync(join(tmpdir(), 'sentence-multitask-weights-'));
  cpSync(join(REPO, 'weights'), weights, { recursive: true });
  truncateSync(join(weights, 'model-int8.safetensors'), 1_000_000);
  const broken = await serve(['--weights', weights]);
  const other = await browser();
  const { context } = other;
  try {
    const page = await context.newPage();
    await page.goto(broken.url);
    await page.waitForSelector('[data-testid="status"][data-state="error"]', { timeout: 60_000 });
    assert.match(await page.textContent('[data-testid="status"]'), /model-int8\.safetensors arrived corrupted/);
    assert.ok(await page.isVisible('#retry'));
    copyFileSync(join(REPO, 'weights', 'model-int8.safetensors'), join(weights, 'model-int8.safetensors'));
    await page.click('#retry');
    await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 60_000 });
    await typeSentences(page, 'The goalkeeper saved a penalty in the last minute.');
    assert.equal((await labels(page))[0].topic, 'Sports');
  } finally {
    await other.close();
    broken.stop();
    rmSync(weights, { recursive: true, force: true });
  }
});
