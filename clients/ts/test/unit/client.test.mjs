import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createClient,
  EventsSchema,
  ResponseSchema,
  SDK_VERSION,
  Status,
  uuidv7Time,
} from "../../dist/index.js";
import { base, fakePage, fakeSender, okResponse, recordingSleep, tick } from "./helpers.mjs";

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const unavailable = (meta) => new ConnectError("broker down", Code.Unavailable, meta && new Headers(meta));
const exhausted = (meta) => new ConnectError("ingest queue full", Code.ResourceExhausted, meta && new Headers(meta));

/** Checks tracked = accepted + rejected + dropped + held. */
function balanced(s) {
  assert.equal(s.tracked, s.accepted + s.rejected + s.dropped + s.heldEvents, JSON.stringify(s));
}

test("batches by count: 25 events with maxBatchEvents 10 go as 10, 10, 5, in order", async () => {
  const sender = fakeSender();
  const c = createClient(base({ sender, maxBatchEvents: 10, flushIntervalMs: 60_000 }));
  const ids = [];
  for (let i = 0; i < 25; i++) ids.push(c.track("testEvent", { name: "n", number: BigInt(i) }));
  await c.flush();
  assert.deepEqual(sender.calls.map((x) => x.ids.length), [10, 10, 5]);
  assert.deepEqual(sender.calls.flatMap((x) => x.ids), ids);
  const s = await c.close();
  assert.equal(s.accepted, 25);
  balanced(s);
});

test("a full batch leaves at once, without waiting for the interval", async () => {
  const sender = fakeSender();
  const c = createClient(base({ sender, maxBatchEvents: 5, flushIntervalMs: 60_000 }));
  for (let i = 0; i < 5; i++) c.track("testEvent", { name: "n" });
  await tick(5);
  assert.equal(sender.calls.length, 1);
  c.track("testEvent", { name: "n" }); // the next one waits for the interval
  await tick(5);
  assert.equal(sender.calls.length, 1);
  await c.close();
  assert.equal(sender.calls.length, 2);
});

test("batches by bytes: every request's encoded body stays within maxBatchBytes", async () => {
  const sender = fakeSender();
  const maxBatchBytes = 2000;
  const c = createClient(base({ sender, maxBatchEvents: 1000, maxBatchBytes, flushIntervalMs: 60_000, header: { userId: "u-1", sessionId: "s-1" } }));
  for (let i = 0; i < 200; i++) c.track("testEvent", { name: "x".repeat(50 + (i % 7) * 20), value: "v" });
  await c.flush();
  assert.ok(sender.calls.length > 5, `${sender.calls.length} requests`);
  let total = 0;
  for (const { req } of sender.calls) {
    const n = req.bodyBytes;
    assert.ok(n <= maxBatchBytes, `request of ${n} bytes`);
    assert.ok(n > maxBatchBytes - 200, `request of ${n} bytes is not full`); // the next event (≤ ~190 B) did not fit
    total += req.events.length;
  }
  // (the last request may be short)
  assert.equal(total, 200);
  await c.close();
});

test("flush interval: a few events leave together after flushIntervalMs", async () => {
  const sender = fakeSender();
  const c = createClient(base({ sender, flushIntervalMs: 40 }));
  c.track("testEvent", { name: "a" });
  c.track("testEvent", { name: "b" });
  c.track("testEvent", { name: "c" });
  await tick(10);
  assert.equal(sender.calls.length, 0);
  await tick(80);
  assert.deepEqual(sender.calls.map((x) => x.ids.length), [3]);
  await c.close();
});

test("ids and timestamps are minted at track time and kept across retries", async () => {
  const sleep = recordingSleep();
  const sender = fakeSender((req, _o, n) => {
    if (n <= 2) throw unavailable();
    return okResponse(req);
  });
  const c = createClient(base({ sender, sleep, flushIntervalMs: 60_000 }));
  const before = Date.now();
  const id = c.track("pageOpenedEvent", { pageName: "home" });
  const given = c.track({ id: "my-own-id", timestamp: "1718000000123", eventOf: { case: "testEvent", value: { name: "t" } } });
  assert.match(id, V7);
  assert.equal(given, "my-own-id");
  await c.flush();
  assert.equal(sender.calls.length, 3);
  for (const call of sender.calls) assert.deepEqual(call.ids, [id, "my-own-id"]);
  const ts = sender.calls.map((x) => x.req.events[0].timestamp);
  assert.equal(new Set(ts).size, 1, "the timestamp does not change on retry");
  assert.ok(Number(ts[0]) >= before && Number(ts[0]) <= Date.now());
  assert.equal(Number(ts[0]), uuidv7Time(id), "id and timestamp name the same millisecond");
  assert.equal(sender.calls[0].req.events[1].timestamp, "1718000000123");
  const s = await c.close();
  assert.deepEqual([s.accepted, s.retries, s.requests], [2, 2, 3]);
});

test("retries UNAVAILABLE and RESOURCE_EXHAUSTED with exponential backoff, and honours the retry hint", async () => {
  const sleep = recordingSleep();
  const errs = [unavailable(), unavailable(), exhausted({ "retry-after-ms": "7000" }), unavailable()];
  const sender = fakeSender((req, _o, n) => {
    if (n <= errs.length) throw errs[n - 1];
    return okResponse(req);
  });
  const c = createClient(base({ sender, sleep, random: () => 0, initialBackoffMs: 100, maxBackoffMs: 1000, flushIntervalMs: 60_000 }));
  c.track("testEvent", { name: "r" });
  await c.flush();
  // equal jitter with random()=0: half of 100, 200, (hint 7000), 800
  assert.deepEqual(sleep.delays, [50, 100, 7000, 400]);
  const s = await c.close();
  assert.deepEqual([s.accepted, s.retries, s.rejected, s.dropped], [1, 4, 0, 0]);
  assert.match(s.lastError, /unavailable/);
});

test("per-event rejections are reported to onRejected and never retried; the rest are accepted", async () => {
  const rejected = [];
  const sender = fakeSender((req) =>
    create(ResponseSchema, {
      status: Status.PARTIAL,
      results: req.events.map((e, i) => ({ index: i, eventId: e.id, accepted: i !== 1, reason: i === 1 ? "timestamp too old" : "" })),
    }),
  );
  const c = createClient(base({ sender, onRejected: (rs) => rejected.push(...rs), flushIntervalMs: 60_000 }));
  const ids = [0, 1, 2].map((i) => c.track("testEvent", { name: `e${i}` }));
  await c.flush();
  await tick(20);
  assert.equal(sender.calls.length, 1, "no retry");
  assert.deepEqual(rejected.map((r) => [r.id, r.reason, r.type]), [[ids[1], "timestamp too old", "testEvent"]]);
  const s = await c.close();
  assert.deepEqual([s.accepted, s.rejected, s.retries], [2, 1, 0]);
  balanced(s);
});

test("a permanent error (INVALID_ARGUMENT, UNAUTHENTICATED) rejects the batch once, with the reason, no retry", async () => {
  for (const code of [Code.InvalidArgument, Code.Unauthenticated, Code.PermissionDenied]) {
    const rejected = [];
    const sender = fakeSender(() => {
      throw new ConnectError("nope", code);
    });
    const c = createClient(base({ sender, onRejected: (rs) => rejected.push(...rs), flushIntervalMs: 60_000 }));
    c.track("testEvent", { name: "a" });
    c.track("testEvent", { name: "b" });
    const s = await c.close();
    assert.equal(sender.calls.length, 1, Code[code]);
    assert.equal(rejected.length, 2);
    assert.match(rejected[0].reason, /nope/);
    assert.deepEqual([s.rejected, s.retries], [2, 0]);
  }
});

test("results missing from a non-OK answer are sent again, not taken as accepted", async () => {
  const sender = fakeSender((req, _o, n) => (n === 1 ? create(ResponseSchema, { status: Status.REJECTED, results: [] }) : okResponse(req)));
  const c = createClient(base({ sender, sleep: recordingSleep() }));
  const id = c.track("testEvent", { name: "a" });
  const s = await c.close();
  assert.deepEqual(sender.calls.map((x) => x.ids), [[id], [id]]);
  assert.deepEqual([s.accepted, s.rejected, s.retries], [1, 0, 1]);
});

test("an older server without a code: per-event UNAVAILABLE: / RESOURCE_EXHAUSTED: reasons (valid, not durable yet) are retried, only those events", async () => {
  const rejected = [];
  const sleep = recordingSleep();
  const sender = fakeSender((req, _o, n) =>
    create(ResponseSchema, {
      status: n === 1 ? Status.PARTIAL : Status.OK,
      results: req.events.map((e, i) => {
        if (n === 1 && i === 1) return { index: i, eventId: e.id, accepted: false, reason: "UNAVAILABLE: broker: connection lost" };
        if (n === 1 && i === 2) return { index: i, eventId: e.id, accepted: false, reason: "RESOURCE_EXHAUSTED: stream full" };
        if (n === 1 && i === 3) return { index: i, eventId: e.id, accepted: false, reason: "event has no eventOf set" };
        return { index: i, eventId: e.id, accepted: true };
      }),
    }),
  );
  const c = createClient(base({ sender, sleep, random: () => 0, initialBackoffMs: 100, onRejected: (rs) => rejected.push(...rs) }));
  const ids = [0, 1, 2, 3].map((i) => c.track("testEvent", { name: `e${i}` }));
  const s = await c.close();
  assert.deepEqual(sender.calls.map((x) => x.ids), [ids, [ids[1], ids[2]]]);
  assert.deepEqual(rejected.map((r) => r.id), [ids[3]]);
  assert.deepEqual(sleep.delays, [50]);
  assert.deepEqual([s.accepted, s.rejected, s.retries], [3, 1, 1]);
  balanced(s);
});

test("RESOURCE_EXHAUSTED without a retry hint (request too large) is not retried", async () => {
  const rejected = [];
  const sender = fakeSender(() => {
    throw exhausted();
  });
  const c = createClient(base({ sender, sleep: recordingSleep(), onRejected: (rs) => rejected.push(...rs) }));
  c.track("testEvent", { name: "a" });
  const s = await c.close();
  assert.equal(sender.calls.length, 1);
  assert.deepEqual([s.rejected, s.retries], [1, 0]);
  assert.match(rejected[0].reason, /resource_exhausted/);
});

test("bounded queue: events beyond maxQueueEvents are dropped, counted and reported, never silently", async () => {
  let release;
  const gate = new Promise((r) => (release = r));
  const sender = fakeSender(async (req) => {
    await gate;
    return okResponse(req);
  });
  const drops = [];
  const c = createClient(base({ sender, maxQueueEvents: 5, maxBatchEvents: 2, flushIntervalMs: 60_000, onDropped: (d) => drops.push(d) }));
  const ids = [];
  for (let i = 0; i < 8; i++) ids.push(c.track("testEvent", { name: `e${i}` }));
  // 5 held (2 in flight + 3 queued), 3 dropped
  assert.equal(c.stats().heldEvents, 5);
  assert.deepEqual(drops.map((d) => [d.reason, d.events[0].id]), ids.slice(5).map((id) => ["queue_full", id]));
  release();
  const s = await c.close();
  assert.deepEqual([s.accepted, s.dropped, s.droppedByReason.queue_full], [5, 3, 3]);
  balanced(s);
});

test("bounded queue in bytes: maxQueueBytes holds, room comes back after delivery", async () => {
  const drops = [];
  let ok = false;
  const sender = fakeSender((req) => {
    if (!ok) throw unavailable();
    return okResponse(req);
  });
  const c = createClient(base({ sender, sleep: async () => tick(1), maxQueueBytes: 1000, flushIntervalMs: 60_000, onDropped: (d) => drops.push(d) }));
  let n = 0;
  while (drops.length === 0) {
    c.track("testEvent", { name: "y".repeat(100) });
    n++;
  }
  const held = c.stats().heldBytes;
  assert.ok(held <= 1000 && held > 1000 - 120, `held ${held} bytes`);
  assert.ok(n > 5 && n < 12, `${n} tracked`);
  void c.flush();
  await tick(5);
  ok = true;
  await c.flush();
  c.track("testEvent", { name: "after" });
  const s = await c.close();
  assert.deepEqual([s.accepted, s.dropped], [n, 1]);
  balanced(s);
});

test("events too large for any batch, or with no payload, are rejected at track", () => {
  const rejected = [];
  const sender = fakeSender();
  const c = createClient(base({ sender, maxEventBytes: 500, onRejected: (rs) => rejected.push(...rs) }));
  c.track("testEvent", { name: "z".repeat(600) });
  c.track({});
  assert.deepEqual(rejected.map((r) => r.reason.replace(/\d+/g, "N")), ["event is N bytes, over the limit of N", "event has no eventOf set"]);
  const s = c.stats();
  assert.deepEqual([s.tracked, s.rejected, s.heldEvents], [2, 2, 0]);
});

test("maxAttempts: a batch that keeps failing is dropped as retries_exhausted, with the error", async () => {
  const drops = [];
  const sender = fakeSender(() => {
    throw unavailable();
  });
  const c = createClient(base({ sender, sleep: recordingSleep(), maxAttempts: 3, onDropped: (d) => drops.push(d) }));
  c.track("testEvent", { name: "x" });
  const s = await c.close();
  assert.equal(sender.calls.length, 3);
  assert.equal(drops[0].reason, "retries_exhausted");
  assert.match(String(drops[0].error), /broker down/);
  assert.equal(s.droppedByReason.retries_exhausted, 1);
});

test("close: delivers what is held; past closeTimeoutMs drops the rest as close_timeout; track after close is dropped", async () => {
  const drops = [];
  const sender = fakeSender(() => {
    throw unavailable();
  });
  const c = createClient(base({ sender, initialBackoffMs: 5, maxBackoffMs: 20, closeTimeoutMs: 150, onDropped: (d) => drops.push(d) }));
  for (let i = 0; i < 3; i++) c.track("testEvent", { name: "x" });
  const t0 = Date.now();
  const s = await c.close();
  const took = Date.now() - t0;
  assert.ok(took >= 140 && took < 2000, `close took ${took} ms`);
  assert.ok(sender.calls.length >= 3, "kept retrying until the deadline");
  assert.equal(s.droppedByReason.close_timeout, 3);
  c.track("testEvent", { name: "late" });
  assert.equal(drops.at(-1).reason, "closed");
  assert.equal(c.stats().droppedByReason.closed, 1);
  assert.equal(await c.close(), await c.close(), "close is idempotent");
});

test("setHeader: events keep the header of their track time; batches never mix headers", async () => {
  const sender = fakeSender();
  const c = createClient(base({ sender, clientId: "web", header: { sessionId: "s1" }, flushIntervalMs: 60_000 }));
  c.track("testEvent", { name: "anon" });
  c.setHeader({ userId: "u-42" });
  c.track("testEvent", { name: "logged-in" });
  await c.close();
  const hs = sender.calls.map((x) => [x.req.header.sessionId, x.req.header.userId, x.req.header.clientId, x.req.events.length]);
  assert.deepEqual(hs, [["s1", "", "web", 1], ["s1", "u-42", "web", 1]]);
  assert.equal(sender.calls[0].req.header.sdkVersion, SDK_VERSION);
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url)));
  assert.equal(SDK_VERSION, pkg.version, "SDK_VERSION matches package.json");
});

test("page hidden: everything held leaves at once with keepalive, within the keepalive budget, split into requests", async () => {
  const page = fakePage();
  let release;
  const gate = new Promise((r) => (release = r));
  const all = fakeSender(async (req, opts) => {
    if (!opts.keepalive) await gate; // the first full batch hangs in flight
    return okResponse(req);
  });
  const keepaliveBytes = 3000;
  const c = createClient(base({ sender: all, pageLifecycle: page, maxBatchEvents: 10, flushIntervalMs: 60_000, keepaliveBytes }));
  const ids = [];
  for (let i = 0; i < 40; i++) ids.push(c.track("testEvent", { name: "k".repeat(80) }));
  await tick(1);
  assert.deepEqual(all.calls.map((x) => [x.opts.keepalive, x.ids.length]), [[false, 10]]);
  page.hide();
  await tick(1);
  const sender = { calls: all.calls.filter((x) => x.opts.keepalive) };
  assert.ok(sender.calls.length >= 2, "split into several requests");
  let total = 0;
  for (const x of sender.calls) {
    assert.equal(x.opts.keepalive, true);
    assert.ok(x.ids.length <= 10);
    total += x.req.bodyBytes;
  }
  assert.ok(total <= keepaliveBytes, `${total} keepalive bytes`);
  const sent = sender.calls.flatMap((x) => x.ids);
  assert.deepEqual(sent, ids.slice(0, sent.length), "oldest first");
  assert.ok(sent.length < 40, "the budget holds some back");
  // pagehide after visibilitychange: nothing is sent twice
  page.pagehide();
  await tick(1);
  const again = all.calls.filter((x) => x.opts.keepalive).flatMap((x) => x.ids);
  assert.equal(new Set(again).size, again.length);
  // The page lives on: the rest goes the normal way.
  page.show();
  release();
  const s = await c.close();
  assert.equal(s.accepted, 40);
  assert.ok(s.keepaliveRequests >= 2);
  assert.deepEqual([...new Set(all.calls.flatMap((x) => x.ids))].sort(), [...ids].sort());
  balanced(s);
});

test("page hidden while a batch is in flight: it is resent with keepalive and counted once", async () => {
  const page = fakePage();
  let release;
  const gate = new Promise((r) => (release = r));
  const sender = fakeSender(async (req, opts) => {
    if (!opts.keepalive) await gate; // the normal request hangs (it would die with the page)
    return okResponse(req);
  });
  const c = createClient(base({ sender, pageLifecycle: page, flushIntervalMs: 60_000 }));
  const ids = [c.track("testEvent", { name: "a" }), c.track("testEvent", { name: "b" })];
  void c.flush();
  await tick(1);
  const queued = c.track("testEvent", { name: "c" });
  page.hide();
  await tick(1);
  const ka = sender.calls.filter((x) => x.opts.keepalive).flatMap((x) => x.ids);
  assert.deepEqual(ka, [...ids, queued]);
  // tracked while hidden: sent with keepalive too, at once
  const late = c.track("testEvent", { name: "in unload" });
  await tick(1);
  assert.deepEqual(sender.calls.at(-1).ids, [late]);
  assert.equal(sender.calls.at(-1).opts.keepalive, true);
  release();
  const s = await c.close();
  assert.equal(s.accepted, 4, "the in-flight events count once");
  balanced(s);
});

test("keepalive refused (quota spent): the events go back to the queue and the normal path delivers them", async () => {
  const page = fakePage();
  const sender = fakeSender((req, opts) => {
    if (opts.keepalive) throw new ConnectError("Failed to fetch", Code.Unknown, undefined, undefined, new TypeError("Failed to fetch"));
    return okResponse(req);
  });
  const c = createClient(base({ sender, pageLifecycle: page, flushIntervalMs: 60_000 }));
  const ids = [1, 2, 3].map((i) => c.track("testEvent", { name: `e${i}` }));
  page.hide();
  await tick(1);
  page.show();
  const s = await c.close();
  assert.equal(s.accepted, 3);
  const normal = sender.calls.filter((x) => !x.opts.keepalive).flatMap((x) => x.ids);
  assert.deepEqual(normal, ids, "in order");
});

test("a throwing callback does not break the client", async () => {
  const reported = [];
  const orig = globalThis.reportError;
  globalThis.reportError = (e) => reported.push(e);
  try {
    const sender = fakeSender(() => create(ResponseSchema, { status: Status.REJECTED, results: [{ index: 0, accepted: false, reason: "bad" }] }));
    const c = createClient(base({ sender, onRejected: () => { throw new Error("user bug"); } }));
    c.track("testEvent", { name: "x" });
    const s = await c.close();
    assert.equal(s.rejected, 1);
    assert.match(String(reported[0]), /user bug/);
  } finally {
    globalThis.reportError = orig;
  }
});

/** localStorage's shape over a Map. */
function fakeStore() {
  const m = new Map();
  return {
    m,
    get length() {
      return m.size;
    },
    key: (i) => [...m.keys()][i] ?? null,
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
  };
}

/** Keys of saved events in the store (identity keys aside). */
const pending = (store) => [...store.m.keys()].filter((k) => k.startsWith("event-grpc:pending:")).length;

test("page hidden with more than keepalive carries: the rest is saved, and the next page's client sends it with the same ids and header", async () => {
  const store = fakeStore();
  const page = fakePage();
  const first = fakeSender();
  const c1 = createClient(base({ sender: first, pageLifecycle: page, store, maxBatchEvents: 1000, flushIntervalMs: 60_000, keepaliveBytes: 1500, header: { sessionId: "old-page" } }));
  const ids = [];
  for (let i = 0; i < 60; i++) ids.push(c1.track("testEvent", { name: "s".repeat(40) }));
  page.hide();
  page.pagehide();
  await tick(1);
  const sent = first.calls.flatMap((x) => x.ids);
  assert.ok(sent.length > 0 && sent.length < 60, `${sent.length} sent with keepalive`);
  assert.equal(pending(store), 1, "one key for this client");
  // The page dies here. The next page of the origin creates a client:
  const page2 = fakePage();
  const second = fakeSender();
  const c2 = createClient(base({ sender: second, pageLifecycle: page2, store, header: { sessionId: "new-page" } }));
  assert.equal(pending(store), 0, "taken");
  const s2 = await c2.close();
  const resent = second.calls.flatMap((x) => x.ids);
  assert.deepEqual([...sent, ...resent], ids, "each event once across the two pages, in order");
  assert.deepEqual(new Set(second.calls.map((x) => x.req.header.sessionId)), new Set(["old-page"]));
  assert.equal(s2.loadedFromStore, 60 - sent.length);
  assert.equal(s2.accepted, 60 - sent.length);
  await c1.close(); // (a page that died would not; here it releases its timer)
});

test("page shown again after a save: the saved copy is removed, the events go the normal way", async () => {
  const store = fakeStore();
  const page = fakePage();
  const sender = fakeSender();
  const c = createClient(base({ sender, pageLifecycle: page, store, flushIntervalMs: 60_000, keepaliveBytes: 300 }));
  for (let i = 0; i < 20; i++) c.track("testEvent", { name: "s".repeat(40) });
  page.hide();
  await tick(1);
  assert.equal(pending(store), 1);
  page.show();
  assert.equal(pending(store), 0);
  const s = await c.close();
  assert.equal(s.accepted, 20);
  assert.equal(new Set(sender.calls.flatMap((x) => x.ids)).size, 20);
  // A malformed entry is removed, not fatal.
  store.setItem("event-grpc:pending:http://127.0.0.1:1:junk", "{not json");
  createClient(base({ sender, pageLifecycle: fakePage(), store }));
  assert.equal(pending(store), 0);
});
