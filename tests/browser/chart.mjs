// Draws `make compare-web`'s JSON (its last line, in FILE) as an SVG bar
// chart of sentences/s at batch 1, 8 and 32, ours beside each anchor
// configuration; writes it to stdout. Text only, no scripts.

import { readFileSync } from 'node:fs';

const text = readFileSync(process.argv[2], 'utf8').trim().split('\n').at(-1);
const data = JSON.parse(text);
const oneWorker = { b1_sps: data.ours.b1_one_worker_sps, b8_sps: data.ours.b8_one_worker_sps, b32_sps: data.ours.b32_one_worker_sps, min_cosine: data.ours.min_cosine };
const series = [
  ['this page: int8 weights on integer kernels, 2 encoder workers', data.ours],
  ['this page: 1 worker', oneWorker],
  ...Object.entries(data.anchor).map(([id, v]) => [`transformers.js ${id}`, v]),
];
const batches = ['b1_sps', 'b8_sps', 'b32_sps'];
const colours = ['#2f6fdb', '#8fb3ef', '#9aa5b1', '#c8693f', '#6b8f3a', '#8a5fb5'];
const W = 640;
const H = 300;
const left = 48;
const top = 40;
const plotH = 200;
const max = Math.ceil(Math.max(...series.flatMap(([, v]) => batches.map((b) => v[b]))) / 50) * 50;
const groupW = (W - left - 16) / batches.length;
const barW = (groupW - 24) / series.length;
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
const parts = [
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H + 20 * series.length}" font-family="system-ui, sans-serif" font-size="12">`,
  `<title>Sentences per second in headless Chromium, ${esc(data.date.slice(0, 10))}</title>`,
  `<text x="${left}" y="20" font-size="14">Sentences/s in the same headless Chromium (higher is better), ${esc(data.date.slice(0, 10))}</text>`,
];
for (let t = 0; t <= max; t += max / 5) {
  const y = top + plotH - (t / max) * plotH;
  parts.push(`<line x1="${left}" x2="${W - 8}" y1="${y}" y2="${y}" stroke="#ddd"/>`, `<text x="${left - 6}" y="${y + 4}" text-anchor="end">${t}</text>`);
}
batches.forEach((b, g) => {
  const x0 = left + g * groupW + 12;
  series.forEach(([, v], i) => {
    const h = (v[b] / max) * plotH;
    const x = x0 + i * barW;
    parts.push(`<rect x="${x.toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${colours[i % colours.length]}"><title>${esc(series[i][0])}: ${v[b]}</title></rect>`);
    parts.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(top + plotH - h - 3).toFixed(1)}" text-anchor="middle" font-size="9">${Math.round(v[b])}</text>`);
  });
  parts.push(`<text x="${x0 + (series.length * barW) / 2}" y="${top + plotH + 16}" text-anchor="middle">batch ${b.slice(1, -4)}</text>`);
});
series.forEach(([name], i) => {
  const x = left;
  const y = top + plotH + 40 + i * 20;
  parts.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${colours[i % colours.length]}"/>`, `<text x="${x + 18}" y="${y}">${esc(name)} (min cos ${series[i][1].min_cosine})</text>`);
});
parts.push('</svg>');
console.log(parts.join('\n'));
