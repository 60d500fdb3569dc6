/* The organiser's check-in screen: show the code of the current 30-second window.
 *
 * The page carries 30 minutes of signed codes (drawn by the server as SVG); the script swaps them as time passes
 * and fetches more while online, so the screen keeps working for a while without a network. No inline script:
 * the codes come from the JSON block #act-codes.
 */
(function () {
  "use strict";
  var screen = document.getElementById("act-screen");
  var box = document.getElementById("act-screen-qr");
  var status = document.getElementById("act-screen-status");
  var data = document.getElementById("act-codes");
  if (!screen || !box || !data) return;
  var codes = JSON.parse(data.textContent);
  var windowMs = Number(screen.getAttribute("data-window-ms")) || 30000;
  var shown = null;

  function current(now) {
    for (var i = codes.length - 1; i >= 0; i--) {
      if (codes[i].from <= now && now < codes[i].from + windowMs) return codes[i];
    }
    return null;
  }

  function show() {
    var now = Date.now();
    var code = current(now);
    if (!code) {
      status.textContent = screen.getAttribute("data-msg-ended");
      box.hidden = true;
      return;
    }
    box.hidden = false;
    if (shown !== code.from) {
      shown = code.from;
      box.innerHTML = code.svg; // drawn by our server from a URL it signed
      box.setAttribute("data-url", code.url);
      box.setAttribute("data-from", String(code.from));
    }
    status.textContent = navigator.onLine ? "" : screen.getAttribute("data-msg-offline");
  }

  function refill() {
    if (!navigator.onLine) return;
    fetch(screen.getAttribute("data-codes-url"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) { if (body && body.codes && body.codes.length) codes = body.codes; })
      .catch(function () { /* offline: keep the codes we have */ });
  }

  show();
  setInterval(show, 1000);
  setInterval(refill, 5 * 60 * 1000);
  window.addEventListener("online", refill);
})();
