/* Citizen Grid service worker (served at /sw.js, scope /).
 *
 * The server replaces the placeholder below with this release's settings: the cache name (derived from the
 * content of every precached file), the precache list and the offline page. Strategy:
 *  - pages: network first (4 s), then the cached copy of that page, then the offline page;
 *  - fingerprinted static files: cache first;
 *  - htmx fragments, the API, photos and POSTs: network only — nothing personal is cached;
 *  - the outbox is sent on Background Sync and when a page asks; pages also send on their own.
 */
/* eslint-env serviceworker */
"use strict";

var CONFIG = self.__CITIZEN_GRID__;
var NAVIGATION_TIMEOUT_MS = 4000;
var CHECKIN_PATH = /^\/activities\/\d+\/checkin$/;
importScripts(CONFIG.outboxScript);

function shellPath(url) {
  return CONFIG.pages.indexOf(url.pathname) !== -1;
}

/** Fetch the offline pages again, e.g. after logging in or out, so the cached copies show the right header. */
function refreshPages() {
  return caches.open(CONFIG.cacheName).then(function (cache) {
    return Promise.all(CONFIG.pages.map(function (path) {
      return fetch(path, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
        if (response.ok) return cache.put(path, response);
      })["catch"](function () { /* offline: keep the old copy */ });
    }));
  });
}

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(CONFIG.cacheName).then(function (cache) {
      // Fingerprinted files may come from the HTTP cache (the page just loaded them); pages must be fresh.
      return cache.addAll(CONFIG.precache.map(function (url) {
        return new Request(url, { cache: url.indexOf("?v=") === -1 ? "reload" : "default" });
      }));
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("citizen-grid-") === 0 && name !== CONFIG.cacheName;
      }).map(function (name) { return caches["delete"](name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function networkFirstPage(request) {
  var url = new URL(request.url);
  var network = fetch(request).then(function (response) {
    if (response.ok && shellPath(url)) {
      var copy = response.clone();
      caches.open(CONFIG.cacheName).then(function (cache) { cache.put(url.pathname, copy); });
    }
    return response;
  });
  var timeout = new Promise(function (resolve) { setTimeout(resolve, NAVIGATION_TIMEOUT_MS); });
  // A scanned check-in code without a network: the scanner page keeps the scan in the outbox.
  var cachedPath = CHECKIN_PATH.test(url.pathname) ? CONFIG.scanUrl : url.pathname;
  var fallback = function () {
    return caches.open(CONFIG.cacheName).then(function (cache) {
      return cache.match(cachedPath).then(function (hit) { return hit || cache.match(CONFIG.offlineUrl); });
    });
  };
  // Slow network: answer from the cache after 4 s if we have the page; otherwise keep waiting for the network.
  return Promise.race([network, timeout.then(function () {
    return fallback().then(function (hit) { return hit || network; });
  })]).catch(function () {
    return fallback().then(function (hit) { return hit || Response.error(); });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(networkFirstPage(request));
    return;
  }
  if (url.pathname.indexOf("/static/") === 0 || url.pathname === "/manifest.webmanifest") {
    event.respondWith(
      caches.match(request, { ignoreVary: true }).then(function (hit) { return hit || fetch(request); })
    );
    return;
  }
  if (request.headers.get("HX-Request") === "true") {
    // An htmx fragment while offline: answer with nothing rather than an error, the page shows it is offline.
    event.respondWith(fetch(request)["catch"](function () {
      return new Response("", { status: 200, headers: { "Content-Type": "text/html" } });
    }));
  }
});

self.addEventListener("sync", function (event) {
  if (event.tag === "outbox") {
    event.waitUntil(CitizenGridOutbox.sendAll().then(function (summary) {
      // Let the browser retry later if something is still waiting for the network.
      if (summary.offline || summary.retry) throw new Error("outbox not empty");
    }));
  }
});

self.addEventListener("message", function (event) {
  var type = event.data && event.data.type;
  if (type === "send-outbox") event.waitUntil(CitizenGridOutbox.sendAll({ force: !!event.data.force }));
  if (type === "refresh-pages") event.waitUntil(refreshPages());
});
