// Teaching a head in the page, as a person does it, in headless Chromium.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { REPO, addExample, cli, browser, downloads, labels, openPage, sharedSetup, trainAndWait, typeSentences, waitFor } from './harness.mjs';

const shared = sharedSetup('teach');
const { scratch } = shared;

const EXAMPLES = {
  weather: [
    'Heavy rain and strong winds are expected tonight.',
    'Sunny skies with a high of 25 degrees tomorrow.',
    'Snow will fall in the mountains over the weekend.',
    'A thick fog covers the valley this morning.',
    'Frost is likely overnight, so cover your plants.',
  ],
  recipe: [
    'Add two cups of flour and a pinch of salt.',
    'Bake the cake for 40 minutes at 180 degrees.',
    'Fry the garlic gently in olive oil.',
    'Mix the butter and sugar until creamy.',
    'Simmer the sauce until it thickens.',
  ],
  music: [
    'The guitarist played a long solo at the concert.',
    'Her new album mixes jazz with electronic beats.',
    'The orchestra rehearsed the symphony all week.',
    'He sang the chorus while the drummer kept time.',
    'The band tuned their instruments before the show.',
  ],
};
const HELD_OUT = [
  ['Thunderstorms will move in by the afternoon.', 'weather'],
  ['Stir in the cream and season with pepper.', 'recipe'],
  ['Tickets for the rock festival sold out in minutes.', 'music'],
];

test('teach a brand-new three-class task, keep it across a reload, export and import it bit for bit', async () => {
  const { page, errors, requests } = await openPage(shared.chrome.context, shared.server.url);
  for (const [label, texts] of Object.entries(EXAMPLES)) for (const text of texts) await addExample(page, 'topic', text, label);
  assert.equal(await page.locator('[data-testid="example"]').count(), 15);
  const status = await trainAndWait(page, 'topic');
  assert.match(status, /^Trained topic in \d+ ms/);
  // The shipped head's replay set is fetched at its first lesson, and used.
  assert.match(status, /on its stored examples of the shipped classes it scores \d+% \(was \d+%\)/);
  assert.equal(requests.filter((url) => url.endsWith('/weights/replay/topic.safetensors')).length, 1);
  await typeSentences(page, HELD_OUT.map(([t]) => t).join('\n'));
  assert.deepEqual(
    (await labels(page)).map((l) => l.topic),
    HELD_OUT.map(([, label]) => label),
  );
  // From the top: a scrolled page shows the sticky teaching panel shifted in a full-page shot.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(REPO, 'target', 'screenshots', 'page-teach.png'), fullPage: true });

  // A reload keeps the examples and the trained head.
  await page.reload();
  await page.waitForSelector('[data-testid="status"][data-state="ready"]');
  await waitFor(page, () => document.querySelectorAll('[data-testid="example"]').length === 15, null);
  await typeSentences(page, HELD_OUT.map(([t]) => t).join('\n'));
  assert.deepEqual(
    (await labels(page)).map((l) => l.topic),
    HELD_OUT.map(([, label]) => label),
  );

  // Export, reset, import: the head comes back bit for bit.
  const exported = await downloads(page, 'export-head', 2);
  assert.deepEqual(Object.keys(exported).sort(), ['topic.json', 'topic.safetensors']);
  await page.click('[data-testid="reset-head"]');
  await typeSentences(page, HELD_OUT[0][0]);
  assert.ok(['World', 'Sports', 'Business', 'Sci/Tech'].includes((await labels(page))[0].topic));
  const json = join(scratch, 'topic.json');
  const weights = join(scratch, 'topic.safetensors');
  writeFileSync(json, exported['topic.json']);
  writeFileSync(weights, exported['topic.safetensors']);
  await page.setInputFiles('[data-testid="import-head"]', [json, weights]);
  await waitFor(page, () => /Imported head topic/.test(document.getElementById('teach-message').textContent), null);
  const again = await downloads(page, 'export-head', 2);
  assert.ok(again['topic.json'].equals(exported['topic.json']), 'head JSON round-trips');
  assert.ok(again['topic.safetensors'].equals(exported['topic.safetensors']), 'head weights round-trip');

  // The exported head works in the native CLI, with the same answers.
  const native = cli(['predict', '--compact', '--head', json], HELD_OUT.map(([t]) => t).join('\n') + '\n')
    .toString()
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line).predictions.topic.label);
  assert.deepEqual(native, HELD_OUT.map(([, label]) => label));

  // Examples export and import exactly (in a fresh profile).
  const { 'examples.jsonl': jsonl } = await downloads(page, 'export-examples', 1);
  const lines = jsonl.toString().trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 15);
  assert.deepEqual(lines[0], { text: EXAMPLES.weather[0], label: 'weather', head: 'topic' });
  const other = await browser();
  try {
    const fresh = await openPage(other.context, shared.server.url);
    const file = join(scratch, 'examples.jsonl');
    writeFileSync(file, jsonl);
    await fresh.page.setInputFiles('[data-testid="import-examples"]', file);
    await waitFor(fresh.page, () => document.querySelectorAll('[data-testid="example"]').length === 15, null);
    const roundTrip = await downloads(fresh.page, 'export-examples', 1);
    assert.ok(roundTrip['examples.jsonl'].equals(jsonl), 'examples round-trip exactly');
  } finally {
    await other.close();
  }
  assert.deepEqual(errors, []);
  assert.deepEqual(requests.filter((u) => !u.startsWith(shared.server.url) && !u.startsWith('blob:') && !u.startsWith('data:')), []);
  await page.close();
});

test('a corrupt head and a malformed examples file are refused, and nothing is lost', async () => {
  const { page } = await openPage(shared.chrome.context, shared.server.url);
  await addExample(page, 'sentiment', 'A quiet, lovely film.', 'positive');
  const count = await page.locator('[data-testid="example"]').count();
  const json = join(scratch, 'bad.json');
  const weights = join(scratch, 'bad.safetensors');
  writeFileSync(json, readFileSync(join(REPO, 'weights/heads/sentiment.json')));
  writeFileSync(weights, readFileSync(join(REPO, 'weights/heads/sentiment.safetensors')).subarray(0, 100));
  await page.setInputFiles('[data-testid="import-head"]', [json, weights]);
  await waitFor(page, () => /refused/.test(document.getElementById('teach-message').textContent), null);
  assert.match(await page.textContent('#teach-message'), /bad/);
  await typeSentences(page, 'I loved every minute of it.');
  assert.equal((await labels(page))[0].sentiment, 'positive');

  const malformed = join(scratch, 'malformed.jsonl');
  writeFileSync(malformed, '{"text": "fine", "label": "positive"}\n{"text": "no label"}\n');
  await page.setInputFiles('[data-testid="import-examples"]', malformed);
  await waitFor(page, () => /Nothing imported/.test(document.getElementById('teach-message').textContent), null);
  assert.match(await page.textContent('#teach-message'), /line 2/);
  assert.equal(await page.locator('[data-testid="example"]').count(), count);
  await page.close();
});

test('training can be stopped', async () => {
  const { page } = await openPage(shared.chrome.context, shared.server.url);
  for (const [label, texts] of Object.entries(EXAMPLES)) for (const text of texts) await addExample(page, 'sentiment', text, label);
  await page.click('.advanced summary');
  // The panel shows the trainer's own defaults, asked from wasm: a number, or "auto".
  assert.match(await page.getAttribute('#setting-epochs', 'placeholder'), /^(\d+|auto)$/);
  await page.fill('#setting-epochs', '500');
  await page.check('#setting-scratch');
  await page.selectOption('[data-testid="example-head"]', 'sentiment');
  // Stop as soon as the first epoch is drawn, from inside the page: a run of
  // 500 epochs on 15 examples takes about two seconds, shorter than a round
  // trip of polls on a busy machine.
  await page.evaluate(() => {
    const legend = document.getElementById('curve-legend');
    const observer = new MutationObserver(() => {
      if (/epoch \d+/.test(legend.textContent)) {
        observer.disconnect();
        document.querySelector('[data-testid="stop"]').click();
      }
    });
    observer.observe(legend, { childList: true, characterData: true, subtree: true });
  });
  await page.click('[data-testid="train"]');
  await waitFor(page, () => document.querySelector('[data-testid="train-status"]').dataset.state === 'done', null);
  const text = await page.textContent('[data-testid="train-status"]');
  const epochs = Number(/\((\d+) epochs/.exec(text)[1]);
  assert.ok(epochs < 500, `stopped after ${epochs} epochs`);
  await page.close();
});

test('a head trained natively imports and predicts as natively', async () => {
  const out = join(scratch, 'native');
  cli(['train', '--head', 'chores', '--data', join(REPO, 'tests/fixtures/data/three_topics.jsonl'), '--arch', 'linear', '--epochs', '60', '--out', out]);
  const sentences = ['Chop the carrots and boil them.', 'The striker scored a late goal.'];
  const native = cli(['predict', '--compact', '--head', join(out, 'chores.json')], sentences.join('\n') + '\n')
    .toString()
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line).predictions.chores);
  const { page } = await openPage(shared.chrome.context, shared.server.url);
  await page.setInputFiles('[data-testid="import-head"]', [join(out, 'chores.json'), join(out, 'chores.safetensors')]);
  await waitFor(page, () => /Imported head chores/.test(document.getElementById('teach-message').textContent), null);
  await typeSentences(page, sentences.join('\n'));
  const inPage = await page.evaluate(
    (texts) => texts.map((t) => window.sentenceMultitask.state.cache.get(t).predictions.chores),
    sentences,
  );
  // One Prediction shape in the CLI's JSON and in the page: {label, probabilities: {label: p}}.
  inPage.forEach((answer, i) => {
    assert.equal(answer.label, native[i].label);
    assert.deepEqual(Object.keys(answer.probabilities), Object.keys(native[i].probabilities));
    for (const [label, p] of Object.entries(native[i].probabilities)) assert.ok(Math.abs(p - answer.probabilities[label]) < 1e-4);
  });
  await page.close();
});
