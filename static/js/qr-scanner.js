/* The camera QR scanner shared by the hand-over desk (scan.js), the organiser's panel (activity-organiser.js) and
 * the check-in page (activity-scan.js). Only where the browser detects QR codes itself (BarcodeDetector with
 * "qr_code") and has a camera: everywhere else the scanner stays hidden and the page is used without it.
 *
 * CitizenGridQr.scanner({ panel, startButton, stopButton, video, say, read, found, denied }) resolves to true once
 * the scanner is shown. `read(text)` turns a code's text into the value the page wants, or null for any other
 * code; `found(value)` is called once, after the camera has stopped; `say(name)` tells the page what to show
 * ("starting", "looking", "other", "denied"). The camera never stays on behind another page or tab.
 *
 * The markup is templates/_macros/qr_scanner.html's: CitizenGridQr.parts(prefix) finds its panel, buttons, video
 * and status line by their ids (prefix + "scanner", "scan-start", "scan-stop", "scan-video", "scan-status").
 */
((root) => {
  "use strict";
  const AGAIN_MS = 250; // between two looks at the picture
  const AFTER_ERROR_MS = 500;

  const supported = () => "BarcodeDetector" in root && Boolean(
    root.navigator && root.navigator.mediaDevices && root.navigator.mediaDevices.getUserMedia
  );

  async function scanner({ panel, startButton, stopButton, video, say, read, found, denied }) {
    if (!supported()) return false;
    let formats = [];
    try {
      formats = await root.BarcodeDetector.getSupportedFormats();
    } catch {
      return false; // no detector after all: the page is used without the camera
    }
    if (!formats.includes("qr_code")) return false;
    const detector = new root.BarcodeDetector({ formats: ["qr_code"] });
    let stream = null;
    let timer = null;
    let busy = false;

    const stop = () => {
      clearTimeout(timer);
      timer = null;
      if (stream) stream.getTracks().forEach((track) => track.stop());
      stream = null;
      video.srcObject = null;
      video.hidden = true;
      if (stopButton) stopButton.hidden = true;
      startButton.hidden = false;
    };

    const look = async () => {
      if (!stream || busy) return;
      busy = true;
      let codes;
      try {
        codes = await detector.detect(video);
      } catch {
        codes = null;
      }
      busy = false;
      if (!stream) return;
      if (codes === null) {
        timer = setTimeout(look, AFTER_ERROR_MS);
        return;
      }
      for (const code of codes) {
        const value = read(String(code.rawValue || ""));
        if (value !== null && value !== undefined) {
          stop();
          found(value);
          return;
        }
      }
      if (codes.length) say("other");
      timer = setTimeout(look, AGAIN_MS);
    };

    const start = async () => {
      say("starting");
      try {
        stream = await root.navigator.mediaDevices.getUserMedia({
          video: { facingMode: { ideal: "environment" } },
          audio: false,
        });
        video.srcObject = stream;
        video.hidden = false;
        startButton.hidden = true;
        if (stopButton) stopButton.hidden = false;
        await video.play();
      } catch {
        stop();
        say("denied");
        if (denied) denied();
        return;
      }
      say("looking");
      look();
    };

    startButton.addEventListener("click", start);
    if (stopButton) stopButton.addEventListener("click", stop);
    root.addEventListener("pagehide", stop);
    root.document.addEventListener("visibilitychange", () => { if (root.document.hidden) stop(); });
    root.document.addEventListener("keydown", (event) => { if (event.key === "Escape" && stream) stop(); });
    panel.hidden = false;
    return true;
  }

  // The elements of the macro's markup, ready to spread into scanner({ ...parts(prefix), say, read, found }).
  const parts = (prefix, doc = root.document) => ({
    panel: doc.getElementById(`${prefix}scanner`),
    startButton: doc.getElementById(`${prefix}scan-start`),
    stopButton: doc.getElementById(`${prefix}scan-stop`),
    video: doc.getElementById(`${prefix}scan-video`),
    status: doc.getElementById(`${prefix}scan-status`),
  });

  const api = { scanner, supported, parts };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.CitizenGridQr = api;
})(typeof self !== "undefined" ? self : globalThis);
