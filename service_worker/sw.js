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
(() => {
  "use strict";

  const CONFIG = self.__CITIZEN_GRID__;
  const NAVIGATION_TIMEOUT_MS = 4000;
  const CHECKIN_PATH = /^\/activities\/\d+\/checkin$/;
  importScripts(CONFIG.outboxScript);

  const shellPath = (url) => CONFIG.pages.includes(url.pathname);

  /** Fetch the offline pages again, e.g. after logging in or out, so the cached copies show the right header. */
  const refreshPages = () =>
    caches.open(CONFIG.cacheName).then((cache) =>
      Promise.all(CONFIG.pages.map((path) =>
        fetch(path, { credentials: "same-origin", cache: "no-store" }).then((response) => {
          if (response.ok) return cache.put(path, response);
        }).catch(() => { /* offline: keep the old copy */ }))));

  self.addEventListener("install", (event) => {
    event.waitUntil(
      caches.open(CONFIG.cacheName).then((cache) =>
        // Fingerprinted files may come from the HTTP cache (the page just loaded them); pages must be fresh.
        cache.addAll(CONFIG.precache.map((url) =>
          new Request(url, { cache: url.includes("?v=") ? "default" : "reload" })))
      ).then(() => self.skipWaiting())
    );
  });

  self.addEventListener("activate", (event) => {
    event.waitUntil(
      caches.keys().then((names) => Promise.all(names
        .filter((name) => name.startsWith("citizen-grid-") && name !== CONFIG.cacheName)
        .map((name) => caches.delete(name)))
      ).then(() => self.clients.claim())
    );
  });

  const networkFirstPage = (request) => {
    const url = new URL(request.url);
    const network = fetch(request).then((response) => {
      if (response.ok && shellPath(url)) {
        const copy = response.clone();
        caches.open(CONFIG.cacheName).then((cache) => cache.put(url.pathname, copy));
      }
      return response;
    });
    const timeout = new Promise((resolve) => { setTimeout(resolve, NAVIGATION_TIMEOUT_MS); });
    // A scanned check-in code without a network: the scanner page keeps the scan in the outbox.
    const cachedPath = CHECKIN_PATH.test(url.pathname) ? CONFIG.scanUrl : url.pathname;
    const fallback = () => caches.open(CONFIG.cacheName).then((cache) =>
      cache.match(cachedPath).then((hit) => hit || cache.match(CONFIG.offlineUrl)));
    // Slow network: answer from the cache after 4 s if we have the page; otherwise keep waiting for the network.
    return Promise.race([network, timeout.then(() => fallback().then((hit) => hit || network))])
      .catch(() => fallback().then((hit) => hit || Response.error()));
  };

  self.addEventListener("fetch", (event) => {
    const request = event.request;
    if (request.method !== "GET") return;
    const url = new URL(request.url);
    if (url.origin !== self.location.origin) return;
    if (request.mode === "navigate") {
      event.respondWith(networkFirstPage(request));
      return;
    }
    if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
      event.respondWith(caches.match(request, { ignoreVary: true }).then((hit) => hit || fetch(request)));
      return;
    }
    if (request.headers.get("HX-Request") === "true") {
      // An htmx fragment while offline: answer with nothing rather than an error, the page shows it is offline.
      event.respondWith(fetch(request).catch(() =>
        new Response("", { status: 200, headers: { "Content-Type": "text/html" } })));
    }
  });

  self.addEventListener("sync", (event) => {
    if (event.tag === "outbox") {
      event.waitUntil(self.CitizenGridOutbox.sendAll().then((summary) => {
        // Let the browser retry later if something is still waiting for the network.
        if (summary.offline || summary.retry) throw new Error("outbox not empty");
      }));
    }
  });

  self.addEventListener("message", (event) => {
    const type = event.data && event.data.type;
    if (type === "send-outbox") event.waitUntil(self.CitizenGridOutbox.sendAll({ force: !!event.data.force }));
    if (type === "refresh-pages") event.waitUntil(refreshPages());
  });
})();
