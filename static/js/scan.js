/* Handing over store orders: read the resident's QR code with the rear camera (qr-scanner.js) and fill in the
 * pickup code. Everywhere the browser cannot scan, the scanner stays hidden and the code is typed. The page works
 * without this file. No inline script, no eval: the messages come from data- attributes of #scanner.
 */
(() => {
  "use strict";
  const scanner = document.getElementById("scanner");
  const input = document.getElementById("pickup-code");
  const form = document.getElementById("code-form");
  if (!scanner || !input || !form || !window.CitizenGridQr) return;
  const status = document.getElementById("scan-status");
  const stopButton = document.getElementById("scan-stop");
  const say = (name) => { status.textContent = scanner.getAttribute(`data-msg-${name}`) || ""; };

  // The pickup code is 8 digits; a QR code may hold just them or a link or text containing them.
  const pickupCode = (text) => {
    const digits = text.replace(/\s+/g, "");
    if (/^\d{8}$/.test(digits)) return digits;
    const match = /(?:^|\D)(\d{8})(?:\D|$)/.exec(text);
    return match ? match[1] : null;
  };

  window.CitizenGridQr.scanner({
    panel: scanner,
    startButton: document.getElementById("scan-start"),
    stopButton,
    video: document.getElementById("scan-video"),
    say,
    read: pickupCode,
    found: (code) => {
      input.value = code;
      say("found");
      input.focus();
      form.requestSubmit();
    },
    denied: () => input.focus(),
  }).then((shown) => {
    if (!shown) return;
    stopButton.addEventListener("click", () => {
      status.textContent = "";
      input.focus();
    });
  });
})();
