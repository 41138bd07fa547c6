// Teaching a head in the page: classes and examples per head, training in the
// worker with a live curve and a Stop button, import and export of examples
// and heads, and persistence in IndexedDB. User text is set as text only.

import { byId, el } from './render.js';
import { keys, load, remove, save } from './store.js';
import { drawHeldOut } from './held-out.js';
import { dismiss, notify } from './notices.js';
import { drawSuggestions, leastSure } from './suggest.js';

/**
 * @import { Architecture, HeadFiles, HeadInfo, LessonConfig } from './pkg/sentence_multitask.js'
 * @import { Calls, Defaults, FromWorker } from './protocol.js'
 */

/**
 * Sends a request to the worker and resolves with its reply (app.js's `call`).
 * @typedef {<K extends keyof Calls>(
 *   type: K,
 *   payload: Calls[K]['request'],
 *   onEvent?: (event: Extract<FromWorker, { type: 'train-event' }>) => void,
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
/** The typed lines that have results. @type {() => { text: string, predictions: Record<string, import('./pkg/sentence_multitask.js').Prediction> }[]} */
let typed = () => [];

const selectedHead = () => headSelect().value;
/** Every task: the model's heads, then the person's tasks not trained yet. */
const taskNames = () => [...new Set([...heads().map((h) => h.name), ...Object.keys(teach.classes)])];
/** @param {unknown} e */
const errorText = (e) => (e instanceof Error ? e.message : String(e));

/** Stored keys that could not be read this visit: writing them would overwrite what is there. */
const unread = new Set();

/**
 * The stored value of `key`, or `empty` when none is stored. When it cannot
 * be read: `empty`, a notice, and no writes to `key` until a reload reads it.
 * @template T
 * @param {string} key
 * @param {T} empty
 * @param {string} what
 * @returns {Promise<T>}
 */
async function readStored(key, empty, what) {
  try {
    return /** @type {T | undefined} */ (await load(key)) ?? empty;
  } catch (e) {
    unread.add(key);
    notify(`read:${key}`, `${what} could not be read from this browser (${errorText(e)}). Nothing is saved over them; reload to try again.`, []);
    return empty;
  }
}

/**
 * Stores the examples and the class lists; true once both are stored. On a
 * failure a notice says so and offers Export: the page keeps them in memory
 * and never calls them saved.
 */
async function persistTeaching() {
  try {
    for (const key of ['examples', 'classes']) {
      if (unread.has(key)) throw new Error(`the ${key} stored earlier could not be read, so they are not overwritten`);
    }
    await Promise.all([save('examples', teach.examples), save('classes', teach.classes)]);
    dismiss('save:examples');
    return true;
  } catch (e) {
    notify(
      'save:examples',
      `Your examples could not be saved in this browser (${errorText(e)}). They stay on this page until you close it: export them to keep them.`,
      [{ label: 'Export examples', testid: 'notice-export', run: () => exportExamples('jsonl') }],
    );
    return false;
  }
}

/**
 * Stores the head `name` the worker now uses (`files`); true once stored.
 * On a failure the worker goes back to `previous` (or drops a head that is
 * new), so it uses what the store holds, and a notice offers the new files.
 * @param {string} name
 * @param {HeadFiles} files
 * @param {HeadFiles | null} previous
 */
async function storeOrUndo(name, files, previous) {
  try {
    await save(`head:${name}`, files);
    dismiss(`save:head:${name}`);
    return true;
  } catch (e) {
    notify(
      `save:head:${name}`,
      `The new ${name} head could not be saved in this browser (${errorText(e)}), so the page does not use it. Export it to keep it.`,
      [{ label: `Export the new ${name} head`, testid: 'notice-export', run: () => downloadHead(name, files) }],
    );
    const { heads } = previous
      ? await call('set-head', { json: previous.json, safetensors: previous.safetensors, source: `previous ${name}` })
      : await call('remove-head', { head: name });
    headsChanged(heads);
    return false;
  }
}

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
  if (!teach.classes[head].includes(label)) teach.classes[head].push(label);
}

/**
 * Adds one example; resolves to false (with a message) when it cannot. Says
 * "Added" only once it is stored.
 * @param {string} text
 * @param {string} head
 * @param {string} label
 */
export async function addExample(text, head, label) {
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
  drawTeaching();
  if (await persistTeaching()) message(`Added to ${head} as \u201c${label}\u201d.`);
  else message(`Added to ${head} as \u201c${label}\u201d on this page only: it is not saved.`, 'error');
  return true;
}

/**
 * A "label as" select for a result row: one choice adds the example.
 * @param {string} text
 */
export function labelControl(text) {
  const select = el('select', { class: 'label-as', 'aria-label': 'Label this sentence as', 'data-testid': 'label-as' });
  select.append(el('option', { value: '', text: 'Label as\u2026' }));
  for (const task of taskNames()) {
    const group = el('optgroup', { label: task });
    for (const label of teach.classes[task] ?? heads().find((h) => h.name === task)?.labels ?? []) {
      group.append(el('option', { value: JSON.stringify([task, label]), text: `${task}: ${label}` }));
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

/** @param {string} [choose] the task to select (else the current one, if it still exists) */
function drawHeadOptions(choose) {
  const select = headSelect();
  const current = choose ?? (select.value || 'topic');
  const names = taskNames();
  select.replaceChildren(...names.map((name) => el('option', { value: name, text: name })));
  select.value = names.includes(current) ? current : (names[0] ?? '');
}

/** A task of the person's own: a name (checked by the library), classes from its examples. */
async function createTask() {
  const input = field('task-name');
  const name = input.value.trim();
  if (taskNames().includes(name)) {
    message(`There is a task called ${name} already.`, 'error');
    return;
  }
  try {
    await call('check-task-name', { name });
  } catch (e) {
    message(`No task created: ${errorText(e)}.`, 'error');
    return;
  }
  teach.classes[name] = [];
  input.value = '';
  drawHeadOptions(name);
  drawTeaching();
  if (await persistTeaching()) message(`Created the task ${name}: add examples (each new label adds a class), then train it.`);
  else message(`Created the task ${name} on this page only: it is not saved.`, 'error');
}

/** Deletes the chosen task of the person's own: its head, stored copy, classes and examples. */
async function deleteTask() {
  const task = selectedHead();
  if (teach.shipped[task]) return;
  try {
    // The stored copy goes first: if it stayed, the next visit would bring the task back.
    await remove(`head:${task}`);
    const { heads: left } = await call('remove-head', { head: task });
    const dropped = teach.examples.filter((e) => e.head === task).length;
    delete teach.classes[task];
    teach.examples = teach.examples.filter((e) => e.head !== task);
    headsChanged(left);
    drawHeadOptions();
    drawTeaching();
    await persistTeaching();
    message(`Deleted the task ${task} and its ${dropped} example${dropped === 1 ? '' : 's'}.`);
  } catch (e) {
    message(`Could not delete ${task}: ${errorText(e)}`, 'error');
  }
}

/** Class chips (with counts, rename and delete), the example list and the suggestions. */
function drawTeaching() {
  const head = selectedHead();
  const classes = teach.classes[head] ?? [];
  const mine = teach.examples.filter((e) => e.head === head);
  $('label-suggestions').replaceChildren(...classes.map((c) => el('option', { value: c })));
  $('train').textContent = `Train ${head}`;
  $('delete-task').hidden = !head || Boolean(teach.shipped[head]);
  $('adapt-choice').hidden = !canAdapt(head);
  $('reset-head').hidden = !teach.shipped[head];

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
      persistTeaching();
    });
    const label = el('select', { 'aria-label': 'Example label' });
    for (const c of classes) label.append(el('option', { value: c, text: c }));
    label.value = example.label;
    label.addEventListener('change', () => {
      example.label = label.value;
      persistTeaching();
      drawTeaching();
    });
    const drop = el('button', { type: 'button', class: 'icon', 'aria-label': 'Remove example', text: '\u00d7' });
    drop.addEventListener('click', () => {
      teach.examples.splice(teach.examples.indexOf(example), 1);
      persistTeaching();
      drawTeaching();
    });
    return el('li', { class: 'example', 'data-testid': 'example' }, text, label, drop);
  });
  $('example-list').replaceChildren(...rows);
  refreshSuggestions();
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
    persistTeaching();
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
  persistTeaching();
  message(`Deleted \u201c${name}\u201d from ${head}; training will leave it out.`);
  drawTeaching();
}

/**
 * The loss curve (and validation accuracy when there is a split), as SVG.
 * @param {{ epoch: number, loss: number, accuracy: number | undefined }[]} points
 */
function drawCurve(points) {
  const svg = $('curve', SVGSVGElement);
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
 * The person's fix of an example the held-out view shows wrong.
 * @param {TaughtExample} example
 * @param {string} label
 */
function relabel(example, label) {
  example.label = label;
  persistTeaching();
  drawTeaching();
  message(`Relabelled \u201c${example.text}\u201d as \u201c${label}\u201d; train again to learn it.`);
}

/**
 * Asks the worker for the held-out view of the lesson just taught.
 * @param {string} head
 * @param {TaughtExample[]} examples
 * @param {Partial<LessonConfig>} config
 */
async function checkHeldOut(head, examples, config) {
  $('held-out-meta').textContent = 'checking on held-out examples\u2026';
  try {
    const sent = examples.map(({ text, label }) => ({ text, label }));
    drawHeldOut(await call('cross-validate', { head, examples: sent, config }), examples, teach.classes[head] ?? [], relabel);
    if (config.adapt) $('held-out-meta').append('; the adapter learned from all of them, so this is optimistic');
  } catch (e) {
    $('held-out').hidden = true;
    message(`No held-out check: ${errorText(e)}`, 'error');
  }
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
 * Whether a lesson on `head` may train a new adapter: a shipped head keeps
 * its classes through stored outputs of its current encoder layers, which a
 * new adapter would make stale, unless it starts from scratch.
 * @param {string} head
 */
function canAdapt(head) {
  return !teach.shipped[head] || field('setting-scratch').checked;
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
    adapt: canAdapt(head) && field('setting-adapt').checked ? (teach.defaults?.contrast ?? null) : null,
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

/** @param {number} ms */
function formatMs(ms) {
  return ms < 2000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

async function train() {
  const head = selectedHead();
  const taught = teach.examples.filter((e) => e.head === head);
  const examples = taught.map(({ text, label }) => ({ text, label }));
  if (examples.length === 0) {
    setTrainStatus('error', `Add a few examples for ${head} first.`);
    return;
  }
  teach.training = true;
  teach.stop = self.crossOriginIsolated ? new SharedArrayBuffer(4) : null;
  $('train', HTMLButtonElement).disabled = true;
  $('stop').hidden = !teach.stop;
  const config = trainingConfig(head);
  const progress = $('train-progress', HTMLProgressElement);
  progress.hidden = !config.adapt;
  progress.removeAttribute('value');
  setTrainStatus('training', `Training ${head} on ${examples.length} examples\u2026`);
  /** @type {{ epoch: number, loss: number, accuracy: number | undefined }[]} */
  const points = [];
  const started = performance.now();
  try {
    drawCurve(points);
    drawHeldOut(undefined, [], [], relabel);
    const result = await call('train', { head, examples, config, stop: teach.stop }, (event) => {
      if (event.phase === 'pairs') {
        progress.value = event.step / event.steps;
        const left = ((performance.now() - started) / event.step) * (event.steps - event.step);
        setTrainStatus('training', `Adapting the encoder to ${head}: step ${event.step} of ${event.steps}, about ${Math.ceil(left / 1000)} s left`);
        return;
      }
      progress.value = 1;
      setTrainStatus('training', `Training the ${head} head: epoch ${event.epoch}`);
      const own = event.validation?.[0];
      points.push({ epoch: event.epoch, loss: event.trainLoss, accuracy: own?.accuracy });
      drawCurve(points);
    });
    if (!result.changed) {
      setTrainStatus('done', `Stopped before the first epoch ended: ${head} is unchanged.`);
      return;
    }
    if (!(await storeOrUndo(head, result.files, result.previous))) {
      setTrainStatus('error', `Trained ${head}, but it could not be saved: the previous ${head} head is still in use.`);
      return;
    }
    const { before, after } = result.replayAccuracy;
    const shipped = teach.shipped[head] ?? [];
    const which = shipped.every((c) => (teach.classes[head] ?? shipped).includes(c)) ? 'the shipped classes' : 'the shipped classes you kept';
    const replay =
      before === undefined || after === undefined
        ? ''
        : `; on its stored examples of ${which} it scores ${(after * 100).toFixed(0)}% (was ${(before * 100).toFixed(0)}%)`;
    const stopped = result.stoppedEarly ? ', stopped early' : '';
    const adapted = config.adapt ? ', with its own adapter,' : '';
    setTrainStatus(
      'done',
      `Trained ${head}${adapted} in ${formatMs(result.trainMs)} (${result.epochsRun} epochs${stopped}, best ${result.bestEpoch})${replay}.`,
    );
    headsChanged(result.heads);
    await checkHeldOut(head, taught, config);
  } catch (e) {
    setTrainStatus('error', `Training failed: ${errorText(e)}`);
  } finally {
    teach.training = false;
    $('train', HTMLButtonElement).disabled = false;
    $('stop').hidden = true;
    progress.hidden = true;
  }
}

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
    // A task the page does not have yet is created, if its name can name a head.
    const fresh = [...new Set(examples.map((e) => e.head ?? selectedHead()))].filter((task) => !taskNames().includes(task));
    for (const task of fresh) {
      await call('check-task-name', { name: task }).catch((e) => {
        throw new Error(`${file.name}: the task ${JSON.stringify(task)} cannot be created (${errorText(e)})`);
      });
    }
    for (const task of fresh) teach.classes[task] = [];
    for (const e of examples) {
      const head = e.head ?? selectedHead();
      if (teach.examples.some((x) => x.text === e.text && x.head === head && x.label === e.label)) continue;
      ensureClass(head, e.label);
      teach.examples.push({ text: e.text, label: e.label, head });
      added += 1;
    }
    drawHeadOptions(fresh[0]);
    drawTeaching();
    const created = fresh.length ? ` (new task${fresh.length === 1 ? '' : 's'}: ${fresh.join(', ')})` : '';
    if (await persistTeaching()) message(`Imported ${added} example${added === 1 ? '' : 's'} from ${file.name}${created}.`);
    else message(`Imported ${added} example${added === 1 ? '' : 's'} from ${file.name} on this page only: they are not saved.`, 'error');
  } catch (e) {
    message(`Nothing imported: ${errorText(e)}`, 'error');
  }
}

/**
 * @param {string} name
 * @param {HeadFiles} files
 */
function downloadHead(name, files) {
  download(`${name}.json`, files.json, 'application/json');
  download(`${name}.safetensors`, files.safetensors, 'application/octet-stream');
}

async function exportHead() {
  const head = selectedHead();
  try {
    downloadHead(head, await call('head-files', { head }));
  } catch (e) {
    message(`Nothing exported: ${errorText(e)} (train ${head} first).`, 'error');
  }
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
    if (!(await storeOrUndo(name, result.files, result.previous))) {
      const inUse = result.previous ? `the ${name} head you had is still in use` : 'nothing changed';
      message(`Head ${name} could not be saved, so it is not in use: ${inUse}.`, 'error');
      return;
    }
    for (const label of result.head.labels) ensureClass(name, label);
    headsChanged(result.heads);
    headSelect().value = name;
    drawTeaching();
    persistTeaching();
    message(`Imported head ${name} (${result.head.labels.join(', ')}).`);
  } catch (e) {
    message(`Head refused, nothing changed: ${errorText(e)}`, 'error');
  }
}

async function resetHead() {
  const head = selectedHead();
  const labels = teach.shipped[head];
  if (!labels) {
    message(`${head} is not a shipped head, so there is nothing to reset it to.`, 'error');
    return;
  }
  try {
    // The stored copy goes first: if it stayed, the next visit would bring it back.
    await remove(`head:${head}`);
    const result = await call('reset-head', { head });
    const used = teach.examples.filter((e) => e.head === head).map((e) => e.label);
    teach.classes[head] = [...new Set([...labels, ...used])];
    persistTeaching();
    headsChanged(result.heads);
    drawTeaching();
    setTrainStatus('idle', '');
    message(`${head} is the shipped head again; your examples are kept.`);
  } catch (e) {
    message(`Could not reset ${head}: ${errorText(e)}`, 'error');
  }
}

/**
 * Heads trained or imported on an earlier visit, back into the worker. One
 * that fails to restore stays stored (the failure may pass: the next visit
 * tries again) and a notice offers to remove it.
 * @param {(heads: HeadInfo[]) => void} onHeadsChanged
 */
async function restoreHeads(onHeadsChanged) {
  let stored;
  try {
    stored = await keys();
  } catch (e) {
    notify('read:heads', `The heads saved in this browser could not be listed (${errorText(e)}); the shipped heads are in use. Reload to try again.`, []);
    return;
  }
  let last;
  for (const key of stored) {
    if (typeof key !== 'string' || !key.startsWith('head:')) continue;
    const name = key.slice(5);
    try {
      const files = /** @type {HeadFiles | undefined} */ (await load(key));
      if (!files) throw new Error('its files are missing');
      last = (await call('set-head', { json: files.json, safetensors: files.safetensors, source: `saved ${name}` })).heads;
    } catch (e) {
      const remove = { label: `Remove the saved ${name} head`, testid: 'remove-saved-head', run: () => removeSaved(key, name) };
      notify(`restore:${key}`, `The ${name} head saved in this browser could not be restored (${errorText(e)}). It is kept, and the next visit tries again.`, [remove]);
    }
  }
  if (last) onHeadsChanged(last);
}

/**
 * The person's explicit removal of a stored head that does not restore.
 * @param {string} key
 * @param {string} name
 */
async function removeSaved(key, name) {
  try {
    await remove(key);
    dismiss(`restore:${key}`);
    message(`Removed the saved ${name} head.`);
  } catch (e) {
    message(`Could not remove the saved ${name} head: ${errorText(e)}`, 'error');
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
 * @param {typeof typed} typedLines the typed lines with results, for "Label next"
 */
export async function setupTeaching(callWorker, currentHeads, onHeadsChanged, defaults, typedLines) {
  call = callWorker;
  typed = typedLines;
  heads = currentHeads;
  headsChanged = onHeadsChanged;
  teach.defaults = defaults;
  showDefaults(defaults);
  for (const head of heads()) teach.shipped[head.name] = head.labels;
  teach.examples = await readStored('examples', /** @type {TaughtExample[]} */ ([]), 'Your saved examples');
  teach.classes = await readStored('classes', /** @type {Record<string, string[]>} */ ({}), 'Your saved class lists');
  await restoreHeads(onHeadsChanged);
  for (const head of heads()) for (const label of head.labels) ensureClass(head.name, label);
  drawHeadOptions();
  drawTeaching();

  headSelect().addEventListener('change', drawTeaching);
  field('setting-scratch').addEventListener('change', drawTeaching);
  $('example-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    if (await addExample(field('example-text').value, selectedHead(), field('example-label').value)) {
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
  $('create-task').addEventListener('click', createTask);
  field('task-name').addEventListener('keydown', (/** @type {KeyboardEvent} */ e) => {
    if (e.key === 'Enter') createTask();
  });
  $('delete-task').addEventListener('click', deleteTask);
  for (const id of ['train', 'export-examples', 'export-examples-csv', 'export-head', 'reset-head', 'add-example', 'create-task', 'delete-task']) $(id, HTMLButtonElement).disabled = false;
  for (const id of ['import-examples', 'import-head', 'task-name']) field(id).disabled = false;
  setTrainStatus('idle', 'Add examples, then train.');
}

/** The chosen head's least sure typed sentences, one click from labelling (called as results arrive). */
export function refreshSuggestions() {
  const head = selectedHead();
  const labelled = new Set(teach.examples.filter((e) => e.head === head).map((e) => e.text));
  const picks = heads().some((h) => h.name === head) ? leastSure(typed(), head, labelled) : [];
  drawSuggestions(picks, teach.classes[head] ?? [], (text, label) => addExample(text, head, label));
}

/** Called when the model's heads change, to refresh head options. */
export function refreshHeads() {
  drawHeadOptions();
  drawTeaching();
}
