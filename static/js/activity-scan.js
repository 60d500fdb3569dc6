/* Checking in with the phone: the app's scanner page, and what a scanned check-in URL shows without a network.
 *
 * Offline, the service worker answers a scanned /activities/<id>/checkin?t=… with this page; the script then
 * stores the scan in the outbox (token, scan time, the account that scanned) and the outbox sends it exactly once
 * when the network is back (POST /api/v1/checkins; the client_id makes a replay harmless). Where the browser can
 * scan QR codes (qr-scanner.js) the page also scans codes itself. No inline script: messages come from data-
 * attributes.
 */
(() => {
  "use strict";
  const root = document.getElementById("act-scan");
  if (!root) return;
  const status = document.getElementById("act-scan-status");
  const saved = document.getElementById("act-scan-saved");
  const outbox = window.CitizenGridOutbox;
  const PATH = /^\/activities\/(\d+)\/checkin$/;
  const say = (name) => { status.textContent = root.getAttribute(`data-msg-${name}`) || ""; };

  const uuid = () => {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => (x + 0x100).toString(16).slice(1)).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };

  /** The activity and token of a check-in URL of this site, or null. */
  const parse = (text) => {
    let url;
    try { url = new URL(text, location.href); } catch { return null; }
    const match = PATH.exec(url.pathname);
    if (url.origin !== location.origin || !match || !url.searchParams.get("t")) return null;
    return { activity: match[1], token: url.searchParams.get("t"), href: url.href };
  };

  const showSaved = () => {
    saved.textContent = root.getAttribute("data-msg-saved");
    saved.hidden = false;
  };

  const store = async (scan) => {
    let user = root.getAttribute("data-user") || document.body.getAttribute("data-user") || "";
    if (!user) { // a copy cached before logging in: the account app.js last saw on this phone
      try { user = localStorage.getItem("citizen-grid-user") || ""; } catch { /* storage disabled */ }
    }
    if (!user) { say("login"); return null; }
    if (!outbox) return null;
    const record = await outbox.add({
      client_id: uuid(),
      endpoint: "/api/v1/checkins",
      fields: { activity_id: scan.activity, token: scan.token, scanned_at: new Date().toISOString(), user },
      photos: [],
      label: `${root.getAttribute("data-label") || ""} #${scan.activity}`,
    });
    showSaved();
    status.textContent = "";
    if (window.CitizenGridSync && navigator.onLine) window.CitizenGridSync.kick({ force: true });
    return record;
  };

  // Opened offline from a scanned URL (the service worker's fallback): keep the scan, once per URL.
  const here = parse(location.href);
  if (here) {
    const key = `citizen-grid-scan:${here.token}`;
    let seen = null;
    try { seen = sessionStorage.getItem(key); } catch { /* private mode */ }
    if (seen) {
      showSaved();
    } else {
      store(here).then((record) => {
        try { if (record) sessionStorage.setItem(key, "1"); } catch { /* private mode */ }
      });
    }
  }

  // The camera scanner, where the browser can detect QR codes. Online a scanned code is simply opened.
  if (!window.CitizenGridQr) return;
  const parts = window.CitizenGridQr.parts("act-"); // templates/_macros/qr_scanner.html, without its status line
  if (!parts.panel) return;
  window.CitizenGridQr.scanner({
    ...parts,
    say,
    read: parse,
    found: (scan) => {
      if (navigator.onLine) location.href = scan.href;
      else store(scan);
    },
  });
})();
