/**
 * What a closing page could not send: a browser caps keepalive bodies at
 * 64 KiB in flight, so when more is held at pagehide the rest is written to
 * localStorage, and the next page of the same origin that creates a client
 * for the same server sends it (same ids: a copy sent twice is stored once).
 * Each client writes its own key, so tabs do not overwrite each other; a
 * new client takes every key of its server.
 */

/** The part of the Storage API used (localStorage, or a fake in tests). */
export interface KeyValueStore {
  readonly length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** One saved event: id, type (oneof case), encoded Event. */
export interface SavedEvent {
  id: string;
  type: string | undefined;
  bytes: Uint8Array;
}

/** Saved events of one header. */
export interface SavedGroup {
  header: Uint8Array;
  events: SavedEvent[];
}

/** The page's localStorage, or undefined (Node, or storage blocked). */
export function browserStore(): KeyValueStore | undefined {
  try {
    const s = (globalThis as { localStorage?: KeyValueStore }).localStorage;
    if (!s) return undefined;
    s.length; // throws where storage is blocked
    return s;
  } catch {
    return undefined;
  }
}

function b64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

function unb64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function keyPrefix(baseUrl: string): string {
  return `event-grpc:pending:${baseUrl}:`;
}

/** Writes groups under key (or removes it when empty). Throws on a full store. */
export function save(store: KeyValueStore, key: string, groups: SavedGroup[]): void {
  if (groups.every((g) => g.events.length === 0)) {
    store.removeItem(key);
    return;
  }
  const v = groups.map((g) => ({ h: b64(g.header), e: g.events.map((e) => [e.id, e.type ?? "", b64(e.bytes)]) }));
  store.setItem(key, JSON.stringify({ v: 1, g: v }));
}

/** Takes (reads and removes) every saved group under prefix. Malformed entries are removed and counted. */
export function takeAll(store: KeyValueStore, prefix: string): { groups: SavedGroup[]; malformed: number } {
  const keys: string[] = [];
  for (let i = 0; i < store.length; i++) {
    const k = store.key(i);
    if (k !== null && k.startsWith(prefix)) keys.push(k);
  }
  const groups: SavedGroup[] = [];
  let malformed = 0;
  for (const k of keys) {
    const raw = store.getItem(k);
    store.removeItem(k);
    try {
      const d = JSON.parse(raw ?? "") as { v: number; g: { h: string; e: [string, string, string][] }[] };
      if (d.v !== 1) throw new Error("version");
      for (const g of d.g) {
        groups.push({
          header: unb64(g.h),
          events: g.e.map(([id, type, bytes]) => ({ id, type: type || undefined, bytes: unb64(bytes) })),
        });
      }
    } catch {
      malformed++;
    }
  }
  return { groups, malformed };
}
