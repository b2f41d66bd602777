/**
 * Which failures of a dispatch call are worth another try, and how long to
 * wait before it.
 *
 * Retried (the events carry client-minted ids, so a retry cannot store an
 * event twice): UNAVAILABLE (server down, broker unreachable, HTTP 502/503/
 * 504/429 without a Connect body), RESOURCE_EXHAUSTED with a retry hint
 * (server full or rate limited; without a hint it means the request is too
 * large, which no retry fixes), DEADLINE_EXCEEDED (our per-attempt timeout), ABORTED, and a
 * failure to reach the server at all (fetch rejected: connection refused,
 * DNS, offline). Everything else (INVALID_ARGUMENT, UNAUTHENTICATED,
 * PERMISSION_DENIED, …) is permanent: the batch's events are reported as
 * rejected, never retried. Per-event results inside an answer are read by
 * the client (client.ts, retryable()): only those marked retryable go again.
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** The verdict on a failed attempt. */
export interface Classified {
  /** Worth another attempt. */
  retryable: boolean;
  /** The server's retry hint in milliseconds, when it gave one. */
  retryAfterMs?: number;
  /** The gRPC code name, e.g. "unavailable"; "network" when no answer came. */
  code: string;
  message: string;
}

const RETRYABLE = new Set<Code>([
  Code.Unavailable,
  Code.ResourceExhausted,
  Code.DeadlineExceeded,
  Code.Aborted,
]);

/** Classifies an error thrown by a dispatch call. */
export function classify(err: unknown): Classified {
  if (err instanceof ConnectError) {
    const hint = retryHintMs(err);
    // fetch itself failed (no HTTP answer): connect wraps the TypeError
    // fetch throws as UNKNOWN with the TypeError as cause.
    if (err.code === Code.Unknown && err.cause instanceof TypeError) {
      return { retryable: true, code: "network", message: err.rawMessage, retryAfterMs: hint };
    }
    // RESOURCE_EXHAUSTED without a retry hint is event-grpc's answer to a
    // request too large (HTTP 413): sent again as is, it fails again.
    // Overload and rate limits always carry a hint.
    if (err.code === Code.ResourceExhausted && hint === undefined) {
      return { retryable: false, code: codeName(err.code), message: err.rawMessage };
    }
    return {
      retryable: RETRYABLE.has(err.code),
      retryAfterMs: hint,
      code: codeName(err.code),
      message: err.rawMessage,
    };
  }
  if (err instanceof TypeError) {
    // A transport other than connect's (or fetch called directly) failed.
    return { retryable: true, code: "network", message: err.message };
  }
  return { retryable: false, code: "unknown", message: String((err as Error)?.message ?? err) };
}

/** "resource_exhausted" for Code.ResourceExhausted, as the Connect protocol spells it. */
export function codeName(code: Code): string {
  return (Code[code] ?? "unknown").replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase());
}

/**
 * The server's retry hint: the `retry-after-ms` header or trailer
 * event-grpc sets on RESOURCE_EXHAUSTED (Connect carries trailers of a
 * unary error as headers), else an HTTP `Retry-After` (seconds or a date),
 * else a google.rpc.RetryInfo error detail.
 */
export function retryHintMs(err: ConnectError, nowMs: number = Date.now()): number | undefined {
  const ms = err.metadata.get("retry-after-ms");
  if (ms !== null) {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return n;
  }
  const ra = err.metadata.get("retry-after");
  if (ra !== null) {
    const secs = Number(ra);
    if (ra.trim() !== "" && Number.isFinite(secs) && secs >= 0) return secs * 1000;
    const at = Date.parse(ra);
    if (Number.isFinite(at)) return Math.max(0, at - nowMs);
  }
  for (const d of err.details) {
    if ("type" in d && d.type === "google.rpc.RetryInfo" && d.value instanceof Uint8Array) {
      const v = retryInfoDelayMs(d.value);
      if (v !== undefined) return v;
    }
  }
  return undefined;
}

/**
 * Decodes google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1 }
 * (Duration: int64 seconds = 1, int32 nanos = 2) by hand: two varints do
 * not justify shipping the googleapis descriptors to every browser.
 */
export function retryInfoDelayMs(b: Uint8Array): number | undefined {
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (let n = 0; n < 10 && i < b.length; n++) {
      const c = b[i++];
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
    throw new Error("bad varint");
  };
  try {
    while (i < b.length) {
      const tag = varint();
      if (tag !== 0x0a) return undefined; // field 1, length-delimited
      const end = i + varint();
      let secs = 0;
      let nanos = 0;
      while (i < end) {
        const t = varint();
        if (t === 0x08) secs = varint();
        else if (t === 0x10) nanos = varint();
        else return undefined;
      }
      return secs * 1000 + Math.floor(nanos / 1e6);
    }
  } catch {
    return undefined; // a malformed detail is no hint; the backoff applies
  }
  return undefined;
}

/** How retries are paced. */
export interface BackoffPolicy {
  /** First delay, before jitter. */
  initialMs: number;
  /** Largest delay, before jitter. */
  maxMs: number;
  /** Largest server hint honoured; longer hints are cut to this. */
  maxRetryAfterMs: number;
}

/**
 * The wait before attempt `attempt + 1`, after `attempt` failed attempts
 * (attempt ≥ 1): exponential, doubling from initialMs up to maxMs, with
 * "equal jitter" (uniform in [d/2, d)) so clients refused together do not
 * come back together. A server hint is a floor: never retry earlier than
 * asked (plus up to 10% jitter), capped at maxRetryAfterMs.
 */
export function backoffMs(
  attempt: number,
  p: BackoffPolicy,
  random: () => number,
  retryAfterMs?: number,
): number {
  const d = Math.min(p.maxMs, p.initialMs * 2 ** Math.min(attempt - 1, 30));
  const jittered = d / 2 + random() * (d / 2);
  if (retryAfterMs === undefined) return jittered;
  const hint = Math.min(retryAfterMs, p.maxRetryAfterMs);
  return Math.max(jittered, hint + random() * hint * 0.1);
}
