// @segment/analytics-next in headless Chromium (Debian's chromium driven
// by playwright-core), unmodified but for its endpoint: the page loads the
// package's own UMD bundle from a local server, with cdnSettings given
// inline and the Segment.io integration pointed at the server. Nothing is
// fetched from Segment's CDN: a chunk the bundle asks the CDN for is
// answered from the same local package, anything else there is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { BASE, WRITE_KEY, props, traits, groupTraits, checkLanded } from './common.mjs';

const require = createRequire(import.meta.url);
const umd = path.join(path.dirname(require.resolve('@segment/analytics-next/package.json')), 'dist', 'umd');
const run = Date.now().toString(36);

const page = `<!doctype html><html><head><meta charset="utf-8"><title>analytics-next</title>
<script src="/analytics.js"></script></head><body>analytics-next test page</body></html>`;

test('@segment/analytics-next in Chromium: every call lands once, properties intact', async () => {
  const srv = http.createServer((req, res) => {
    if (req.url === '/') { res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }); res.end(page); return; }
    if (req.url === '/analytics.js') { res.writeHead(200, { 'Content-Type': 'text/javascript' }); res.end(fs.readFileSync(path.join(umd, 'index.js'))); return; }
    res.writeHead(404); res.end();
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${srv.address().port}`;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const refused = [];
  try {
    const ctx = await browser.newContext();
    await ctx.route('**/*', async (route) => {
      const u = new URL(route.request().url());
      if (u.hostname === '127.0.0.1') return route.continue();
      const local = path.join(umd, path.basename(u.pathname));
      if (u.hostname === 'cdn.segment.com' && u.pathname.includes('/analytics-next/bundles/') && fs.existsSync(local)) {
        return route.fulfill({ status: 200, contentType: 'text/javascript', body: fs.readFileSync(local) });
      }
      refused.push(u.href);
      return route.abort();
    });
    const p = await ctx.newPage();
    const pageErrors = [];
    p.on('pageerror', (e) => pageErrors.push(String(e)));
    await p.goto(origin + '/');
    const user = `browser-user-${run}`, anon = `browser-anon-${run}`;
    const apiHost = new URL(BASE).host + '/v1';
    const sent = await p.evaluate(async ({ wk, apiHost, user, anon, props, traits, groupTraits }) => {
      const [analytics] = await window.AnalyticsNext.AnalyticsBrowser.load(
        { writeKey: wk, cdnSettings: { integrations: { 'Segment.io': { apiKey: wk } } } },
        { integrations: { 'Segment.io': { apiHost, protocol: 'http' } } });
      analytics.setAnonymousId(anon);
      const ctxs = [];
      ctxs.push(await analytics.page('Docs', 'Pricing', { nested: props.shipping }));
      ctxs.push(await analytics.track('Viewed Plan', props));
      ctxs.push(await analytics.identify(user, traits));
      ctxs.push(await analytics.alias(user, anon));
      ctxs.push(await analytics.track('Order Completed', props));
      ctxs.push(await analytics.group(`${user}-org`, groupTraits));
      return ctxs.map((c) => ({ type: c.event.type, failed: c.failedDelivery() ? String(c.failedDelivery().reason) : '' }));
    }, { wk: WRITE_KEY, apiHost, user, anon, props, traits, groupTraits });
    assert.deepEqual(sent.map((s) => s.type), ['page', 'track', 'identify', 'alias', 'track', 'group']);
    assert.deepEqual(sent.filter((s) => s.failed), [], 'delivery failures');
    assert.deepEqual(pageErrors, []);
    await checkLanded(user, anon, { screen: false });
    assert.deepEqual(refused, [], 'requests outside the machine');
  } finally {
    await browser.close();
    srv.close();
  }
});
