// The default sender over an injected fetch: what goes on the wire (URL,
// headers, body, keepalive) and how Connect answers are read back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient, EventsSchema, ResponseSchema, Status } from "../../dist/index.js";
import { fakePage, recordingSleep, tick } from "./helpers.mjs";

function fakeFetch(answer) {
  const calls = [];
  const f = async (url, init) => {
    const body = new Uint8Array(init.body);
    const req = fromBinary(EventsSchema, body);
    calls.push({ url: String(url), init, headers: new Headers(init.headers), req });
    return answer(req, calls.length);
  };
  f.calls = calls;
  return f;
}

const ok = (req) =>
  new Response(
    toBinary(ResponseSchema, create(ResponseSchema, {
      status: Status.OK,
      results: req.events.map((e, i) => ({ index: i, eventId: e.id, accepted: true })),
    })),
    { status: 200, headers: { "content-type": "application/proto" } },
  );

test("connect sender: POST binary Events to /eventgrpc.v1.EventService/dispatch with the auth headers", async () => {
  const fetch = fakeFetch(ok);
  const c = createClient({ baseUrl: "http://events.test:8019", apiKey: "k-1", clientId: "web", header: { userId: "u-1" }, fetch, pageLifecycle: false });
  const ids = [c.track("pageOpenedEvent", { pageName: "home" }), c.track("customEvent", { name: "PollVoted", params: { poll: "p1" } })];
  const s = await c.close();
  assert.equal(s.accepted, 2);
  assert.equal(fetch.calls.length, 1);
  const [call] = fetch.calls;
  assert.equal(call.url, "http://events.test:8019/eventgrpc.v1.EventService/dispatch");
  assert.equal(call.init.method, "POST");
  assert.equal(call.headers.get("content-type"), "application/proto");
  assert.equal(call.headers.get("connect-protocol-version"), "1");
  assert.equal(call.headers.get("authorization"), "Bearer k-1");
  assert.equal(call.headers.get("x-client-id"), "web");
  assert.equal(call.init.keepalive, undefined);
  assert.deepEqual(call.req.events.map((e) => e.id), ids);
  assert.equal(call.req.header.userId, "u-1");
  assert.equal(call.req.header.clientId, "web");
  assert.equal(call.req.events[1].eventOf.value.params.poll, "p1");
});

test("connect sender: a hidden page's flush goes out with fetch keepalive", async () => {
  const fetch = fakeFetch(ok);
  const page = fakePage();
  const c = createClient({ baseUrl: "http://events.test", fetch, pageLifecycle: page, flushIntervalMs: 60_000 });
  c.track("testEvent", { name: "bye" });
  page.pagehide();
  await tick(5);
  assert.equal(fetch.calls.length, 1);
  assert.equal(fetch.calls[0].init.keepalive, true);
  assert.equal((await c.close()).accepted, 1);
});

test("connect sender: a Connect error with Retry-After-Ms is retried after the hint; invalid_argument is not", async () => {
  const sleep = recordingSleep();
  const fetch = fakeFetch((req, n) => {
    if (n === 1) {
      return new Response(JSON.stringify({ code: "resource_exhausted", message: "rate limited" }), {
        status: 429,
        headers: { "content-type": "application/json", "retry-after-ms": "2500", "retry-after": "3" },
      });
    }
    if (n === 2) {
      return new Response("<html>bad gateway</html>", { status: 502, headers: { "content-type": "text/html" } });
    }
    return ok(req);
  });
  const c = createClient({ baseUrl: "http://events.test", fetch, sleep, random: () => 0, pageLifecycle: false });
  c.track("testEvent", { name: "x" });
  const s = await c.close();
  assert.deepEqual([s.accepted, s.retries], [1, 2]);
  assert.equal(sleep.delays[0], 2500, "waits what the server asked");
  assert.equal(fetch.calls.length, 3);
  assert.equal(new Set(fetch.calls.map((x) => x.req.events[0].id)).size, 1, "same id every attempt");

  const rejected = [];
  const bad = fakeFetch(() =>
    new Response(JSON.stringify({ code: "invalid_argument", message: "too many events" }), { status: 400, headers: { "content-type": "application/json" } }),
  );
  const c2 = createClient({ baseUrl: "http://events.test", fetch: bad, sleep, pageLifecycle: false, onRejected: (r) => rejected.push(...r) });
  c2.track("testEvent", { name: "x" });
  await c2.close();
  assert.equal(bad.calls.length, 1);
  assert.match(rejected[0].reason, /invalid_argument.*too many events/);
});

test("connect sender: a server that cannot be reached is retried (network error), then delivered", async () => {
  const sleep = recordingSleep();
  const fetch = fakeFetch((req, n) => {
    if (n <= 2) throw new TypeError("fetch failed");
    return ok(req);
  });
  const c = createClient({ baseUrl: "http://events.test", fetch, sleep, pageLifecycle: false });
  c.track("testEvent", { name: "x" });
  const s = await c.close();
  assert.deepEqual([s.accepted, s.retries], [1, 2]);
});

test("grpc-web sender: binary gRPC-Web framing to the same path", async () => {
  const calls = [];
  const fetch = async (url, init) => {
    const b = new Uint8Array(init.body);
    assert.equal(b[0], 0, "uncompressed data frame");
    const len = (b[1] << 24) | (b[2] << 16) | (b[3] << 8) | b[4];
    const req = fromBinary(EventsSchema, b.subarray(5, 5 + len));
    calls.push({ url: String(url), headers: new Headers(init.headers), req });
    const msg = toBinary(ResponseSchema, create(ResponseSchema, { status: Status.OK }));
    const trailer = new TextEncoder().encode("grpc-status: 0\r\n");
    const out = new Uint8Array(5 + msg.length + 5 + trailer.length);
    out.set([0, 0, 0, 0, msg.length], 0);
    out.set(msg, 5);
    out.set([0x80, 0, 0, 0, trailer.length], 5 + msg.length);
    out.set(trailer, 10 + msg.length);
    return new Response(out, { status: 200, headers: { "content-type": "application/grpc-web+proto" } });
  };
  const c = createClient({ baseUrl: "http://events.test", protocol: "grpc-web", fetch, pageLifecycle: false });
  const id = c.track("testEvent", { name: "gw" });
  const s = await c.close();
  assert.equal(s.accepted, 1);
  assert.equal(calls[0].url, "http://events.test/eventgrpc.v1.EventService/dispatch");
  assert.equal(calls[0].headers.get("content-type"), "application/grpc-web+proto");
  assert.equal(calls[0].req.events[0].id, id);
});
