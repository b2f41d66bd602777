// Overhead per tracked event of the SDK, in Node (no network):
//   node --expose-gc bench/track.mjs [events-per-round] [rounds]
// Three measures of CPU time per event (process.cpuUsage: user + system,
// so other load on the machine does not count), each the median of the rounds:
//   track      µs inside track() calls alone (mint id + timestamp, build and
//              encode the event, queue it), batches sent in between;
//   no-op      µs per event of wall time, tracking 100 events per turn of
//              the event loop into a Sender that answers OK at once
//              (batching, settling included);
//   connect    µs per event, the same through the real Connect sender and
//              a fetch that answers a canned OK (adds protobuf encoding of
//              each request and connect-web's call path), bodies gzipped
//              (the default);
//   identity   the same with gzip: false: connect − identity is
//              the cost of gzip;
//   generic    µs inside track(name, properties) calls alone (the generic
//              call: JSON properties → Struct, identity, context).
// The kinds run round-robin, so a change in the machine's load hits all.
// And bytes allocated per track() call: heap growth over a round run in a
// young generation large enough that no GC runs in between (GC count shown;
// needs --expose-gc, else n/a).
import { PerformanceObserver } from "node:perf_hooks";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient, ResponseSchema, Status } from "../dist/index.js";

const N = Number(process.argv[2] ?? 100_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const CHUNK = 100; // events tracked between two turns of the event loop
const OK = create(ResponseSchema, { status: Status.OK });
const okBytes = toBinary(ResponseSchema, OK);

const payload = (i) => ({ pageName: "product", pageUrl: "/p/sku-" + i, pageType: "product", previousPage: "home", source: "search" });
const opts = (extra) => ({
  baseUrl: "http://127.0.0.1:1",
  pageLifecycle: false,
  maxBatchEvents: 500,
  maxQueueEvents: N + 1,
  maxQueueBytes: 1 << 30,
  maxBatchBytes: 4 << 20,
  flushIntervalMs: 3_600_000,
  header: { sessionId: "s-1", userId: "u-42", clientId: "web", appVersion: "5.1.0" },
  ...extra,
});

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function round(kind) {
  let c;
  if (kind === "connect" || kind === "identity") {
    const fetch = async () => new Response(okBytes, { status: 200, headers: { "content-type": "application/proto" } });
    c = createClient(opts({ fetch, gzip: kind !== "identity" }));
  } else {
    c = createClient(opts({ sender: async () => OK }));
  }
  // Events come in chunks with the event loop free in between, as in an
  // app: full batches leave while the next chunk is tracked.
  // CPU time (user + system) of this process, not wall time: the machine
  // is shared, and waiting for a core is not the SDK's cost.
  const cpu = () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  let inTrack = 0;
  const t0 = cpu();
  for (let i = 0; i < N; ) {
    const a = cpu();
    if (kind === "generic") for (const end = Math.min(N, i + CHUNK); i < end; i++) c.track("Page Opened", payload(i));
    else for (const end = Math.min(N, i + CHUNK); i < end; i++) c.track("pageOpenedEvent", payload(i));
    inTrack += cpu() - a;
    await new Promise(setImmediate);
  }
  await c.flush();
  const total = cpu() - t0;
  const s = await c.close();
  if (s.accepted !== N) throw new Error(`accepted ${s.accepted} of ${N}`);
  return (kind === "track" || kind === "generic" ? inTrack : total) / N;
}

async function allocPerTrack() {
  if (typeof globalThis.gc !== "function") return "n/a (run with --expose-gc)";
  let gcs = 0;
  const obs = new PerformanceObserver((l) => (gcs += l.getEntries().length));
  obs.observe({ entryTypes: ["gc"] });
  const n = Math.min(N, 20_000);
  const c = createClient(opts({ sender: async () => OK }));
  for (let i = 0; i < 1000; i++) c.track("pageOpenedEvent", payload(i)); // warm
  globalThis.gc();
  await new Promise((r) => setTimeout(r, 10));
  gcs = 0;
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) c.track("pageOpenedEvent", payload(i));
  const after = process.memoryUsage().heapUsed;
  await new Promise((r) => setTimeout(r, 10));
  obs.disconnect();
  await c.close();
  return `${Math.round((after - before) / n)} B/event (${n} events, ${gcs} GC during)`;
}

for (let i = 0; i < 2; i++) await round("noop"); // JIT warm-up
const kinds = ["track", "generic", "noop", "connect", "identity"];
const out = Object.fromEntries(kinds.map((k) => [k, []]));
for (let r = 0; r < ROUNDS; r++) for (const kind of kinds) out[kind].push(await round(kind));
console.log(`node ${process.version}, ${N} events per round, ${ROUNDS} rounds (median; min..max)`);
for (const [k, xs] of Object.entries(out)) {
  console.log(`${k.padEnd(8)} ${median(xs).toFixed(2)} µs CPU/event  (${Math.min(...xs).toFixed(2)}..${Math.max(...xs).toFixed(2)})`);
}
console.log(`alloc    ${await allocPerTrack()}`);
