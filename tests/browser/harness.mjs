// Shared set-up of the browser tests: the project's own `serve` on a free
// loopback port, and Debian's headless Chromium driven by playwright-core.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.SENTENCE_MULTITASK_BIN || join(REPO, 'target', 'debug', 'sentence-multitask');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Runs the native CLI from the repository's top (where its default weights/ is); resolves to its stdout. */
export const cli = (args, input = '') => execFileSync(BIN, args, { cwd: REPO, input });

/**
 * Starts `sentence-multitask serve --port 0` in the repository's top (where
 * its default www/ and weights/ are); resolves to `{url, stop}`.
 */
export function serve(extraArgs = []) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(BIN, ['serve', '--port', '0', ...extraArgs], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`serve exited with ${code} before printing its URL: ${out}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
      if (match) resolvePromise({ url: match[0], stop: () => child.kill() });
    });
  });
}

/**
 * One `serve`, one browser and one scratch folder shared by a test file:
 * registers the `before` and `after` hooks that start and remove them, and
 * returns the object they fill in.
 * @param {string} name names the scratch folder
 */
export function sharedSetup(name) {
  const shared = { server: null, chrome: null, scratch: mkdtempSync(join(tmpdir(), `sentence-multitask-${name}-`)) };
  before(async () => {
    shared.server = await serve();
    shared.chrome = await browser();
  });
  after(async () => {
    await shared.chrome?.close();
    shared.server?.stop();
    rmSync(shared.scratch, { recursive: true, force: true });
  });
  return shared;
}

/** A fresh headless Chromium with its own profile; `close()` removes it. */
export async function browser() {
  const profile = mkdtempSync(join(tmpdir(), 'sentence-multitask-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // `JS_FLAGS=--no-enable-avx-vnni`: V8 as on a CPU without AVX-VNNI (the relaxed-SIMD build then times simd128 faster).
      ...(process.env.JS_FLAGS ? [`--js-flags=${process.env.JS_FLAGS}`] : []),
    ],
    viewport: { width: 1100, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the page, records every request, and waits for the model and the teaching panel. */
export async function openPage(context, url, { timeout = 60_000 } = {}) {
  const page = await context.newPage();
  const requests = [];
  const errors = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('dialog', (dialog) => {
    errors.push(`dialog opened: ${dialog.message()}`);
    dialog.dismiss();
  });
  await page.goto(url);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout });
  // The teaching panel is wired once the heads saved in this browser are back
  // in the worker (a saved head with an adapter takes a few hundred ms).
  await waitFor(page, () => !document.querySelector('[data-testid="import-head"]')?.hasAttribute('disabled'), null, { timeout });
  return { page, requests, errors };
}

/** Replaces the sentences and waits until every line has both predictions. */
export async function typeSentences(page, text, { timeout = 60_000 } = {}) {
  await page.fill('[data-testid="sentence-input"]', text);
  const expected = text.split('\n').filter((line) => line.trim() !== '').length;
  await waitFor(
    page,
    (n) =>
      document.querySelectorAll('[data-testid="result"]').length === n &&
      document.querySelectorAll('[data-testid="prediction-topic"][data-label]').length === n &&
      document.querySelectorAll('[data-testid="prediction-sentiment"][data-label]').length === n,
    expected,
    { timeout },
  );
}

/**
 * Polls `predicate(arg)` in the page until it is truthy. (Playwright's
 * waitForFunction evaluates strings, which the page's CSP rightly forbids.)
 */
export async function waitFor(page, predicate, arg, { timeout = 60_000, interval = 50 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await page.evaluate(predicate, arg);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${predicate}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** `[{topic, sentiment}]` of the rendered results, in order. */
export function labels(page) {
  return page.$$eval('[data-testid="result"]', (rows) =>
    rows.map((row) => ({
      topic: row.querySelector('[data-testid="prediction-topic"]').dataset.label,
      sentiment: row.querySelector('[data-testid="prediction-sentiment"]').dataset.label,
    })),
  );
}

/** Adds one example through the teaching form. */
export async function addExample(page, head, text, label) {
  await page.selectOption('[data-testid="example-head"]', head);
  await page.fill('[data-testid="example-text"]', text);
  await page.fill('[data-testid="example-label"]', label);
  await page.click('[data-testid="add-example"]');
}

/** Trains `head` and resolves to the train status once it is done or failed (within `timeout` ms). */
export async function trainAndWait(page, head, { timeout = 120_000 } = {}) {
  await page.selectOption('[data-testid="example-head"]', head);
  await page.click('[data-testid="train"]');
  await waitFor(page, () => ['done', 'error'].includes(document.querySelector('[data-testid="train-status"]').dataset.state), null, {
    timeout,
  });
  return page.textContent('[data-testid="train-status"]');
}

/** Clicks an export button and returns `{name: bytes}` of the `count` downloads it makes. */
export async function downloads(page, testid, count) {
  const seen = [];
  const done = new Promise((resolve) => {
    const onDownload = (d) => {
      seen.push(d);
      if (seen.length === count) {
        page.off('download', onDownload);
        resolve();
      }
    };
    page.on('download', onDownload);
  });
  await page.click(`[data-testid="${testid}"]`);
  await done;
  const files = {};
  for (const d of seen) files[d.suggestedFilename()] = readFileSync(await d.path());
  return files;
}
