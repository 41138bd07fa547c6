// `make compare-web`: transformers.js (the anchor in ../shared/anchors) and
// this project's page benchmark, run alternately in one go on the same
// machine and browser, so load drifts hit both. Prints each run's figures,
// then one JSON object: the median of each figure per side, the ratios, and
// the rounds. `node chart.mjs FILE` draws it as SVG.
// ANCHOR=dir of run.sh, ANCHOR_WORKDIR=its work dir, ROUNDS=n (default 2).

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { REPO } from './harness.mjs';

const ANCHOR = resolve(process.env.ANCHOR || join(REPO, '..', 'shared', 'anchors', 'transformers-js'));
const WORKDIR = resolve(process.env.ANCHOR_WORKDIR || join(process.env.TMPDIR || '/tmp', 'tjs-anchor'));
const ROUNDS = Number(process.env.ROUNDS || 2);
if (!existsSync(join(ANCHOR, 'run.sh'))) {
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

const rounds = [];
for (let i = 0; i < ROUNDS; i++) {
  const round = { ours: ours(), anchor: anchor() };
  console.log(JSON.stringify({ round: i + 1, ...round }));
  rounds.push(round);
}
const result = { date: new Date().toISOString(), machine: `${(await import('node:os')).cpus().length} cores`, ours: medians(rounds.map((r) => r.ours)), anchor: {} };
for (const id of Object.keys(rounds[0].anchor)) result.anchor[id] = medians(rounds.map((r) => r.anchor[id]));
const fastest = Object.entries(result.anchor).sort((a, b) => b[1].b8_sps - a[1].b8_sps)[0];
const q8 = Object.entries(result.anchor).filter(([id]) => id.startsWith('q8')).sort((a, b) => b[1].b8_sps - a[1].b8_sps)[0];
result.ratios = {
  fastest: fastest[0],
  b8_vs_fastest: Number((result.ours.b8_sps / fastest[1].b8_sps).toFixed(2)),
  q8: q8?.[0],
  b8_vs_q8: q8 ? Number((result.ours.b8_sps / q8[1].b8_sps).toFixed(2)) : null,
  download_vs_q8: q8 ? Number((result.ours.download_bytes / q8[1].download_bytes).toFixed(2)) : null,
  cold_vs_q8: q8 ? Number((result.ours.cold_ready_ms / q8[1].cold_ready_ms).toFixed(2)) : null,
};
result.rounds = rounds;
console.log(JSON.stringify(result));
