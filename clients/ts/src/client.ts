/**
 * The event-grpc client: track() queues an event with a client-minted
 * UUIDv7 id and timestamp; batches go out by count, bytes or interval;
 * transient failures are retried with backoff (same ids, so never stored
 * twice); per-event rejections and drops are reported, never silent.
 *
 * One batch is in flight at a time (events leave in the order tracked); a
 * page being hidden sends everything held at once with fetch keepalive.
 *
 * Next to the typed events, the generic calls of the Segment spec (track
 * with a free name, identify, page, screen, group, alias) carry free-form
 * JSON and the caller's identity (user id, anonymous id), which the client
 * remembers; an opt-out switch stops everything.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  EventSchema,
  HeaderSchema,
  ResultCode,
  Status,
  type Event,
  type EventResult,
  type Header,
  type Response,
} from "./gen/eventgrpc/v1/eventservice_pb.js";
import { Identity, randomUuid } from "./identity.js";
import { JsonValueError, toJsonObject, type JsonObject, type Properties } from "./json.js";
import { browserTargets, watchPage, type PageTargets } from "./lifecycle.js";
import { browserStore, keyPrefix, save, takeAll, type KeyValueStore, type SavedGroup } from "./persist.js";
import { backoffMs, classify, type BackoffPolicy } from "./retry.js";
import { createConnectSender, type EncodedBatch, type Sender, type WireInfo } from "./transport.js";
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

/** A per-event refusal: by the server (with its code and reason) or before sending. */
export interface Rejection extends TrackedEvent {
  /**
   * The fate: the server's EventResult.code, or INVALID / TOO_LARGE for a
   * refusal at track(), or for a request refused as a whole: INVALID
   * (invalid_argument), TOO_LARGE (request too large), INTERNAL, else
   * UNSPECIFIED (the reason names the protocol's code).
   */
  code: ResultCode;
  /** Why, in words. */
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
  | "retries_exhausted"
  /** optOut() discarded them (queued, or saved by an earlier page). */
  | "opted_out";

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
  /** Calls ignored because the user opted out (not counted in tracked). */
  ignoredOptedOut: number;
  /** Requests whose body went gzipped, body bytes before compression and as sent (default sender). */
  compressedRequests: number;
  bodyBytes: number;
  sentBytes: number;
}

/** Per-call options of the generic calls (track, identify, page, screen, group, alias). */
export interface CallOptions {
  /** The user this event is about; default the identified user (identify). */
  userId?: string;
  /** The anonymous id; default the client's (minted once, kept in the store). */
  anonymousId?: string;
  /** Free-form context (Segment's context: ip, locale, campaign, …); the SDK adds library {name, version}. */
  context?: Properties;
  /** Segment's integrations, kept as sent. */
  integrations?: Properties;
  /** When it happened: a Date, epoch milliseconds, or an ISO 8601 string; default now. */
  timestamp?: Date | number | string;
  /** The event's id (Segment's messageId): a retry with the same id is stored once. Default a UUIDv7. */
  messageId?: string;
}

/** page() and screen() options: CallOptions and the category. */
export interface PageOptions extends CallOptions {
  category?: string;
}

/** What the debug/log hook receives: one record per send, answer, retry, rejection, drop, save, load, consent change. */
export interface LogRecord {
  level: "debug" | "info" | "warn" | "error";
  /** What happened. */
  event: "send" | "accepted" | "retry" | "rejected" | "dropped" | "saved" | "loaded" | "identity" | "consent" | "ignored";
  message: string;
  /** Event ids concerned, when there are few enough to list (at most 20). */
  ids?: string[];
  /** Events concerned. */
  count?: number;
  attempt?: number;
  delayMs?: number;
  error?: unknown;
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
  /** Events dropped without a verdict. Default: console.warn (except opted_out). */
  onDropped?: (drop: Drop) => void;
  /**
   * Gzip request bodies of gzipMinBytes or more: default true (where the
   * platform has CompressionStream); false never. The default sender
   * only; keepalive requests are never compressed.
   */
  gzip?: boolean;
  /** Smallest body gzipped; default 1024 bytes (0: always). */
  gzipMinBytes?: number;
  /** Start opted out (e.g. until the user consents) unless the store remembers a choice; default false. */
  optOut?: boolean;
  /** Prefix of the identity and opt-out keys in the store; default "event-grpc". */
  storagePrefix?: string;
  /** The debug/log hook: every send, answer, retry, rejection, drop, save and load. */
  logger?: (record: LogRecord) => void;
  /** Without a logger: log every record to the console (console.debug / warn / error). */
  debug?: boolean;
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
  /**
   * Queues an event and returns its id ("" when opted out). Never throws
   * for a full queue or bad input: drops and refusals are reported.
   * With a typed event's name (e.g. "pageOpenedEvent") and its payload, a
   * typed event; with any other name, a generic track event (a TrackEvent
   * in the tracks table) with free-form JSON properties.
   */
  track(event: EventInit): string;
  track<K extends EventType>(type: K, payload?: PayloadInit<K>): string;
  track<N extends string>(name: N extends EventType ? never : N, properties?: Properties, options?: CallOptions): string;
  /** Remembers userId (kept in the store) for later calls, and sends an identify with the user's traits. */
  identify(userId: string, traits?: Properties, options?: CallOptions): string;
  /** identify without a user id: traits of the current (or anonymous) user. */
  identify(traits: Properties, options?: CallOptions): string;
  /** A web page view. */
  page(name?: string, properties?: Properties, options?: PageOptions): string;
  /** An app screen view. */
  screen(name?: string, properties?: Properties, options?: PageOptions): string;
  /** The user belongs to groupId (company, team, account), with its traits. */
  group(groupId: string, traits?: Properties, options?: CallOptions): string;
  /** previousId (default: the current user id, else the anonymous id) is the same user as userId. */
  alias(userId: string, previousId?: string, options?: CallOptions): string;
  /** Forgets the user: no user id, a new anonymous id. */
  reset(): void;
  /** The identity the generic calls use by default. */
  identity(): { userId: string; anonymousId: string };
  /**
   * optOut() / optOut(true) stops tracking: nothing is tracked, sent or
   * kept from now on (what is queued is discarded); optOut(false) tracks
   * again. Remembered in the store.
   */
  optOut(out?: boolean): void;
  /** optOut(false). */
  optIn(): void;
  optedOut(): boolean;
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
  private nextPersist = 0;
  private readonly s: Stats = {
    tracked: 0,
    accepted: 0,
    rejected: 0,
    dropped: 0,
    droppedByReason: { queue_full: 0, closed: 0, close_timeout: 0, retries_exhausted: 0, opted_out: 0 },
    heldEvents: 0,
    heldBytes: 0,
    requests: 0,
    keepaliveRequests: 0,
    retries: 0,
    ignoredOptedOut: 0,
    compressedRequests: 0,
    bodyBytes: 0,
    sentBytes: 0,
  };
  private readonly log: ((r: LogRecord) => void) | undefined;
  private readonly ident: Identity;
  private readonly context: JsonObject = { library: { name: "@event-grpc/client", version: SDK_VERSION } };

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
    this.log = o.logger ?? (o.debug ? consoleLog : undefined);
    const onWire = (w: WireInfo) => {
      this.s.bodyBytes += w.bodyBytes;
      this.s.sentBytes += w.sentBytes;
      if (w.encoding === "gzip") this.s.compressedRequests++;
    };
    this.sender =
      o.sender ??
      createConnectSender({
        baseUrl: o.baseUrl,
        protocol: o.protocol,
        headers,
        fetch: o.fetch,
        gzip: o.gzip,
        gzipMinBytes: o.gzipMinBytes,
        onWire,
      });
    this.random = o.random ?? Math.random;
    this.sleep = o.sleep ?? defaultSleep;
    this.header = this.makeHeader({
      sdkVersion: SDK_VERSION,
      ...(o.clientId ? { clientId: o.clientId } : {}),
      ...o.header,
    });
    const targets = o.pageLifecycle === false ? undefined : o.pageLifecycle === true || o.pageLifecycle === undefined ? browserTargets() : o.pageLifecycle;
    // The store keeps identity and opt-out wherever there is one; events
    // saved at pagehide (or while offline) are kept and reloaded in
    // browsers, and elsewhere when a store is given.
    const store = o.store === false ? undefined : (o.store ?? browserStore());
    this.ident = new Identity(store, o.storagePrefix ?? "event-grpc", randomUuid, o.optOut ?? false);
    if (this.ident.error) this.s.lastError = this.ident.error;
    if (targets) this.unwatch = watchPage(targets, () => this.onHide(), () => this.onShow());
    if (targets || o.store) {
      this.store = store;
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

  track(eventOrName: EventInit | string, payload?: object, options?: CallOptions): string {
    if (this.ident.optedOut) return this.ignored("track");
    let init: EventInit;
    if (typeof eventOrName === "string") {
      if (!TYPED.has(eventOrName)) {
        const name = eventOrName;
        return this.generic("trackEvent", options, () => {
          if (!name) throw new JsonValueError("track needs an event name");
          return { name, properties: toJsonObject(payload, "properties") };
        });
      }
      init = { eventOf: { case: eventOrName, value: payload ?? {} } as EventInit["eventOf"] };
    } else {
      init = eventOrName;
    }
    return this.add(init);
  }

  identify(a?: string | Properties, b?: Properties | CallOptions, c?: CallOptions): string {
    if (this.ident.optedOut) return this.ignored("identify");
    let traits: unknown;
    let options: CallOptions | undefined;
    if (typeof a === "string") {
      if (a !== this.ident.userId) {
        this.ident.setUserId(a);
        this.note("identity", `user id set to ${a}`);
      }
      traits = b;
      options = c;
    } else {
      traits = a;
      options = b as CallOptions | undefined;
    }
    return this.generic("identifyEvent", options, () => ({ traits: toJsonObject(traits, "traits") }));
  }

  page(name?: string, properties?: Properties, options?: PageOptions): string {
    if (this.ident.optedOut) return this.ignored("page");
    return this.generic("pageEvent", options, () => ({
      name: name ?? "",
      category: options?.category ?? "",
      properties: toJsonObject(properties, "properties"),
    }));
  }

  screen(name?: string, properties?: Properties, options?: PageOptions): string {
    if (this.ident.optedOut) return this.ignored("screen");
    return this.generic("screenEvent", options, () => ({
      name: name ?? "",
      category: options?.category ?? "",
      properties: toJsonObject(properties, "properties"),
    }));
  }

  group(groupId: string, traits?: Properties, options?: CallOptions): string {
    if (this.ident.optedOut) return this.ignored("group");
    return this.generic("groupEvent", options, () => {
      if (!groupId) throw new JsonValueError("group needs a group id");
      return { groupId, traits: toJsonObject(traits, "traits") };
    });
  }

  alias(userId: string, previousId?: string, options?: CallOptions): string {
    if (this.ident.optedOut) return this.ignored("alias");
    const prev = previousId || this.ident.userId || this.ident.anonymousId;
    return this.generic("aliasEvent", { ...options, userId }, () => {
      if (!userId) throw new JsonValueError("alias needs the user id");
      return { previousId: prev };
    });
  }

  reset(): void {
    this.ident.reset();
    this.note("identity", `reset: no user id, anonymous id ${this.ident.anonymousId}`);
  }

  identity(): { userId: string; anonymousId: string } {
    return { userId: this.ident.userId, anonymousId: this.ident.anonymousId };
  }

  optOut(out = true): void {
    if (!out) return this.optIn();
    this.ident.setOptOut(true);
    this.note("consent", "opted out: nothing is tracked, sent or kept");
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dropQueued("opted_out");
    if (this.store) this.discardSaved(this.store);
  }

  optIn(): void {
    this.ident.setOptOut(false);
    this.note("consent", "opted in");
  }

  optedOut(): boolean {
    return this.ident.optedOut;
  }

  private ignored(call: string): string {
    this.s.ignoredOptedOut++;
    this.log?.({ level: "debug", event: "ignored", message: `${call}: opted out, nothing tracked` });
    return "";
  }

  private note(event: LogRecord["event"], message: string): void {
    this.log?.({ level: "info", event, message });
  }

  /**
   * Builds a generic event: the caller's identity, or the client's; the
   * context with the library; the payload from build(), which throws
   * JsonValueError for bad input (reported as a rejection naming it).
   */
  private generic<K extends "trackEvent" | "identifyEvent" | "pageEvent" | "screenEvent" | "groupEvent" | "aliasEvent">(
    kind: K,
    options: CallOptions | undefined,
    build: () => PayloadInit<K>,
  ): string {
    const o = options ?? {};
    let init: EventInit;
    try {
      const ctx = o.context === undefined ? this.context : { ...this.context, ...toJsonObject(o.context, "options.context") };
      init = {
        id: o.messageId ?? "",
        timestamp: o.timestamp === undefined ? "" : timestampOf(o.timestamp),
        userId: o.userId ?? this.ident.userId,
        anonymousId: o.anonymousId ?? this.ident.anonymousId,
        context: ctx,
        integrations: o.integrations === undefined ? undefined : toJsonObject(o.integrations, "options.integrations"),
        eventOf: { case: kind, value: build() } as EventInit["eventOf"],
      };
    } catch (e) {
      if (!(e instanceof JsonValueError)) throw e;
      // Reported like any refusal at track(): an event with the id it would
      // have had, its type and no payload.
      return this.add({ id: typeof o.messageId === "string" ? o.messageId : "", eventOf: { case: kind, value: {} } as EventInit["eventOf"] }, e.message);
    }
    return this.add(init);
  }

  /** Encodes and queues an event; invalid (a reason given) rejects it at once. */
  private add(init: EventInit, invalid?: string): string {
    const nowMs = Date.now();
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
    if (invalid !== undefined || !h.type) {
      this.reject([{ ...pub(h), code: ResultCode.INVALID, reason: invalid ?? "event has no eventOf set" }], [h]);
      return h.id;
    }
    if (n > this.o.maxEventBytes || h.size + h.header.size > this.o.maxBatchBytes) {
      this.reject(
        [{ ...pub(h), code: ResultCode.TOO_LARGE, reason: `event is ${n} bytes, over the limit of ${Math.min(this.o.maxEventBytes, this.o.maxBatchBytes - h.header.size)}` }],
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
        if (this.saved) this.persist();
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
        this.log?.({ level: "debug", event: "send", message: `sending ${live.length} event(s), attempt ${attempt}`, count: live.length, attempt, ids: few(live) });
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
          const code = requestCode(c.code);
          this.reject(still.map((h) => ({ ...pub(h), code, reason: `request failed (${c.code}): ${c.message}` })), still);
          return;
        }
        if (attempt >= this.o.maxAttempts) {
          this.drop("retries_exhausted", still, err);
          return;
        }
        this.s.retries++;
        const wait = backoffMs(attempt, this.policy, this.random, c.retryAfterMs);
        this.log?.({ level: "warn", event: "retry", message: `request failed (${c.code}: ${c.message}); retrying ${still.length} event(s) in ${Math.round(wait)} ms`, count: still.length, attempt, delayMs: wait, error: err });
        // Offline or refused: keep a copy in the store, so a page that dies
        // now (or a crash) does not lose what is held.
        this.persist();
        await this.sleep(wait, this.abort.signal);
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
      const wait = backoffMs(attempt, this.policy, this.random);
      this.log?.({ level: "warn", event: "retry", message: `${again.length} event(s) not durable yet (${this.s.lastError}); retrying in ${Math.round(wait)} ms`, count: again.length, attempt, delayMs: wait, ids: few(again) });
      this.persist();
      await this.sleep(wait, this.abort.signal);
    }
  }

  private request(live: Held[]): EncodedBatch {
    return { header: live[0].header.bytes, events: live.map((h) => h.bytes) };
  }

  /**
   * Applies the server's per-event results to the events of one request.
   * Returns the events to send again: those the server marks retryable
   * (valid but not durable yet: code UNAVAILABLE or RESOURCE_EXHAUSTED),
   * and any the answer left out although it was not OK. Everything else is
   * settled: accepted, or rejected for good (reported once with its code,
   * never retried). The code and retryable fields decide; only an older
   * server that sends no code (UNSPECIFIED) is read by its reason's prefix.
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
      } else if (retryable(r)) {
        again.push(h);
        this.s.lastError = r.reason || `not durable yet (${ResultCode[r.code]})`;
      } else {
        rejections.push({ ...pub(h), code: r.code, reason: r.reason || `rejected (${ResultCode[r.code]})` });
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
    if (accepted) this.log?.({ level: "debug", event: "accepted", message: `${accepted} event(s) accepted`, count: accepted });
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
    this.log?.({
      level: "warn",
      event: "rejected",
      message: `${rs.length} event(s) rejected, not retried; first ${rs[0]?.id}: ${ResultCode[rs[0]?.code ?? 0]}: ${rs[0]?.reason}`,
      count: rs.length,
      ids: few(rs),
    });
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
    this.log?.({ level: reason === "opted_out" ? "info" : "warn", event: "dropped", message: `dropped ${hs.length} event(s): ${reason}`, count: hs.length, ids: few(hs), error });
    callback(this.opts.onDropped, d, (x) => {
      if (x.reason !== "opted_out") console.warn(`event-grpc: dropped ${x.events.length} event(s): ${x.reason}`);
    });
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
    if (this.ident.optedOut) return;
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
   * Saves everything not settled yet for the next page of the origin (or
   * the next client given this store): the queue, the batch in flight and
   * what keepalive carries too, since a keepalive request can fail after
   * the page is gone (offline, server down). The next page sends them
   * again with the same ids, so what did arrive is stored once; while the
   * page lives, each answer removes what it settled from the copy.
   * Without a store (Node, storage blocked or full) they stay held only
   * here: delivered if the page lives on, lost if it dies, and then nothing
   * is left to report it (stats().lastError names a failed save).
   */
  private saveRest(): void {
    const rest: Held[] = [];
    const add = (h: Held) => {
      if (h.state !== SETTLED && !seen.has(h)) {
        seen.add(h);
        rest.push(h);
      }
    };
    const seen = new Set<Held>();
    for (const b of this.kaBatches) for (const h of b) add(h);
    for (const h of this.inflight) add(h);
    for (let i = this.qHead; i < this.q.length; i++) add(this.q[i]);
    rest.sort((a, b) => a.seq - b.seq);
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
      if (!this.saved) this.log?.({ level: "debug", event: "saved", message: `${rest.length} event(s) kept in the store`, count: rest.length });
      this.saved = true;
    } catch (e) {
      this.s.lastError = `store: ${(e as Error)?.message ?? e}`;
      this.log?.({ level: "error", event: "saved", message: `could not keep ${rest.length} event(s) in the store: ${this.s.lastError}`, count: rest.length, error: e });
    }
  }

  /**
   * Keeps the store's copy current: written while offline, updated as
   * events settle, removed when nothing is held. At most once a second
   * (each write serialises everything held); a copy a little stale only
   * makes the next page send again events stored already, once.
   */
  private persist(): void {
    if (!this.store || this.ident.optedOut) return;
    const now = Date.now();
    if (this.saved && this.s.heldEvents === 0) {
      this.clearSaved();
    } else if (now >= this.nextPersist) {
      this.nextPersist = now + 1000;
      this.saveRest();
    }
  }

  /** Removes what earlier pages saved, unsent (opted out). */
  private discardSaved(store: KeyValueStore): void {
    if (this.saved) this.clearSaved();
    let taken;
    try {
      taken = takeAll(store, keyPrefix(this.opts.baseUrl));
    } catch (e) {
      this.s.lastError = `store: ${(e as Error)?.message ?? e}`;
      return;
    }
    const n = taken.groups.reduce((k, g) => k + g.events.length, 0);
    if (n) this.log?.({ level: "info", event: "dropped", message: `opted out: ${n} saved event(s) discarded unsent`, count: n });
  }

  /** Queues what earlier pages saved (same ids: copies are stored once). */
  private loadSaved(store: KeyValueStore, prefix: string): void {
    if (this.ident.optedOut) {
      this.discardSaved(store);
      return;
    }
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
    if (this.s.tracked) this.log?.({ level: "info", event: "loaded", message: `${this.s.tracked} event(s) saved by an earlier page or client taken over`, count: this.s.tracked });
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
        if (this.saved) this.saveRest();
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

/**
 * Whether a refused event may be sent again: the server's retryable field;
 * from an older server without a code (UNSPECIFIED), the reason's prefix it
 * gave valid events it could not make durable yet.
 */
export function retryable(r: Pick<EventResult, "code" | "retryable" | "reason">): boolean {
  if (r.code !== ResultCode.UNSPECIFIED) return r.retryable;
  return r.reason.startsWith("UNAVAILABLE:") || r.reason.startsWith("RESOURCE_EXHAUSTED:");
}

/** The ResultCode of events refused with their whole request (a protocol code name). */
function requestCode(code: string): ResultCode {
  switch (code) {
    case "invalid_argument":
      return ResultCode.INVALID;
    case "resource_exhausted":
      return ResultCode.TOO_LARGE; // not retryable only when it means "request too large"
    case "internal":
      return ResultCode.INTERNAL;
    default:
      return ResultCode.UNSPECIFIED;
  }
}

/** Oneof case names of Event: a track() name among them is a typed event. */
const TYPED: ReadonlySet<string> = new Set(EventSchema.oneofs.find((o) => o.name === "eventOf")!.fields.map((f) => f.localName));

/** A CallOptions timestamp as the epoch-ms string Event.timestamp holds. */
function timestampOf(t: Date | number | string): string {
  let ms: number;
  if (t instanceof Date) ms = t.getTime();
  else if (typeof t === "number") ms = t;
  else if (/^\d+$/.test(t)) ms = Number(t);
  else ms = Date.parse(t);
  if (!Number.isFinite(ms) || ms <= 0) throw new JsonValueError(`options.timestamp is not a date: ${String(t)}`);
  return String(Math.floor(ms));
}

/** Up to 20 ids, for log records. */
function few(hs: readonly { id: string }[]): string[] | undefined {
  return hs.length <= 20 ? hs.map((h) => h.id) : undefined;
}

function consoleLog(r: LogRecord): void {
  const f = r.level === "error" ? console.error : r.level === "warn" ? console.warn : console.debug;
  f(`event-grpc: ${r.event}: ${r.message}`);
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
