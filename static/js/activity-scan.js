/* Checking in with the phone: the app's scanner page, and what a scanned check-in URL shows without a network.
 *
 * Offline, the service worker answers a scanned /activities/<id>/checkin?t=… with this page; the script then
 * stores the scan in the outbox (token, scan time, the account that scanned) and the outbox sends it exactly once
 * when the network is back (POST /api/v1/checkins; the client_id makes a replay harmless). With a camera and
 * BarcodeDetector the page also scans codes itself. No inline script: messages come from data- attributes.
 */
(function () {
  "use strict";
  var root = document.getElementById("act-scan");
  if (!root) return;
  var status = document.getElementById("act-scan-status");
  var saved = document.getElementById("act-scan-saved");
  var outbox = window.CitizenGridOutbox;
  var PATH = /^\/activities\/(\d+)\/checkin$/;

  function say(name) { status.textContent = root.getAttribute("data-msg-" + name) || ""; }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  /** The activity and token of a check-in URL of this site, or null. */
  function parse(text) {
    var url;
    try { url = new URL(text, location.href); } catch (e) { return null; }
    var match = PATH.exec(url.pathname);
    if (url.origin !== location.origin || !match || !url.searchParams.get("t")) return null;
    return { activity: match[1], token: url.searchParams.get("t"), href: url.href };
  }

  function store(scan) {
    var user = root.getAttribute("data-user") || document.body.getAttribute("data-user") || "";
    if (!user) { // a copy cached before logging in: the account app.js last saw on this phone
      try { user = localStorage.getItem("citizen-grid-user") || ""; } catch (e) { /* storage disabled */ }
    }
    if (!user) { say("login"); return Promise.resolve(null); }
    if (!outbox) return Promise.resolve(null);
    return outbox.add({
      client_id: uuid(),
      endpoint: "/api/v1/checkins",
      fields: { activity_id: scan.activity, token: scan.token, scanned_at: new Date().toISOString(), user: user },
      photos: [],
      label: (root.getAttribute("data-label") || "") + " #" + scan.activity
    }).then(function (record) {
      saved.textContent = root.getAttribute("data-msg-saved");
      saved.hidden = false;
      status.textContent = "";
      if (window.CitizenGridSync && navigator.onLine) window.CitizenGridSync.kick({ force: true });
      return record;
    });
  }

  // Opened offline from a scanned URL (the service worker's fallback): keep the scan, once per URL.
  var here = parse(location.href);
  if (here) {
    var key = "citizen-grid-scan:" + here.token;
    var seen = null;
    try { seen = sessionStorage.getItem(key); } catch (e) { /* private mode */ }
    if (!seen) {
      store(here).then(function (record) {
        try { if (record) sessionStorage.setItem(key, "1"); } catch (e) { /* private mode */ }
      });
    } else {
      saved.textContent = root.getAttribute("data-msg-saved");
      saved.hidden = false;
    }
  }

  // The camera scanner, where the browser can detect QR codes.
  var start = document.getElementById("act-scan-start");
  var video = document.getElementById("act-scan-video");
  if (!start || !video || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  var stream = null;
  var detector = null;

  function stop() {
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    video.hidden = true;
    start.hidden = false;
  }

  function look() {
    if (!stream) return;
    detector.detect(video).then(function (codes) {
      for (var i = 0; i < codes.length; i++) {
        var scan = parse(codes[i].rawValue);
        if (scan) {
          stop();
          if (navigator.onLine) location.href = scan.href;
          else store(scan);
          return;
        }
        say("notcode");
      }
      setTimeout(look, 250);
    }, function () { setTimeout(look, 500); });
  }

  window.BarcodeDetector.getSupportedFormats().then(function (formats) {
    if (formats.indexOf("qr_code") === -1) return;
    detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    start.hidden = false;
    start.addEventListener("click", function () {
      say("starting");
      navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false })
        .then(function (media) {
          stream = media;
          video.srcObject = media;
          video.hidden = false;
          start.hidden = true;
          return video.play();
        }).then(function () { say("looking"); look(); })["catch"](function () { stop(); say("denied"); });
    });
    addEventListener("pagehide", stop);
  }, function () { /* no detector: use the phone's camera app */ });
})();
