/**
 * The SDK's transport seam: one function that sends a batch and returns
 * the server's Response or throws. The default speaks Connect (binary
 * protobuf over HTTP POST, through @connectrpc/connect-web and the
 * platform's fetch, so browsers and Node 20+ alike), or gRPC-Web. Tests and
 * unusual platforms can pass their own Sender.
 *
 * A batch arrives already encoded: each event is encoded once, when it is
 * tracked (its size bounds batches and the queue exactly), and a retry or a
 * keepalive resend reuses those bytes. The default sender hands them to
 * connect as pre-encoded fields of an Events message, so protobuf-es copies
 * them into the request body instead of encoding every event again.
 *
 * Bodies of gzipMinBytes or more are gzipped (see compress.ts).
 */
import { create } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { canGzip, gunzipEnvelopes, gzip, gzipEnvelopes } from "./compress.js";
import { EventService, EventsSchema, type Events, type Response } from "./gen/eventgrpc/v1/eventservice_pb.js";

/** One request's content, encoded: the Header and each Event message, in order. */
export interface EncodedBatch {
  /** The encoded eventgrpc.v1.Header (empty when every field is empty). */
  readonly header: Uint8Array;
  /** Each encoded eventgrpc.v1.Event; results in the Response index into this. */
  readonly events: readonly Uint8Array[];
}

function delimited(b: Uint8Array): Uint8Array {
  let n = b.length;
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  const out = new Uint8Array(len + b.length);
  n = b.length;
  let i = 0;
  while (n >= 0x80) {
    out[i++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[i++] = n;
  out.set(b, i);
  return out;
}

/**
 * An Events message that encodes (toBinary) to exactly the batch's bytes:
 * header as field 1, events as field 2, carried as pre-encoded fields.
 * Binary encoding only: JSON encoding would not see them.
 */
export function batchMessage(b: EncodedBatch): Events {
  const unknown = [];
  if (b.header.length) unknown.push({ no: 1, wireType: WireType.LengthDelimited, data: delimited(b.header) });
  for (const e of b.events) unknown.push({ no: 2, wireType: WireType.LengthDelimited, data: delimited(e) });
  const m = create(EventsSchema);
  m.$unknown = unknown;
  return m;
}


/** Per-call options the client hands its Sender. */
export interface SendOptions {
  /**
   * Send with fetch's `keepalive: true`, so the request outlives the page
   * (pagehide flush). Browsers cap keepalive bodies at 64 KiB in flight per
   * page; the client keeps under that.
   */
  keepalive: boolean;
  /** Aborted when the client's close deadline passes. */
  signal?: AbortSignal;
  /** Per-attempt timeout; a timeout is DEADLINE_EXCEEDED (retried). */
  timeoutMs?: number;
}

/** Sends one batch; resolves with the server's answer or throws (a ConnectError). */
export type Sender = (batch: EncodedBatch, options: SendOptions) => Promise<Response>;

/** What one request put on the wire (the default sender reports it). */
export interface WireInfo {
  /** Body bytes before compression. */
  bodyBytes: number;
  /** Body bytes as sent. */
  sentBytes: number;
  /** "gzip" or "identity". */
  encoding: "gzip" | "identity";
  keepalive: boolean;
}

/** Options of the default, fetch-based sender. */
export interface ConnectSenderOptions {
  /** The server's HTTP origin, e.g. "https://events.example.com" (GIN_PORT). */
  baseUrl: string;
  /** "connect" (default) or "grpc-web". */
  protocol?: "connect" | "grpc-web";
  /** Headers sent with every call (authorization, x-client-id, …). */
  headers?: Record<string, string>;
  /** fetch to use; default globalThis.fetch, looked up at call time. */
  fetch?: typeof globalThis.fetch;
  /**
   * Gzip request bodies of gzipMinBytes or more: default true (where the
   * platform has CompressionStream); false never.
   */
  gzip?: boolean;
  /** Smallest body gzipped; default 1024 bytes (0: every body). */
  gzipMinBytes?: number;
  /** Called once per request with what went on the wire. */
  onWire?: (info: WireInfo) => void;
}

/** The default Sender: Connect or gRPC-Web over fetch. */
export function createConnectSender(o: ConnectSenderOptions): Sender {
  const headers = o.headers ?? {};
  const grpcWeb = o.protocol === "grpc-web";
  const zip = (o.gzip ?? true) && canGzip();
  const min = o.gzipMinBytes ?? 1024;
  if (!(min >= 0)) throw new Error(`event-grpc: gzipMinBytes must be >= 0, got ${o.gzipMinBytes}`);
  const mk = (keepalive: boolean) => {
    const fetchFn: typeof globalThis.fetch = async (input, init) => {
      const req: RequestInit = { ...(init ?? {}) };
      if (keepalive) req.keepalive = true;
      const body = req.body;
      let encoding: WireInfo["encoding"] = "identity";
      let bodyBytes = 0;
      let sentBytes = 0;
      if (body instanceof Uint8Array) {
        bodyBytes = sentBytes = body.length;
        if (zip && !keepalive && body.length >= min) {
          const h = new Headers(req.headers);
          const z = grpcWeb ? await gzipEnvelopes(body) : await gzip(body);
          if (grpcWeb) {
            h.set("grpc-encoding", "gzip");
            h.set("grpc-accept-encoding", "gzip");
          } else {
            h.set("content-encoding", "gzip");
          }
          req.headers = h;
          req.body = z as BodyInit;
          encoding = "gzip";
          sentBytes = z.length;
        }
      }
      o.onWire?.({ bodyBytes, sentBytes, encoding, keepalive });
      const res = await (o.fetch ?? globalThis.fetch)(input, req);
      if (grpcWeb && res.headers.get("grpc-encoding") === "gzip" && res.body) {
        // A unary answer is one message and a trailer: small, read whole.
        const plain = await gunzipEnvelopes(new Uint8Array(await res.arrayBuffer()));
        const h = new Headers(res.headers);
        h.delete("grpc-encoding");
        return new Response(plain as BodyInit, { status: res.status, statusText: res.statusText, headers: h });
      }
      return res;
    };
    const opts = { baseUrl: o.baseUrl, useBinaryFormat: true, fetch: fetchFn };
    const transport = grpcWeb ? createGrpcWebTransport(opts) : createConnectTransport(opts);
    return createClient(EventService, transport);
  };
  const normal = mk(false);
  const keepalive = mk(true);
  return (batch, options) =>
    (options.keepalive ? keepalive : normal).dispatch(batchMessage(batch), {
      headers,
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
}
