/**
 * The event-grpc client: track() queues an event with a client-minted
 * UUIDv7 id and timestamp; batches go out by count, bytes or interval;
 * transient failures are retried with backoff (same ids, so never stored
 * twice); per-event rejections and drops are reported, never silent.
 *
 * One batch is in flight at a time (events leave in the order tracked); a
 * page being hidden sends everything held at once with fetch keepalive.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  EventSchema,
  HeaderSchema,
  Status,
  type Event,
  type Header,
  type Response,
} from "./gen/eventgrpc/v1/eventservice_pb.js";
import { browserTargets, watchPage, type PageTargets } from "./lifecycle.js";
import { browserStore, keyPrefix, save, takeAll, type KeyValueStore, type SavedGroup } from "./persist.js";
import { backoffMs, classify, type BackoffPolicy } from "./retry.js";
import { createConnectSender, type EncodedBatch, type Sender } from "./transport.js";
import { createUuidV7 } from "./uuid.js";

/** This SDK's version, sent as Header.sdkVersion unless the header sets one. */
export const SDK_VERSION = "0.1.0";

/** An event as track() takes it: the payload in `eventOf`; id and timestamp optional. */
export type EventInit = MessageInitShape<typeof EventSchema>;
/** The header fields shared by a batch (session, user, device, app, …). */
export type HeaderInit = MessageInitShape<typeof HeaderSchema>;
/** An event type's oneof case name, e.g. "pageOpenedEvent". */
export type EventType = NonNullable<Event["eventOf"]["case"]>;
/** The payload init of an event type, e.g. { pageName: "home" } for "pageOpenedEvent". */
export type PayloadInit<K extends EventType> = Extract<NonNullable<EventInit["eventOf"]>, { case: K }>["value"];

/** An event the client holds, as callbacks see it. */
export interface TrackedEvent {
  /** The UUIDv7 (or caller-given) id the server stores it under. */
  readonly id: string;
  readonly type: EventType | undefined;
  /** The event as sent (decoded on demand: the client keeps only its bytes). */
  readonly event: Event;
}

/** A per-event refusal: by the server (with its reason) or before sending. */
export interface Rejection extends TrackedEvent {
  reason: string;
}

/** Why events were dropped without a verdict from the server. */
export type DropReason =
  /** The queue held maxQueueEvents / maxQueueBytes already. */
  | "queue_full"
  /** track() after close(). */
  | "closed"
  /** close() ran out of closeTimeoutMs before they were delivered. */
  | "close_timeout"
  /** maxAttempts transient failures in a row. */
  | "retries_exhausted";

/** A drop report: which events, why, and the last error if one caused it. */
export interface Drop {
  reason: DropReason;
  events: TrackedEvent[];
  error?: unknown;
}

/** Counters since the client was created. tracked = accepted + rejected + dropped + held. */
export interface Stats {
  tracked: number;
  accepted: number;
  rejected: number;
  dropped: number;
  droppedByReason: Record<DropReason, number>;
  /** Events queued or in flight, and their encoded bytes. */
  heldEvents: number;
  heldBytes: number;
  /** dispatch calls made (each attempt counts), of which keepalive, and failed attempts retried. */
  requests: number;
  keepaliveRequests: number;
  retries: number;
  /** The last failure seen, transient or not. */
  lastError?: string;
  /** Events an earlier page saved at pagehide that this client took over (counted in tracked). */
  loadedFromStore?: number;
}

export interface ClientOptions {
  /** The server's HTTP origin (its GIN_PORT), e.g. "https://events.example.com". */
  baseUrl: string;
  /** AUTH_MODE=apikey: sent as `authorization: Bearer KEY`. */
  apiKey?: string;
  /** Sent as `x-client-id` and as Header.clientId (unless header sets it). */
  clientId?: string;
  /** The batch header; change it later with setHeader(). */
  header?: HeaderInit;
  /** Events per request; default 100 (the server takes up to MAX_EVENTS_PER_REQUEST, 1000). */
  maxBatchEvents?: number;
  /** Encoded bytes per request; default 256 KiB (the server takes HTTP_MAX_BODY_BYTES, 4 MiB). */
  maxBatchBytes?: number;
  /** A queued event waits at most this long for a batch to fill; default 1000. */
  flushIntervalMs?: number;
  /** Events held (queued + in flight) before track() drops; default 10,000. */
  maxQueueEvents?: number;
  /** Encoded bytes held before track() drops; default 4 MiB. */
  maxQueueBytes?: number;
  /** Larger events are rejected at track(); default 65536 (the server's MAX_EVENT_BYTES). */
  maxEventBytes?: number;
  /** Bytes sent with keepalive when the page hides; default 60 KiB (browsers cap 64 KiB in flight). */
  keepaliveBytes?: number;
  /** Per-attempt timeout; default 10,000 ms. */
  requestTimeoutMs?: number;
  /** Backoff: first delay (default 250 ms), largest (30 s), largest server hint honoured (60 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  maxRetryAfterMs?: number;
  /** Attempts per batch before it is dropped as retries_exhausted; default Infinity (retry until close). */
  maxAttempts?: number;
  /** close() delivers what it can within this; the rest is dropped as close_timeout. Default 10,000 ms. */
  closeTimeoutMs?: number;
  /** Wire protocol of the default sender; default "connect". */
  protocol?: "connect" | "grpc-web";
  /** fetch for the default sender; default the global one. */
  fetch?: typeof globalThis.fetch;
  /** Flush on pagehide / visibilitychange with keepalive; default on in browsers. Fakes in tests. */
  pageLifecycle?: boolean | PageTargets;
  /**
   * Where a closing page keeps what keepalive could not carry, for the next
   * page of the origin to send; default localStorage in browsers, none in
   * Node; false turns it off.
   */
  store?: KeyValueStore | false;
  /** Events the server (or track()) refused, with reasons. Default: console.warn. */
  onRejected?: (rejections: Rejection[]) => void;
  /** Events dropped without a verdict. Default: console.warn. */
  onDropped?: (drop: Drop) => void;
  /** Replaces the transport (tests, custom platforms). */
  sender?: Sender;
  /** Randomness for jitter (tests); default Math.random. */
  random?: () => number;
  /** The wait between attempts (tests); must reject or resolve early when signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface HeaderRef {
  msg: Header;
  bytes: Uint8Array;
  size: number; // encoded bytes of the header field in Events
}

const QUEUED = 0;
const SENDING = 1;
const SETTLED = 2;

interface Held {
  id: string;
  type: EventType | undefined;
  bytes: Uint8Array; // the encoded Event, sent as is on every attempt
  seq: number;
  size: number; // bytes this event adds to an Events message
  header: HeaderRef;
  state: number;
  held: boolean; // counted in heldEvents / heldBytes
  keepalive: boolean; // in a keepalive request now
}

/** What createClient returns. */
export interface EventClient {
  /** Queues an event and returns its id. Never throws for a full queue: drops are reported. */
  track(event: EventInit): string;
  track<K extends EventType>(type: K, payload?: PayloadInit<K>): string;
  /** Replaces header fields for events tracked from now on. */
  setHeader(patch: HeaderInit): void;
  /** Resolves when every event tracked so far has been accepted, rejected or dropped. */
  flush(): Promise<void>;
  /** Stops accepting events, delivers what is held within closeTimeoutMs, and resolves with the final stats. */
  close(): Promise<Stats>;
  stats(): Stats;
}

/** Creates a client. See ClientOptions for the defaults. */
export function createClient(options: ClientOptions): EventClient {
  return new Client(options);
}

/** Bytes of a length-delimited field: tag + varint length + body. */
function fieldSize(n: number): number {
  return 1 + (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

/** Calls a user callback; its exception is reported, not allowed to break the client. */
function callback<T>(fn: ((arg: T) => void) | undefined, arg: T, fallback: (arg: T) => void): void {
  try {
    (fn ?? fallback)(arg);
  } catch (e) {
    const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
    if (report) report(e);
    else console.error("event-grpc: callback threw", e);
  }
}

class Client implements EventClient {
  private readonly o: Required<
    Pick<
      ClientOptions,
      | "maxBatchEvents"
      | "maxBatchBytes"
      | "flushIntervalMs"
      | "maxQueueEvents"
      | "maxQueueBytes"
      | "maxEventBytes"
      | "keepaliveBytes"
      | "requestTimeoutMs"
      | "maxAttempts"
      | "closeTimeoutMs"
    >
  >;
  private readonly opts: ClientOptions;
  private readonly policy: BackoffPolicy;
  private readonly sender: Sender;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly ids = createUuidV7();
  private header: HeaderRef;

  // FIFO of QUEUED events: q[qHead..] (compacted now and then).
  private q: Held[] = [];
  private qHead = 0;
  private queuedBytes = 0;
  private inflight: Held[] = []; // the normal batch being delivered
  private readonly kaBatches = new Set<Held[]>();
  private seq = 0;
  private flushTarget = 0; // send everything with seq ≤ this without waiting for a full batch
  private waiters: { target: number; resolve: () => void }[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pumping = false;
  private hidden = false;
  private kaScheduled = false;
  private closed = false;
  private closing: Promise<Stats> | undefined;
  private readonly abort = new AbortController();
  private unwatch: (() => void) | undefined;
  private store: KeyValueStore | undefined;
  private storeKey = "";
  private saved = false;
  private readonly s: Stats = {
    tracked: 0,
    accepted: 0,
    rejected: 0,
    dropped: 0,
    droppedByReason: { queue_full: 0, closed: 0, close_timeout: 0, retries_exhausted: 0 },
    heldEvents: 0,
    heldBytes: 0,
    requests: 0,
    keepaliveRequests: 0,
    retries: 0,
  };

  constructor(o: ClientOptions) {
    if (!o.sender && !o.baseUrl) throw new Error("event-grpc: createClient needs baseUrl");
    const pos = (name: string, v: number | undefined, def: number): number => {
      const x = v ?? def;
      if (!(x > 0)) throw new Error(`event-grpc: ${name} must be > 0, got ${v}`);
      return x;
    };
    this.opts = o;
    this.o = {
      maxBatchEvents: pos("maxBatchEvents", o.maxBatchEvents, 100),
      maxBatchBytes: pos("maxBatchBytes", o.maxBatchBytes, 256 << 10),
      flushIntervalMs: pos("flushIntervalMs", o.flushIntervalMs, 1000),
      maxQueueEvents: pos("maxQueueEvents", o.maxQueueEvents, 10_000),
      maxQueueBytes: pos("maxQueueBytes", o.maxQueueBytes, 4 << 20),
      maxEventBytes: pos("maxEventBytes", o.maxEventBytes, 65536),
      keepaliveBytes: pos("keepaliveBytes", o.keepaliveBytes, 60 << 10),
      requestTimeoutMs: pos("requestTimeoutMs", o.requestTimeoutMs, 10_000),
      maxAttempts: pos("maxAttempts", o.maxAttempts, Infinity),
      closeTimeoutMs: pos("closeTimeoutMs", o.closeTimeoutMs, 10_000),
    };
    this.policy = {
      initialMs: pos("initialBackoffMs", o.initialBackoffMs, 250),
      maxMs: pos("maxBackoffMs", o.maxBackoffMs, 30_000),
      maxRetryAfterMs: pos("maxRetryAfterMs", o.maxRetryAfterMs, 60_000),
    };
    const headers: Record<string, string> = {};
    if (o.apiKey) headers["authorization"] = `Bearer ${o.apiKey}`;
    if (o.clientId) headers["x-client-id"] = o.clientId;
    this.sender =
      o.sender ??
      createConnectSender({ baseUrl: o.baseUrl, protocol: o.protocol, headers, fetch: o.fetch });
    this.random = o.random ?? Math.random;
    this.sleep = o.sleep ?? defaultSleep;
    this.header = this.makeHeader({
      sdkVersion: SDK_VERSION,
      ...(o.clientId ? { clientId: o.clientId } : {}),
      ...o.header,
    });
    const targets = o.pageLifecycle === false ? undefined : o.pageLifecycle === true || o.pageLifecycle === undefined ? browserTargets() : o.pageLifecycle;
    if (targets) {
      this.unwatch = watchPage(targets, () => this.onHide(), () => this.onShow());
      this.store = o.store === false ? undefined : (o.store ?? browserStore());
      this.storeKey = keyPrefix(o.baseUrl) + this.ids.next();
      if (this.store) this.loadSaved(this.store, keyPrefix(o.baseUrl));
    }
  }

  private makeHeader(init: HeaderInit): HeaderRef {
    const msg = create(HeaderSchema, init);
    const bytes = toBinary(HeaderSchema, msg);
    const n = bytes.length;
    return { msg, bytes, size: n === 0 ? 0 : fieldSize(n) + n };
  }

  setHeader(patch: HeaderInit): void {
    const cur = this.header.msg;
    const next: HeaderInit = {};
    for (const f of HeaderSchema.fields) {
      const k = f.localName as keyof HeaderInit;
      (next as Record<string, unknown>)[k] = (patch as Record<string, unknown>)[k] ?? (cur as unknown as Record<string, unknown>)[k];
    }
    this.header = this.makeHeader(next);
  }

  track(eventOrType: EventInit | EventType, payload?: object): string {
    const nowMs = Date.now();
    let init: EventInit;
    if (typeof eventOrType === "string") {
      init = { eventOf: { case: eventOrType, value: payload ?? {} } as EventInit["eventOf"] };
    } else {
      init = eventOrType;
    }
    const event = create(EventSchema, init);
    if (!event.id) event.id = this.ids.next(nowMs);
    if (!event.timestamp) event.timestamp = String(nowMs);
    const bytes = toBinary(EventSchema, event);
    const n = bytes.length;
    const h: Held = {
      id: event.id,
      type: event.eventOf.case,
      bytes,
      seq: ++this.seq,
      size: fieldSize(n) + n,
      header: this.header,
      state: QUEUED,
      held: false,
      keepalive: false,
    };
    this.s.tracked++;
    if (this.closed) {
      this.drop("closed", [h]);
      return h.id;
    }
    if (!h.type) {
      this.reject([{ ...pub(h), reason: "event has no eventOf set" }], [h]);
      return h.id;
    }
    if (n > this.o.maxEventBytes || h.size + h.header.size > this.o.maxBatchBytes) {
      this.reject(
        [{ ...pub(h), reason: `event is ${n} bytes, over the limit of ${Math.min(this.o.maxEventBytes, this.o.maxBatchBytes - h.header.size)}` }],
        [h],
      );
      return h.id;
    }
    if (this.s.heldEvents + 1 > this.o.maxQueueEvents || this.s.heldBytes + h.size > this.o.maxQueueBytes) {
      this.drop("queue_full", [h]);
      return h.id;
    }
    this.q.push(h);
    this.queuedBytes += h.size;
    h.held = true;
    this.s.heldEvents++;
    this.s.heldBytes += h.size;
    if (this.hidden) {
      // Tracked while the page is hidden or unloading: it may not live to
      // see a timer, so send it with keepalive now (coalesced per task).
      if (!this.kaScheduled) {
        this.kaScheduled = true;
        queueMicrotask(() => {
          this.kaScheduled = false;
          this.sendKeepalive();
        });
      }
      return h.id;
    }
    if (this.queuedCount() >= this.o.maxBatchEvents || this.queuedBytesOver()) {
      this.kick();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flushTarget = this.seq;
        this.kick();
      }, this.o.flushIntervalMs);
    }
    return h.id;
  }

  flush(): Promise<void> {
    const target = this.seq;
    this.flushTarget = Math.max(this.flushTarget, target);
    const p = new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    this.kick();
    this.checkWaiters();
    return p;
  }

  close(): Promise<Stats> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.unwatch?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const deadline = setTimeout(() => this.abort.abort(), this.o.closeTimeoutMs);
    this.closing = this.flush().then(() => {
      clearTimeout(deadline);
      return this.stats();
    });
    return this.closing;
  }

  stats(): Stats {
    return { ...this.s, droppedByReason: { ...this.s.droppedByReason } };
  }

  // ---- queue ---------------------------------------------------------------

  private queuedCount(): number {
    return this.q.length - this.qHead;
  }

  /** A full batch of bytes is queued (counting the current header once). */
  private queuedBytesOver(): boolean {
    return this.queuedBytes + this.header.size >= this.o.maxBatchBytes;
  }

  private peek(): Held | undefined {
    return this.q[this.qHead];
  }

  private shift(): Held {
    const h = this.q[this.qHead++];
    this.queuedBytes -= h.size;
    if (this.qHead > 1024 && this.qHead * 2 > this.q.length) {
      this.q = this.q.slice(this.qHead);
      this.qHead = 0;
    }
    return h;
  }

  /** Takes the next batch off the queue: same header, within count and byte limits. */
  private take(maxEvents: number, maxBytes: number): Held[] {
    const batch: Held[] = [];
    const first = this.peek();
    if (!first) return batch;
    let bytes = first.header.size;
    for (let h = this.peek(); h; h = this.peek()) {
      if (h.header !== first.header || batch.length >= maxEvents) break;
      if (batch.length > 0 && bytes + h.size > maxBytes) break;
      if (batch.length === 0 && bytes + h.size > maxBytes) break; // keepalive budget spent
      bytes += h.size;
      batch.push(this.shift());
    }
    return batch;
  }

  /** Puts events whose keepalive send failed back at the front, in order. */
  private requeueFront(hs: Held[]): void {
    const rest = this.q.slice(this.qHead);
    const merged = hs.concat(rest);
    merged.sort((a, b) => a.seq - b.seq);
    this.q = merged;
    this.qHead = 0;
    for (const h of hs) this.queuedBytes += h.size;
  }

  // ---- sending -------------------------------------------------------------

  private kick(): void {
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      for (;;) {
        const head = this.peek();
        if (!head) break;
        if (this.abort.signal.aborted) {
          this.dropQueued("close_timeout");
          break;
        }
        const due = head.seq <= this.flushTarget || this.queuedCount() >= this.o.maxBatchEvents || this.queuedBytesOver();
        if (!due) break;
        const batch = this.take(this.o.maxBatchEvents, this.o.maxBatchBytes);
        if (batch.length === 0) break; // cannot happen: track() refuses events no batch can hold
        for (const h of batch) h.state = SENDING;
        this.inflight = batch;
        await this.deliver(batch);
        this.inflight = [];
        this.checkWaiters();
      }
    } finally {
      this.pumping = false;
      this.checkWaiters();
      if (this.queuedCount() === 0 && this.timer) {
        // Nothing waits for the interval: a pending timer would only keep
        // a Node process alive for nothing.
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      if (this.queuedCount() > 0 && !this.timer && !this.closed && !this.hidden) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.flushTarget = this.seq;
          this.kick();
        }, this.o.flushIntervalMs);
      }
    }
  }

  /** Delivers one batch: retries transient failures until accepted, rejected or dropped. */
  private async deliver(batch: Held[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const live = batch.filter((h) => h.state !== SETTLED); // a keepalive send may have settled some
      if (live.length === 0) return;
      if (this.abort.signal.aborted) {
        this.drop("close_timeout", live, this.s.lastError);
        return;
      }
      let res: Response;
      try {
        this.s.requests++;
        res = await this.sender(this.request(live), {
          keepalive: false,
          signal: this.abort.signal,
          timeoutMs: this.o.requestTimeoutMs,
        });
      } catch (err) {
        const c = classify(err);
        this.s.lastError = `${c.code}: ${c.message}`;
        const still = live.filter((h) => h.state !== SETTLED);
        if (this.abort.signal.aborted) {
          this.drop("close_timeout", still, err);
          return;
        }
        if (!c.retryable) {
          this.reject(still.map((h) => ({ ...pub(h), reason: `request failed (${c.code}): ${c.message}` })), still);
          return;
        }
        if (attempt >= this.o.maxAttempts) {
          this.drop("retries_exhausted", still, err);
          return;
        }
        this.s.retries++;
        await this.sleep(backoffMs(attempt, this.policy, this.random, c.retryAfterMs), this.abort.signal);
        continue;
      }
      const again = this.settle(live, res);
      if (again.length === 0) return;
      if (this.abort.signal.aborted) {
        this.drop("close_timeout", again, this.s.lastError);
        return;
      }
      if (attempt >= this.o.maxAttempts) {
        this.drop("retries_exhausted", again, this.s.lastError);
        return;
      }
      this.s.retries++;
      await this.sleep(backoffMs(attempt, this.policy, this.random), this.abort.signal);
    }
  }

  private request(live: Held[]): EncodedBatch {
    return { header: live[0].header.bytes, events: live.map((h) => h.bytes) };
  }

  /**
   * Applies the server's per-event results to the events of one request.
   * Returns the events to send again: those whose reason says they were
   * valid but are not durable yet (the server starts such reasons with
   * "UNAVAILABLE:" or "RESOURCE_EXHAUSTED:"), and any the answer left out
   * although it was not OK. Everything else is settled: accepted, or
   * rejected for good (reported, never retried).
   */
  private settle(live: Held[], res: Response): Held[] {
    const seen = new Uint8Array(live.length);
    const rejections: Rejection[] = [];
    const rejected: Held[] = [];
    const again: Held[] = [];
    let accepted = 0;
    for (const r of res.results) {
      const h = live[r.index];
      if (!h || seen[r.index]) continue;
      seen[r.index] = 1;
      if (h.state === SETTLED) continue;
      if (r.accepted) {
        this.settleOne(h);
        accepted++;
      } else if (transientReason(r.reason)) {
        again.push(h);
        this.s.lastError = r.reason;
      } else {
        rejections.push({ ...pub(h), reason: r.reason || "rejected without a reason" });
        rejected.push(h);
      }
    }
    for (let i = 0; i < live.length; i++) {
      const h = live[i];
      if (seen[i] || h.state === SETTLED) continue;
      if (res.status === Status.OK) {
        this.settleOne(h); // OK means every event was accepted
        accepted++;
      } else {
        again.push(h);
        this.s.lastError = `no result for an event in the answer (status ${Status[res.status]})`;
      }
    }
    this.s.accepted += accepted;
    if (rejected.length) this.reject(rejections, rejected);
    return again;
  }

  private settleOne(h: Held): void {
    if (h.held) {
      h.held = false;
      this.s.heldEvents--;
      this.s.heldBytes -= h.size;
    }
    h.state = SETTLED;
  }

  /** Reports refusals (by the server, or at track() for events never queued). */
  private reject(rs: Rejection[], hs: Held[]): void {
    for (const h of hs) this.settleOne(h);
    this.s.rejected += rs.length;
    callback(this.opts.onRejected, rs, (x) =>
      console.warn(`event-grpc: ${x.length} event(s) rejected, first: ${x[0]?.id}: ${x[0]?.reason}`),
    );
    this.checkWaiters();
  }

  private drop(reason: DropReason, hs: Held[], error?: unknown): void {
    for (const h of hs) this.settleOne(h);
    this.s.dropped += hs.length;
    this.s.droppedByReason[reason] += hs.length;
    const d: Drop = { reason, events: hs.map(pub) };
    if (error !== undefined) d.error = error;
    callback(this.opts.onDropped, d, (x) =>
      console.warn(`event-grpc: dropped ${x.events.length} event(s): ${x.reason}`),
    );
    this.checkWaiters();
  }

  private dropQueued(reason: DropReason): void {
    const hs: Held[] = [];
    while (this.queuedCount() > 0) hs.push(this.shift());
    if (hs.length) this.drop(reason, hs, this.s.lastError);
  }

  // ---- page lifecycle --------------------------------------------------------

  private onHide(): void {
    this.hidden = true;
    this.sendKeepalive();
    this.saveRest();
  }

  private onShow(): void {
    this.hidden = false;
    // Alive after all: what was saved is still held here and goes the normal way.
    if (this.saved) this.clearSaved();
  }

  private clearSaved(): void {
    try {
      this.store?.removeItem(this.storeKey);
    } catch {
      // storage gone: the next page sends a copy, stored once by id
    }
    this.saved = false;
  }

  /**
   * Saves what keepalive could not carry (the queue, and the batch in flight
   * when it did not fit) for the next page of the origin. Without a store
   * (Node, storage blocked or full) they stay held only here: delivered if
   * the page lives on, lost if it dies, and then nothing is left to report
   * it (stats().lastError names a failed save).
   */
  private saveRest(): void {
    const rest: Held[] = [];
    for (const h of this.inflight) if (h.state !== SETTLED && !h.keepalive) rest.push(h);
    for (let i = this.qHead; i < this.q.length; i++) rest.push(this.q[i]);
    if (rest.length === 0) {
      if (this.saved) this.clearSaved();
      return;
    }
    const groups: SavedGroup[] = [];
    let last: HeaderRef | undefined;
    for (const h of rest) {
      if (h.header !== last) {
        groups.push({ header: h.header.bytes, events: [] });
        last = h.header;
      }
      groups[groups.length - 1].events.push({ id: h.id, type: h.type, bytes: h.bytes });
    }
    if (!this.store) return;
    try {
      save(this.store, this.storeKey, groups);
      this.saved = true;
    } catch (e) {
      this.s.lastError = `store: ${(e as Error)?.message ?? e}`;
    }
  }

  /** Queues what earlier pages saved (same ids: copies are stored once). */
  private loadSaved(store: KeyValueStore, prefix: string): void {
    let taken;
    try {
      taken = takeAll(store, prefix);
    } catch (e) {
      this.s.lastError = `store: ${(e as Error)?.message ?? e}`;
      return;
    }
    for (const g of taken.groups) {
      const header: HeaderRef = {
        msg: fromBinary(HeaderSchema, g.header),
        bytes: g.header,
        size: g.header.length === 0 ? 0 : fieldSize(g.header.length) + g.header.length,
      };
      for (const e of g.events) {
        const h: Held = {
          id: e.id,
          type: e.type as EventType | undefined,
          bytes: e.bytes,
          seq: ++this.seq,
          size: fieldSize(e.bytes.length) + e.bytes.length,
          header,
          state: QUEUED,
          held: false,
          keepalive: false,
        };
        this.s.tracked++;
        if (this.s.heldEvents + 1 > this.o.maxQueueEvents || this.s.heldBytes + h.size > this.o.maxQueueBytes) {
          this.drop("queue_full", [h]);
          continue;
        }
        this.q.push(h);
        this.queuedBytes += h.size;
        h.held = true;
        this.s.heldEvents++;
        this.s.heldBytes += h.size;
      }
    }
    this.s.loadedFromStore = this.s.tracked;
    if (this.queuedCount() > 0) {
      this.flushTarget = this.seq;
      queueMicrotask(() => this.kick());
    }
  }

  /**
   * Sends what is held with fetch keepalive, within keepaliveBytes in total:
   * first the events of the batch in flight (its request dies with the
   * page; sending them again is harmless, the ids dedupe), then the queue.
   * Whatever does not fit stays queued for the normal path if the page
   * lives on.
   */
  private sendKeepalive(): void {
    let budget = this.o.keepaliveBytes;
    for (const b of this.kaBatches) for (const h of b) if (h.state !== SETTLED) budget -= h.size + h.header.size;
    const batches: { hs: Held[]; fromQueue: boolean }[] = [];
    // In-flight events not already in a keepalive request.
    let cur: Held[] = [];
    let bytes = 0;
    for (const h of this.inflight) {
      if (h.state === SETTLED || h.keepalive) continue;
      const need = (cur.length === 0 ? h.header.size : 0) + h.size;
      if (bytes + need > budget || cur.length >= this.o.maxBatchEvents) {
        if (cur.length) batches.push({ hs: cur, fromQueue: false });
        budget -= bytes;
        cur = [];
        bytes = 0;
        if (h.header.size + h.size > budget) break;
      }
      bytes += (cur.length === 0 ? h.header.size : 0) + h.size;
      cur.push(h);
    }
    if (cur.length) batches.push({ hs: cur, fromQueue: false });
    budget -= bytes;
    while (budget > 0 && this.queuedCount() > 0) {
      const b = this.take(this.o.maxBatchEvents, Math.min(budget, this.o.maxBatchBytes));
      if (b.length === 0) break;
      for (const h of b) budget -= h.size;
      budget -= b[0].header.size;
      batches.push({ hs: b, fromQueue: true });
    }
    for (const { hs, fromQueue } of batches) this.sendOneKeepalive(hs, fromQueue);
    if (this.queuedCount() === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private sendOneKeepalive(hs: Held[], fromQueue: boolean): void {
    for (const h of hs) {
      h.keepalive = true;
      if (fromQueue) h.state = SENDING;
    }
    this.kaBatches.add(hs);
    this.s.requests++;
    this.s.keepaliveRequests++;
    const done = () => {
      this.kaBatches.delete(hs);
      for (const h of hs) h.keepalive = false;
    };
    this.sender(this.request(hs), { keepalive: true, signal: this.abort.signal, timeoutMs: this.o.requestTimeoutMs }).then(
      (res) => {
        done();
        const again = this.settle(hs, res);
        if (fromQueue && again.length) {
          // Valid but not durable yet: the normal path retries them.
          for (const h of again) h.state = QUEUED;
          this.requeueFront(again);
          this.flushTarget = Math.max(this.flushTarget, ...again.map((h) => h.seq));
          this.kick();
        }
        this.checkWaiters();
      },
      (err) => {
        done();
        const c = classify(err);
        this.s.lastError = `${c.code}: ${c.message}`;
        // The page lived on (or the keepalive quota was spent): the normal
        // path takes these again, with its retry and rejection rules.
        if (fromQueue) {
          const back = hs.filter((h) => h.state !== SETTLED);
          for (const h of back) h.state = QUEUED;
          this.requeueFront(back);
          this.flushTarget = Math.max(this.flushTarget, ...back.map((h) => h.seq));
          this.kick();
        }
        this.checkWaiters();
      },
    );
  }

  // ---- flush waiters ---------------------------------------------------------

  /** The lowest seq not yet settled (Infinity when none). */
  private lowestUnsettled(): number {
    let low = this.peek()?.seq ?? Infinity;
    for (const h of this.inflight) if (h.state !== SETTLED && h.seq < low) low = h.seq;
    for (const b of this.kaBatches) for (const h of b) if (h.state !== SETTLED && h.seq < low) low = h.seq;
    return low;
  }

  private checkWaiters(): void {
    if (this.waiters.length === 0) return;
    const low = this.lowestUnsettled();
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.target < low) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }
}

/** A per-event reason the server gives to valid events it could not make durable yet. */
function transientReason(reason: string): boolean {
  return reason.startsWith("UNAVAILABLE:") || reason.startsWith("RESOURCE_EXHAUSTED:");
}

function pub(h: Held): TrackedEvent {
  let event: Event | undefined;
  return {
    id: h.id,
    type: h.type,
    get event() {
      return (event ??= fromBinary(EventSchema, h.bytes));
    },
  };
}
