// Browser test of the status page opened remotely: run by
// scripts/test-console.sh against a second server (embedded JetStream and
// DuckDB, QUERY_ALLOW_REMOTE with ADMIN_TOKEN) that took a burst of events
// and a rejected event before any page was open. Chromium reaches it as
// https://console.example:PROXY_PORT through a TLS-terminating proxy this
// test runs (X-Forwarded-Proto: https; the server sees a non-loopback
// Host), logs in with the admin token, and finds the burst in the charts
// (the server's history), the queue bytes against their cap, the disk of
// DATA_DIR and the rejected event.
// Env: BASE_REMOTE (http://127.0.0.1:18803), ADMIN_TOKEN, TLS_KEY, TLS_CERT,
// PROXY_PORT (18804), BURST_EVENTS (events of the burst), PLAYWRIGHT_DIR,
// ARTIFACTS, USER_DATA_DIR.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";

const require = createRequire(path.join(process.env.PLAYWRIGHT_DIR, "package.json"));
const { chromium } = require("playwright-core");
const target = new URL(process.env.BASE_REMOTE || "http://127.0.0.1:18803");
const PROXY_PORT = Number(process.env.PROXY_PORT || 18804);
const ORIGIN = `https://console.example:${PROXY_PORT}`;
const ART = process.env.ARTIFACTS;
const TOKEN = process.env.ADMIN_TOKEN;
const BURST = Number(process.env.BURST_EVENTS || 0);

// proxy terminates TLS and forwards to the server as a reverse proxy does:
// the Host is kept, X-Forwarded-Proto and X-Forwarded-For are set.
function proxy() {
  const srv = https.createServer({ key: fs.readFileSync(process.env.TLS_KEY), cert: fs.readFileSync(process.env.TLS_CERT) }, (req, res) => {
    const headers = { ...req.headers, "x-forwarded-proto": "https", "x-forwarded-for": req.socket.remoteAddress };
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on("error", (e) => { res.writeHead(502); res.end(String(e)); });
    req.pipe(up);
  });
  return new Promise((ok, fail) => { srv.once("error", fail); srv.listen(PROXY_PORT, "127.0.0.1", () => ok(srv)); });
}

test("remote operator logs in and sees the burst, queue bytes against their cap, the disk and a rejected event", { timeout: 120_000 }, async () => {
  assert.ok(TOKEN && TOKEN.length >= 16, "ADMIN_TOKEN is set");
  assert.ok(BURST >= 1000, `BURST_EVENTS ${BURST}`);
  // Without a session the data is refused to a non-local Host.
  // (node:http: fetch does not let a caller set Host.)
  const status = await new Promise((ok, fail) => http.get({ host: target.hostname, port: target.port, path: "/admin/status",
    headers: { Host: "console.example" } }, (r) => { r.resume(); ok(r.statusCode); }).on("error", fail));
  assert.equal(status, 401);

  const srv = await proxy();
  const browser = await chromium.launchPersistentContext(process.env.USER_DATA_DIR, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    ignoreHTTPSErrors: true, // the proxy's certificate is self-signed
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP console.example 127.0.0.1"],
    viewport: { width: 1400, height: 1400 },
  });
  try {
    const page = browser.pages()[0] || (await browser.newPage());
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));

    // The page sends a browser without a session to the login form.
    await page.goto(ORIGIN + "/");
    assert.equal(new URL(page.url()).pathname, "/login");

    // A wrong token is refused and sets no cookie.
    await page.fill("#token", "not-the-admin-token");
    await page.click("#login");
    await page.waitForFunction(() => /wrong admin token/.test(document.getElementById("login-error").textContent), null, { timeout: 10_000 });
    assert.equal((await browser.cookies(ORIGIN)).length, 0);

    // The token: a Secure, HttpOnly, SameSite=Strict session cookie, and
    // the status page.
    await page.fill("#token", TOKEN);
    await Promise.all([page.waitForURL(ORIGIN + "/", { timeout: 10_000 }), page.click("#login")]);
    const cookies = await browser.cookies(ORIGIN);
    const c = cookies.find((x) => x.name === "eventgrpc_session");
    assert.ok(c, `session cookie: ${JSON.stringify(cookies)}`);
    assert.equal(c.secure, true);
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, "Strict");
    assert.equal(await page.evaluate(() => document.cookie.includes("eventgrpc_session")), false, "the page's scripts cannot read the cookie");
    await page.waitForFunction(() => document.getElementById("ready").textContent === "READY", null, { timeout: 30_000 });
    assert.equal(await page.isVisible("#logout"), true, "a logged-in page offers to log out");

    // History: the burst happened before the page was opened, yet the
    // accepted chart holds it (kept by the server), while the live rate is
    // back to the trickle.
    await page.waitForFunction(() => Number(document.getElementById("c-accepted").dataset.points || 0) > 0, null, { timeout: 15_000 });
    const hist = await page.evaluate(() => {
      const d = (id) => ({ max: Number(document.getElementById(id).dataset.max), points: Number(document.getElementById(id).dataset.points) });
      return { accepted: d("c-accepted"), received: d("c-received"), live: document.getElementById("r-accepted").textContent };
    });
    assert.ok(hist.accepted.max >= 300, `the accepted chart's max ${hist.accepted.max}/s shows the burst of ${BURST} events (live: ${hist.live})`);
    assert.ok(hist.received.max >= 300, `the received chart's max ${hist.received.max}/s`);
    console.log(`history: accepted max ${hist.accepted.max}/s over ${hist.accepted.points} points; live ${hist.live}/s`);
    await page.screenshot({ path: path.join(ART, "console-remote.png"), fullPage: true });
    // The same burst per minute, over the last 24 hours.
    await page.click('#range button[data-res="1m"]');
    await page.waitForFunction(() => /24 hours/.test(document.getElementById("hist-note").textContent), null, { timeout: 10_000 });
    const perMinute = await page.evaluate(() => Number(document.getElementById("c-accepted").dataset.max));
    assert.ok(perMinute > 0 && perMinute * 60 >= BURST * 0.5, `per-minute accepted max ${perMinute}/s for a burst of ${BURST}`);

    // Queue bytes against their cap (JetStream reports both).
    await page.waitForFunction(() => document.querySelectorAll("#t-queues tbody td.qbytes").length > 0, null, { timeout: 15_000 });
    const qb = await page.$$eval("#t-queues tbody tr", (rows) => rows.map((r) => [r.cells[0].textContent, r.querySelector("td.qbytes")?.textContent || ""]));
    assert.ok(qb.length > 0, "queues listed");
    for (const [q, cell] of qb) assert.match(cell, /^\d+(\.\d)? (B|KiB|MiB|GiB) \/ \d+(\.\d)? (MiB|GiB) \d+\.\d%/, `queue ${q}: ${cell}`);
    // The disk of DATA_DIR, used and free.
    const disk = await page.evaluate(() => ({ used: document.getElementById("disk-used")?.textContent, free: document.getElementById("disk-free")?.textContent, pct: document.getElementById("disk-pct")?.textContent }));
    assert.match(disk.used || "", /^\d+(\.\d)? (B|KiB|MiB|GiB|TiB)$/, JSON.stringify(disk));
    assert.match(disk.free || "", /^\d+(\.\d)? (B|KiB|MiB|GiB|TiB)$/, JSON.stringify(disk));
    assert.match(disk.pct || "", /^\d+\.\d%$/, JSON.stringify(disk));
    // The rejected event: its reason and its body, next to the counts.
    const rej = await page.textContent("#rejections");
    assert.match(rej, /older than the accepted age/);
    assert.match(rej, /rejected-by-console-test/);
    const reasons = await page.$$eval("#t-reasons tbody tr", (rows) => rows.map((r) => r.cells[0].textContent));
    assert.ok(reasons.some((r) => r.startsWith("rejected: ")), `reasons: ${reasons}`);

    // Log out: the session ends, and the page sends the browser back to
    // the form.
    await Promise.all([page.waitForURL(ORIGIN + "/login", { timeout: 10_000 }), page.click("#logout")]);
    await page.goto(ORIGIN + "/");
    assert.equal(new URL(page.url()).pathname, "/login");
    const after = await page.evaluate(async () => (await fetch("/admin/history")).status);
    assert.equal(after, 401);
    assert.deepEqual(errors, [], "no script errors on the page");
  } finally {
    await browser.close();
    srv.close();
  }
});
