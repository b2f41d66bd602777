/**
 * UUIDv7 (RFC 9562): 48 bits of Unix epoch milliseconds, then 74 random
 * bits, with the version and variant bits set. Ids from one generator are
 * strictly increasing (as strings and as bytes) even when many are minted
 * in the same millisecond or the clock steps back: the 12-bit `rand_a`
 * field is a counter (RFC 9562 §6.2, method 1) seeded at random each new
 * millisecond with headroom to count up; when it overflows, the id's
 * millisecond moves one ahead of the clock.
 */

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push((i < 16 ? "0" : "") + i.toString(16));

/** A source of random bytes: fills the array it is given. */
export type RandomFill = (bytes: Uint8Array<ArrayBuffer>) => void;

function cryptoFill(bytes: Uint8Array<ArrayBuffer>): void {
  globalThis.crypto.getRandomValues(bytes);
}

/** Mints UUIDv7 strings; `ms` reports the millisecond of the last one. */
export interface UuidV7Generator {
  /** A new id for the epoch millisecond `nowMs` (Date.now() when omitted). */
  next(nowMs?: number): string;
  /** The millisecond encoded in the id that next() returned last. */
  readonly lastMs: number;
}

const POOL = 1024; // random bytes fetched at once (getRandomValues allows 65536)

/** Creates a UUIDv7 generator; pass `fill` to control randomness in tests. */
export function createUuidV7(fill: RandomFill = cryptoFill): UuidV7Generator {
  const pool = new Uint8Array(POOL);
  let pos = POOL;
  let lastMs = -1;
  let counter = 0;
  const b = new Uint8Array(16);

  function rand(n: number): number {
    if (pos + n > POOL) {
      fill(pool);
      pos = 0;
    }
    const p = pos;
    pos += n;
    return p;
  }

  return {
    get lastMs() {
      return lastMs;
    },
    next(nowMs?: number): string {
      let ms = nowMs ?? Date.now();
      if (ms > lastMs) {
        lastMs = ms;
        const p = rand(2);
        counter = ((pool[p] << 8) | pool[p + 1]) & 0x7ff; // top bit clear: ≥2048 ids of headroom
      } else {
        counter++;
        if (counter > 0xfff) {
          lastMs++;
          const p = rand(2);
          counter = ((pool[p] << 8) | pool[p + 1]) & 0x7ff;
        }
        ms = lastMs;
      }
      // 48-bit big-endian milliseconds (beyond 32 bits: plain arithmetic).
      const hi = Math.floor(ms / 0x100000000);
      const lo = ms >>> 0;
      b[0] = (hi >>> 8) & 0xff;
      b[1] = hi & 0xff;
      b[2] = lo >>> 24;
      b[3] = (lo >>> 16) & 0xff;
      b[4] = (lo >>> 8) & 0xff;
      b[5] = lo & 0xff;
      b[6] = 0x70 | (counter >>> 8); // version 7
      b[7] = counter & 0xff;
      const p = rand(8);
      b[8] = 0x80 | (pool[p] & 0x3f); // variant 10
      for (let i = 1; i < 8; i++) b[8 + i] = pool[p + i];
      return (
        HEX[b[0]] + HEX[b[1]] + HEX[b[2]] + HEX[b[3]] + "-" +
        HEX[b[4]] + HEX[b[5]] + "-" + HEX[b[6]] + HEX[b[7]] + "-" +
        HEX[b[8]] + HEX[b[9]] + "-" + HEX[b[10]] + HEX[b[11]] +
        HEX[b[12]] + HEX[b[13]] + HEX[b[14]] + HEX[b[15]]
      );
    },
  };
}

const shared = createUuidV7();

/** A new UUIDv7 string from the module's shared, monotonic generator. */
export function uuidv7(): string {
  return shared.next();
}

/** The epoch milliseconds a UUIDv7 string encodes. */
export function uuidv7Time(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
