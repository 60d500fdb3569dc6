// Unit tests for static/js/qr-scanner.js, the camera loop of the hand-over desk, the organiser's panel and the
// check-in page, with a fake camera and a fake BarcodeDetector (run by `make test` with Node's test runner).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { scanner, parts: partsOf } = require("../../static/js/qr-scanner.js");

const tick = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Element extends EventTarget {
  constructor(hidden = false) {
    super();
    this.hidden = hidden;
  }
  click() { this.dispatchEvent(new Event("click")); }
}

/** A browser with a camera whose picture holds `pictures` in turn (then nothing), or no camera at all. */
function browser({ pictures = [], camera = true, formats = ["qr_code"] } = {}) {
  const tracks = [];
  const env = new EventTarget();
  env.document = new EventTarget();
  env.document.hidden = false;
  env.navigator = {
    mediaDevices: {
      getUserMedia: async () => {
        if (!camera) throw new Error("NotAllowedError");
        const track = { stopped: false, stop() { this.stopped = true; } };
        tracks.push(track);
        return { getTracks: () => [track] };
      },
    },
  };
  env.BarcodeDetector = class {
    static async getSupportedFormats() { return formats; }
    async detect() { return (pictures.shift() || []).map((rawValue) => ({ rawValue })); }
  };
  return { env, tracks };
}

function page() {
  const said = [];
  const found = [];
  const parts = {
    panel: new Element(true),
    startButton: new Element(),
    stopButton: new Element(true),
    video: Object.assign(new Element(true), { srcObject: null, play: async () => {} }),
    say: (name) => said.push(name),
    read: (text) => (/^\d{8}$/.test(text) ? text : null),
    found: (value) => found.push(value),
  };
  return { parts, said, found };
}

async function withBrowser(fake, run) {
  const saved = {};
  for (const name of ["BarcodeDetector", "navigator", "document", "addEventListener"]) {
    saved[name] = Object.getOwnPropertyDescriptor(globalThis, name);
  }
  Object.defineProperty(globalThis, "navigator", { value: fake.env.navigator, configurable: true, writable: true });
  globalThis.BarcodeDetector = fake.env.BarcodeDetector;
  globalThis.document = fake.env.document;
  globalThis.addEventListener = fake.env.addEventListener.bind(fake.env);
  try {
    await run();
  } finally {
    for (const [name, descriptor] of Object.entries(saved)) {
      if (descriptor) Object.defineProperty(globalThis, name, descriptor);
      else delete globalThis[name];
    }
  }
}

test("a code the page wants is read once, after other codes, and the camera is stopped", async () => {
  const fake = browser({ pictures: [[], ["https://example.com/"], ["12345678", "87654321"]] });
  await withBrowser(fake, async () => {
    const { parts, said, found } = page();
    assert.equal(await scanner(parts), true);
    assert.equal(parts.panel.hidden, false);
    parts.startButton.click();
    await tick(700);
    assert.deepEqual(found, ["12345678"]);
    assert.deepEqual(said, ["starting", "looking", "other"]);
    assert.equal(fake.tracks.length, 1);
    assert.ok(fake.tracks[0].stopped);
    assert.equal(parts.video.hidden, true);
    assert.equal(parts.video.srcObject, null);
    assert.equal(parts.startButton.hidden, false);
    assert.equal(parts.stopButton.hidden, true);
  });
});

test("leaving the page or pressing Stop turns the camera off and stops looking", async () => {
  const fake = browser();
  await withBrowser(fake, async () => {
    const { parts, found } = page();
    await scanner(parts);
    parts.startButton.click();
    await tick(10);
    assert.equal(parts.stopButton.hidden, false);
    assert.equal(parts.video.hidden, false);
    parts.stopButton.click();
    assert.ok(fake.tracks[0].stopped);
    parts.startButton.click();
    await tick(10);
    fake.env.dispatchEvent(new Event("pagehide"));
    assert.ok(fake.tracks[1].stopped);
    fake.env.BarcodeDetector.prototype.detect = async () => [{ rawValue: "12345678" }];
    await tick(300);
    assert.deepEqual(found, []); // no look after the camera stopped
  });
});

test("a refused camera says so and hands back to typing", async () => {
  const fake = browser({ camera: false });
  await withBrowser(fake, async () => {
    const { parts, said } = page();
    let denied = 0;
    await scanner({ ...parts, denied: () => { denied += 1; } });
    parts.startButton.click();
    await tick(10);
    assert.deepEqual(said, ["starting", "denied"]);
    assert.equal(denied, 1);
    assert.equal(parts.startButton.hidden, false);
  });
});

test("without QR detection the scanner stays hidden", async () => {
  await withBrowser(browser({ formats: ["ean_13"] }), async () => {
    const { parts } = page();
    assert.equal(await scanner(parts), false);
    assert.equal(parts.panel.hidden, true);
  });
  const noDetector = browser();
  delete noDetector.env.BarcodeDetector;
  await withBrowser(noDetector, async () => {
    delete globalThis.BarcodeDetector;
    const { parts } = page();
    assert.equal(await scanner(parts), false);
    assert.equal(parts.panel.hidden, true);
  });
});

test("parts finds the macro's elements by their prefix (templates/_macros/qr_scanner.html)", () => {
  const ids = ["who-scanner", "who-scan-start", "who-scan-stop", "who-scan-video", "who-scan-status", "scanner"];
  const doc = { getElementById: (id) => (ids.includes(id) ? { id } : null) };
  const found = partsOf("who-", doc);
  assert.deepEqual(
    Object.fromEntries(Object.entries(found).map(([name, element]) => [name, element && element.id])),
    {
      panel: "who-scanner",
      startButton: "who-scan-start",
      stopButton: "who-scan-stop",
      video: "who-scan-video",
      status: "who-scan-status",
    },
  );
  assert.equal(partsOf("", doc).panel.id, "scanner");
  assert.equal(partsOf("act-", doc).panel, null);
});
