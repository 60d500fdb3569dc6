/* The organiser's panel: read a resident's personal code (their profile or printed card) with the camera
 * (qr-scanner.js) and confirm. Where the browser cannot scan, the code or the phone number is typed. The page
 * works without this file; messages come from data- attributes of #who-scanner.
 */
(() => {
  "use strict";
  const scanner = document.getElementById("who-scanner");
  if (!scanner || !window.CitizenGridQr) return;
  const status = document.getElementById("who-scan-status");
  const CODE = /^CGP\d{1,10}-[A-Z2-7]{10}$/i;
  const say = (name) => { status.textContent = scanner.getAttribute(`data-msg-${name}`) || ""; };

  window.CitizenGridQr.scanner({
    panel: scanner,
    startButton: document.getElementById("who-scan-start"),
    video: document.getElementById("who-scan-video"),
    say,
    read: (text) => (CODE.test(text.trim()) ? text.trim() : null),
    found: (code) => {
      const input = document.getElementById("who"); // the panel is swapped by htmx: look it up each time
      if (!input || !input.form) return;
      input.value = code;
      say("found");
      input.form.requestSubmit();
    },
  });
})();
