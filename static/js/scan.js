/* Handing over store orders: read the resident's QR code with the rear camera and fill in the pickup code.
 *
 * Only where the browser can detect QR codes itself (BarcodeDetector with "qr_code") and has a camera; everywhere
 * else the scanner stays hidden and the code is typed. The page works without this file. No inline script, no
 * eval: the messages come from data- attributes of #scanner.
 */
(function () {
  "use strict";
  var scanner = document.getElementById("scanner");
  var input = document.getElementById("pickup-code");
  var form = document.getElementById("code-form");
  if (!scanner || !input || !form) return;
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;

  var startButton = document.getElementById("scan-start");
  var stopButton = document.getElementById("scan-stop");
  var video = document.getElementById("scan-video");
  var status = document.getElementById("scan-status");
  var detector = null;
  var stream = null;
  var timer = null;
  var busy = false;

  function say(name) {
    status.textContent = scanner.getAttribute("data-msg-" + name) || "";
  }

  // The pickup code is 8 digits; a QR code may hold just them or a link or text containing them.
  function pickupCode(text) {
    var digits = String(text || "").replace(/\s+/g, "");
    if (/^\d{8}$/.test(digits)) return digits;
    var match = /(?:^|\D)(\d{8})(?:\D|$)/.exec(String(text || ""));
    return match ? match[1] : null;
  }

  function stop() {
    clearTimeout(timer);
    timer = null;
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
    video.srcObject = null;
    video.hidden = true;
    stopButton.hidden = true;
    startButton.hidden = false;
  }

  function submit() {
    if (typeof form.requestSubmit === "function") form.requestSubmit();
    else form.submit();
  }

  function look() {
    if (!stream || busy) return;
    busy = true;
    detector.detect(video).then(function (codes) {
      busy = false;
      if (!stream) return;
      var seenOther = false;
      for (var i = 0; i < codes.length; i++) {
        var code = pickupCode(codes[i].rawValue);
        if (code) {
          input.value = code;
          say("found");
          stop();
          input.focus();
          submit();
          return;
        }
        seenOther = true;
      }
      if (seenOther) say("other");
      timer = setTimeout(look, 250);
    }, function () {
      busy = false;
      if (stream) timer = setTimeout(look, 500);
    });
  }

  function start() {
    say("starting");
    navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false })
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        video.hidden = false;
        startButton.hidden = true;
        stopButton.hidden = false;
        return video.play();
      })
      .then(function () {
        say("looking");
        look();
      })["catch"](function () {
        stop();
        say("denied");
        input.focus();
      });
  }

  window.BarcodeDetector.getSupportedFormats().then(function (formats) {
    if (formats.indexOf("qr_code") === -1) return;
    detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    scanner.hidden = false;
    startButton.addEventListener("click", start);
    stopButton.addEventListener("click", function () {
      stop();
      status.textContent = "";
      input.focus();
    });
    // Never leave the camera on behind another page or tab.
    window.addEventListener("pagehide", stop);
    document.addEventListener("visibilitychange", function () { if (document.hidden) stop(); });
    // After an htmx lookup the page stays; a new scan starts from the button.
    document.addEventListener("keydown", function (event) { if (event.key === "Escape" && stream) stop(); });
  }, function () { /* no detector: type the code */ });
})();
