/* Handing over store orders: read the resident's QR code with the rear camera (qr-scanner.js) and fill in the
 * pickup code. Everywhere the browser cannot scan, the scanner stays hidden and the code is typed. The page works
 * without this file. No inline script, no eval: the messages come from data- attributes of the scanner's panel
 * (#scanner, templates/_macros/qr_scanner.html).
 */
(() => {
  "use strict";
  const input = document.getElementById("pickup-code");
  const form = document.getElementById("code-form");
  if (!input || !form || !window.CitizenGridQr) return;
  const parts = window.CitizenGridQr.parts(""); // templates/_macros/qr_scanner.html
  const { panel, status, stopButton } = parts;
  if (!panel) return;
  const say = (name) => { status.textContent = panel.getAttribute(`data-msg-${name}`) || ""; };

  // The pickup code is 8 digits; a QR code may hold just them or a link or text containing them.
  const pickupCode = (text) => {
    const digits = text.replace(/\s+/g, "");
    if (/^\d{8}$/.test(digits)) return digits;
    const match = /(?:^|\D)(\d{8})(?:\D|$)/.exec(text);
    return match ? match[1] : null;
  };

  window.CitizenGridQr.scanner({
    ...parts,
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
