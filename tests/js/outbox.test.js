// Unit tests for the pure parts of static/js/outbox.js (run by `make test` with Node's test runner).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const outbox = require("../../static/js/outbox.js");

test("server answers are classified so that nothing is dropped", () => {
  assert.equal(outbox.classify(201, { id: 1 }), "done");
  assert.equal(outbox.classify(200, { id: 1 }), "done"); // a replay of the same client_id
  assert.equal(outbox.classify(401, { error: { code: "unauthorized" } }), "login");
  assert.equal(outbox.classify(400, { error: { code: "csrf_failed" } }), "csrf");
  for (const status of [0, 408, 409, 425, 429, 500, 502, 503, 504]) {
    assert.equal(outbox.classify(status, null), "retry", String(status));
  }
  for (const status of [400, 403, 413, 415, 422]) {
    assert.equal(outbox.classify(status, { error: { code: "invalid" } }), "attention", String(status));
  }
});

test("backoff doubles from 30 seconds, is capped at 6 hours and adds at most 20 % jitter", () => {
  assert.equal(outbox.backoff(1, 0), 30000);
  assert.equal(outbox.backoff(2, 0), 60000);
  assert.equal(outbox.backoff(5, 0), 480000);
  assert.equal(outbox.backoff(30, 0), 6 * 3600 * 1000);
  assert.equal(outbox.backoff(1, 1), 36000);
  for (let i = 0; i < 100; i++) {
    const delay = outbox.backoff(3);
    assert.ok(delay >= 120000 && delay <= 144000, String(delay));
  }
});

test("a send pass takes due items oldest first and leaves refused ones alone", () => {
  const now = 1_000_000;
  const items = [
    { client_id: "c", created_at: 3, state: "waiting", next_try_at: 0 },
    { client_id: "a", created_at: 1, state: "sending" }, // left by a closed tab
    { client_id: "b", created_at: 2, state: "waiting", next_try_at: now + 5000 },
    { client_id: "d", created_at: 0, state: "attention" },
    { client_id: "e", created_at: 4, state: "login" },
  ];
  assert.deepEqual(outbox.due(items, now, false).map((i) => i.client_id), ["a", "c", "e"]);
  assert.deepEqual(outbox.due(items, now, true).map((i) => i.client_id), ["a", "b", "c", "e"]);
});
