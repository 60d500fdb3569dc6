/* Citizen Grid: enhancements shared by every page. The pages work without this file.
 *
 * Keeps the outbox moving: every page load, the network coming back, the page becoming visible, a retry timer
 * and Background Sync (where the browser has it) all start a send pass. Only the server's confirmation removes
 * a report from the phone (see outbox.js). Also the one Leaflet loader of the maps (report form, open data).
 */
(() => {
  "use strict";
  const doc = document;
  doc.documentElement.classList.add("js");
  doc.querySelectorAll(".js-only[hidden]").forEach((el) => { el.hidden = false; });
  // Move focus to the error summary so screen-reader users hear what went wrong.
  const errors = doc.getElementById("form-errors");
  if (errors) errors.focus();

  // Leaflet is loaded only when someone opens a map: its files are named by the map box's data-leaflet-js and
  // data-leaflet-css. One load per page, however many maps ask.
  let leaflet = null;
  function loadLeaflet(box) {
    if (window.L) return Promise.resolve(window.L);
    if (leaflet) return leaflet;
    leaflet = new Promise((resolve, reject) => {
      const css = doc.createElement("link");
      css.rel = "stylesheet";
      css.href = box.dataset.leafletCss;
      doc.head.appendChild(css);
      const script = doc.createElement("script");
      script.src = box.dataset.leafletJs;
      script.onload = () => resolve(window.L);
      script.onerror = () => { leaflet = null; reject(new Error("Leaflet did not load")); };
      doc.head.appendChild(script);
    });
    return leaflet;
  }
  window.CitizenGrid = { loadLeaflet };

  // Thumbnails further down a list load only when scrolled near, so a list stays light on a slow network.
  const lazyObserver = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      lazyObserver.unobserve(entry.target);
      entry.target.src = entry.target.dataset.src;
    }
  }, { rootMargin: "150px 0px" }) : null;
  function loadThumbnails(root) {
    root.querySelectorAll("img.lazy[data-src]").forEach((img) => {
      if (lazyObserver) lazyObserver.observe(img); else img.src = img.dataset.src;
    });
  }
  loadThumbnails(doc);
  doc.addEventListener("htmx:afterSettle", (event) => loadThumbnails(event.target));

  const banner = doc.getElementById("offline-banner");
  const showNetwork = () => { if (banner) banner.hidden = navigator.onLine !== false; };
  addEventListener("online", showNetwork);
  addEventListener("offline", showNetwork);
  showNetwork();

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => { /* pages still work */ });
    // Logged in or out since the offline pages were cached: have the service worker fetch them again.
    const user = doc.body.dataset.user || "";
    try {
      if (navigator.onLine !== false && localStorage.getItem("citizen-grid-user") !== user) {
        navigator.serviceWorker.ready.then((registration) => {
          registration.active.postMessage({ type: "refresh-pages" });
          localStorage.setItem("citizen-grid-user", user);
        });
      }
    } catch { /* storage disabled */ }
  }

  const outbox = window.CitizenGridOutbox;
  if (!outbox || !window.indexedDB) return;

  const nav = doc.getElementById("outbox-nav");
  const badge = doc.getElementById("outbox-count");
  async function refreshBadge() {
    try {
      const n = await outbox.count();
      if (badge) badge.textContent = String(n);
      if (nav) nav.hidden = n === 0;
      return n;
    } catch {
      return 0;
    }
  }

  let timer = null;
  let running = null;
  async function schedule() {
    clearTimeout(timer);
    // Everything not waiting for the resident is due at its next_try_at (outbox.due decides what counts).
    let waiting;
    try {
      waiting = outbox.due(await outbox.list(), Infinity);
    } catch {
      return;
    }
    if (!waiting.length) return;
    const next = Math.min(...waiting.map((item) => item.next_try_at || 0));
    timer = setTimeout(kick, Math.max(15000, next - Date.now()));
    registerBackgroundSync();
  }

  async function registerBackgroundSync() {
    if (!("serviceWorker" in navigator)) return;
    try {
      const registration = await navigator.serviceWorker.ready;
      if (registration.sync) await registration.sync.register("outbox");
    } catch { /* WebViews expose sync but refuse it: our own triggers still run */ }
  }

  /** Start a send pass (one at a time per page; the outbox lock covers other tabs and the service worker). */
  function kick(options) {
    if (running) return running;
    running = pass(options).finally(() => {
      running = null;
      refreshBadge();
      schedule();
    });
    return running;
  }
  async function pass(options) {
    try {
      const summary = await outbox.sendAll(options);
      doc.dispatchEvent(new CustomEvent("outbox:pass", { detail: summary }));
      return summary;
    } catch {
      return null; // a pass never rejects for network trouble; anything else waits for the next trigger
    }
  }
  window.CitizenGridSync = { kick, refreshBadge };

  addEventListener("online", () => kick({ force: true }));
  doc.addEventListener("visibilitychange", () => { if (doc.visibilityState === "visible") kick(); });
  doc.addEventListener("outbox:changed", refreshBadge);
  try {
    new BroadcastChannel(outbox.CHANNEL).onmessage = () => refreshBadge();
  } catch { /* older browsers: the badge refreshes on the next pass */ }
  refreshBadge().then((n) => { if (n) kick(); });
})();
