// The SDK in Node against the real server, through the default Connect
// sender and Node's fetch: the server is down when the first events are
// tracked, then comes up rate limited (RATE_LIMIT_RPS), so the client sees
// connection failures and then RESOURCE_EXHAUSTED with Retry-After-Ms.
// Every event must be stored exactly once after close(), and no retry may
// come sooner than the server asked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "../../dist/index.js";
import { HTTP_PORT, sleep, startServer } from "./server.mjs";

test("node: server down, then rate limited: every event stored once, retry hints honoured", { timeout: 240_000 }, async () => {
  const hints = []; // Retry-After-Ms of each refusal, in order
  const waits = []; // the waits the client chose, in order
  const fetchSpy = async (input, init) => {
    const res = await fetch(input, init);
    if (res.status === 429) hints.push(Number(res.headers.get("retry-after-ms")));
    return res;
  };
  const rejected = [];
  const dropped = [];
  const client = createClient({
    baseUrl: `http://127.0.0.1:${HTTP_PORT}`,
    clientId: "e2e-node",
    header: { sessionId: `e2e-node-${Date.now()}`, userId: "u-node" },
    maxBatchEvents: 20,
    flushIntervalMs: 50,
    initialBackoffMs: 100,
    maxBackoffMs: 1000,
    closeTimeoutMs: 120_000,
    fetch: fetchSpy,
    sleep: (ms, signal) => {
      waits.push(ms);
      return new Promise((r) => {
        const done = () => {
          clearTimeout(t);
          signal.removeEventListener("abort", done);
          r();
        };
        const t = setTimeout(done, ms);
        signal.addEventListener("abort", done);
      });
    },
    onRejected: (rs) => rejected.push(...rs),
    onDropped: (d) => dropped.push(d),
  });
  const ids = [];
  for (let i = 0; i < 100; i++) ids.push(client.track("testEvent", { name: "while down", number: BigInt(i) }));
  await sleep(1500);
  const down = client.stats();
  assert.equal(down.accepted, 0);
  assert.ok(down.retries >= 2, `retried while down: ${JSON.stringify(down)}`);
  assert.match(down.lastError, /network|unavailable/);

  const srv = await startServer("node", { RATE_LIMIT_RPS: "4", RATE_LIMIT_BURST: "2" });
  try {
    for (let i = 0; i < 200; i++) {
      ids.push(client.track("testEvent", { name: "while limited", number: BigInt(i) }));
      if (i % 50 === 49) await sleep(10);
    }
    const s = await client.close();
    assert.deepEqual(rejected, []);
    assert.deepEqual(dropped, []);
    assert.equal(s.accepted, 300, JSON.stringify(s));
    assert.ok(hints.length > 0, "the rate limit refused some requests");
    // The waits after each refusal: the last len(hints) waits with a hint
    // each follow one refusal; none shorter than what the server asked.
    const after = waits.slice(waits.length - hints.length);
    hints.forEach((h, i) => assert.ok(after[i] >= h, `waited ${after[i]} ms, server asked ${h} ms`));
    const counts = await srv.awaitStored(ids);
    const missing = ids.filter((id) => !counts[id]);
    assert.deepEqual(missing, [], `${missing.length} not stored; see ${srv.log}`);
    for (const id of ids) assert.equal(counts[id], 1, `${id} stored ${counts[id]} times`);
    console.log(`# e2e node: 300 events, ${s.retries} retries (${hints.length} rate-limit refusals, hints ${Math.min(...hints)}..${Math.max(...hints)} ms), ${s.requests} requests, all stored once`);
  } finally {
    await srv.stop();
  }
});

test("node, gRPC-Web: the same client over protocol grpc-web is stored once, rejections read from the answer", { timeout: 120_000 }, async () => {
  const srv = await startServer("grpc-web");
  try {
    const rejected = [];
    const client = createClient({
      baseUrl: srv.url,
      protocol: "grpc-web",
      header: { sessionId: `e2e-grpcweb-${Date.now()}` },
      onRejected: (rs) => rejected.push(...rs),
    });
    const ids = [];
    for (let i = 0; i < 50; i++) ids.push(client.track("searchEvent", { query: `q${i}` }));
    const old = client.track({ timestamp: "1000", eventOf: { case: "testEvent", value: { name: "too old" } } });
    const s = await client.close();
    assert.deepEqual([s.accepted, s.rejected], [50, 1]);
    assert.deepEqual(rejected.map((r) => r.id), [old]);
    const counts = await srv.awaitStored(ids);
    for (const id of ids) assert.equal(counts[id], 1, `${id} stored ${counts[id]} times`);
  } finally {
    await srv.stop();
  }
});
