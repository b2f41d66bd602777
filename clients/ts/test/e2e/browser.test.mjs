// End to end in headless Chromium against the real server:
//
//   go build ./cmd/event-grpc → started zero-config (embedded JetStream and
//   DuckDB) on 127.0.0.1:18600/18601 with a fresh DATA_DIR and
//   CORS_ALLOWED_ORIGINS naming a second origin, 127.0.0.1:18602, where a
//   tiny static server serves a page that loads the bundled SDK
//   (dist/event-grpc.browser.js). So every call is cross-origin (preflight
//   included) as from a real web site.
//
// (test/e2e/node.test.mjs runs the SDK in Node against the same server.)
//
// Scenarios:
//   close     the page tracks events and is closed right away
//             (page.close({runBeforeUnload: true})): its flush interval is
//             ten minutes, so only the pagehide / visibilitychange flush with
//             fetch keepalive can deliver them;
//   navigate  the same, leaving by navigation instead of closing;
//   overflow  more than the 64 KiB keepalive cap held at close: everything
//             unsettled is saved in localStorage (what keepalive carries
//             too: that request may fail after the page is gone) and the
//             next page of the origin sends it, each stored once;
//   visible   a page that stays: the normal interval flush, answers read
//             cross-origin (accepted counted by the SDK), and a per-event
//             rejection (a 1970 timestamp, over MAX_EVENT_AGE) reported to
//             onRejected and stored nowhere;
//   offline   generic calls (identify, track, page) while the server is
//             down, the page reloaded in between (the keepalive flush fails
//             too), then the server comes up: the reloaded page sends what
//             the first one kept in localStorage, gzipped, and every call
//             lands once in its table with its properties, the remembered
//             user id and the same anonymous id;
//   opt-out   opted out, nothing reaches the network, also across a
//             reload (the choice is kept in localStorage); opted in, a
//             call is stored.
// Each tracked id must then be stored exactly once in the event table
// (count by event_id, and total rows == tracked), with the page's header.
//
// Needs: BROWSER_TOOLS_DIR (what scripts/ensure-browser.sh prints), a Go
// toolchain, npm run build done. scripts/test-ts.sh provides all three.
// Artifacts (screenshots, DOM dumps, server log) go to test-results/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { pkg, results, startServer } from "./server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const PAGE_PORT = 18602;
const origin = `http://127.0.0.1:${PAGE_PORT}`;
const toolsDir = process.env.BROWSER_TOOLS_DIR;

let srv, server, serverLog, query, awaitStored, staticServer, browser;

function staticFiles() {
  const page = readFileSync(join(here, "page.html"));
  const bundle = readFileSync(join(pkg, "dist", "event-grpc.browser.js"));
  return createServer((req, res) => {
    const path = new URL(req.url, origin).pathname;
    if (path === "/" || path === "/page.html") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
    } else if (path === "/event-grpc.browser.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
    } else {
      res.writeHead(404).end();
    }
  });
}

before(async () => {
  assert.ok(toolsDir, "BROWSER_TOOLS_DIR unset: run scripts/ensure-browser.sh (scripts/test-ts.sh does)");
  srv = await startServer("browser", { CORS_ALLOWED_ORIGINS: origin });
  ({ url: server, log: serverLog, query, awaitStored } = srv);

  staticServer = staticFiles();
  await new Promise((r) => staticServer.listen(PAGE_PORT, "127.0.0.1", r));

  const { chromium } = await import(join(toolsDir, "node_modules", "playwright-core", "index.mjs"));
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // No --user-data-dir: playwright's launch() gives every browser a
      // fresh temporary profile itself (and refuses the flag).
    ],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((r) => (staticServer ? staticServer.close(r) : r()));
  await srv?.stop();
  console.log(`# e2e artifacts: ${results} (screenshots, DOM dumps, server logs)`);
});

/** Opens the page (in a fresh context unless given one), tracks n events, returns {page, ids, stats, session}. */
async function openAndTrack(name, n, extra = "", ctx = undefined) {
  const context = ctx ?? (await browser.newContext());
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  const session = `e2e-${name}-${Date.now()}`;
  await page.goto(`${origin}/page.html?server=${encodeURIComponent(server)}&session=${session}${extra}`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
  const ids = await page.evaluate((n) => window.trackMany(n), n);
  const stats = await page.evaluate(() => window.sdk.client.stats());
  await page.screenshot({ path: join(results, `${name}.png`), fullPage: true });
  writeFileSync(join(results, `${name}.html`), await page.content());
  return { context, page, ids, stats, session, problems };
}

async function assertStoredOnce(ids, session) {
  const counts = await awaitStored(ids);
  const missing = ids.filter((id) => !counts[id]);
  assert.deepEqual(missing, [], `${missing.length} of ${ids.length} events not stored; see ${serverLog}`);
  for (const id of ids) assert.equal(counts[id], 1, `event ${id} stored ${counts[id]} times`);
  // Nothing else arrived for this page (no doubles under other ids either).
  const [[total]] = await query(`SELECT count(*) FROM event WHERE session_id = '${session}'`);
  assert.equal(Number(total), ids.length, "rows of the page's session == events tracked");
  const hdr = await query(`SELECT DISTINCT user_id, client_id, sdk_version FROM event WHERE session_id = '${session}'`);
  const { SDK_VERSION } = await import("../../dist/index.js");
  assert.deepEqual(hdr, [["u-e2e", "e2e-web", SDK_VERSION]]);
}

test("close: events tracked right before page.close() arrive by the keepalive flush, each stored once", { timeout: 180_000 }, async () => {
  const { context, page, ids, stats, session, problems } = await openAndTrack("close", 40);
  assert.equal(ids.length, 40);
  assert.equal(stats.requests, 0, "nothing was sent before the page closed");
  assert.equal(stats.heldEvents, 40);
  await page.close({ runBeforeUnload: true });
  await assertStoredOnce(ids, session);
  assert.deepEqual(problems, []);
  await context.close();
  console.log(`# e2e close: ${ids.length} events tracked, page closed, ${ids.length} stored once; screenshot ${join(results, "close.png")}`);
});

test("navigate: events tracked right before navigating away arrive, each stored once", { timeout: 180_000 }, async () => {
  const { context, page, ids, stats, session, problems } = await openAndTrack("navigate", 40);
  assert.equal(stats.requests, 0);
  await page.goto("about:blank");
  await assertStoredOnce(ids, session);
  assert.deepEqual(problems, []);
  await context.close();
});

test("visible: the interval flush delivers cross-origin, answers are read, a rejected event is reported and not stored", { timeout: 180_000 }, async () => {
  const { context, page, ids, session, problems } = await openAndTrack("visible", 20, "&interval=100");
  const old = await page.evaluate(() => window.trackOld());
  await page.waitForFunction(() => {
    const s = window.sdk.client.stats();
    return s.accepted + s.rejected >= 21;
  }, null, { timeout: 60_000 });
  const stats = await page.evaluate(() => window.sdk.client.stats());
  assert.equal(stats.accepted, 20, JSON.stringify(stats));
  assert.equal(stats.rejected, 1);
  assert.equal(stats.keepaliveRequests, 0, "the page stayed visible");
  const rejected = await page.evaluate(() => window.rejected);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0][0], old);
  assert.ok(rejected[0][1].length > 0, "a reason is given");
  console.log(`# e2e visible: rejection reason: ${rejected[0][1]}`);
  await page.screenshot({ path: join(results, "visible.png"), fullPage: true });
  await assertStoredOnce(ids, session);
  assert.deepEqual(await query(`SELECT count(*) FROM event WHERE event_id = '${old}'`), [["0"]]);
  assert.deepEqual(problems, []);
  await context.close();
});

test("overflow: more than keepalive carries at close; the rest is saved and the next page of the origin sends it, each stored once", { timeout: 180_000 }, async () => {
  // 1200 events (~95 KB) in one batch-to-be: over the 64 KiB keepalive cap.
  const { context, page, ids, stats, session, problems } = await openAndTrack("overflow", 1200, "&batch=5000");
  assert.equal(stats.requests, 0);
  assert.ok(stats.heldBytes > 64 << 10, `${stats.heldBytes} bytes held`);
  await page.close({ runBeforeUnload: true });
  const early = await awaitStored(ids, 5_000);
  const first = Object.keys(early).length;
  assert.ok(first > 0 && first < ids.length, `${first} of ${ids.length} made it with keepalive`);
  // The next page of the same origin (same profile, so same localStorage).
  const next = await context.newPage();
  await next.goto(`${origin}/page.html?server=${encodeURIComponent(server)}&session=${session}-next`);
  await next.waitForFunction(() => window.ready === true);
  await assertStoredOnce(ids, session);
  const s2 = await next.evaluate(() => window.sdk.client.stats());
  // Everything unsettled at close was saved, what keepalive carried too;
  // the keepalive answers the closing page still read removed theirs from
  // the copy. So the next page sends at least what keepalive did not
  // deliver, at most everything, and what had arrived is stored once.
  assert.ok(s2.loadedFromStore >= ids.length - first && s2.loadedFromStore <= ids.length, `${s2.loadedFromStore} loaded; ${first} of ${ids.length} arrived by keepalive`);
  assert.deepEqual(problems, []);
  console.log(`# e2e overflow: ${ids.length} events at close, ${first} by keepalive, ${s2.loadedFromStore} saved and sent again by the next page, all stored once`);
  await context.close();
});

test("offline: generic calls while the server is down survive a page reload in localStorage, and land once when it is up, gzipped", { timeout: 240_000 }, async () => {
  await srv.stop(); // down: every send fails from here on
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  const dispatches = [];
  page.on("request", (r) => {
    if (r.url().endsWith("/dispatch") && r.method() === "POST") dispatches.push({ encoding: r.headers()["content-encoding"] ?? null, bytes: r.postDataBuffer()?.length ?? 0 });
  });
  const session = `e2e-offline-${Date.now()}`;
  const pageUrl = `${origin}/page.html?server=${encodeURIComponent(server)}&session=${session}&interval=100&maxBackoff=500`;
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
  const first = await page.evaluate(() => {
    const c = window.sdk.client;
    const ids = [c.identify("user-offline", { plan: "pro", seats: 3 })];
    for (let i = 0; i < 30; i++) ids.push(c.track("Offline Action", { i, nested: { ok: true, list: [i, "ü"] }, text: "lorem ipsum dolor sit amet" }));
    ids.push(c.page("Checkout", { step: 2 }));
    return { ids, anon: c.identity().anonymousId };
  });
  await page.waitForFunction(() => window.sdk.client.stats().retries >= 2, null, { timeout: 30_000 });
  const kept = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("event-grpc:pending:")).length);
  assert.equal(kept, 1, "held events kept in localStorage while offline");
  await page.reload(); // pagehide: keepalive fails too (server down); the copy stays
  await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
  const after = await page.evaluate(() => ({ s: window.sdk.client.stats(), who: window.sdk.client.identity() }));
  assert.equal(after.s.loadedFromStore, first.ids.length, JSON.stringify(after.s));
  assert.deepEqual(after.who, { userId: "user-offline", anonymousId: first.anon }, "identity survives the reload");
  const more = await page.evaluate(() => window.sdk.client.track("After Reload", { k: "v" }));
  // Up again, on the same port: the reloaded page's retries get through.
  srv = await startServer("browser-offline", { CORS_ALLOWED_ORIGINS: origin });
  ({ query, awaitStored } = srv);
  await page.waitForFunction(() => window.sdk.client.stats().heldEvents === 0, null, { timeout: 60_000 });
  const s = await page.evaluate(() => window.sdk.client.stats());
  assert.equal(s.accepted, first.ids.length + 1, JSON.stringify(s));
  const trackIds = [...first.ids.slice(1, 31), more];
  const list = (ids) => ids.map((id) => `'${id}'`).join(",");
  // Accepted means durable in the broker; the rows land a moment later.
  let rows = [];
  for (const until = Date.now() + 60_000; Date.now() < until; await new Promise((r) => setTimeout(r, 250))) {
    rows = await srv.query(`SELECT event_id, event, properties, user_id, anonymous_id FROM tracks WHERE event_id IN (${list(trackIds)})`);
    const [[n1]] = await srv.query(`SELECT count(*) FROM identifies WHERE event_id = '${first.ids[0]}'`);
    const [[n2]] = await srv.query(`SELECT count(*) FROM pages WHERE event_id = '${first.ids[31]}'`);
    if (rows.length >= trackIds.length && n1 === "1" && n2 === "1") break;
  }
  assert.equal(rows.length, trackIds.length, "each track stored once");
  assert.equal(new Set(rows.map((r) => r[0])).size, trackIds.length);
  for (const [, event, props, user, anon] of rows) {
    assert.equal(user, "user-offline");
    assert.equal(anon, first.anon);
    if (event === "Offline Action") {
      const p = JSON.parse(props);
      assert.deepEqual(p.nested, { ok: true, list: [p.i, "ü"] });
    }
  }
  assert.deepEqual(await srv.query(`SELECT user_id, traits FROM identifies WHERE event_id = '${first.ids[0]}'`), [["user-offline", '{"plan":"pro","seats":3}']]);
  assert.deepEqual(await srv.query(`SELECT name, properties FROM pages WHERE event_id = '${first.ids[31]}'`), [["Checkout", '{"step":2}']]);
  const zipped = dispatches.filter((d) => d.encoding === "gzip");
  assert.ok(zipped.length >= 1, `gzipped requests from the browser: ${JSON.stringify(dispatches.slice(-5))}`);
  assert.ok(s.compressedRequests >= 1 && s.sentBytes < s.bodyBytes, JSON.stringify(s));
  assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("event-grpc:pending:")).length), 0, "copy removed once delivered");
  assert.deepEqual(problems, []);
  await page.screenshot({ path: join(results, "offline.png"), fullPage: true });
  await context.close();
  console.log(`# e2e offline: ${first.ids.length} calls while down, page reloaded, ${after.s.loadedFromStore} reloaded from localStorage, all stored once; ${dispatches.length} requests, ${zipped.length} gzipped`);
});

test("opt-out in the browser: nothing reaches the network, the choice survives a reload, opting in tracks again", { timeout: 120_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const dispatches = [];
  page.on("request", (r) => r.url().endsWith("/dispatch") && r.method() === "POST" && dispatches.push(r.url()));
  const session = `e2e-optout-${Date.now()}`;
  await page.goto(`${origin}/page.html?server=${encodeURIComponent(server)}&session=${session}&interval=50`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
  const out = await page.evaluate(() => {
    const c = window.sdk.client;
    c.optOut();
    return [c.track("Secret", { a: 1 }), c.identify("who", {}), c.page("Hidden"), c.track("pageOpenedEvent", { pageName: "x" })];
  });
  assert.deepEqual(out, ["", "", "", ""]);
  await page.reload(); // pagehide while opted out: nothing is sent or kept
  await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.sdk.client.optedOut()), true, "remembered in localStorage");
  assert.equal(await page.evaluate(() => window.sdk.client.track("Still Secret", {})), "");
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(dispatches, [], "no request while opted out");
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("event-grpc:pending:"))), []);
  const id = await page.evaluate(() => {
    window.sdk.client.optIn();
    return window.sdk.client.track("After Consent", { ok: true });
  });
  await page.waitForFunction(() => window.sdk.client.stats().accepted === 1, null, { timeout: 30_000 });
  let rows = [];
  for (const until = Date.now() + 30_000; rows.length === 0 && Date.now() < until; await new Promise((r) => setTimeout(r, 250))) {
    rows = await query(`SELECT event FROM tracks WHERE event_id = '${id}'`);
  }
  assert.deepEqual(rows, [["After Consent"]]);
  assert.deepEqual(await query(`SELECT count(*) FROM tracks WHERE event IN ('Secret', 'Still Secret')`), [["0"]]);
  await context.close();
});
