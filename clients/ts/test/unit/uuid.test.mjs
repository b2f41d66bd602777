import { test } from "node:test";
import assert from "node:assert/strict";
import { createUuidV7, uuidv7, uuidv7Time } from "../../dist/index.js";

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("uuidv7: RFC 9562 layout (version 7, variant 10) and the millisecond it was minted", () => {
  const before = Date.now();
  const id = uuidv7();
  const after = Date.now();
  assert.match(id, V7);
  const ms = uuidv7Time(id);
  assert.ok(ms >= before && ms <= after, `${ms} not in [${before}, ${after}]`);
  const g = createUuidV7();
  assert.equal(uuidv7Time(g.next(1718000000123)), 1718000000123);
  assert.equal(uuidv7Time(g.next(0x7fffffffffff)), 0x7fffffffffff); // 48-bit max-ish still round-trips
});

test("uuidv7: strictly increasing within one millisecond, across counter overflow and a clock step back", () => {
  const g = createUuidV7();
  const ms = 1718000000000;
  let prev = "";
  const seen = new Set();
  // 20,000 ids in the same millisecond: far past the 12-bit counter, so the
  // id's millisecond must move ahead of the clock, never repeat or go back.
  for (let i = 0; i < 20000; i++) {
    const id = g.next(ms);
    assert.match(id, V7);
    assert.ok(id > prev, `${id} <= ${prev} at ${i}`);
    seen.add(id);
    prev = id;
  }
  assert.equal(seen.size, 20000);
  assert.ok(g.lastMs > ms, "counter overflow moves the millisecond on");
  const ahead = g.lastMs;
  // The clock steps back an hour: ids keep increasing.
  const back = g.next(ms - 3600_000);
  assert.ok(back > prev);
  assert.equal(uuidv7Time(back), ahead);
  // The clock catches up: the new millisecond is used again.
  const later = g.next(ahead + 5);
  assert.equal(uuidv7Time(later), ahead + 5);
  assert.ok(later > back);
});

test("uuidv7: random bits come from the given source (74 of them vary)", () => {
  const zero = createUuidV7((b) => b.fill(0));
  const ones = createUuidV7((b) => b.fill(0xff));
  assert.equal(zero.next(1), "00000000-0001-7000-8000-000000000000");
  // counter seed is masked to 11 bits (headroom to count), variant keeps its 2 bits
  assert.equal(ones.next(1), "00000000-0001-77ff-bfff-ffffffffffff");
});
