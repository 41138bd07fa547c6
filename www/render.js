// Drawing only: result rows, probability bars, the embedding strip and the
// similarity heat map. User text is always set with textContent.

/**
 * @import { HeadInfo, Prediction } from './pkg/sentence_multitask.js'
 */

/**
 * Attributes of `el`: `text` sets textContent; `true` is an empty attribute;
 * `undefined`, `null` and `false` leave it out.
 * @typedef {Record<string, string | number | boolean | null | undefined>} Attrs
 */

/**
 * `el('div', {class: 'x', 'data-testid': 'y'}, ...children)`
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = String(value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/**
 * The element `#id`, checked to be a `type` (HTMLElement unless said).
 * @template {Element} [T=HTMLElement]
 * @param {string} id
 * @param {{ new (): T, name: string }} [type]
 * @returns {T}
 */
export function byId(id, type) {
  const node = document.getElementById(id);
  const want = type ?? HTMLElement;
  if (!(node instanceof want)) throw new Error(`the page has no ${want.name} #${id}`);
  return /** @type {T} */ (/** @type {unknown} */ (node));
}

/**
 * A head's answer's probabilities in the head's class order (the order of
 * its bars): the shared `Prediction` shape keys them by label.
 * @param {HeadInfo} head
 * @param {Prediction} answer
 */
export const classProbabilities = (head, answer) => head.labels.map((label) => answer.probabilities[label] ?? 0);

/** Characters of a line shown in its result row. */
const SHOWN_CHARS = 2000;

/** @param {number} p */
const percent = (p) => `${(p * 100).toFixed(p >= 0.995 || p < 0.005 ? 0 : 1)}%`;

/**
 * One head's block: top label and a bar per class.
 * @param {HeadInfo} head
 * @param {Prediction | undefined} answer
 */
function predictionBlock(head, answer) {
  const block = el('div', {
    class: 'prediction',
    'data-testid': `prediction-${head.name}`,
    'data-label': answer ? answer.label : undefined,
  });
  block.append(
    el('div', { class: 'prediction-head' }, el('span', { class: 'task', text: head.name }), el('strong', { class: 'top-label', text: answer ? answer.label : '…' })),
  );
  if (!answer) return block;
  const bars = el('ul', { class: 'bars', 'aria-label': `${head.name} probabilities` });
  const probabilities = classProbabilities(head, answer);
  head.labels.forEach((label, i) => {
    const p = probabilities[i];
    const fill = el('span', { class: 'fill' });
    fill.style.width = `${(p * 100).toFixed(1)}%`;
    bars.append(
      el(
        'li',
        { class: label === answer.label ? 'bar top' : 'bar' },
        el('span', { class: 'bar-label', text: label }),
        el('span', { class: 'track', role: 'presentation' }, fill),
        el('span', { class: 'bar-value', text: percent(p) }),
      ),
    );
  });
  block.append(bars);
  return block;
}

/**
 * Diverging colour for an embedding value: blue (negative) to red (positive).
 * @param {number} value
 * @param {number} scale
 * @returns {[number, number, number]}
 */
function colour(value, scale) {
  const t = Math.max(-1, Math.min(1, value / scale));
  const a = Math.abs(t);
  /** @param {number} from @param {number} to */
  const mix = (from, to) => Math.round(from + (to - from) * a);
  return t < 0 ? [mix(246, 37), mix(246, 99), mix(246, 235)] : [mix(246, 220), mix(246, 38), mix(246, 38)];
}

/**
 * The 384-cell strip: a canvas, values on hover or with the arrow keys.
 * @param {Float32Array} vector
 * @param {number} tokens
 */
function embeddingStrip(vector, tokens) {
  const canvas = el('canvas', {
    class: 'strip',
    width: vector.length,
    height: 1,
    tabindex: 0,
    'data-testid': 'embedding-strip',
    'aria-label': `Embedding, ${vector.length} values; arrow keys read them`,
  });
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser draws no 2D canvas');
  const image = ctx.createImageData(vector.length, 1);
  const scale = Math.max(1e-6, ...Array.from(vector, Math.abs)) * 0.8;
  vector.forEach((v, i) => {
    const [r, g, b] = colour(v, scale);
    image.data.set([r, g, b, 255], i * 4);
  });
  ctx.putImageData(image, 0, 0);

  const readout = el('span', { class: 'readout', 'aria-live': 'polite', text: `${tokens} word pieces` });
  let cursor = -1;
  /** @param {number} i */
  const show = (i) => {
    cursor = Math.max(0, Math.min(vector.length - 1, i));
    readout.textContent = `dim ${cursor}: ${vector[cursor].toFixed(4)}`;
  };
  canvas.addEventListener('mousemove', (event) => {
    const box = canvas.getBoundingClientRect();
    show(Math.floor(((event.clientX - box.left) / box.width) * vector.length));
  });
  canvas.addEventListener('keydown', (event) => {
    /** @type {Record<string, number>} */
    const steps = { ArrowRight: 1, ArrowLeft: -1, PageDown: 16, PageUp: -16, End: vector.length, Home: -vector.length };
    const step = steps[event.key];
    if (step === undefined) return;
    event.preventDefault();
    show(cursor < 0 ? 0 : cursor + step);
  });

  const copy = el('button', { type: 'button', class: 'link', text: 'Copy as JSON' });
  copy.addEventListener('click', async () => {
    const json = JSON.stringify(Array.from(vector, (v) => Number(v.toPrecision(7))));
    try {
      await navigator.clipboard.writeText(json);
      copy.textContent = 'Copied';
    } catch {
      copy.textContent = 'Copy blocked by the browser';
    }
    setTimeout(() => (copy.textContent = 'Copy as JSON'), 1500);
  });
  return el('div', { class: 'embedding' }, canvas, el('div', { class: 'strip-meta' }, readout, copy));
}

/**
 * One line's result as the page keeps it.
 * @typedef {{ vector: Float32Array, tokens: number, predictions: Record<string, Prediction> }} Result
 */

/**
 * One result row. `result` is `{vector, tokens, predictions}`, the reason the
 * line could not be encoded, or undefined while it is being encoded.
 * `extra(row)` may add controls to a row with a result. A row with a result
 * is one line of top labels, its bars and embedding strip a click away
 * (shown at once when `open`: the page opens them while there are few lines).
 * @param {string} text
 * @param {Result | string | undefined} result
 * @param {HeadInfo[]} heads
 * @param {(row: HTMLElement) => void} [extra]
 * @param {boolean} [open]
 */
export function resultRow(text, result, heads, extra, open = true) {
  const failed = typeof result === 'string';
  const className = result === undefined ? 'result pending' : failed ? 'result failed' : 'result';
  const row = el('li', { class: className, 'data-testid': 'result', 'aria-busy': result === undefined ? 'true' : undefined });
  // A huge line is shown in part (the model reads only its first 256 word pieces anyway).
  const shown = text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}… (${text.length - SHOWN_CHARS} more characters)` : text;
  row.append(el('p', { class: 'sentence', text: shown }));
  if (failed) {
    row.append(el('p', { class: 'line-error', 'data-testid': 'line-error', role: 'alert', text: `Not encoded: ${result}` }));
    return row;
  }
  const predictions = el('div', { class: 'predictions' });
  for (const head of heads) predictions.append(predictionBlock(head, result && result.predictions[head.name]));
  if (!result) {
    row.append(predictions);
    return row;
  }
  const tops = heads.map((head) => el('span', { class: 'top-chip', text: `${head.name}: ${result.predictions[head.name]?.label ?? '\u2013'}` }));
  const more = el('span', { class: 'more', text: 'probabilities and embedding' });
  const details = el('details', { class: 'result-details', open }, el('summary', { class: 'result-summary' }, ...tops, more));
  details.append(predictions, embeddingStrip(result.vector, result.tokens));
  row.append(details);
  if (extra) extra(row);
  return row;
}

/** @param {Float32Array} a @param {Float32Array} b */
const dot = (a, b) => {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
};

/**
 * The cosine heat map of `items` (`[{text, vector, predictions}]`; vectors
 * are unit length); a row's tooltip gives every task's answer.
 * @param {HTMLElement} container
 * @param {{ text: string, vector: Float32Array, predictions: Record<string, Prediction> }[]} items
 */
export function heatmap(container, items) {
  const n = items.length;
  const grid = el('div', { class: 'grid', role: 'table', 'aria-label': 'Cosine similarity between sentences' });
  grid.style.gridTemplateColumns = `minmax(6rem, 14rem) repeat(${n}, minmax(2.2rem, 3.4rem))`;
  const header = el('div', { class: 'row', role: 'row' }, el('span', { class: 'corner', role: 'columnheader' }));
  items.forEach((_, j) => header.append(el('span', { class: 'col-head', role: 'columnheader', text: String(j + 1) })));
  grid.append(header);
  items.forEach((a, i) => {
    const answers = Object.entries(a.predictions).map(([task, p]) => `${task}: ${p.label}`);
    const title = [a.text, ...answers].join('\n');
    const row = el('div', { class: 'row', role: 'row' }, el('span', { class: 'row-head', role: 'rowheader', title, text: `${i + 1}. ${a.text}` }));
    items.forEach((b, j) => {
      const c = dot(a.vector, b.vector);
      const cell = el('span', {
        class: 'cell',
        role: 'cell',
        tabindex: 0,
        'data-testid': 'heatmap-cell',
        title: `${i + 1} vs ${j + 1}: cosine ${c.toFixed(3)}`,
        text: c.toFixed(2),
      });
      const [r, g, bl] = colour(c, 1);
      cell.style.background = `rgb(${r}, ${g}, ${bl})`;
      cell.style.color = Math.abs(c) > 0.6 ? '#fff' : '#111';
      row.append(cell);
    });
    grid.append(row);
  });
  container.replaceChildren(grid);
}
