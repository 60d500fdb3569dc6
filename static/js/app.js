/* Citizen Grid: enhancements shared by every page. The pages work without this file.
 *
 * Keeps the outbox moving: every page load, the network coming back, the page becoming visible, a retry timer
 * and Background Sync (where the browser has it) all start a send pass. Only the server's confirmation removes
 * a report from the phone (see outbox.js).
 */
(function () {
  "use strict";
  var doc = document;
  doc.documentElement.classList.add("js");
  doc.querySelectorAll(".js-only[hidden]").forEach(function (el) { el.hidden = false; });
  // Move focus to the error summary so screen-reader users hear what went wrong.
  var errors = doc.getElementById("form-errors");
  if (errors) errors.focus();

  // Thumbnails further down a list load only when scrolled near, so a list stays light on a slow network.
  var lazyObserver = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (!entry.isIntersecting) return;
      lazyObserver.unobserve(entry.target);
      entry.target.src = entry.target.dataset.src;
    });
  }, { rootMargin: "150px 0px" }) : null;
  function loadThumbnails(root) {
    root.querySelectorAll("img.lazy[data-src]").forEach(function (img) {
      if (lazyObserver) lazyObserver.observe(img); else img.src = img.dataset.src;
    });
  }
  loadThumbnails(doc);
  doc.addEventListener("htmx:afterSettle", function (event) { loadThumbnails(event.target); });

  var banner = doc.getElementById("offline-banner");
  function showNetwork() { if (banner) banner.hidden = navigator.onLine !== false; }
  addEventListener("online", showNetwork);
  addEventListener("offline", showNetwork);
  showNetwork();

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" })["catch"](function () { /* pages still work */ });
    // Logged in or out since the offline pages were cached: have the service worker fetch them again.
    var user = doc.body.dataset.user || "";
    try {
      if (navigator.onLine !== false && localStorage.getItem("citizen-grid-user") !== user) {
        navigator.serviceWorker.ready.then(function (registration) {
          registration.active.postMessage({ type: "refresh-pages" });
          localStorage.setItem("citizen-grid-user", user);
        });
      }
    } catch (e) { /* storage disabled */ }
  }

  var outbox = window.CitizenGridOutbox;
  if (!outbox || !window.indexedDB) return;

  var nav = doc.getElementById("outbox-nav");
  var badge = doc.getElementById("outbox-count");
  function refreshBadge() {
    return outbox.count().then(function (n) {
      if (badge) badge.textContent = String(n);
      if (nav) nav.hidden = n === 0;
      return n;
    })["catch"](function () { return 0; });
  }

  var timer = null;
  var running = null;
  function schedule() {
    clearTimeout(timer);
    outbox.list().then(function (items) {
      var waiting = items.filter(function (i) { return i.state !== "attention"; });
      if (!waiting.length) return;
      var next = Math.min.apply(null, waiting.map(function (i) { return i.next_try_at || 0; }));
      timer = setTimeout(kick, Math.max(15000, next - Date.now()));
      registerBackgroundSync();
    });
  }

  function registerBackgroundSync() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.sync) return registration.sync.register("outbox");
    })["catch"](function () { /* WebViews expose sync but refuse it: our own triggers still run */ });
  }

  /** Start a send pass (one at a time per page; the outbox lock covers other tabs and the service worker). */
  function kick(options) {
    if (running) return running;
    running = outbox.sendAll(options).then(function (summary) {
      doc.dispatchEvent(new CustomEvent("outbox:pass", { detail: summary }));
      return summary;
    })["catch"](function () { return null; }).then(function (summary) {
      running = null;
      refreshBadge();
      schedule();
      return summary;
    });
    return running;
  }
  window.CitizenGridSync = { kick: kick, refreshBadge: refreshBadge };

  addEventListener("online", function () { kick({ force: true }); });
  doc.addEventListener("visibilitychange", function () { if (doc.visibilityState === "visible") kick(); });
  doc.addEventListener("outbox:changed", refreshBadge);
  try {
    new BroadcastChannel(outbox.CHANNEL).onmessage = function () { refreshBadge(); };
  } catch (e) { /* older browsers: the badge refreshes on the next pass */ }
  refreshBadge().then(function (n) { if (n) kick(); });
})();
