// What a person learns from a lesson: the held-out view (precision and
// recall per class, the confusion matrix, the examples still predicted
// wrong, each with a select that relabels it). User text is set as text only.

import { byId, el } from './render.js';

/** @import { CrossValidation } from './pkg/sentence_multitask.js' */

const $ = byId;

/** @param {number} x */
const pct = (x) => `${(x * 100).toFixed(0)}%`;

/**
 * The held-out view of a lesson: precision and recall per class, the
 * confusion matrix (classes with examples only) and the examples still
 * predicted wrong, each with a select that relabels it.
 * @template {{ text: string, label: string }} E
 * @param {CrossValidation | undefined} cv
 * @param {E[]} examples the lesson's examples, in the order sent
 * @param {string[]} classes the task's classes, for relabelling
 * @param {(example: E, label: string) => void} relabel
 */
export function drawHeldOut(cv, examples, classes, relabel) {
  $('held-out').hidden = !cv;
  if (!cv) return;
  const { metrics } = cv;
  const shown = metrics.labels.map((label, i) => ({ label, i })).filter(({ label }) => metrics.perClass[label]?.support > 0);
  $('held-out-meta').textContent = `${pct(metrics.accuracy)} of ${metrics.count}, each held out once (${cv.folds} folds)`;
  /** @param {string} tag @param {string[]} cells @param {Record<string, string>} [attributes] */
  const row = (tag, cells, attributes = {}) => el('tr', attributes, ...cells.map((text, k) => el(k === 0 || tag === 'th' ? 'th' : 'td', { text })));
  $('class-metrics').replaceChildren(
    row('th', ['class', 'precision', 'recall', 'examples']),
    ...shown.map(({ label }) => {
      const m = metrics.perClass[label];
      const attributes = { 'data-testid': 'class-metrics', 'data-class': label, 'data-precision': String(m.precision), 'data-recall': String(m.recall) };
      return row('td', [label, pct(m.precision), pct(m.recall), String(m.support)], attributes);
    }),
  );
  const header = el('tr', {}, el('th', { text: 'yours \u2193 / predicted \u2192' }), ...shown.map(({ label }) => el('th', { text: label })));
  const body = shown.map(({ label, i }) =>
    el(
      'tr',
      {},
      el('th', { text: label }),
      ...shown.map(({ i: j }) => {
        const n = metrics.confusion[i][j];
        return el('td', { class: i === j ? 'hit' : n > 0 ? 'miss' : undefined, text: String(n) });
      }),
    ),
  );
  $('confusion').replaceChildren(header, ...body);
  const none = el('li', { class: 'hint', text: 'None: each example held out is predicted as you labelled it.' });
  $('wrong-examples').replaceChildren(
    ...(cv.wrong.length ? [] : [none]),
    ...cv.wrong.map(({ index, predicted }) => {
      const example = examples[index];
      const select = el('select', { 'aria-label': 'Relabel this example', 'data-testid': 'relabel' });
      for (const c of classes) select.append(el('option', { value: c, text: c }));
      select.value = example.label;
      select.addEventListener('change', () => relabel(example, select.value));
      return el('li', { class: 'wrong', 'data-testid': 'mistake' }, el('span', { text: example.text }), el('span', { class: 'hint', text: `predicted ${predicted}` }), select);
    }),
  );
}
