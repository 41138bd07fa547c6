// Teaching a head in the page: classes and examples per head, training in the
// worker with a live curve and a Stop button, import and export of examples
// and heads, and persistence in IndexedDB. User text is set as text only.

import { byId, el } from './render.js';
import { keys, load, remove, save } from './store.js';

/**
 * @import { Architecture, HeadFiles, HeadInfo, LessonConfig } from './pkg/sentence_multitask.js'
 * @import { Calls, Defaults, FromWorker } from './protocol.js'
 */

/**
 * Sends a request to the worker and resolves with its reply (app.js's `call`).
 * @typedef {<K extends keyof Calls>(
 *   type: K,
 *   payload: Calls[K]['request'],
 *   onEvent?: (event: Extract<FromWorker, { type: 'train-epoch' }>) => void,
 * ) => Promise<Calls[K]['reply']>} Call
 */

/** @typedef {{ text: string, label: string, head: string }} TaughtExample */

const $ = byId;
const headSelect = () => $('example-head', HTMLSelectElement);
/** @param {string} id */
const field = (id) => $(id, HTMLInputElement);

/** Page-side state of teaching. */
const teach = {
  /** @type {TaughtExample[]} */
  examples: [],
  /** head name -> class names, in order @type {Record<string, string[]>} */
  classes: {},
  /** head name -> labels of the shipped head @type {Record<string, string[]>} */
  shipped: {},
  training: false,
  /** @type {SharedArrayBuffer | null} */
  stop: null,
  /** The trainer's defaults (from wasm), once the model is ready. @type {Defaults | null} */
  defaults: null,
};

/** @type {Call} */
let call = () => Promise.reject(new Error('the model is not ready yet'));
/** @type {() => HeadInfo[]} */
let heads = () => [];
/** @type {(heads: HeadInfo[]) => void} */
let headsChanged = () => {};

const selectedHead = () => headSelect().value;
const persistExamples = () => save('examples', teach.examples);
const persistClasses = () => save('classes', teach.classes);

/**
 * @param {string} text
 * @param {'info' | 'error'} [kind]
 */
function message(text, kind = 'info') {
  const node = $('teach-message');
  node.textContent = text;
  node.dataset.kind = kind;
}

/**
 * @param {'idle' | 'training' | 'done' | 'error'} state
 * @param {string} text
 */
function setTrainStatus(state, text) {
  const node = $('train-status');
  node.dataset.state = state;
  node.textContent = text;
}

/**
 * Adds `label` to the head's classes if new.
 * @param {string} head
 * @param {string} label
 */
function ensureClass(head, label) {
  teach.classes[head] ??= [];
  if (!teach.classes[head].includes(label)) {
    teach.classes[head].push(label);
    persistClasses();
  }
}

/**
 * Adds one example; returns false (with a message) when it cannot.
 * @param {string} text
 * @param {string} head
 * @param {string} label
 */
export function addExample(text, head, label) {
  text = text.trim();
  label = label.trim();
  if (!text || !label) {
    message('An example needs a sentence and a label.', 'error');
    return false;
  }
  if (teach.examples.some((e) => e.text === text && e.head === head && e.label === label)) {
    message('That example is already there.', 'info');
    return false;
  }
  ensureClass(head, label);
  teach.examples.push({ text, label, head });
  persistExamples();
  message(`Added to ${head} as \u201c${label}\u201d.`);
  drawTeaching();
  return true;
}

/**
 * A "label as" select for a result row: one choice adds the example.
 * @param {string} text
 */
export function labelControl(text) {
  const select = el('select', { class: 'label-as', 'aria-label': 'Label this sentence as', 'data-testid': 'label-as' });
  select.append(el('option', { value: '', text: 'Label as\u2026' }));
  for (const head of heads()) {
    const group = el('optgroup', { label: head.name });
    for (const label of teach.classes[head.name] ?? head.labels) {
      group.append(el('option', { value: JSON.stringify([head.name, label]), text: `${head.name}: ${label}` }));
    }
    select.append(group);
  }
  select.addEventListener('change', () => {
    if (select.value) {
      const [head, label] = JSON.parse(select.value);
      addExample(text, head, label);
    }
    select.value = '';
  });
  return select;
}

function drawHeadOptions() {
  const select = headSelect();
  const current = select.value || 'topic';
  select.replaceChildren(...heads().map((h) => el('option', { value: h.name, text: h.name })));
  select.value = heads().some((h) => h.name === current) ? current : (heads()[0]?.name ?? '');
}

/** Class chips (with counts, rename and delete), the example list and the suggestions. */
function drawTeaching() {
  const head = selectedHead();
  const classes = teach.classes[head] ?? [];
  const mine = teach.examples.filter((e) => e.head === head);
  $('label-suggestions').replaceChildren(...classes.map((c) => el('option', { value: c })));
  $('train').textContent = `Train ${head}`;

  const chips = classes.map((name) => {
    const count = mine.filter((e) => e.label === name).length;
    const chip = el('li', { class: 'class-chip', 'data-testid': 'class' }, el('span', { text: name }), el('span', { class: 'count', text: String(count) }));
    const rename = el('button', { type: 'button', class: 'icon', 'aria-label': `Rename class ${name}`, text: '\u270e' });
    rename.addEventListener('click', () => {
      const input = el('input', { class: 'rename', value: name, 'aria-label': `New name for ${name}` });
      const done = () => renameClass(head, name, input.value.trim());
      input.addEventListener('keydown', (/** @type {KeyboardEvent} */ e) => {
        if (e.key === 'Enter') done();
        if (e.key === 'Escape') drawTeaching();
      });
      input.addEventListener('blur', done);
      chip.replaceChildren(input);
      input.focus();
      input.select();
    });
    const drop = el('button', { type: 'button', class: 'icon', 'aria-label': `Delete class ${name} and its examples`, text: '\u00d7' });
    drop.addEventListener('click', () => deleteClass(head, name));
    chip.append(rename, drop);
    return chip;
  });
  $('classes').replaceChildren(...chips);

  const rows = mine.map((example) => {
    const text = el('input', { class: 'example-edit', value: example.text, 'aria-label': 'Example text' });
    text.addEventListener('change', () => {
      example.text = text.value.trim() || example.text;
      persistExamples();
    });
    const label = el('select', { 'aria-label': 'Example label' });
    for (const c of classes) label.append(el('option', { value: c, text: c }));
    label.value = example.label;
    label.addEventListener('change', () => {
      example.label = label.value;
      persistExamples();
      drawTeaching();
    });
    const drop = el('button', { type: 'button', class: 'icon', 'aria-label': 'Remove example', text: '\u00d7' });
    drop.addEventListener('click', () => {
      teach.examples.splice(teach.examples.indexOf(example), 1);
      persistExamples();
      drawTeaching();
    });
    return el('li', { class: 'example', 'data-testid': 'example' }, text, label, drop);
  });
  $('example-list').replaceChildren(...rows);
  $('examples-meta').textContent = `${mine.length} example${mine.length === 1 ? '' : 's'} for ${head}`;
}

/**
 * @param {string} head
 * @param {string} from
 * @param {string} to
 */
function renameClass(head, from, to) {
  if (to && to !== from && !teach.classes[head].includes(to)) {
    teach.classes[head] = teach.classes[head].map((c) => (c === from ? to : c));
    for (const e of teach.examples) if (e.head === head && e.label === from) e.label = to;
    persistClasses();
    persistExamples();
    message(`Renamed \u201c${from}\u201d to \u201c${to}\u201d; the head learns the new name when you train it.`);
  }
  drawTeaching();
}

/**
 * @param {string} head
 * @param {string} name
 */
function deleteClass(head, name) {
  teach.classes[head] = teach.classes[head].filter((c) => c !== name);
  teach.examples = teach.examples.filter((e) => !(e.head === head && e.label === name));
  persistClasses();
  persistExamples();
  message(`Deleted \u201c${name}\u201d from ${head}; training will leave it out.`);
  drawTeaching();
}

/**
 * The loss curve (and validation accuracy when there is a split), as SVG.
 * @param {{ epoch: number, loss: number, accuracy: number | undefined }[]} points
 */
function drawCurve(points) {
  const svg = $('curve');
  const W = 320;
  const H = 90;
  const maxLoss = Math.max(1e-6, ...points.map((p) => p.loss));
  /** @param {number} i */
  const x = (i) => (points.length < 2 ? 0 : (i / (points.length - 1)) * W);
  /** @param {number[]} values @param {number} scale */
  const path = (values, scale) =>
    values.map((v, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${(H - (v / scale) * (H - 4) - 2).toFixed(1)}`).join(' ');
  const ns = 'http://www.w3.org/2000/svg';
  /** @param {string} d @param {string} cls */
  const line = (d, cls) => {
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', d);
    p.setAttribute('class', cls);
    return p;
  };
  svg.replaceChildren(line(path(points.map((p) => p.loss), maxLoss), 'loss'));
  const accuracy = points.map((p) => p.accuracy).filter((a) => a !== undefined);
  if (accuracy.length === points.length) svg.append(line(path(accuracy, 1), 'accuracy'));
  svg.toggleAttribute('hidden', points.length === 0);
  const last = points.at(-1);
  $('curve-legend').textContent = last
    ? `epoch ${last.epoch}: loss ${last.loss.toFixed(3)}${last.accuracy === undefined ? '' : `, validation accuracy ${(last.accuracy * 100).toFixed(0)}%`}`
    : '';
}

/**
 * The Advanced panel's number fields: element id -> LessonConfig field. A
 * field the trainer does not have is hidden; an empty one is left out of the
 * settings, so the trainer's default applies (or "auto" where it is null).
 * @type {[string, 'epochs' | 'learningRate' | 'batchSize'][]}
 */
const NUMBER_SETTINGS = [
  ['setting-epochs', 'epochs'],
  ['setting-lr', 'learningRate'],
  ['setting-batch', 'batchSize'],
];

/**
 * Shows the trainer's defaults in the Advanced panel (asked from wasm, never
 * repeated here): numbers as values, `null` ("auto") as an empty field.
 * @param {Defaults} defaults
 */
function showDefaults({ lesson, mlp }) {
  for (const [id, key] of NUMBER_SETTINGS) {
    const input = field(id);
    const value = lesson[key];
    const label = input.closest('label');
    if (label) label.hidden = value === undefined;
    input.placeholder = value == null ? 'auto' : String(value);
    input.value = value == null ? '' : String(value);
  }
  field('setting-balanced').checked = lesson.classWeighted;
  field('setting-scratch').checked = lesson.fromScratch;
  const arch = $('setting-arch', HTMLSelectElement);
  arch.value = lesson.architecture === null ? 'keep' : lesson.architecture.kind;
  const option = arch.querySelector('option[value="mlp"]');
  if (option && mlp.kind === 'mlp') option.textContent = `MLP (${mlp.hidden} hidden)`;
}

/**
 * The settings of a lesson for `head`, from the Advanced panel.
 * @param {string} head
 * @returns {Partial<LessonConfig>}
 */
function trainingConfig(head) {
  /** @type {Partial<LessonConfig>} */
  const config = {
    classWeighted: field('setting-balanced').checked,
    fromScratch: field('setting-scratch').checked,
    classes: teach.classes[head] ?? null,
  };
  for (const [id, key] of NUMBER_SETTINGS) {
    const input = field(id);
    if (!input.closest('label')?.hidden && input.value.trim() !== '') config[key] = Number(input.value);
  }
  const arch = $('setting-arch', HTMLSelectElement).value;
  /** @type {Architecture | undefined} */
  const mlp = teach.defaults?.mlp;
  if (arch === 'linear') config.architecture = { kind: 'linear' };
  else if (arch === 'mlp' && mlp) config.architecture = mlp;
  else config.architecture = null;
  return config;
}

async function train() {
  const head = selectedHead();
  const examples = teach.examples.filter((e) => e.head === head).map(({ text, label }) => ({ text, label }));
  if (examples.length === 0) {
    setTrainStatus('error', `Add a few examples for ${head} first.`);
    return;
  }
  teach.training = true;
  teach.stop = self.crossOriginIsolated ? new SharedArrayBuffer(4) : null;
  $('train', HTMLButtonElement).disabled = true;
  $('stop').hidden = !teach.stop;
  setTrainStatus('training', `Training ${head} on ${examples.length} examples\u2026`);
  /** @type {{ epoch: number, loss: number, accuracy: number | undefined }[]} */
  const points = [];
  drawCurve(points);
  try {
    const result = await call(
      'train',
      { head, examples, config: trainingConfig(head), stop: teach.stop },
      (event) => {
        const own = event.validation?.[0];
        points.push({ epoch: event.epoch, loss: event.trainLoss, accuracy: own?.accuracy });
        drawCurve(points);
      },
    );
    await save(`head:${head}`, result.files);
    const { before, after } = result.replayAccuracy;
    const replay =
      before === undefined || after === undefined
        ? ''
        : `; on its stored examples of the shipped classes it scores ${(after * 100).toFixed(0)}% (was ${(before * 100).toFixed(0)}%)`;
    const stopped = result.stoppedEarly ? ', stopped early' : '';
    setTrainStatus(
      'done',
      `Trained ${head} in ${Math.round(result.trainMs)} ms (${result.epochsRun} epochs${stopped}, best ${result.bestEpoch})${replay}.`,
    );
    headsChanged(result.heads);
  } catch (e) {
    setTrainStatus('error', `Training failed: ${errorText(e)}`);
  } finally {
    teach.training = false;
    $('train', HTMLButtonElement).disabled = false;
    $('stop').hidden = true;
  }
}

/** @param {unknown} e */
const errorText = (e) => (e instanceof Error ? e.message : String(e));

/**
 * @param {string} name
 * @param {string | Uint8Array} bytes (wasm's own copies: never shared memory)
 * @param {string} type
 */
function download(name, bytes, type) {
  const url = URL.createObjectURL(new Blob([/** @type {string | Uint8Array<ArrayBuffer>} */ (bytes)], { type }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** @param {'jsonl' | 'csv'} format */
async function exportExamples(format) {
  const text = await call('write-examples', { examples: teach.examples, format });
  download(`examples.${format}`, text, format === 'csv' ? 'text/csv' : 'application/x-ndjson');
}

/** @param {HTMLInputElement} input */
async function importExamples(input) {
  const [file] = input.files ?? [];
  input.value = '';
  if (!file) return;
  try {
    const examples = await call('read-examples', { bytes: new Uint8Array(await file.arrayBuffer()), name: file.name });
    let added = 0;
    for (const e of examples) {
      const head = e.head ?? selectedHead();
      if (!heads().some((h) => h.name === head)) throw new Error(`${file.name}: an example names the head ${JSON.stringify(head)}, which this page does not have`);
    }
    for (const e of examples) {
      const head = e.head ?? selectedHead();
      if (teach.examples.some((x) => x.text === e.text && x.head === head && x.label === e.label)) continue;
      ensureClass(head, e.label);
      teach.examples.push({ text: e.text, label: e.label, head });
      added += 1;
    }
    persistExamples();
    drawTeaching();
    message(`Imported ${added} example${added === 1 ? '' : 's'} from ${file.name}.`);
  } catch (e) {
    message(`Nothing imported: ${errorText(e)}`, 'error');
  }
}

async function exportHead() {
  const head = selectedHead();
  const files = await call('head-files', { head });
  download(`${head}.json`, files.json, 'application/json');
  download(`${head}.safetensors`, files.safetensors, 'application/octet-stream');
}

/** @param {HTMLInputElement} input */
async function importHead(input) {
  const files = [...(input.files ?? [])];
  input.value = '';
  const json = files.find((f) => f.name.endsWith('.json'));
  const weights = files.find((f) => f.name.endsWith('.safetensors'));
  if (!json || !weights) {
    message('Choose both files of a head: NAME.json and NAME.safetensors.', 'error');
    return;
  }
  try {
    const result = await call('set-head', {
      json: new Uint8Array(await json.arrayBuffer()),
      safetensors: new Uint8Array(await weights.arrayBuffer()),
      source: json.name,
    });
    const name = result.head.name;
    await save(`head:${name}`, result.files);
    for (const label of result.head.labels) ensureClass(name, label);
    headsChanged(result.heads);
    headSelect().value = name;
    drawTeaching();
    message(`Imported head ${name} (${result.head.labels.join(', ')}).`);
  } catch (e) {
    message(`Head refused, nothing changed: ${errorText(e)}`, 'error');
  }
}

async function resetHead() {
  const head = selectedHead();
  try {
    const result = await call('reset-head', { head });
    await remove(`head:${head}`);
    const labels = teach.shipped[head] ?? [];
    const used = teach.examples.filter((e) => e.head === head).map((e) => e.label);
    teach.classes[head] = [...new Set([...labels, ...used])];
    persistClasses();
    headsChanged(result.heads);
    drawTeaching();
    setTrainStatus('idle', '');
    message(`${head} is the shipped head again; your examples are kept.`);
  } catch (e) {
    message(`Could not reset ${head}: ${errorText(e)}`, 'error');
  }
}

/**
 * Wires the teaching panel once the model is ready. `callWorker(type,
 * payload, onEvent)` sends a request; `currentHeads()` lists the model's
 * heads; `onHeadsChanged(heads)` refreshes predictions; `defaults` are the
 * trainer's, shown in the Advanced panel.
 * @param {Call} callWorker
 * @param {() => HeadInfo[]} currentHeads
 * @param {(heads: HeadInfo[]) => void} onHeadsChanged
 * @param {Defaults} defaults
 */
export async function setupTeaching(callWorker, currentHeads, onHeadsChanged, defaults) {
  call = callWorker;
  heads = currentHeads;
  headsChanged = onHeadsChanged;
  teach.defaults = defaults;
  showDefaults(defaults);
  for (const head of heads()) teach.shipped[head.name] = head.labels;
  teach.examples = /** @type {TaughtExample[] | undefined} */ (await load('examples').catch(() => undefined)) ?? [];
  teach.classes = /** @type {Record<string, string[]> | undefined} */ (await load('classes').catch(() => undefined)) ?? {};
  // Heads trained or imported on an earlier visit.
  const restored = [];
  const saved = ((await keys().catch(() => [])) ?? []).filter((k) => typeof k === 'string' && k.startsWith('head:'));
  for (const key of /** @type {string[]} */ (saved)) {
    const files = /** @type {HeadFiles | undefined} */ (await load(key).catch(() => undefined));
    try {
      if (!files) throw new Error('its files are missing');
      const result = await call('set-head', { json: files.json, safetensors: files.safetensors, source: `saved ${key.slice(5)}` });
      restored.push(result.heads);
    } catch (e) {
      await remove(key);
      message(`A saved head ${key.slice(5)} could not be restored (${errorText(e)}); it was dropped.`, 'error');
    }
  }
  const last = restored.at(-1);
  if (last) onHeadsChanged(last);
  for (const head of heads()) for (const label of head.labels) ensureClass(head.name, label);
  drawHeadOptions();
  drawTeaching();

  headSelect().addEventListener('change', drawTeaching);
  $('example-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (addExample(field('example-text').value, selectedHead(), field('example-label').value)) {
      field('example-text').value = '';
      field('example-text').focus();
    }
  });
  $('train').addEventListener('click', train);
  $('stop').addEventListener('click', () => {
    if (teach.stop) Atomics.store(new Int32Array(teach.stop), 0, 1);
  });
  $('export-examples').addEventListener('click', () => exportExamples('jsonl'));
  $('export-examples-csv').addEventListener('click', () => exportExamples('csv'));
  $('import-examples').addEventListener('change', () => importExamples(field('import-examples')));
  $('export-head').addEventListener('click', exportHead);
  $('import-head').addEventListener('change', () => importHead(field('import-head')));
  $('reset-head').addEventListener('click', resetHead);
  for (const id of ['train', 'export-examples', 'export-examples-csv', 'export-head', 'reset-head', 'add-example']) $(id, HTMLButtonElement).disabled = false;
  for (const id of ['import-examples', 'import-head']) field(id).disabled = false;
  setTrainStatus('idle', 'Add examples, then train.');
}

/** Called when the model's heads change, to refresh head options. */
export function refreshHeads() {
  drawHeadOptions();
  drawTeaching();
}
