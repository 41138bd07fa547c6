// `make few-shot-web`: study (h)'s few-shot lesson through the page itself.
// For each `TASK-SIZE-seedS.jsonl` in FEW_SHOT_DIR (default target/few-shot, which
// `sentence-multitask-studies --few-shot-files` writes) with SIZE in SIZES
// (examples a class, space-separated; default 8), a fresh browser profile
// imports the examples as a new task, trains it with the page's defaults (the
// encoder adapted), and types TASK-evaluation.jsonl in chunks to read the
// task's prediction on every line. One JSON line per run:
// {task, per_class, seed, examples, accuracy, right, evaluated, train_s (the page's own
// figure), wall_s (click to done)}, then a summary line with the means.

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { REPO, browser, openPage, serve, trainAndWait, typeSentences, waitFor } from './harness.mjs';

const DIR = process.env.FEW_SHOT_DIR || join(REPO, 'target', 'few-shot');
const SIZES = (process.env.SIZES || '8').split(/\s+/).filter(Boolean).map(Number);
const CHUNK = 200;

/** @param {string} file @returns {{ text: string, label: string }[]} */
const rows = (file) =>
  readFileSync(join(DIR, file), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line))
    .map((row) => ({ text: row.text.replace(/\s+/g, ' ').trim(), label: row.label }));

/** Imports the examples as a new task `name`, trains it, and resolves to the page's seconds and the wall clock's. */
async function teach(page, name, examples, file) {
  writeFileSync(file, examples.map((e) => JSON.stringify({ ...e, head: name })).join('\n') + '\n');
  await page.setInputFiles('[data-testid="import-examples"]', file);
  await waitFor(page, (n) => new RegExp(`Imported ${n} examples`).test(document.getElementById('teach-message').textContent), examples.length);
  if (!(await page.isChecked('[data-testid="setting-adapt"]'))) throw new Error('the page would not adapt the encoder for a new task');
  const t0 = Date.now();
  const status = await trainAndWait(page, name, { timeout: 900_000 });
  const wall = (Date.now() - t0) / 1000;
  const seconds = /in ([\d.]+) (m?s)/.exec(status ?? '');
  if (!seconds || !/with its own adapter/.test(status ?? '')) throw new Error(`training ${name} did not finish as expected: ${status}`);
  return { train_s: Number(seconds[1]) / (seconds[2] === 'ms' ? 1000 : 1), wall_s: wall };
}

/** The task's label for each text, typed `CHUNK` lines at a time. */
async function predict(page, name, texts) {
  const labels = [];
  for (let i = 0; i < texts.length; i += CHUNK) {
    const chunk = texts.slice(i, i + CHUNK);
    // Cleared first: the last chunk's rows would otherwise pass for this one's while it renders.
    await typeSentences(page, '');
    await typeSentences(page, chunk.join('\n'), { timeout: 300_000 });
    await waitFor(page, ([n, t]) => document.querySelectorAll(`[data-testid="prediction-${t}"][data-label]`).length === n, [chunk.length, name], {
      timeout: 300_000,
    });
    labels.push(...(await page.$$eval(`[data-testid="prediction-${name}"]`, (blocks) => blocks.map((b) => b.dataset.label))));
  }
  return labels;
}

const runs = readdirSync(DIR)
  .map((file) => /^(\w+)-(\d+)-seed(\d+)\.jsonl$/.exec(file))
  .filter((m) => m !== null && SIZES.includes(Number(m[2])))
  .map((m) => ({ file: m[0], task: m[1], per_class: Number(m[2]), seed: Number(m[3]) }))
  .sort((a, b) => a.task.localeCompare(b.task) || a.per_class - b.per_class || a.seed - b.seed);
if (runs.length === 0) throw new Error(`no TASK-SIZE-seedS.jsonl with SIZE in ${SIZES} in ${DIR}: run make few-shot-files first`);

const server = await serve();
const scratch = mkdtempSync(join(tmpdir(), 'sentence-multitask-few-shot-'));
const results = [];
try {
  for (const { file, task, per_class, seed } of runs) {
    const chrome = await browser();
    try {
      const { page, errors } = await openPage(chrome.context, server.url);
      const name = `new${task}`;
      const examples = rows(file);
      const evaluation = rows(`${task}-evaluation.jsonl`);
      const times = await teach(page, name, examples, join(scratch, `${name}.jsonl`));
      const predicted = await predict(page, name, evaluation.map((e) => e.text));
      const right = predicted.filter((label, i) => label === evaluation[i].label).length;
      if (errors.length > 0) throw new Error(`the page reported errors: ${errors.join('; ')}`);
      const result = { task, per_class, seed, examples: examples.length, accuracy: right / evaluation.length, right, evaluated: evaluation.length, ...times };
      results.push(result);
      console.log(JSON.stringify(result));
    } finally {
      await chrome.close();
    }
  }
} finally {
  server.stop();
  rmSync(scratch, { recursive: true, force: true });
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const summary = {};
for (const key of new Set(results.map((r) => `${r.task}-${r.per_class}`))) {
  const mine = results.filter((r) => `${r.task}-${r.per_class}` === key);
  summary[key] = { seeds: mine.length, accuracy: mean(mine.map((r) => r.accuracy)), train_s: mean(mine.map((r) => r.train_s)) };
}
console.log(JSON.stringify({ date: new Date().toISOString(), summary }));
