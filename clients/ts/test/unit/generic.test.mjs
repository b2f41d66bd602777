// The generic calls (track with a free name, identify, page, screen, group,
// alias), identity, opt-out, the per-event fate read from code/retryable,
// the log hook, the offline copy, and gzip on the wire: what the client
// puts in each Event and what it does with each answer. The same against
// the real server: test/e2e.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient, EventsSchema, gunzip, ResponseSchema, ResultCode, retryable, SDK_VERSION, Status } from "../../dist/index.js";
import { base, fakePage, fakeSender, recordingSleep, tick } from "./helpers.mjs";

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

const events = (sender) => sender.calls.flatMap((x) => x.req.events);

test("track(name, properties): a TrackEvent with the properties as JSON, nested, arrays, numbers, booleans, null, unicode", async () => {
  const sender = fakeSender();
  const c = createClient(base({ sender }));
  const when = new Date("2026-03-01T10:00:00.000Z");
  const id = c.track("Order Completed", {
    revenue: 49.5,
    paid: true,
    coupon: null,
    items: [{ sku: "a-1", qty: 2 }, { sku: "b-2", qty: 1, tags: ["x", "y"] }],
    nested: { deep: { deeper: { n: -1e-3 } } },
    title: "Grüße 👋 नमस्ते",
    big: 12n,
    huge: 2n ** 70n,
    at: when,
    skip: undefined,
    nan: NaN,
    fn: () => 1,
  });
  await c.close();
  const [e] = events(sender);
  assert.equal(e.id, id);
  assert.equal(e.eventOf.case, "trackEvent");
  assert.equal(e.eventOf.value.name, "Order Completed");
  assert.deepEqual(e.eventOf.value.properties, {
    revenue: 49.5,
    paid: true,
    coupon: null,
    items: [{ sku: "a-1", qty: 2 }, { sku: "b-2", qty: 1, tags: ["x", "y"] }],
    nested: { deep: { deeper: { n: -1e-3 } } },
    title: "Grüße 👋 नमस्ते",
    big: 12,
    huge: "1180591620717411303424",
    at: "2026-03-01T10:00:00.000Z",
    nan: null,
  });
  assert.deepEqual(e.context, { library: { name: "@event-grpc/client", version: SDK_VERSION } });
});

test("a typed event's name still makes a typed event; any other name a generic one", async () => {
  const sender = fakeSender();
  const c = createClient(base({ sender }));
  c.track("pageOpenedEvent", { pageName: "home" });
  c.track("Page Opened", { pageName: "home" });
  await c.close();
  const [a, b] = events(sender);
  assert.equal(a.eventOf.case, "pageOpenedEvent");
  assert.equal(a.eventOf.value.pageName, "home");
  assert.equal(a.userId, "", "typed events keep their identity in the header");
  assert.equal(b.eventOf.case, "trackEvent");
  assert.equal(b.eventOf.value.name, "Page Opened");
});

test("identity: anonymous id minted once and kept in the store; identify remembered; per-call override; reset", async () => {
  const store = fakeStore();
  const sender = fakeSender();
  const c = createClient(base({ sender, store }));
  const anon = c.identity().anonymousId;
  assert.match(anon, /^[0-9a-f-]{36}$/);
  c.track("Before Login", {});
  c.identify("u-42", { email: "a@example.com", plan: "pro" });
  c.track("After Login", { n: 1 });
  c.track("For Another", {}, { userId: "u-7", anonymousId: "anon-x" });
  c.page("Home", { path: "/" }, { category: "Docs" });
  c.screen("Settings", { tab: "privacy" });
  c.group("acme", { employees: 120 });
  c.alias("u-43");
  await c.flush();
  // A new client on the same store (the next page) keeps both ids.
  const sender2 = fakeSender();
  const c2 = createClient(base({ sender: sender2, store }));
  assert.deepEqual(c2.identity(), { userId: "u-42", anonymousId: anon });
  c2.reset();
  const after = c2.identity();
  assert.equal(after.userId, "");
  assert.notEqual(after.anonymousId, anon);
  c2.track("After Reset", {});
  await c2.close();
  await c.close();
  const got = events(sender).map((e) => [e.eventOf.case, e.userId, e.anonymousId]);
  assert.deepEqual(got, [
    ["trackEvent", "", anon],
    ["identifyEvent", "u-42", anon],
    ["trackEvent", "u-42", anon],
    ["trackEvent", "u-7", "anon-x"],
    ["pageEvent", "u-42", anon],
    ["screenEvent", "u-42", anon],
    ["groupEvent", "u-42", anon],
    ["aliasEvent", "u-43", anon],
  ]);
  const ev = events(sender);
  assert.deepEqual(ev[1].eventOf.value.traits, { email: "a@example.com", plan: "pro" });
  assert.deepEqual([ev[4].eventOf.value.name, ev[4].eventOf.value.category], ["Home", "Docs"]);
  assert.equal(ev[6].eventOf.value.groupId, "acme");
  assert.equal(ev[7].eventOf.value.previousId, "u-42", "alias defaults previousId to the current user id");
  const [r] = events(sender2);
  assert.deepEqual([r.userId, r.anonymousId], ["", after.anonymousId]);
});

test("per-call messageId, timestamp (Date, epoch ms, ISO), context and integrations", async () => {
  const sender = fakeSender();
  const c = createClient(base({ sender }));
  c.track("A", {}, { messageId: "m-1", timestamp: new Date(1718000000123), context: { ip: "10.0.0.1", library: { name: "mine" } }, integrations: { All: false } });
  c.track("B", {}, { timestamp: 1718000000456 });
  c.track("C", {}, { timestamp: "2024-06-10T06:13:20.789Z" });
  await c.close();
  const [a, b, d] = events(sender);
  assert.deepEqual([a.id, a.timestamp, b.timestamp, d.timestamp], ["m-1", "1718000000123", "1718000000456", "1718000000789"]);
  assert.deepEqual(a.context, { library: { name: "mine" }, ip: "10.0.0.1" });
  assert.deepEqual(a.integrations, { All: false });
});

test("bad input is refused at the call with a reason naming it, never sent", async () => {
  const sender = fakeSender();
  const rejected = [];
  const c = createClient(base({ sender, onRejected: (rs) => rejected.push(...rs) }));
  const loop = { a: 1 };
  loop.self = { back: loop };
  c.track("", {});
  c.track("Loop", loop);
  c.track("Bad Time", {}, { timestamp: "yesterday" });
  c.group("", {});
  c.identify({ tags: new Set([1]) });
  const s = await c.close();
  assert.equal(sender.calls.length, 0);
  assert.equal(s.rejected, 5);
  assert.deepEqual(
    rejected.map((r) => [r.code, r.reason]),
    [
      [ResultCode.INVALID, "track needs an event name"],
      [ResultCode.INVALID, "properties.self.back refers back to itself (a cycle)"],
      [ResultCode.INVALID, "options.timestamp is not a date: yesterday"],
      [ResultCode.INVALID, "group needs a group id"],
      [ResultCode.INVALID, "traits.tags is a Set; use a plain object or an array"],
    ],
  );
});

test("the fate is read from code and retryable, not the reason: 'UNAVAILABLE:' text with code INVALID is reported once, never retried", async () => {
  const sleep = recordingSleep();
  const rejected = [];
  const sender = fakeSender((req, _o, n) =>
    create(ResponseSchema, {
      status: Status.PARTIAL,
      results: req.events.map((e, i) => {
        const name = e.eventOf.value.name;
        if (name === "liar") return { index: i, eventId: e.id, accepted: false, code: ResultCode.INVALID, retryable: false, reason: "UNAVAILABLE: looks transient but is not" };
        if (name === "busy" && n === 1) return { index: i, eventId: e.id, accepted: false, code: ResultCode.RESOURCE_EXHAUSTED, retryable: true, reason: "stream full" };
        if (name === "old-server" && n === 1) return { index: i, eventId: e.id, accepted: false, reason: "UNAVAILABLE: broker: connection lost" };
        if (name === "old-bad") return { index: i, eventId: e.id, accepted: false, reason: "timestamp too old" };
        return { index: i, eventId: e.id, accepted: true, code: ResultCode.ACCEPTED };
      }),
    }),
  );
  const c = createClient(base({ sender, sleep, onRejected: (rs) => rejected.push(...rs) }));
  const ids = ["liar", "busy", "old-server", "old-bad", "fine"].map((n) => c.track(n, { name: n }));
  // (the payload's name field is the track name here only for the fake's sake)
  const s = await c.close();
  assert.equal(sender.calls.length, 2);
  assert.deepEqual(sender.calls[1].ids, [ids[1], ids[2]], "only the retryable ones go again");
  assert.deepEqual(rejected.map((r) => [r.id, r.code]), [[ids[0], ResultCode.INVALID], [ids[3], ResultCode.UNSPECIFIED]]);
  assert.deepEqual([s.accepted, s.rejected, s.retries], [3, 2, 1]);
  assert.equal(retryable({ code: ResultCode.INVALID, retryable: false, reason: "UNAVAILABLE: x" }), false);
  assert.equal(retryable({ code: ResultCode.UNSPECIFIED, retryable: false, reason: "RESOURCE_EXHAUSTED: x" }), true);
});

test("opt-out: nothing tracked, sent or kept; remembered in the store; opt-in resumes", async () => {
  const store = fakeStore();
  const page = fakePage();
  const sender = fakeSender();
  const drops = [];
  const c = createClient(base({ sender, store, pageLifecycle: page, flushIntervalMs: 60_000, onDropped: (d) => drops.push(d) }));
  c.track("Queued Before", {});
  c.optOut();
  assert.deepEqual(drops.map((d) => [d.reason, d.events.length]), [["opted_out", 1]]);
  assert.equal(c.track("While Out", { a: 1 }), "");
  assert.equal(c.identify("u-1"), "");
  assert.equal(c.track("pageOpenedEvent", { pageName: "x" }), "");
  page.hide();
  page.pagehide();
  await c.flush();
  assert.equal(sender.calls.length, 0);
  assert.equal([...store.m.keys()].filter((k) => k.includes(":pending:")).length, 0, "nothing kept");
  assert.equal(c.identity().userId, "", "identify while opted out is ignored");
  // The choice is remembered by the next client of the store.
  const c2 = createClient(base({ sender, store }));
  assert.equal(c2.optedOut(), true);
  c2.track("Still Out", {});
  c2.optOut(false);
  const id = c2.track("Back In", {});
  const s2 = await c2.close();
  assert.deepEqual(sender.calls.flatMap((x) => x.ids), [id]);
  assert.equal(s2.ignoredOptedOut, 1);
  assert.equal(c.stats().ignoredOptedOut, 3);
  await c.close();
  // optOut: true starts opted out where no choice is remembered, and
  // writes nothing (no anonymous id) until the user opts in.
  const fresh = fakeStore();
  const c3 = createClient(base({ sender, store: fresh, optOut: true }));
  assert.equal(c3.optedOut(), true);
  assert.deepEqual([...fresh.m.keys()], []);
  c3.optIn();
  assert.equal(fresh.m.get("event-grpc:anonymousId"), c3.identity().anonymousId);
  assert.equal(fresh.m.get("event-grpc:optOut"), "0");
});

test("offline copy: a keepalive request that never answers (the page died) is in the saved copy; the next page sends it", async () => {
  const store = fakeStore();
  const page = fakePage();
  const never = async () => new Promise(() => {});
  const c1 = createClient(base({ sender: never, pageLifecycle: page, store, flushIntervalMs: 60_000 }));
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push(c1.track("Offline", { i }));
  page.pagehide();
  await tick(1);
  const sender = fakeSender();
  const c2 = createClient(base({ sender, pageLifecycle: fakePage(), store }));
  const s2 = await c2.close();
  assert.deepEqual(sender.calls.flatMap((x) => x.ids), ids);
  assert.equal(s2.loadedFromStore, 5);
});

test("offline copy: while requests fail the held events are kept in the store, and removed once delivered", async () => {
  const store = fakeStore();
  let down = true;
  const sender = fakeSender(() => {
    if (down) throw new TypeError("fetch failed");
    return undefined;
  });
  const ok = fakeSender();
  const c = createClient(base({ store, sleep: async () => tick(2), flushIntervalMs: 5, sender: async (b, o) => (down ? sender(b, o) : ok(b, o)) }));
  c.track("A", {});
  c.track("B", {});
  await tick(30);
  const keys = () => [...store.m.keys()].filter((k) => k.includes(":pending:"));
  assert.equal(keys().length, 1, "kept while offline");
  down = false;
  const s = await c.close();
  assert.equal(s.accepted, 2);
  assert.equal(keys().length, 0, "removed once delivered");
});

test("log hook: sends, retries, rejections and drops are reported", async () => {
  const log = [];
  let n = 0;
  const sender = fakeSender((req) => {
    if (++n === 1) throw new TypeError("fetch failed");
    return create(ResponseSchema, { status: Status.PARTIAL, results: req.events.map((e, i) => ({ index: i, eventId: e.id, accepted: i === 0, code: i === 0 ? ResultCode.ACCEPTED : ResultCode.INVALID, reason: i === 0 ? "" : "bad" })) });
  });
  const c = createClient(base({ sender, sleep: recordingSleep(), maxQueueEvents: 2, logger: (r) => log.push(r), onRejected: () => {}, onDropped: () => {} }));
  c.track("A", {});
  c.track("B", {});
  c.track("C", {}); // queue full
  await c.close();
  const kinds = log.map((r) => r.event);
  for (const k of ["dropped", "send", "retry", "accepted", "rejected"]) assert.ok(kinds.includes(k), `${k} in ${kinds}`);
  assert.ok(log.every((r) => typeof r.message === "string" && r.level));
});

test("gzip: a body over gzipMinBytes goes with Content-Encoding gzip and decompresses to the same Events; a small one does not", async () => {
  const seen = [];
  const fetch = async (url, init) => {
    const h = new Headers(init.headers);
    let body = new Uint8Array(init.body);
    const enc = h.get("content-encoding");
    if (enc === "gzip") body = await gunzip(body);
    const req = fromBinary(EventsSchema, body);
    seen.push({ enc, sent: init.body.byteLength, plain: body.length, n: req.events.length, names: req.events.map((e) => e.eventOf.value.name) });
    return new Response(toBinary(ResponseSchema, create(ResponseSchema, { status: Status.OK })), { status: 200, headers: { "content-type": "application/proto" } });
  };
  const c = createClient({ baseUrl: "http://events.test", fetch, pageLifecycle: false });
  for (let i = 0; i < 50; i++) c.track("Big Batch", { text: "lorem ipsum dolor sit amet ".repeat(4), i });
  await c.flush();
  c.track("Small", {});
  const s = await c.close();
  assert.equal(seen.length, 2);
  assert.equal(seen[0].enc, "gzip");
  assert.equal(seen[0].n, 50);
  assert.ok(seen[0].sent < seen[0].plain / 3, `${seen[0].sent} of ${seen[0].plain} bytes`);
  assert.equal(seen[1].enc, null);
  assert.equal(s.compressedRequests, 1);
  assert.equal(s.bodyBytes, seen[0].plain + seen[1].plain);
  assert.equal(s.sentBytes, seen[0].sent + seen[1].sent);
  // gzip: false never compresses; gzipMinBytes: 0 always does.
  const none = [];
  const c2 = createClient({ baseUrl: "http://events.test", fetch: async (u, i) => (none.push(new Headers(i.headers).get("content-encoding")), fetch(u, i)), gzip: false, pageLifecycle: false });
  for (let i = 0; i < 50; i++) c2.track("Big Batch", { text: "lorem ipsum ".repeat(8) });
  await c2.close();
  assert.deepEqual(none, [null]);
  const c3 = createClient({ baseUrl: "http://events.test", fetch, gzipMinBytes: 0, pageLifecycle: false });
  c3.track("Tiny", {});
  assert.equal((await c3.close()).compressedRequests, 1);
});
