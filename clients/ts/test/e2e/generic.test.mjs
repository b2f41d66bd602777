// The generic calls against the real server (zero-config: embedded
// JetStream and DuckDB), in Node through the default Connect sender and a
// capturing proxy on 127.0.0.1:18603 that forwards each request byte for
// byte and records its encoding headers and size — so the test sees what
// went on the wire:
//
//   every call (track, identify, page, screen, group, alias) lands once in
//   its table (tracks, identifies, pages, screens, groups, aliases) with
//   its properties or traits intact (nested objects, arrays, numbers,
//   booleans, null, unicode), the identity per call and the remembered
//   identify in user_id / anonymous_id;
//   bodies over gzipMinBytes go gzipped (Content-Encoding for Connect,
//   Grpc-Encoding for gRPC-Web) and the server accepts them;
//   opted out, nothing reaches the wire;
//   a permanent per-event refusal (too old) is reported once, never sent
//   again; a retryable one (the proxy answers a first attempt with code
//   UNAVAILABLE, retryable) is sent again and stored once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, request as httpRequest } from "node:http";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient, EventsSchema, ResponseSchema, ResultCode, Status, gunzip } from "../../dist/index.js";
import { HTTP_PORT, startServer } from "./server.mjs";

const PROXY_PORT = 18603;
let srv;
let proxy;
const seen = []; // {encoding, grpcEncoding, bytes, path}
let answerFirst = null; // (body) => Uint8Array | null: a made-up answer for the next dispatch

before(async () => {
  srv = await startServer("generic");
  proxy = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks);
      const rec = { path: req.url, encoding: req.headers["content-encoding"] ?? null, grpcEncoding: req.headers["grpc-encoding"] ?? null, bytes: body.length };
      seen.push(rec);
      if (answerFirst && req.method === "POST") {
        const plain = rec.encoding === "gzip" ? await gunzip(new Uint8Array(body)) : new Uint8Array(body);
        const out = answerFirst(fromBinary(EventsSchema, plain));
        answerFirst = null;
        res.writeHead(200, { "content-type": "application/proto" }).end(Buffer.from(out));
        return;
      }
      const up = httpRequest({ host: "127.0.0.1", port: HTTP_PORT, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on("error", (e) => res.writeHead(502).end(String(e)));
      up.end(body);
    });
  });
  await new Promise((r) => proxy.listen(PROXY_PORT, "127.0.0.1", r));
});

after(async () => {
  await new Promise((r) => (proxy ? proxy.close(r) : r()));
  await srv?.stop();
});

const url = `http://127.0.0.1:${PROXY_PORT}`;

/** Waits until every id is in table (or 60 s); returns rows by id, each an object of the named columns. */
async function rowsOf(table, ids, cols) {
  const list = ids.map((id) => `'${id}'`).join(",");
  const until = Date.now() + 60_000;
  for (;;) {
    const rows = await srv.query(`SELECT event_id, ${cols.join(", ")} FROM ${table} WHERE event_id IN (${list}) ORDER BY event_id`);
    if (rows.length >= ids.length || Date.now() > until) {
      const byId = {};
      for (const r of rows) {
        assert.equal(byId[r[0]], undefined, `${r[0]} stored twice in ${table}`);
        byId[r[0]] = Object.fromEntries(cols.map((c, i) => [c, r[i + 1]]));
      }
      return byId;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

// The query endpoint renders cells as clickhouse-client's TSV does (a
// backslash, tab and newline escaped with a backslash): undo that, then
// parse the stored JSON.
const unTsv = (s) => s.replace(/\\([\\tn])/g, (_, c) => (c === "t" ? "\t" : c === "n" ? "\n" : "\\"));
const json = (s) => (s === null || s === "" ? null : JSON.parse(unTsv(s)));

const PROPS = {
  revenue: 49.5,
  count: 3,
  paid: true,
  refunded: false,
  coupon: null,
  items: [{ sku: "sku-1", qty: 2, price: 10.25 }, { sku: "sku-2", qty: 1, tags: ["gift", "sale"] }],
  shipping: { address: { city: "München", line: "Straße 1" }, express: true },
  note: "नमस्ते 👋 «ok» — Grüße, \"quoted\", back\\slash, tab\tnew\nline",
  negative: -17,
  tiny: 0.001,
};

test("every generic call lands once in its table with its properties intact, identity per call and remembered, gzip on the wire", { timeout: 180_000 }, async () => {
  seen.length = 0;
  const rejected = [];
  const c = createClient({ baseUrl: url, clientId: "e2e-generic", maxBatchEvents: 100, flushIntervalMs: 50, onRejected: (r) => rejected.push(...r) });
  const anon = c.identity().anonymousId;
  const ids = {};
  ids.before = c.track("Product Viewed", { sku: "sku-1", price: 10.25 });
  ids.identify = c.identify("user-42", { email: "a@example.com", name: "Ada Lövelace", plan: { tier: "pro", seats: 5 }, tags: ["beta"] });
  ids.track = c.track("Order Completed", PROPS);
  ids.other = c.track("Order Completed", { revenue: 1 }, { userId: "user-7", anonymousId: "anon-override", messageId: `m-${Date.now()}`, timestamp: new Date(Date.now() - 60_000) });
  ids.page = c.page("Pricing", { path: "/pricing", referrer: "https://example.com/ü" }, { category: "Docs" });
  ids.screen = c.screen("Settings", { tab: "privacy", depth: 2 }, { category: "Account" });
  ids.group = c.group("acme-inc", { name: "Acme Inc", employees: 120, industry: "Ünïcode" });
  ids.alias = c.alias("user-42-new");
  // Enough to make a batch over gzipMinBytes (1 KiB) for sure.
  const bulk = [];
  for (let i = 0; i < 40; i++) bulk.push(c.track("Bulk Event", { i, text: "lorem ipsum dolor sit amet, consectetur adipiscing elit" }));
  const s = await c.close();
  assert.deepEqual(rejected, []);
  assert.equal(s.accepted, 48, JSON.stringify(s));

  const T = await rowsOf("tracks", [ids.before, ids.track, ids.other, ...bulk], ["event", "properties", "user_id", "anonymous_id", "context", "client_id"]);
  assert.equal(Object.keys(T).length, 43);
  assert.deepEqual(json(T[ids.track].properties), PROPS);
  assert.equal(T[ids.track].event, "Order Completed");
  assert.deepEqual([T[ids.before].user_id, T[ids.before].anonymous_id], ["", anon], "before identify: anonymous only");
  assert.deepEqual([T[ids.track].user_id, T[ids.track].anonymous_id], ["user-42", anon], "identify is remembered");
  assert.deepEqual([T[ids.other].user_id, T[ids.other].anonymous_id], ["user-7", "anon-override"], "per-call identity overrides");
  assert.equal(json(T[ids.track].context).library.name, "@event-grpc/client");
  assert.equal(T[ids.track].client_id, "e2e-generic");
  assert.equal(json(T[bulk[39]].properties).i, 39);

  const I = await rowsOf("identifies", [ids.identify], ["traits", "user_id", "anonymous_id"]);
  assert.deepEqual(json(I[ids.identify].traits), { email: "a@example.com", name: "Ada Lövelace", plan: { tier: "pro", seats: 5 }, tags: ["beta"] });
  assert.deepEqual([I[ids.identify].user_id, I[ids.identify].anonymous_id], ["user-42", anon]);
  const P = await rowsOf("pages", [ids.page], ["name", "category", "properties", "user_id"]);
  assert.deepEqual(P[ids.page], { name: "Pricing", category: "Docs", properties: P[ids.page].properties, user_id: "user-42" });
  assert.deepEqual(json(P[ids.page].properties), { path: "/pricing", referrer: "https://example.com/ü" });
  const S = await rowsOf("screens", [ids.screen], ["name", "category", "properties"]);
  assert.deepEqual([S[ids.screen].name, S[ids.screen].category, json(S[ids.screen].properties)], ["Settings", "Account", { tab: "privacy", depth: 2 }]);
  const G = await rowsOf("groups", [ids.group], ["group_id", "traits", "user_id"]);
  assert.deepEqual([G[ids.group].group_id, json(G[ids.group].traits), G[ids.group].user_id], ["acme-inc", { name: "Acme Inc", employees: 120, industry: "Ünïcode" }, "user-42"]);
  const A = await rowsOf("aliases", [ids.alias], ["previous_id", "user_id", "anonymous_id"]);
  assert.deepEqual(A[ids.alias], { previous_id: "user-42", user_id: "user-42-new", anonymous_id: anon });

  const dispatches = seen.filter((r) => r.path.endsWith("/dispatch"));
  const gz = dispatches.filter((r) => r.encoding === "gzip");
  assert.ok(gz.length >= 1, `a gzipped request reached the server: ${JSON.stringify(dispatches)}`);
  assert.equal(s.compressedRequests, gz.length);
  assert.ok(s.sentBytes < s.bodyBytes, `sent ${s.sentBytes} of ${s.bodyBytes} body bytes`);
  console.log(`# e2e generic: 48 calls in 6 tables; ${dispatches.length} requests, ${gz.length} gzipped, ${s.sentBytes} bytes sent for ${s.bodyBytes}`);
});

test("gRPC-Web with gzip: Grpc-Encoding gzip on the wire, accepted and stored once", { timeout: 120_000 }, async () => {
  seen.length = 0;
  const c = createClient({ baseUrl: url, protocol: "grpc-web", gzipMinBytes: 0, clientId: "e2e-grpcweb-gzip" });
  const ids = [];
  for (let i = 0; i < 10; i++) ids.push(c.track("Grpc Web Zipped", { i, s: "ü".repeat(i) }));
  const s = await c.close();
  assert.equal(s.accepted, 10, JSON.stringify(s));
  const T = await rowsOf("tracks", ids, ["properties"]);
  assert.deepEqual(json(T[ids[9]].properties), { i: 9, s: "ü".repeat(9) });
  const d = seen.filter((r) => r.path.endsWith("/dispatch"));
  assert.ok(d.length >= 1 && d.every((r) => r.grpcEncoding === "gzip"), JSON.stringify(d));
});

test("opted out: nothing reaches the wire; opted in again: tracked", { timeout: 120_000 }, async () => {
  seen.length = 0;
  const c = createClient({ baseUrl: url, clientId: "e2e-optout", optOut: true, flushIntervalMs: 20 });
  for (let i = 0; i < 20; i++) assert.equal(c.track("Opted Out", { i }), "");
  c.identify("nobody", { email: "x@example.com" });
  c.page("Secret");
  await c.flush();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(seen.length, 0, "no request at all");
  c.optIn();
  const id = c.track("Opted In", { ok: true });
  const s = await c.close();
  assert.equal(s.accepted, 1);
  assert.equal(s.ignoredOptedOut, 22);
  await rowsOf("tracks", [id], ["event"]);
  assert.deepEqual(await srv.query(`SELECT count(*) FROM tracks WHERE event = 'Opted Out'`), [["0"]]);
  assert.deepEqual(await srv.query(`SELECT count(*) FROM identifies WHERE user_id = 'nobody'`), [["0"]]);
});

test("fate by field: a retryable refusal is sent again and stored once; a permanent one is reported once and never sent again", { timeout: 120_000 }, async () => {
  seen.length = 0;
  // The first dispatch is answered by the proxy: every event UNAVAILABLE
  // (retryable) — but for one whose reason text looks transient while its
  // code says INVALID: it must not be retried.
  let liar;
  answerFirst = (req) =>
    toBinary(ResponseSchema, create(ResponseSchema, {
      status: Status.REJECTED,
      results: req.events.map((e, i) =>
        e.id === liar
          ? { index: i, eventId: e.id, accepted: false, code: ResultCode.INVALID, retryable: false, reason: "UNAVAILABLE: looks transient, is not" }
          : { index: i, eventId: e.id, accepted: false, code: ResultCode.UNAVAILABLE, retryable: true, reason: "broker did not confirm" },
      ),
    }));
  const rejected = [];
  const c = createClient({ baseUrl: url, clientId: "e2e-fate", initialBackoffMs: 50, onRejected: (r) => rejected.push(...r) });
  const ok = [c.track("Retry Me", { n: 1 }), c.track("Retry Me", { n: 2 })];
  liar = c.track("Never Again", { n: 3 });
  const old = c.track("Too Old", {}, { timestamp: 1000 }); // the real server refuses: beyond MAX_EVENT_AGE
  const s = await c.close();
  assert.deepEqual(rejected.map((r) => [r.id, r.code]), [[liar, ResultCode.INVALID], [old, ResultCode.INVALID]]);
  assert.equal(s.accepted, 2);
  assert.equal(s.rejected, 2);
  const d = seen.filter((r) => r.path.endsWith("/dispatch"));
  assert.equal(d.length, 2, "one refused attempt, one retry");
  const T = await rowsOf("tracks", ok, ["event"]);
  assert.equal(Object.keys(T).length, 2);
  assert.deepEqual(await srv.query(`SELECT count(*) FROM tracks WHERE event_id IN ('${liar}', '${old}')`), [["0"]]);
  console.log(`# e2e fate: the server's reason for the old event: ${rejected[1].reason}`);
});
