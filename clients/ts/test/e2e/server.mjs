// The real event-grpc server for the end-to-end tests: built from this
// checkout (or EVENT_GRPC_BIN, which scripts/test-ts.sh builds once),
// started zero-config (embedded JetStream and DuckDB) on this SDK's ports
// 18600/18601 with a fresh DATA_DIR, its log kept under test-results/.
import { spawn, execFile } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
export const pkg = join(here, "..", "..");
export const repo = join(pkg, "..", "..");
export const results = join(pkg, "test-results");
export const GRPC_PORT = 18600;
export const HTTP_PORT = 18601;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts the server with extra env; returns {url, query, awaitStored, stop, log}. */
export async function startServer(name, env = {}) {
  mkdirSync(results, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), "ts-sdk-e2e-"));
  let bin = process.env.EVENT_GRPC_BIN;
  if (!bin) {
    bin = join(tmp, "event-grpc");
    const t0 = Date.now();
    await promisify(execFile)("go", ["build", "-o", bin, "./cmd/event-grpc"], { cwd: repo, maxBuffer: 16 << 20 });
    console.log(`# e2e: go build ./cmd/event-grpc ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  }
  const url = `http://127.0.0.1:${HTTP_PORT}`;
  const log = join(results, `server-${name}.log`);
  const out = createWriteStream(log);
  const proc = spawn(bin, [], {
    cwd: tmp,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME ?? tmp,
      ENV: "local",
      PORT: String(GRPC_PORT),
      GIN_PORT: String(HTTP_PORT),
      DATA_DIR: join(tmp, "data"),
      LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout.pipe(out);
  proc.stderr.pipe(out);
  let exited = null;
  proc.on("exit", (code, sig) => (exited = `${code ?? sig}`));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== null) throw new Error(`event-grpc exited (${exited}) at start; see ${log}`);
    try {
      if ((await fetch(`${url}/heartbeat`)).status === 200) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`event-grpc not ready within 60s; see ${log}`);
    await sleep(200);
  }

  async function query(sql) {
    const res = await fetch(`${url}/v1/query`, { method: "POST", body: sql, headers: { "content-type": "text/plain", "x-requested-by": "event-grpc-ts-tests" } });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`query ${res.status}: ${body}`);
    return JSON.parse(body).rows;
  }

  /** Waits until every id is stored (or timeoutMs); returns {id: rows}. */
  async function awaitStored(ids, timeoutMs = 60_000) {
    const list = ids.map((id) => `'${id}'`).join(",");
    const until = Date.now() + timeoutMs;
    let counts = {};
    for (;;) {
      const rows = await query(`SELECT event_id, count(*) FROM event WHERE event_id IN (${list}) GROUP BY event_id`);
      counts = Object.fromEntries(rows.map(([id, n]) => [id, Number(n)]));
      if (ids.every((id) => counts[id] >= 1) || Date.now() > until) break;
      await sleep(250);
    }
    return counts;
  }

  async function stop() {
    if (proc.exitCode === null) {
      const gone = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await Promise.race([gone, sleep(20_000)]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
    rmSync(tmp, { recursive: true, force: true });
  }

  return { url, query, awaitStored, stop, log };
}
