// The page never loses a person's work and never hangs: storage that fails,
// a stored head that does not restore, Stop at once, a line that cannot be
// encoded, a second encoder that dies. Each test has its own browser profile.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { addExample, browser, downloads, openPage, serve, trainAndWait, typeSentences, waitFor } from './harness.mjs';

let server;

before(async () => {
  server = await serve();
});

after(() => server?.stop());

/** A fresh profile, closed after `body(context)`. */
async function withBrowser(body) {
  const own = await browser();
  try {
    await body(own.context);
  } finally {
    await own.close();
  }
}

/** In the page: IndexedDB writes throw a quota error while localStorage says so. */
function failWritesWhenAsked() {
  for (const method of ['put', 'add', 'delete']) {
    const original = IDBObjectStore.prototype[method];
    IDBObjectStore.prototype[method] = function (...args) {
      if (localStorage.getItem('test-fail-writes')) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return original.apply(this, args);
    };
  }
}

const failWrites = (page, on) => page.evaluate((on) => (on ? localStorage.setItem('test-fail-writes', '1') : localStorage.removeItem('test-fail-writes')), on);

/** The page's store: 'keys' lists it; 'put-broken-head' stores a head that cannot load. */
function store(page, op) {
  return page.evaluate(
    (op) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('sentence-multitask', 1);
        open.onupgradeneeded = () => open.result.createObjectStore('state');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const tx = db.transaction('state', op === 'keys' ? 'readonly' : 'readwrite');
          const request =
            op === 'keys'
              ? tx.objectStore('state').getAllKeys()
              : tx.objectStore('state').put({ json: new Uint8Array([123, 125]), safetensors: new Uint8Array([0, 1]) }, 'head:broken');
          tx.oncomplete = () => {
            db.close();
            resolve(op === 'keys' ? request.result : null);
          };
          tx.onerror = () => reject(tx.error);
        };
      }),
    op,
  );
}

const topicLabels = (page) => page.evaluate(() => window.sentenceMultitask.state.heads.find((h) => h.name === 'topic').labels);
const SHIPPED_TOPIC = ['World', 'Sports', 'Business', 'Sci/Tech'];
const COOKING = [
  'Simmer the stock with onions and bay leaves.',
  'Knead the dough until it is smooth and elastic.',
  'Roast the peppers until their skins blister.',
  'Whisk the cream with a little sugar.',
  'Season the soup with salt and fresh thyme.',
];

async function reloadReady(page) {
  await page.reload();
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 60_000 });
}

const exampleTexts = (page) => page.$$eval('[data-testid="example"] .example-edit', (inputs) => inputs.map((i) => i.value));

test('IndexedDB refusing writes: a notice offers Export, and nothing the page called saved is lost', async () => {
  await withBrowser(async (context) => {
    await context.addInitScript(failWritesWhenAsked);
    const { page, errors } = await openPage(context, server.url);
    await addExample(page, 'sentiment', 'A gentle, funny film.', 'positive');
    await waitFor(page, () => /^Added/.test(document.getElementById('teach-message').textContent), null);
    await failWrites(page, true);
    await addExample(page, 'sentiment', 'A dull, endless film.', 'negative');
    const notice = page.locator('[data-testid="notice"][data-kind="error"]');
    await notice.waitFor();
    assert.match(await notice.textContent(), /examples could not be saved in this browser \(The quota has been exceeded\.\)/);
    assert.match(await page.textContent('#teach-message'), /not saved/);
    // Export still holds both: what is only in memory can be kept.
    const { 'examples.jsonl': file } = await downloads(page, 'notice-export', 1);
    assert.deepEqual(
      file.toString().trim().split('\n').map((l) => JSON.parse(l).text),
      ['A gentle, funny film.', 'A dull, endless film.'],
    );
    await failWrites(page, false);
    await reloadReady(page);
    await page.selectOption('[data-testid="example-head"]', 'sentiment');
    await waitFor(page, () => document.querySelectorAll('[data-testid="example"]').length > 0, null);
    assert.deepEqual(await exampleTexts(page), ['A gentle, funny film.']);
    assert.deepEqual(errors, []);
  });
});

test('a trained head that cannot be stored is not used: the worker and the store agree', async () => {
  await withBrowser(async (context) => {
    await context.addInitScript(failWritesWhenAsked);
    const { page, errors } = await openPage(context, server.url);
    for (const text of COOKING) await addExample(page, 'topic', text, 'Cooking');
    await waitFor(page, () => /^Added/.test(document.getElementById('teach-message').textContent), null);
    await failWrites(page, true);
    const status = await trainAndWait(page, 'topic');
    assert.match(status, /could not be saved: the previous topic head is still in use/);
    assert.deepEqual(await topicLabels(page), SHIPPED_TOPIC);
    assert.match(await page.textContent('[data-testid="notice"]'), /new topic head could not be saved/);
    // The new head can still be taken away as files.
    const files = await downloads(page, 'notice-export', 2);
    assert.deepEqual(Object.keys(files).sort(), ['topic.json', 'topic.safetensors']);
    assert.ok(JSON.parse(files['topic.json'].toString()).labels.includes('Cooking'));
    await failWrites(page, false);
    await reloadReady(page);
    assert.deepEqual(await topicLabels(page), SHIPPED_TOPIC);
    assert.ok(!(await store(page, 'keys')).includes('head:topic'));
    assert.deepEqual(errors, []);
  });
});

test('a stored head that fails to restore is kept and reported until the person removes it', async () => {
  await withBrowser(async (context) => {
    const { page, errors } = await openPage(context, server.url);
    await store(page, 'put-broken-head');
    for (let visit = 0; visit < 2; visit++) {
      await reloadReady(page);
      const notice = page.locator('[data-testid="notice"][data-kind="error"]');
      await notice.waitFor();
      assert.match(await notice.textContent(), /The broken head saved in this browser could not be restored .*It is kept/);
      assert.ok((await store(page, 'keys')).includes('head:broken'), `kept after visit ${visit + 1}`);
    }
    await page.click('[data-testid="remove-saved-head"]');
    await waitFor(page, () => /Removed the saved broken head/.test(document.getElementById('teach-message').textContent), null);
    assert.ok(!(await store(page, 'keys')).includes('head:broken'));
    await reloadReady(page);
    await typeSentences(page, 'The striker scored a late winner.');
    assert.equal(await page.locator('[data-testid="notice"]').count(), 0);
    assert.deepEqual(errors, []);
  });
});

test('Stop at once keeps the previous head, also after a reload', async () => {
  await withBrowser(async (context) => {
    const { page, errors } = await openPage(context, server.url);
    assert.ok(await page.evaluate(() => self.crossOriginIsolated), 'Stop needs shared memory');
    for (const text of COOKING) await addExample(page, 'topic', text, 'Cooking');
    await page.selectOption('[data-testid="example-head"]', 'topic');
    // Train and Stop in one task: the stop flag is up before the first step.
    await page.evaluate(() => {
      document.querySelector('[data-testid="train"]').click();
      document.querySelector('[data-testid="stop"]').click();
    });
    await waitFor(page, () => document.querySelector('[data-testid="train-status"]').dataset.state === 'done', null, { timeout: 120_000 });
    assert.match(await page.textContent('[data-testid="train-status"]'), /Stopped before the first epoch ended: topic is unchanged/);
    assert.deepEqual(await topicLabels(page), SHIPPED_TOPIC);
    await reloadReady(page);
    assert.deepEqual(await topicLabels(page), SHIPPED_TOPIC);
    assert.ok(!(await store(page, 'keys')).includes('head:topic'));
    assert.deepEqual(errors, []);
  });
});

/** Appended to the wasm module's glue: predict fails on any batch holding the marked line. */
const FAULT = `
const faultFreePredict = WebModel.prototype.predict;
WebModel.prototype.predict = function (texts) {
  if (texts.some((t) => t.includes('FAULT-LINE'))) throw new Error('injected fault');
  return faultFreePredict.call(this, texts);
};
`;

test('an encode error lands on its line, is not retried in a loop, and Retry reloads the model', async () => {
  await withBrowser(async (context) => {
    let faulty = true;
    await context.route('**/sentence_multitask.js', async (route) => {
      if (!faulty) return route.continue();
      const response = await route.fetch();
      await route.fulfill({ response, body: (await response.text()) + FAULT });
    });
    const { page, errors } = await openPage(context, server.url);
    const text = ['The striker scored a late winner.', 'This FAULT-LINE cannot be encoded.', 'Shares fell after the report.'].join('\n');
    await page.fill('[data-testid="sentence-input"]', text);
    await page.locator('[data-testid="line-error"]').waitFor();
    assert.match(await page.textContent('[data-testid="line-error"]'), /injected fault/);
    await waitFor(page, () => document.querySelectorAll('[data-testid="prediction-topic"][data-label]').length === 2, null);
    assert.equal(await page.getAttribute('[data-testid="status"]', 'data-state'), 'error');
    // No loop: the page asks for nothing more.
    const requests = () => page.evaluate(() => window.sentenceMultitask.state.requestId);
    const asked = await requests();
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await requests(), asked);
    faulty = false;
    await Promise.all([page.waitForEvent('load'), page.click('#retry')]);
    await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 60_000 });
    assert.equal(await page.inputValue('[data-testid="sentence-input"]'), text);
    await waitFor(page, () => document.querySelectorAll('[data-testid="prediction-topic"][data-label]').length === 3, null);
    assert.equal(await page.locator('[data-testid="line-error"]').count(), 0);
    assert.deepEqual(errors, []);
  });
});

test('a second encoder that stops answering is dropped and every line still gets its result', async (t) => {
  await withBrowser(async (context) => {
    // The second encoder loads and says ready, then never answers (no error
    // event either): the model worker's messages asking it to embed are
    // swallowed. (Playwright does not see a worker's own workers' requests,
    // so the model worker's code is what the test amends.)
    await context.route('**/worker.js', async (route) => {
      const response = await route.fetch();
      const silence = `
const deliver = Worker.prototype.postMessage;
Worker.prototype.postMessage = function (message, transfer) {
  if (message?.type !== 'embed') deliver.call(this, message, transfer);
};
`;
      await route.fulfill({ response, body: (await response.text()) + silence });
    });
    const { page, errors } = await openPage(context, server.url);
    if ((await page.evaluate(() => navigator.hardwareConcurrency)) < 2) return t.skip('one core: no second encoder');
    const texts = Array.from({ length: 40 }, (_, i) => `Sentence number ${i} about ${i % 2 ? 'football' : 'interest rates'}.`);
    // One batch alone never goes to the second encoder: this only waits until it says ready.
    const workers = () => page.evaluate((t) => window.sentenceMultitask.call('bench', { texts: t, batch: t.length, reps: 1 }).then((r) => r.workers), texts.slice(0, 8));
    assert.equal(await workers(), 2, 'the silent encoder said ready');
    await typeSentences(page, texts.join('\n'), { timeout: 90_000 });
    assert.equal(await workers(), 1, 'it was dropped');
    assert.equal(await page.getAttribute('[data-testid="status"]', 'data-state'), 'ready');
    assert.deepEqual(errors, []);
  });
});
