// Helpers of the SDK tests: what each SDK sends, and how the rows are
// checked through the server's /v1/query (loopback, read-only SQL).
import assert from 'node:assert/strict';

export const BASE = process.env.BASE; // the server's HTTP port, e.g. http://127.0.0.1:18901
export const WRITE_KEY = process.env.WRITE_KEY;
if (!BASE || !WRITE_KEY) throw new Error('BASE and WRITE_KEY must be set (scripts/test-segment.sh sets them)');

// Nested objects, numbers, booleans, arrays, unicode.
export const props = {
  revenue: 49.5, quantity: 3, paid: true, gift: false,
  title: 'Zoë’s 日本語 order 🎉 "quoted" \\ back',
  items: [{ sku: 'a-1', price: 19.99, tags: ['x', 'y'] }, { sku: 'b-2', price: 29.51, tags: [] }],
  shipping: { address: { city: 'München', zip: '80331' }, express: true },
};
export const traits = { email: 'zoe@example.com', plan: 'pro', seats: 5, beta: true, tags: ['a', 'ü'] };
export const groupTraits = { name: 'Acme GmbH', employees: 120, address: { city: 'Köln' } };

export async function query(sql) {
  const r = await fetch(`${BASE}/v1/query`, { method: 'POST', headers: { 'X-Requested-By': 'sdk-test' }, body: sql });
  const body = await r.json();
  assert.equal(r.status, 200, `query ${sql}: ${JSON.stringify(body)}`);
  return body.rows;
}

// The query endpoint escapes \, tab and newline of values (TSV).
export function unTSV(s) {
  return s.replace(/\\(\\|t|n)/g, (_, c) => (c === 't' ? '\t' : c === 'n' ? '\n' : '\\'));
}

// awaitRows polls sql until it has n rows (45 s at most) and returns them.
export async function awaitRows(sql, n) {
  const deadline = Date.now() + 45_000;
  let rows = [];
  while (Date.now() < deadline) {
    rows = await query(sql);
    if (rows.length >= n) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(rows.length, n, `${sql}: ${rows.length} rows, want ${n}: ${JSON.stringify(rows)}`);
  return rows;
}

// checkLanded asserts that the messages of one SDK run (user `user`,
// anonymous id `anon`) each landed exactly once in the right table with
// their properties and traits intact. calls lists the tables expected.
export async function checkLanded(user, anon, { screen = true } = {}) {
  const who = `(user_id = '${user}' OR anonymous_id = '${anon}')`;
  // Stable: wait for every table first, then check that no row doubled.
  const tr = await awaitRows(`SELECT event, properties, count(*) OVER (PARTITION BY event_id) FROM tracks WHERE ${who} ORDER BY event`, 2);
  assert.deepEqual(tr.map((r) => r[0]), ['Order Completed', 'Viewed Plan']);
  for (const r of tr) {
    assert.deepEqual(JSON.parse(unTSV(r[1])), props, `tracks.properties of ${r[0]}`);
    assert.equal(r[2], '1');
  }
  const id = await awaitRows(`SELECT traits, user_id, anonymous_id FROM identifies WHERE ${who}`, 1);
  assert.deepEqual(JSON.parse(unTSV(id[0][0])), traits, 'identifies.traits');
  assert.deepEqual(id[0].slice(1), [user, anon]);
  const pg = await awaitRows(`SELECT name, category, properties FROM pages WHERE ${who}`, 1);
  assert.equal(pg[0][0], 'Pricing');
  assert.deepEqual(JSON.parse(unTSV(pg[0][2])).nested, props.shipping, 'pages.properties');
  if (screen) {
    const sc = await awaitRows(`SELECT name, properties FROM screens WHERE ${who}`, 1);
    assert.equal(sc[0][0], 'Cart');
    assert.deepEqual(JSON.parse(unTSV(sc[0][1])).items, props.items, 'screens.properties');
  }
  const gr = await awaitRows(`SELECT group_id, traits FROM groups WHERE ${who}`, 1);
  assert.equal(gr[0][0], `${user}-org`);
  assert.deepEqual(JSON.parse(unTSV(gr[0][1])), groupTraits, 'groups.traits');
  const al = await awaitRows(`SELECT previous_id FROM aliases WHERE user_id = '${user}'`, 1);
  assert.equal(al[0][0], anon);
  // Exactly once: no event id twice in any table.
  for (const t of ['tracks', 'identifies', 'pages', 'screens', 'groups', 'aliases']) {
    const d = await query(`SELECT count(*) - count(DISTINCT event_id) FROM ${t} WHERE ${who}`);
    assert.equal(d[0][0], '0', `${t} has a duplicate row`);
  }
}
