// temporary: screenshots + timing of a few-shot lesson (not committed)
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, browser, openPage, serve, waitFor } from './harness.mjs';
const server = await serve();
const chrome = await browser();
const { page } = await openPage(chrome.context, server.url);
const file = process.argv[2];
const head = process.argv[3];
await page.setInputFiles('[data-testid="import-examples"]', file);
await waitFor(page, () => /Imported/.test(document.getElementById('teach-message').textContent), null);
await page.click('[data-testid="train"]');
await waitFor(page, () => /step 3 of/.test(document.querySelector('[data-testid="train-status"]').textContent), null, { timeout: 600000 });
await page.locator('[data-testid="train"]').scrollIntoViewIfNeeded();
await page.screenshot({ path: join(REPO, 'target', 'screenshots', 'fewshot-training.png') });
await page.setViewportSize({ width: 390, height: 844 });
await page.locator('[data-testid="train"]').scrollIntoViewIfNeeded();
await page.screenshot({ path: join(REPO, 'target', 'screenshots', 'fewshot-training-phone.png') });
await page.setViewportSize({ width: 1100, height: 900 });
await waitFor(page, () => ['done', 'error'].includes(document.querySelector('[data-testid="train-status"]').dataset.state), null, { timeout: 900000 });
console.log(await page.textContent('[data-testid="train-status"]'));
// held-out accuracy through the page
const test = process.argv[4];
if (test) {
  const rows = readFileSync(test, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  await page.fill('[data-testid="sentence-input"]', rows.map((r) => r.text.replace(/\n/g, ' ')).join('\n'));
  await waitFor(page, ([n, h]) => document.querySelectorAll(`[data-testid="prediction-${h}"][data-label]`).length === n, [rows.length, head], { timeout: 600000 });
  const got = await page.$$eval(`[data-testid="prediction-${head}"]`, (b) => b.map((x) => x.dataset.label));
  const right = got.filter((g, i) => g === rows[i].label).length;
  console.log(JSON.stringify({ right, n: rows.length, accuracy: right / rows.length }));
}
await page.locator('[data-testid="held-out"]').scrollIntoViewIfNeeded().catch(() => {});
await page.screenshot({ path: join(REPO, 'target', 'screenshots', 'fewshot-done.png') });
await chrome.close();
server.stop();
