/* The organiser's panel: read a resident's personal code (their profile or printed card) with the camera and
 * confirm, where the browser can detect QR codes (BarcodeDetector). Everywhere else the code or the phone number
 * is typed. The page works without this file; messages come from data- attributes of #who-scanner.
 */
(function () {
  "use strict";
  var scanner = document.getElementById("who-scanner");
  if (!scanner || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  var start = document.getElementById("who-scan-start");
  var video = document.getElementById("who-scan-video");
  var status = document.getElementById("who-scan-status");
  var CODE = /^CGP\d{1,10}-[A-Z2-7]{10}$/i;
  var stream = null;
  var detector = null;

  function say(name) { status.textContent = scanner.getAttribute("data-msg-" + name) || ""; }

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
        var value = String(codes[i].rawValue || "").trim();
        if (CODE.test(value)) {
          stop();
          var input = document.getElementById("who"); // the panel is swapped by htmx: look it up each time
          var form = input && input.form;
          if (!form) return;
          input.value = value;
          say("found");
          if (typeof form.requestSubmit === "function") form.requestSubmit(); else form.submit();
          return;
        }
        say("other");
      }
      setTimeout(look, 250);
    }, function () { setTimeout(look, 500); });
  }

  window.BarcodeDetector.getSupportedFormats().then(function (formats) {
    if (formats.indexOf("qr_code") === -1) return;
    detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    scanner.hidden = false;
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
  }, function () { /* no detector: type the code or the phone number */ });
})();
