// `make dist` writes a static folder that works on any static host: here
// Python's plain http.server, which sends no COOP/COEP, no CSP and no gzip.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { REPO, browser, labels, openPage, typeSentences } from './harness.mjs';

const DIST = join(REPO, 'dist');

/** `python3 -m http.server` on a free loopback port; resolves to `{url, stop}`. */
function plainServer(dir) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`http.server exited with ${code}: ${out}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /port (\d+)/.exec(out);
      if (match) resolvePromise({ url: `http://127.0.0.1:${match[1]}/`, stop: () => child.kill() });
    });
  });
}

test('dist/ runs the page from a plain static server', async () => {
  assert.ok(existsSync(join(DIST, 'index.html')), 'run `make dist` first');
  const server = await plainServer(DIST);
  const chrome = await browser();
  try {
    const { page, requests, errors } = await openPage(chrome.context, server.url);
    await typeSentences(page, 'The striker scored twice as the team won the championship final.');
    const [got] = await labels(page);
    assert.equal(got.topic, 'Sports');
    assert.deepEqual(errors, []);
    const foreign = requests.filter((url) => !url.startsWith(server.url) && !/^(data|blob):/.test(url));
    assert.deepEqual(foreign, [], 'the page asks nothing of other origins');
  } finally {
    await chrome.close();
    server.stop();
  }
});
