/* The organiser's check-in screen: show the code of the current 30-second window.
 *
 * The page carries 30 minutes of signed codes (drawn by the server as SVG); the script swaps them as time passes
 * and fetches more while online, so the screen keeps working for a while without a network. No inline script:
 * the codes come from the JSON block #act-codes.
 */
(() => {
  "use strict";
  const screen = document.getElementById("act-screen");
  const box = document.getElementById("act-screen-qr");
  const status = document.getElementById("act-screen-status");
  const data = document.getElementById("act-codes");
  if (!screen || !box || !data) return;
  let codes = JSON.parse(data.textContent);
  const windowMs = Number(screen.getAttribute("data-window-ms")) || 30000;
  let shown = null;

  const current = (now) => {
    for (let i = codes.length - 1; i >= 0; i--) {
      if (codes[i].from <= now && now < codes[i].from + windowMs) return codes[i];
    }
    return null;
  };

  const show = () => {
    const code = current(Date.now());
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
  };

  const refill = () => {
    if (!navigator.onLine) return;
    fetch(screen.getAttribute("data-codes-url"), { credentials: "same-origin", cache: "no-store" })
      .then((response) => (response.ok ? response.json() : null))
      .then((body) => { if (body && body.codes && body.codes.length) codes = body.codes; })
      .catch(() => { /* offline: keep the codes we have */ });
  };

  show();
  setInterval(show, 1000);
  setInterval(refill, 5 * 60 * 1000);
  window.addEventListener("online", refill);
})();
