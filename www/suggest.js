// What to label next: of the typed sentences, the ones the chosen head is
// least sure about (smallest margin between its two likeliest classes),
// each with one click per class to label it. Measured natively on AG News
// and SST-2 against labelling random sentences (README, "Label next").

import { byId, el } from './render.js';

/** @import { Prediction } from './pkg/sentence_multitask.js' */

/** Sentences suggested at a time. */
const SHOWN = 5;

/**
 * Top probability minus the runner-up's: 0 is a coin toss.
 * @param {Prediction} answer
 */
export function margin(answer) {
  const [first = 0, second = 0] = Object.values(answer.probabilities).sort((a, b) => b - a);
  return first - second;
}

/**
 * The `SHOWN` texts of `typed` whose answer from `head` has the smallest
 * margin, leaving out those in `labelled`.
 * @param {{ text: string, predictions: Record<string, Prediction> }[]} typed
 * @param {string} head
 * @param {Set<string>} labelled
 */
export function leastSure(typed, head, labelled) {
  return typed
    .filter((t) => t.predictions[head] && !labelled.has(t.text))
    .map((t) => ({ text: t.text, answer: t.predictions[head], margin: margin(t.predictions[head]) }))
    .sort((a, b) => a.margin - b.margin)
    .slice(0, SHOWN);
}

/**
 * Draws the suggestions for `head` (hidden when there are none).
 * @param {ReturnType<typeof leastSure>} picks
 * @param {string[]} classes
 * @param {(text: string, label: string) => void} label
 */
export function drawSuggestions(picks, classes, label) {
  const box = byId('suggestions');
  box.hidden = picks.length === 0 || classes.length === 0;
  const items = picks.map(({ text, answer }) => {
    const buttons = classes.map((c) => {
      const button = el('button', { type: 'button', class: 'suggest-label', 'data-testid': 'suggest-label', text: c });
      button.addEventListener('click', () => label(text, c));
      return button;
    });
    const guess = `${answer.label}? ${(answer.probabilities[answer.label] * 100).toFixed(0)}%`;
    return el('li', { class: 'suggestion', 'data-testid': 'suggestion' }, el('span', { class: 'suggestion-text', text }), el('span', { class: 'hint', text: guess }), el('span', { class: 'suggest-buttons' }, ...buttons));
  });
  byId('suggestion-list').replaceChildren(...items);
}
