// Notices above the results: what happened to the person's work (not saved,
// not read, not restored), each with what they can do about it. User text
// is set as text only.

import { byId, el } from './render.js';

const $ = byId;

/** @typedef {{ label: string, testid: string, run: () => unknown }} Action */

/** @param {string} key */
const findNotice = (key) => [...$('notices').children].find((n) => n instanceof HTMLElement && n.dataset.key === key);
/** @param {string} key */
export const dismiss = (key) => findNotice(key)?.remove();

/**
 * A notice above the results: what happened to the person's work, with what
 * they can do about it. One per `key`; a newer one replaces it.
 * @param {string} key
 * @param {string} text
 * @param {Action[]} actions
 */
export function notify(key, text, actions) {
  const node = el('div', { class: 'notice', role: 'alert', 'data-testid': 'notice', 'data-kind': 'error', 'data-key': key }, el('p', { text }));
  for (const action of actions) {
    const button = el('button', { type: 'button', 'data-testid': action.testid, text: action.label });
    button.addEventListener('click', () => action.run());
    node.append(button);
  }
  const close = el('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss this notice', text: '\u00d7' });
  close.addEventListener('click', () => node.remove());
  node.append(close);
  const old = findNotice(key);
  if (old) old.replaceWith(node);
  else $('notices').append(node);
}
