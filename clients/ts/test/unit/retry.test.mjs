import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { backoffMs, classify, retryHintMs } from "../../dist/index.js";

const policy = { initialMs: 100, maxMs: 10_000, maxRetryAfterMs: 60_000 };

test("backoff: doubles per attempt, equal jitter in [d/2, d), capped at maxMs", () => {
  for (const [attempt, d] of [[1, 100], [2, 200], [3, 400], [7, 6400], [8, 10_000], [50, 10_000]]) {
    assert.equal(backoffMs(attempt, policy, () => 0), d / 2, `attempt ${attempt} low`);
    assert.ok(Math.abs(backoffMs(attempt, policy, () => 0.999999) - d) < 0.01, `attempt ${attempt} high`);
  }
});

test("backoff: the server's retry hint is a floor, jittered up by at most 10%, capped", () => {
  assert.equal(backoffMs(1, policy, () => 0, 1500), 1500);
  assert.ok(Math.abs(backoffMs(1, policy, () => 0.999999, 1500) - 1650) < 0.01);
  // A hint shorter than the backoff does not shorten it.
  assert.equal(backoffMs(8, policy, () => 0, 10), 5000);
  // An absurd hint is cut to maxRetryAfterMs.
  assert.equal(backoffMs(1, policy, () => 0, 3_600_000), 60_000);
});

test("classify: UNAVAILABLE, RESOURCE_EXHAUSTED (with a hint), DEADLINE_EXCEEDED, ABORTED and network failures are retried; the rest are not", () => {
  const retried = [Code.Unavailable, Code.ResourceExhausted, Code.DeadlineExceeded, Code.Aborted];
  const hint = new Headers({ "retry-after-ms": "100" });
  for (const code of Object.values(Code).filter((c) => typeof c === "number")) {
    const c = classify(new ConnectError("x", code, hint));
    assert.equal(c.retryable, retried.includes(code), `code ${Code[code]}`);
  }
  const full = classify(new ConnectError("x", Code.ResourceExhausted, hint));
  assert.deepEqual([full.code, full.retryAfterMs], ["resource_exhausted", 100]);
  // Without a hint, RESOURCE_EXHAUSTED is event-grpc's "request too large": not retried.
  assert.equal(classify(new ConnectError("too large", Code.ResourceExhausted)).retryable, false);
  const net = classify(new ConnectError("fetch failed", Code.Unknown, undefined, undefined, new TypeError("fetch failed")));
  assert.deepEqual([net.retryable, net.code], [true, "network"]);
  assert.equal(classify(new ConnectError("boom", Code.Unknown)).retryable, false);
  assert.equal(classify(new TypeError("Failed to fetch")).retryable, true);
  assert.equal(classify(new Error("bug")).retryable, false);
});

test("retry hint: retry-after-ms (header or trailer), Retry-After seconds or date, google.rpc.RetryInfo", () => {
  const err = (h, details) => new ConnectError("full", Code.ResourceExhausted, new Headers(h), details);
  assert.equal(retryHintMs(err({ "retry-after-ms": "1250" })), 1250);
  assert.equal(retryHintMs(err({ "Retry-After": "3" })), 3000);
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(retryHintMs(err({ "retry-after": "Thu, 01 Jan 2026 00:00:05 GMT" }), now), 5000);
  assert.equal(retryHintMs(err({ "retry-after-ms": "soon" })), undefined);
  assert.equal(retryHintMs(err({})), undefined);
  // RetryInfo{retry_delay: Duration{seconds: 2, nanos: 500_000_000}}
  const dur = [0x08, 0x02, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01];
  const info = new Uint8Array([0x0a, dur.length, ...dur]);
  assert.equal(retryHintMs(err({}, [{ type: "google.rpc.RetryInfo", value: info }])), 2500);
  assert.equal(retryHintMs(err({}, [{ type: "google.rpc.RetryInfo", value: new Uint8Array([0x0a, 0x05, 0xff]) }])), undefined);
});
