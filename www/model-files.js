// Downloads the model files listed in weights/SHA256SUMS from the page's own
// origin, with progress in bytes, checks each against its sum, and keeps it in
// the Cache API under a key that includes the sum, so a second visit reads the
// cache and a changed file is fetched anew.

const CACHE_NAME = 'sentence-multitask-weights';
const BASE = new URL('./weights/', self.location.href);

/** The model files' cache, or null where the page cannot have one. */
const openCache = () => caches.open(CACHE_NAME).catch(() => null);

/** Thrown for anything the person should read: what failed and where. */
export class LoadError extends Error {}

/** @import { DownloadProgress } from './protocol.js' */

/**
 * `[{file, sha256}]` from a `sha256sum` listing.
 * @param {string} text
 * @returns {{file: string, sha256: string}[]}
 */
export function parseSums(text) {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      const match = /^([0-9a-f]{64}) [ *](\S+)$/.exec(line.trim());
      if (!match) throw new LoadError(`weights/SHA256SUMS line ${i + 1} is not "<sha256>  <file>"`);
      return { sha256: match[1], file: match[2] };
    });
}

/** @param {Uint8Array<ArrayBuffer>} bytes */
async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * @param {URL} url
 * @param {string} what
 */
async function fetchChecked(url, what) {
  let response;
  try {
    response = await fetch(url, { cache: 'no-store' });
  } catch (e) {
    throw new LoadError(`could not download ${what}: ${e instanceof Error ? e.message : e}`);
  }
  if (!response.ok) throw new LoadError(`could not download ${what}: HTTP ${response.status}`);
  return response;
}

/**
 * The size of the body as read (decoded): a gzip'd answer's `Content-Length`
 * is the compressed size, so `serve` adds the file's own as
 * `X-Decoded-Length`; 0 when unknown (another host compressing on the fly).
 * @param {Response} response
 */
function decodedLength(response) {
  const h = response.headers;
  return Number(h.get('X-Decoded-Length') || (h.get('Content-Encoding') ? 0 : h.get('Content-Length')) || 0);
}

/**
 * Reads a response body, calling `onBytes(n)` as chunks arrive.
 * @param {Response} response
 * @param {(n: number) => void} onBytes
 */
async function readBody(response, onBytes) {
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    onBytes(value.length);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/** Encoder weight files: SHA256SUMS lists each stored form (exact and compact). */
const WEIGHTS_FILE = /^model(-[a-z0-9]+)?\.safetensors$/;
/**
 * Files fetched only when first needed (`loadModelFile`): a shipped head's
 * replay set serves only lessons of that head, and most visits teach none.
 */
const LAZY_FILE = /^replay\//;

/** @typedef {{file: string, sha256: string}} Listed */

/** @param {Listed} entry */
const cacheKey = ({ file, sha256 }) => new URL(`${file}?sha256=${sha256}`, BASE).href;

/**
 * `entry`'s bytes from the cache when it holds the same sum, else downloaded,
 * checked and cached; `onBytes(n, total)` hears of downloaded bytes.
 * @param {Cache | null} cache
 * @param {Listed} entry
 * @param {(n: number, total: number) => void} onBytes
 * @returns {Promise<{bytes: Uint8Array, cached: boolean}>}
 */
async function readFile(cache, entry, onBytes) {
  const { file, sha256 } = entry;
  const hit = cache && (await cache.match(cacheKey(entry)));
  if (hit) return { bytes: new Uint8Array(await hit.arrayBuffer()), cached: true };
  const response = await fetchChecked(new URL(file, BASE), `weights/${file}`);
  onBytes(0, decodedLength(response));
  const bytes = await readBody(response, (n) => onBytes(n, 0));
  const actual = await sha256Hex(bytes);
  if (actual !== sha256) {
    throw new LoadError(
      `weights/${file} arrived corrupted (${bytes.length} bytes, sha256 ${actual.slice(0, 12)}…, ` +
        `expected ${sha256.slice(0, 12)}…)`,
    );
  }
  if (cache) {
    await cache.put(cacheKey(entry), new Response(bytes)).catch(() => {
      // A full or unavailable cache only costs the next visit a download.
    });
  }
  return { bytes, cached: false };
}

/**
 * Every file in SHA256SUMS but the encoder weights not chosen (`weightsFile`
 * is the one to load) and the lazy ones, as `Map(file -> Uint8Array)`, from
 * the cache when it holds the same sum, else downloaded and checked.
 * `onProgress({loaded, total, cached})` reports bytes. Returns `{files,
 * lazy, downloadedBytes, fromCache}`; `lazy` lists what `loadModelFile`
 * fetches when it is needed.
 * @param {string} weightsFile
 * @param {(progress: DownloadProgress) => void} onProgress
 * @returns {Promise<{files: Map<string, Uint8Array>, lazy: Listed[], downloadedBytes: number, fromCache: boolean}>}
 */
export async function loadModelFiles(weightsFile, onProgress) {
  const sumsText = await (await fetchChecked(new URL('SHA256SUMS', BASE), 'weights/SHA256SUMS')).text();
  const listed = parseSums(sumsText);
  if (!listed.some(({ file }) => file === weightsFile)) {
    throw new LoadError(`weights/SHA256SUMS does not list ${weightsFile}`);
  }
  const lazy = listed.filter(({ file }) => LAZY_FILE.test(file));
  const listing = listed.filter(({ file }) => file === weightsFile || !(WEIGHTS_FILE.test(file) || LAZY_FILE.test(file)));
  const cache = await openCache();
  if (cache) {
    // Forget files no longer listed (an older model or head); keep the other
    // stored form of the weights, so switching back reads the cache.
    const wanted = new Set(listed.map(cacheKey));
    for (const request of await cache.keys()) {
      if (!wanted.has(request.url)) await cache.delete(request);
    }
  }
  const progress = { loaded: 0, total: 0, cached: 0 };
  /** @type {Map<string, Uint8Array>} */
  const files = new Map();
  let downloadedBytes = 0;
  await Promise.all(
    listing.map(async (entry) => {
      const { bytes, cached } = await readFile(cache, entry, (n, total) => {
        progress.loaded += n;
        progress.total += total;
        onProgress({ ...progress });
      });
      if (cached) progress.cached += bytes.length;
      else downloadedBytes += bytes.length;
      files.set(entry.file, bytes);
    }),
  );
  return { files, lazy, downloadedBytes, fromCache: downloadedBytes === 0 };
}

/**
 * One lazy file (from `loadModelFiles`'s `lazy`), from the cache or downloaded
 * and checked like the others.
 * @param {Listed} entry
 */
export async function loadModelFile(entry) {
  const { bytes } = await readFile(await openCache(), entry, () => {});
  return bytes;
}

/** Drops every cached model file (after a cached file turned out unusable). */
export async function clearModelCache() {
  await caches.delete(CACHE_NAME).catch(() => false);
}
