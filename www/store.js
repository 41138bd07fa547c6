// What the person made survives a reload: examples, class lists and trained
// heads, in IndexedDB (one object store of key -> value).

const DB_NAME = 'sentence-multitask';
const STORE = 'state';

/** @type {Promise<IDBDatabase> | null} */
let opening = null;
/** @returns {Promise<IDBDatabase>} */
function db() {
  opening ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opening;
}

/**
 * @template T
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest<T>} act
 * @returns {Promise<T>}
 */
function run(mode, act) {
  return db().then(
    (database) =>
      new Promise((resolve, reject) => {
        const tx = database.transaction(STORE, mode);
        const request = act(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(request.result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      }),
  );
}

/**
 * The value stored under `key`, or undefined (callers say what they expect).
 * @param {string} key
 * @returns {Promise<unknown>}
 */
export const load = (key) => run('readonly', (store) => store.get(key));
/**
 * Stores `value` under `key` (structured clone: typed arrays are kept as they are).
 * @param {string} key
 * @param {unknown} value
 */
export const save = (key, value) => run('readwrite', (store) => store.put(value, key));
/**
 * Removes `key`.
 * @param {string} key
 */
export const remove = (key) => run('readwrite', (store) => store.delete(key));
/** Every key stored. */
export const keys = () => run('readonly', (store) => store.getAllKeys());
