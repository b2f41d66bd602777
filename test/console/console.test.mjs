// Browser test of the status page: run by scripts/test-console.sh against a
// running server under load with a dead letter in trace_log.error.
// Env: BASE (http://127.0.0.1:18801), PLAYWRIGHT_DIR (node_modules holder),
// ARTIFACTS (screenshot dir), USER_DATA_DIR (fresh Chromium profile).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.PLAYWRIGHT_DIR, "package.json"));
const { chromium } = require("playwright-core");
const BASE = process.env.BASE || "http://127.0.0.1:18801";
const ART = process.env.ARTIFACTS;

test("status page shows rates, queues and a dead letter, and replays it", { timeout: 180_000 }, async () => {
  const browser = await chromium.launchPersistentContext(process.env.USER_DATA_DIR, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    viewport: { width: 1400, height: 1250 },
  });
  try {
    const page = browser.pages()[0] || (await browser.newPage());
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(BASE + "/");
    await page.waitForFunction(() => document.getElementById("ready").textContent === "READY", null, { timeout: 30_000 });

    // Rates are filled in: the load is running, so accepted/s is above zero.
    await page.waitForFunction(() => parseFloat(document.getElementById("r-accepted").textContent.replace(/,/g, "")) > 0, null, { timeout: 30_000 });
    // Queues are listed with their numbers.
    const queues = await page.$$eval("#t-queues tbody tr", (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
    assert.ok(queues.length > 0 && queues[0].length >= 5, `queue table: ${JSON.stringify(queues)}`);
    assert.ok(queues.some((r) => r[0] === "grpc_clickhouse_event_q"), `the catch-all queue is listed: ${JSON.stringify(queues.map((r) => r[0]))}`);
    // RabbitMQ does not report a queue's bytes over AMQP: the cell shows
    // the cap alone, and says why.
    const qb = await page.$$eval("#t-queues tbody td.qbytes", (cells) => cells.map((c) => [c.textContent, c.title]));
    assert.ok(qb.length > 0 && qb.every(([t, why]) => /^\? \/ \d+(\.\d)? (MiB|GiB)$/.test(t) && /does not report/.test(why)), `queue bytes/cap: ${JSON.stringify(qb)}`);
    // The disk of DATA_DIR.
    await page.waitForFunction(() => /^\d+\.\d%$/.test(document.getElementById("disk-pct")?.textContent || ""), null, { timeout: 10_000 });
    const sources = await page.$$eval("#t-sources tbody tr", (rows) => rows.map((r) => r.cells[0].textContent));
    assert.ok(sources.includes("grpc"), `sources: ${sources}`);
    // Balanced, or only requests in flight between received and accepted.
    assert.match(await page.textContent("#acc-mark"), /^(BALANCED|IN FLIGHT \(\d+\))$/);

    // A dead letter is listed with its sample (reason and body).
    const dl = page.locator('.dl[data-queue="trace_log"]');
    await dl.waitFor({ timeout: 90_000 });
    await page.waitForFunction(() => /x-error-reason/.test(document.querySelector('.dl[data-queue="trace_log"] .sample').textContent), null, { timeout: 15_000 });
    const before = parseInt((await dl.locator(".count").textContent()).replace(/,/g, ""), 10);
    assert.ok(before >= 1, `dead letters: ${before}`);
    const sample = await dl.locator(".sample").textContent();
    assert.match(sample, /required field missing/);
    assert.match(sample, /poison/);
    await page.screenshot({ path: path.join(ART, "console.png"), fullPage: true });

    // Replay: confirm the dialog, see the progress finish. The letters go
    // back into trace_log and are consumed again; being poison, they fail
    // again (the queue's failed count grows by at least as many) and come
    // back to the error queue, none lost. (A dip in the dead-letter count is
    // not asserted: retries are immediate, so it may last less than a poll.)
    const failedOf = () => page.$$eval("#t-queues tbody tr", (rows) => {
      const r = rows.find((x) => x.cells[0].textContent === "trace_log");
      return r ? parseInt(r.cells[6].textContent.replace(/,/g, ""), 10) : NaN;
    });
    const failedBefore = await failedOf();
    assert.ok(failedBefore >= before, `trace_log failed ${failedBefore} before replay, dead letters ${before}`);
    let asked = "";
    page.once("dialog", (d) => { asked = d.message(); d.accept(); });
    await dl.locator(".replay").click();
    await page.waitForFunction(() => /done/.test(document.querySelector('.dl[data-queue="trace_log"] .state')?.textContent || ""), null, { timeout: 30_000 });
    assert.match(asked, /Replay \d+ dead letter/);
    assert.match(await dl.locator(".state").textContent(), new RegExp(`replayed ${before} of ${before}`));
    await page.waitForFunction(([want]) => {
      const r = [...document.querySelectorAll("#t-queues tbody tr")].find((x) => x.cells[0].textContent === "trace_log");
      return r && parseInt(r.cells[6].textContent.replace(/,/g, ""), 10) >= want;
    }, [failedBefore + before], { timeout: 30_000 });
    await page.waitForFunction((b) => {
      const el = document.querySelector('.dl[data-queue="trace_log"] .count');
      return el && parseInt(el.textContent.replace(/,/g, ""), 10) >= b;
    }, before, { timeout: 30_000 });
    await page.screenshot({ path: path.join(ART, "console-after-replay.png"), fullPage: true });
    assert.deepEqual(errors, [], "no script errors on the page");
  } finally {
    await browser.close();
  }
});
