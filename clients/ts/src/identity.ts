/**
 * Who the generic calls are about, and whether the user opted out: the
 * user id (set by identify, cleared by reset), an anonymous id (minted once
 * and kept), and the opt-out switch. Kept in the client's KeyValueStore
 * (localStorage in browsers) so they survive reloads; in memory only where
 * there is none. Keys: `<prefix>:userId`, `<prefix>:anonymousId`,
 * `<prefix>:optOut` (prefix "event-grpc" unless storagePrefix says).
 */
import type { KeyValueStore } from "./persist.js";

export class Identity {
  userId = "";
  anonymousId = "";
  optedOut = false;
  /** The last storage failure, if any (the values stay in memory). */
  error: string | undefined;

  constructor(
    private readonly store: KeyValueStore | undefined,
    private readonly prefix: string,
    private readonly newId: () => string,
    initialOptOut: boolean,
  ) {
    this.userId = this.get("userId") ?? "";
    this.anonymousId = this.get("anonymousId") ?? "";
    const o = this.get("optOut");
    this.optedOut = o === null || o === undefined ? initialOptOut : o === "1";
    if (!this.anonymousId) {
      // Opted out: nothing is written until the user opts in.
      if (this.optedOut) this.anonymousId = this.newId();
      else this.setAnonymousId(this.newId());
    }
  }

  setUserId(id: string): void {
    this.userId = id;
    this.put("userId", id || null);
  }

  setAnonymousId(id: string): void {
    this.anonymousId = id;
    this.put("anonymousId", id);
  }

  setOptOut(v: boolean): void {
    this.optedOut = v;
    this.put("optOut", v ? "1" : "0");
    if (!v && this.get("anonymousId") !== this.anonymousId) this.setAnonymousId(this.anonymousId);
  }

  /** Forgets the user: no user id, a new anonymous id. */
  reset(): void {
    this.setUserId("");
    this.setAnonymousId(this.newId());
  }

  private get(k: string): string | null | undefined {
    if (!this.store) return undefined;
    try {
      return this.store.getItem(`${this.prefix}:${k}`);
    } catch (e) {
      this.error = `store: ${(e as Error)?.message ?? e}`;
      return undefined;
    }
  }

  private put(k: string, v: string | null): void {
    if (!this.store) return;
    try {
      if (v === null) this.store.removeItem(`${this.prefix}:${k}`);
      else this.store.setItem(`${this.prefix}:${k}`, v);
    } catch (e) {
      this.error = `store: ${(e as Error)?.message ?? e}`;
    }
  }
}

/** A random (version 4) UUID: crypto.randomUUID where there is one. */
export function randomUuid(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string; getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  const b = new Uint8Array(16);
  if (c?.getRandomValues) c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
