/* Citizen Grid outbox: reports saved on the phone (IndexedDB) until the server confirms them.
 *
 * Shared by the pages and the service worker (importScripts). Rules that keep reports from being lost:
 *  - a report is written here before any network attempt;
 *  - an item is deleted only after the server confirms it (201, or 200 for a replay of the same client_id);
 *  - one sender at a time across tabs and the service worker (Web Locks); the server's idempotency on client_id
 *    makes a duplicate send harmless anyway;
 *  - a refusal the resident can fix (422, 413, 415) keeps the item, marked "needs attention", with the reason.
 */
(function (root) {
  "use strict";

  var DB_NAME = "citizen-grid";
  var DB_VERSION = 1;
  var OUTBOX = "outbox";
  var SENT = "sent";
  var LOCK = "citizen-grid-outbox";
  var REQUEST_TIMEOUT_MS = 90000;
  var CHANNEL = "citizen-grid-outbox";

  // --- Pure helpers (unit-tested with Node) ---------------------------------------------------------------

  /** What to do with the item after the server answered ``status`` with JSON ``body``. */
  function classify(status, body) {
    var code = body && body.error && body.error.code;
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
    var base = Math.min(30000 * Math.pow(2, Math.max(0, attempts - 1)), 6 * 3600 * 1000);
    return Math.round(base * (1 + 0.2 * (random === undefined ? Math.random() : random)));
  }

  /** The items a send pass should try now, oldest first. An item still marked "sending" was left so by a tab
   *  that closed mid-send (a pass runs only while it holds the lock), so it is due like any other. */
  function due(items, now, force) {
    return items
      .filter(function (item) {
        if (item.state === "attention") return false;
        return force || !item.next_try_at || item.next_try_at <= now;
      })
      .sort(function (a, b) { return a.created_at - b.created_at; });
  }

  // --- IndexedDB -------------------------------------------------------------------------------------------

  var dbPromise = null;

  function openDb() {
    if (dbPromise) return dbPromise;
    dbPromise = new Promise(function (resolve, reject) {
      var request = root.indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = function () {
        var db = request.result;
        if (!db.objectStoreNames.contains(OUTBOX)) db.createObjectStore(OUTBOX, { keyPath: "client_id" });
        if (!db.objectStoreNames.contains(SENT)) db.createObjectStore(SENT, { keyPath: "client_id" });
      };
      request.onsuccess = function () {
        var db = request.result;
        db.onversionchange = function () { db.close(); dbPromise = null; };
        resolve(db);
      };
      request.onerror = function () { dbPromise = null; reject(request.error); };
    });
    return dbPromise;
  }

  function run(storeName, mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var transaction = db.transaction(storeName, mode);
        var store = transaction.objectStore(storeName);
        var result;
        var request = work(store);
        if (request) request.onsuccess = function () { result = request.result; };
        transaction.oncomplete = function () { resolve(result); };
        transaction.onerror = function () { reject(transaction.error); };
        transaction.onabort = function () { reject(transaction.error || new Error("aborted")); };
      });
    });
  }

  function notify(type, detail) {
    try {
      var channel = new root.BroadcastChannel(CHANNEL);
      channel.postMessage({ type: type, detail: detail || null });
      channel.close();
    } catch (e) { /* no BroadcastChannel: pages refresh on their own triggers */ }
    if (root.document) root.document.dispatchEvent(new root.CustomEvent("outbox:changed", { detail: detail }));
  }

  function list() {
    return run(OUTBOX, "readonly", function (store) { return store.getAll(); }).then(function (items) {
      return (items || []).sort(function (a, b) { return a.created_at - b.created_at; });
    });
  }

  function get(clientId) {
    return run(OUTBOX, "readonly", function (store) { return store.get(clientId); });
  }

  function count() {
    return run(OUTBOX, "readonly", function (store) { return store.count(); });
  }

  /** Save a captured report. ``item`` has client_id, fields, photos (Blobs) and a label for the list. */
  function add(item) {
    var now = Date.now();
    var record = {
      client_id: item.client_id,
      fields: item.fields,
      photos: item.photos || [],
      endpoint: item.endpoint || null, // another API than reports, e.g. /api/v1/checkins (no photos)
      label: item.label || "",
      created_at: item.created_at || now,
      state: "waiting",
      attempts: 0,
      next_try_at: 0,
      error: null
    };
    return run(OUTBOX, "readwrite", function (store) { return store.put(record); }).then(function () {
      notify("added", { client_id: record.client_id });
      return record;
    });
  }

  function update(clientId, changes) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var transaction = db.transaction(OUTBOX, "readwrite");
        var store = transaction.objectStore(OUTBOX);
        var result = null;
        var request = store.get(clientId);
        request.onsuccess = function () {
          if (!request.result) return;
          result = Object.assign(request.result, changes);
          store.put(result);
        };
        transaction.oncomplete = function () { resolve(result); };
        transaction.onerror = function () { reject(transaction.error); };
      });
    });
  }

  function remove(clientId) {
    return run(OUTBOX, "readwrite", function (store) { return store["delete"](clientId); }).then(function () {
      notify("removed", { client_id: clientId });
    });
  }

  function sent(limit) {
    return run(SENT, "readonly", function (store) { return store.getAll(); }).then(function (items) {
      return (items || []).sort(function (a, b) { return b.sent_at - a.sent_at; }).slice(0, limit || 20);
    });
  }

  var SENT_KEPT = 30;

  /** Record the server's confirmation and drop the item, in one transaction; keep the last few confirmations. */
  function confirm(item, body) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var transaction = db.transaction([OUTBOX, SENT], "readwrite");
        var sentStore = transaction.objectStore(SENT);
        sentStore.put({
          client_id: item.client_id, id: body.id, url: body.url, label: item.label, sent_at: Date.now()
        });
        var all = sentStore.getAll();
        all.onsuccess = function () {
          all.result.sort(function (a, b) { return b.sent_at - a.sent_at; }).slice(SENT_KEPT).forEach(function (old) {
            sentStore["delete"](old.client_id);
          });
        };
        transaction.objectStore(OUTBOX)["delete"](item.client_id);
        transaction.oncomplete = function () { resolve(); };
        transaction.onerror = function () { reject(transaction.error); };
      });
    }).then(function () { notify("sent", { client_id: item.client_id, id: body.id, url: body.url }); });
  }

  // --- Sending ---------------------------------------------------------------------------------------------

  function withLock(work) {
    var locks = root.navigator && root.navigator.locks;
    if (!locks || !locks.request) return work();
    // ifAvailable: if another tab or the service worker is already sending, this pass simply skips.
    return locks.request(LOCK, { ifAvailable: true }, function (lock) {
      return lock ? work() : { skipped: true };
    });
  }

  function fetchWithTimeout(url, options) {
    var controller = typeof AbortController !== "undefined" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS) : null;
    if (controller) options.signal = controller.signal;
    return root.fetch(url, options).then(function (response) {
      if (timer) clearTimeout(timer);
      return response;
    }, function (error) {
      if (timer) clearTimeout(timer);
      throw error;
    });
  }

  function csrfToken() {
    return fetchWithTimeout("/api/v1/csrf", { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error("csrf " + r.status);
      return r.json();
    }).then(function (body) { return body.csrf_token; });
  }

  function formData(item) {
    var data = new root.FormData();
    data.append("client_id", item.client_id);
    Object.keys(item.fields).forEach(function (name) {
      var value = item.fields[name];
      if (value !== null && value !== undefined) data.append(name, value);
    });
    (item.photos || []).forEach(function (photo, index) {
      var blob = photo instanceof root.Blob ? photo : new root.Blob([photo], { type: "image/jpeg" });
      data.append("photos", blob, "photo-" + (index + 1) + ".jpg");
    });
    return data;
  }

  function post(item, token) {
    return fetchWithTimeout(item.endpoint || "/api/v1/reports", {
      method: "POST",
      body: formData(item),
      credentials: "same-origin",
      headers: { "X-CSRFToken": token, "Accept": "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        return { status: response.status, body: body };
      });
    });
  }

  function errorOf(answer) {
    var error = answer.body && answer.body.error;
    return { status: answer.status, code: error ? error.code : null, message: error ? error.message : null,
             fields: error ? error.fields || null : null };
  }

  /** Send every due item, one after another. Resolves to a summary; never rejects for network trouble. */
  function sendAll(options) {
    options = options || {};
    var summary = { sent: 0, retry: 0, attention: 0, login: false, offline: false, skipped: false };
    return withLock(function () {
      return list().then(function (items) {
        var queue = due(items, Date.now(), options.force);
        if (!queue.length) return summary;
        return csrfToken().then(function (token) {
          var index = 0;
          function next() {
            if (index >= queue.length || summary.login || summary.offline) return summary;
            var item = queue[index++];
            return update(item.client_id, { state: "sending" }).then(function () {
              notify("sending", { client_id: item.client_id });
              return sendOne(item, token, false);
            }).then(next);
          }
          function sendOne(item, currentToken, retriedCsrf) {
            return post(item, currentToken).then(function (answer) {
              var verdict = classify(answer.status, answer.body);
              if (verdict === "csrf" && !retriedCsrf) {
                return csrfToken().then(function (fresh) { token = fresh; return sendOne(item, fresh, true); });
              }
              if (verdict === "done") { summary.sent++; return confirm(item, answer.body); }
              if (verdict === "login") {
                summary.login = true;
                return update(item.client_id, { state: "login", error: errorOf(answer) });
              }
              if (verdict === "attention") {
                summary.attention++;
                return update(item.client_id, { state: "attention", error: errorOf(answer) });
              }
              summary.retry++;
              var attempts = (item.attempts || 0) + 1;
              return update(item.client_id, {
                state: "waiting", attempts: attempts, next_try_at: Date.now() + backoff(attempts), error: errorOf(answer)
              });
            }, function () {
              // No answer at all: offline, timed out or the connection dropped. Keep it and stop this pass.
              summary.offline = true;
              var attempts = (item.attempts || 0) + 1;
              return update(item.client_id, {
                state: "waiting", attempts: attempts, next_try_at: Date.now() + backoff(attempts),
                error: { status: 0, code: "network", message: null }
              });
            });
          }
          return next();
        }, function () {
          summary.offline = true;
          return summary;
        });
      });
    }).then(function (result) {
      if (result && result.skipped) summary.skipped = true;
      notify("pass", summary);
      return summary;
    });
  }

  var api = {
    classify: classify, backoff: backoff, due: due,
    add: add, list: list, get: get, count: count, update: update, remove: remove, sent: sent,
    sendAll: sendAll, CHANNEL: CHANNEL
  };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.CitizenGridOutbox = api;
})(typeof self !== "undefined" ? self : this);
