/* Citizen Grid outbox: reports saved on the phone (IndexedDB) until the server confirms them.
 *
 * Shared by the pages and the service worker (importScripts). Rules that keep reports from being lost:
 *  - a report is written here before any network attempt;
 *  - an item is deleted only after the server confirms it (201, or 200 for a replay of the same client_id);
 *  - one sender at a time across tabs and the service worker (Web Locks); the server's idempotency on client_id
 *    makes a duplicate send harmless anyway;
 *  - a refusal the resident can fix (422, 413, 415) keeps the item, marked "needs attention", with the reason.
 */
((root) => {
  "use strict";

  const DB_NAME = "citizen-grid";
  const DB_VERSION = 1;
  const OUTBOX = "outbox";
  const SENT = "sent";
  const LOCK = "citizen-grid-outbox";
  const REQUEST_TIMEOUT_MS = 90000;
  const CHANNEL = "citizen-grid-outbox";

  // --- Pure helpers (unit-tested with Node) ---------------------------------------------------------------

  /** What to do with the item after the server answered ``status`` with JSON ``body``. */
  function classify(status, body) {
    const code = body && body.error && body.error.code;
    if (status === 200 || status === 201) return "done";
    if (status === 401) return "login";
    if (status === 400 && code === "csrf_failed") return "csrf";
    if (status === 403 && code === "csrf_failed") return "csrf";
    if (status === 408 || status === 409 || status === 425 || status === 429 || status >= 500) return "retry";
    if (status === 0) return "retry";
    return "attention"; // 400, 403, 413, 415, 422 …: the resident has to change something
  }

  /** Delay before attempt number ``attempts`` (1, 2, …): 30 s doubling up to 6 h, with up to 20 % jitter. */
  function backoff(attempts, random) {
    const base = Math.min(30000 * 2 ** Math.max(0, attempts - 1), 6 * 3600 * 1000);
    return Math.round(base * (1 + 0.2 * (random === undefined ? Math.random() : random)));
  }

  /** The items a send pass should try now, oldest first. An item still marked "sending" was left so by a tab
   *  that closed mid-send (a pass runs only while it holds the lock), so it is due like any other. */
  function due(items, now, force) {
    return items
      .filter((item) => item.state !== "attention" && (force || !item.next_try_at || item.next_try_at <= now))
      .sort((a, b) => a.created_at - b.created_at);
  }

  // --- IndexedDB -------------------------------------------------------------------------------------------

  let dbPromise = null;

  function openDb() {
    if (dbPromise) return dbPromise;
    dbPromise = new Promise((resolve, reject) => {
      const request = root.indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(OUTBOX)) db.createObjectStore(OUTBOX, { keyPath: "client_id" });
        if (!db.objectStoreNames.contains(SENT)) db.createObjectStore(SENT, { keyPath: "client_id" });
      };
      request.onsuccess = () => {
        const db = request.result;
        db.onversionchange = () => { db.close(); dbPromise = null; };
        resolve(db);
      };
      request.onerror = () => { dbPromise = null; reject(request.error); };
    });
    return dbPromise;
  }

  /** Run ``work(transaction)`` in one transaction over ``storeNames``; resolves to what ``work`` left in
   *  ``transaction.result`` (set it from a request's onsuccess) once the transaction has completed. */
  async function transact(storeNames, mode, work) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const transaction = db.transaction(storeNames, mode);
      const outcome = { value: undefined };
      work(transaction, outcome);
      transaction.oncomplete = () => resolve(outcome.value);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error || new Error("aborted"));
    });
  }

  function run(storeName, mode, work) {
    return transact(storeName, mode, (transaction, outcome) => {
      const request = work(transaction.objectStore(storeName));
      if (request) request.onsuccess = () => { outcome.value = request.result; };
    });
  }

  function notify(type, detail) {
    try {
      const channel = new root.BroadcastChannel(CHANNEL);
      channel.postMessage({ type, detail: detail || null });
      channel.close();
    } catch { /* no BroadcastChannel: pages refresh on their own triggers */ }
    if (root.document) root.document.dispatchEvent(new root.CustomEvent("outbox:changed", { detail }));
  }

  async function list() {
    const items = await run(OUTBOX, "readonly", (store) => store.getAll());
    return (items || []).sort((a, b) => a.created_at - b.created_at);
  }

  function get(clientId) {
    return run(OUTBOX, "readonly", (store) => store.get(clientId));
  }

  function count() {
    return run(OUTBOX, "readonly", (store) => store.count());
  }

  /** Save a captured report. ``item`` has client_id, fields, photos (Blobs) and a label for the list. */
  async function add(item) {
    const now = Date.now();
    const record = {
      client_id: item.client_id,
      fields: item.fields,
      photos: item.photos || [],
      endpoint: item.endpoint || null, // another API than reports, e.g. /api/v1/checkins (no photos)
      label: item.label || "",
      created_at: item.created_at || now,
      state: "waiting",
      attempts: 0,
      next_try_at: 0,
      error: null,
    };
    await run(OUTBOX, "readwrite", (store) => store.put(record));
    notify("added", { client_id: record.client_id });
    return record;
  }

  function update(clientId, changes) {
    return transact(OUTBOX, "readwrite", (transaction, outcome) => {
      const store = transaction.objectStore(OUTBOX);
      outcome.value = null;
      const request = store.get(clientId);
      request.onsuccess = () => {
        if (!request.result) return;
        outcome.value = Object.assign(request.result, changes);
        store.put(outcome.value);
      };
    });
  }

  async function remove(clientId) {
    await run(OUTBOX, "readwrite", (store) => store.delete(clientId));
    notify("removed", { client_id: clientId });
  }

  async function sent(limit) {
    const items = await run(SENT, "readonly", (store) => store.getAll());
    return (items || []).sort((a, b) => b.sent_at - a.sent_at).slice(0, limit || 20);
  }

  const SENT_KEPT = 30;

  /** Record the server's confirmation and drop the item, in one transaction; keep the last few confirmations. */
  async function confirm(item, body) {
    await transact([OUTBOX, SENT], "readwrite", (transaction) => {
      const sentStore = transaction.objectStore(SENT);
      sentStore.put({ client_id: item.client_id, id: body.id, url: body.url, label: item.label, sent_at: Date.now() });
      const all = sentStore.getAll();
      all.onsuccess = () => {
        all.result.sort((a, b) => b.sent_at - a.sent_at).slice(SENT_KEPT).forEach((old) => {
          sentStore.delete(old.client_id);
        });
      };
      transaction.objectStore(OUTBOX).delete(item.client_id);
    });
    notify("sent", { client_id: item.client_id, id: body.id, url: body.url });
  }

  // --- Sending ---------------------------------------------------------------------------------------------

  function withLock(work) {
    const locks = root.navigator && root.navigator.locks;
    if (!locks || !locks.request) return work();
    // ifAvailable: if another tab or the service worker is already sending, this pass simply skips.
    return locks.request(LOCK, { ifAvailable: true }, (lock) => (lock ? work() : { skipped: true }));
  }

  async function fetchWithTimeout(url, options) {
    const controller = typeof AbortController !== "undefined" ? new AbortController() : null;
    const timer = controller ? setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS) : null;
    if (controller) options.signal = controller.signal;
    try {
      return await root.fetch(url, options);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  async function csrfToken() {
    const response = await fetchWithTimeout("/api/v1/csrf", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error(`csrf ${response.status}`);
    return (await response.json()).csrf_token;
  }

  function formData(item) {
    const data = new root.FormData();
    data.append("client_id", item.client_id);
    for (const [name, value] of Object.entries(item.fields)) {
      if (value !== null && value !== undefined) data.append(name, value);
    }
    (item.photos || []).forEach((photo, index) => {
      const blob = photo instanceof root.Blob ? photo : new root.Blob([photo], { type: "image/jpeg" });
      data.append("photos", blob, `photo-${index + 1}.jpg`);
    });
    return data;
  }

  async function post(item, token) {
    const response = await fetchWithTimeout(item.endpoint || "/api/v1/reports", {
      method: "POST",
      body: formData(item),
      credentials: "same-origin",
      headers: { "X-CSRFToken": token, "Accept": "application/json" },
    });
    const body = await response.json().catch(() => null);
    return { status: response.status, body };
  }

  function errorOf(answer) {
    const error = answer.body && answer.body.error;
    return { status: answer.status, code: error ? error.code : null, message: error ? error.message : null,
             fields: error ? error.fields || null : null };
  }

  /** Send every due item, one after another. Resolves to a summary; never rejects for network trouble. */
  async function sendAll(options = {}) {
    const summary = { sent: 0, retry: 0, attention: 0, login: false, offline: false, skipped: false };

    function retryLater(item, error) {
      const attempts = (item.attempts || 0) + 1;
      return update(item.client_id, {
        state: "waiting", attempts, next_try_at: Date.now() + backoff(attempts), error,
      });
    }

    async function sendOne(item, token) {
      let answer;
      try {
        answer = await post(item, token.value);
        if (classify(answer.status, answer.body) === "csrf") {
          token.value = await csrfToken(); // the session's token changed: once more with a fresh one
          answer = await post(item, token.value);
        }
      } catch {
        // No answer at all: offline, timed out or the connection dropped. Keep it and stop this pass.
        summary.offline = true;
        return retryLater(item, { status: 0, code: "network", message: null });
      }
      const verdict = classify(answer.status, answer.body);
      if (verdict === "done") { summary.sent++; return confirm(item, answer.body); }
      if (verdict === "login") {
        summary.login = true;
        return update(item.client_id, { state: "login", error: errorOf(answer) });
      }
      if (verdict === "attention") {
        summary.attention++;
        return update(item.client_id, { state: "attention", error: errorOf(answer) });
      }
      summary.retry++; // also a second CSRF refusal
      return retryLater(item, errorOf(answer));
    }

    const result = await withLock(async () => {
      const queue = due(await list(), Date.now(), options.force);
      if (!queue.length) return summary;
      const token = {};
      try {
        token.value = await csrfToken();
      } catch {
        summary.offline = true;
        return summary;
      }
      for (const item of queue) {
        if (summary.login || summary.offline) break;
        await update(item.client_id, { state: "sending" });
        notify("sending", { client_id: item.client_id });
        await sendOne(item, token);
      }
      return summary;
    });
    if (result && result.skipped) summary.skipped = true;
    notify("pass", summary);
    return summary;
  }

  const api = {
    classify, backoff, due,
    add, list, get, count, update, remove, sent,
    sendAll, CHANNEL,
  };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.CitizenGridOutbox = api;
})(typeof self !== "undefined" ? self : this);
