// `make compare-web`: transformers.js (the anchor in ../shared/anchors) and
// this project's page benchmark, run alternately in one go on the same
// machine and browser, so load drifts hit both. Prints each run's figures,
// then one JSON object: the median of each figure per side, the ratios, and
// the rounds. `node chart.mjs FILE` draws it as SVG.
// ANCHOR=dir of run.sh, ANCHOR_WORKDIR=its work dir, ROUNDS=n (default 2);
// `--from FILE` only recomputes the summary from an earlier run's rounds.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';

import { REPO } from './harness.mjs';

const ANCHOR = resolve(process.env.ANCHOR || join(REPO, '..', 'shared', 'anchors', 'transformers-js'));
const WORKDIR = resolve(process.env.ANCHOR_WORKDIR || join(process.env.TMPDIR || '/tmp', 'tjs-anchor'));
const ROUNDS = Number(process.env.ROUNDS || 2);
if (!process.argv.includes('--from') && !existsSync(join(ANCHOR, 'run.sh'))) {
  console.error(`no transformers.js anchor at ${ANCHOR} (set ANCHOR=the folder holding run.sh)`);
  process.exit(2);
}

/** Runs a command, streaming its stderr; returns stdout or exits with its status. */
function run(command, args, env = {}) {
  const out = spawnSync(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  if (out.status !== 0) {
    console.error(`${command} ${args.join(' ')} failed with ${out.status}`);
    process.exit(1);
  }
  return out.stdout.toString();
}

function ours() {
  const lines = run('node', [join(REPO, 'tests/browser/bench.mjs')]).trim().split('\n');
  return JSON.parse(lines.at(-1));
}

function anchor() {
  run('bash', [join(ANCHOR, 'run.sh'), WORKDIR], { CHROMIUM: process.env.CHROMIUM || '/usr/bin/chromium' });
  const results = join(WORKDIR, 'results');
  const newest = readdirSync(results).sort().at(-1);
  const summary = JSON.parse(readFileSync(join(results, newest, 'summary.json'), 'utf8'));
  return Object.fromEntries(
    summary.configs.map((c) => [
      c.id,
      {
        b1_sps: c.sent_per_s.b1.best,
        b8_sps: c.sent_per_s.b8.best,
        b32_sps: c.sent_per_s.b32.best,
        cold_ready_ms: c.cold_load_ms,
        warm_ready_ms: c.warm_reload_ms,
        download_bytes: c.download_bytes,
        min_cosine: c.parity_min_cos,
      },
    ]),
  );
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const medians = (runs) =>
  Object.fromEntries(Object.keys(runs[0]).filter((k) => typeof runs[0][k] === 'number').map((k) => [k, median(runs.map((r) => r[k]))]));

/** Medians per side over the rounds, and our ratios to each anchor configuration. */
function summarise(rounds) {
  const result = { date: new Date().toISOString(), cores: cpus().length, ours: medians(rounds.map((r) => r.ours)), anchor: {} };
  for (const id of Object.keys(rounds[0].anchor)) result.anchor[id] = medians(rounds.map((r) => r.anchor[id]));
  const ratio = (a, b) => Number((a / b).toFixed(2));
  result.ratios = Object.fromEntries(
    Object.entries(result.anchor).map(([id, a]) => [
      id,
      {
        b8: ratio(result.ours.b8_sps, a.b8_sps),
        b8_one_worker: ratio(result.ours.b8_one_worker_sps, a.b8_sps),
        download: ratio(result.ours.download_bytes, a.download_bytes),
        cold_ready: ratio(result.ours.cold_ready_ms, a.cold_ready_ms),
      },
    ]),
  );
  const [fastest] = Object.entries(result.anchor).sort((a, b) => b[1].b8_sps - a[1].b8_sps)[0];
  result.fastest = fastest;
  result.rounds = rounds;
  return result;
}

// `--from FILE` recomputes the summary from the rounds of an earlier run.
const from = process.argv.indexOf('--from');
let rounds = [];
if (from > 0) {
  rounds = JSON.parse(readFileSync(process.argv[from + 1], 'utf8').trim().split('\n').at(-1)).rounds;
} else {
  for (let i = 0; i < ROUNDS; i++) {
    const round = { ours: ours(), anchor: anchor() };
    console.log(JSON.stringify({ round: i + 1, ...round }));
    rounds.push(round);
  }
}
console.log(JSON.stringify(summarise(rounds)));
