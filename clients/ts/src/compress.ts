/**
 * gzip of request bodies, with the platform's CompressionStream (browsers,
 * Node 18+): no dependency. connect-web has no send compression, so the
 * default sender compresses in the fetch it gives the transport and sets
 * the header the protocol uses:
 *
 *   Connect unary:  the whole body, `Content-Encoding: gzip`;
 *   gRPC-Web:       each enveloped message, flag bit 0 set, `Grpc-Encoding:
 *                   gzip`. The server then answers gzipped too, which
 *                   connect-web cannot read: the answer's envelopes are
 *                   gunzipped before connect-web sees them.
 *
 * The server (connect-go) accepts both. Keepalive requests (a page being
 * hidden) go uncompressed: the page may not live through an asynchronous
 * compression, and their size is bounded anyway.
 */

/** True when the platform can gzip (CompressionStream exists). */
export function canGzip(): boolean {
  return typeof (globalThis as { CompressionStream?: unknown }).CompressionStream === "function";
}

/** gzips b. */
export async function gzip(b: Uint8Array): Promise<Uint8Array> {
  const cs = new CompressionStream("gzip");
  const out = new Response(new Blob([b as BlobPart]).stream().pipeThrough(cs));
  return new Uint8Array(await out.arrayBuffer());
}

/** gUnzips b (tests, and checking what was sent). */
export async function gunzip(b: Uint8Array): Promise<Uint8Array> {
  const ds = new DecompressionStream("gzip");
  const out = new Response(new Blob([b as BlobPart]).stream().pipeThrough(ds));
  return new Uint8Array(await out.arrayBuffer());
}

/**
 * Re-frames a gRPC-Web request body (one or more envelopes: flags byte,
 * 4-byte big-endian length, data) with each data message gzipped and the
 * compressed flag set.
 */
export function gzipEnvelopes(body: Uint8Array): Promise<Uint8Array> {
  return mapEnvelopes(body, async (flags, data) => (flags & 1 ? [flags, data] : [flags | 1, await gzip(data)]));
}

/** The inverse of gzipEnvelopes: compressed envelopes gunzipped, their flag cleared. */
export function gunzipEnvelopes(body: Uint8Array): Promise<Uint8Array> {
  return mapEnvelopes(body, async (flags, data) => (flags & 1 ? [flags & ~1, await gunzip(data)] : [flags, data]));
}

async function mapEnvelopes(
  body: Uint8Array,
  f: (flags: number, data: Uint8Array) => Promise<[number, Uint8Array]>,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let i = 0;
  while (i < body.length) {
    if (i + 5 > body.length) throw new Error("gRPC-Web body: truncated envelope");
    const flags = body[i];
    const len = ((body[i + 1] << 24) >>> 0) + (body[i + 2] << 16) + (body[i + 3] << 8) + body[i + 4];
    const data = body.subarray(i + 5, i + 5 + len);
    i += 5 + len;
    const [fl, z] = await f(flags, data);
    const env = new Uint8Array(5 + z.length);
    env[0] = fl;
    new DataView(env.buffer).setUint32(1, z.length);
    env.set(z, 5);
    parts.push(env);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
