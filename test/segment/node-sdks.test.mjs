// The Node SDKs, unmodified but for their endpoint, against the real
// server: @segment/analytics-node and @rudderstack/rudder-sdk-node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Analytics } from '@segment/analytics-node';
import { BASE, WRITE_KEY, props, traits, groupTraits, checkLanded } from './common.mjs';

const require = createRequire(import.meta.url);
const run = Date.now().toString(36);

test('@segment/analytics-node: every call lands once, properties intact', async () => {
  const user = `node-user-${run}`, anon = `node-anon-${run}`;
  const errors = [];
  const a = new Analytics({ writeKey: WRITE_KEY, host: BASE, maxEventsInBatch: 4, flushInterval: 100 });
  a.on('error', (e) => errors.push(e));
  const done = [];
  const cb = (resolve) => (err) => { if (err) errors.push(err); resolve(); };
  const send = (fn, msg) => done.push(new Promise((r) => a[fn](msg, cb(r))));
  send('page', { anonymousId: anon, name: 'Pricing', category: 'Docs', properties: { nested: props.shipping } });
  send('track', { anonymousId: anon, event: 'Viewed Plan', properties: props });
  send('identify', { userId: user, anonymousId: anon, traits });
  send('alias', { userId: user, previousId: anon });
  send('track', { userId: user, event: 'Order Completed', properties: props });
  send('screen', { userId: user, name: 'Cart', properties: { items: props.items } });
  send('group', { userId: user, groupId: `${user}-org`, traits: groupTraits });
  await Promise.all(done);
  await a.closeAndFlush({ timeout: 20_000 });
  assert.deepEqual(errors, []);
  await checkLanded(user, anon);
});

test('@rudderstack/rudder-sdk-node: every call lands once, properties intact', async () => {
  const Rudder = require('@rudderstack/rudder-sdk-node');
  const user = `rudder-user-${run}`, anon = `rudder-anon-${run}`;
  const client = new Rudder(WRITE_KEY, { dataPlaneUrl: BASE, flushAt: 4, flushInterval: 100 });
  const errors = [];
  const done = [];
  const send = (fn, msg) => done.push(new Promise((r) => client[fn](msg, (err) => { if (err) errors.push(err); r(); })));
  send('page', { anonymousId: anon, name: 'Pricing', category: 'Docs', properties: { nested: props.shipping } });
  send('track', { anonymousId: anon, event: 'Viewed Plan', properties: props });
  send('identify', { userId: user, anonymousId: anon, traits });
  send('alias', { userId: user, previousId: anon });
  send('track', { userId: user, event: 'Order Completed', properties: props });
  send('screen', { userId: user, name: 'Cart', properties: { items: props.items } });
  send('group', { userId: user, groupId: `${user}-org`, traits: groupTraits });
  await client.flush();
  await Promise.all(done);
  assert.deepEqual(errors.map(String), []);
  await checkLanded(user, anon);
});
