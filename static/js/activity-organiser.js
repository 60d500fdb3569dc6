/* The organiser's panel: read a resident's personal code (their profile or printed card) with the camera
 * (qr-scanner.js) and confirm. Where the browser cannot scan, the code or the phone number is typed. The page
 * works without this file; messages come from data- attributes of #who-scanner.
 */
(() => {
  "use strict";
  if (!window.CitizenGridQr) return;
  const parts = window.CitizenGridQr.parts("who-"); // templates/_macros/qr_scanner.html
  const { panel, status } = parts;
  if (!panel) return;
  const CODE = /^CGP\d{1,10}-[A-Z2-7]{10}$/i;
  const say = (name) => { status.textContent = panel.getAttribute(`data-msg-${name}`) || ""; };

  window.CitizenGridQr.scanner({
    ...parts,
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
