// Shared helpers of the unit tests: a fake of the SDK's own Sender seam
// (the real server is exercised by test/e2e) and answers as the server
// gives them.
import { create, fromBinary } from "@bufbuild/protobuf";
import { EventSchema, EventsSchema, HeaderSchema, ResponseSchema, Status, batchMessage } from "../../dist/index.js";
import { toBinary } from "@bufbuild/protobuf";

/** The Events message a server decodes from a batch's request body. */
export function decodeBatch(batch) {
  const body = toBinary(EventsSchema, batchMessage(batch));
  const req = fromBinary(EventsSchema, body);
  req.header ??= create(HeaderSchema);
  req.bodyBytes = body.length;
  // the parts decode on their own too
  if (batch.events.length) fromBinary(EventSchema, batch.events[0]);
  return req;
}

/** Every event accepted, as event-grpc answers a clean batch. */
export function okResponse(req) {
  return create(ResponseSchema, {
    status: Status.OK,
    results: req.events.map((e, i) => ({ index: i, eventId: e.id, accepted: true })),
    accepted: req.events.length,
  });
}

/**
 * A Sender that records each call (the request, its options, the ids it
 * carried) and answers with handler(req, opts, n) — n counts calls from 1.
 */
export function fakeSender(handler = okResponse) {
  const calls = [];
  const sender = async (batch, opts) => {
    const req = decodeBatch(batch);
    calls.push({ req, opts, ids: req.events.map((e) => e.id) });
    return handler(req, opts, calls.length);
  };
  sender.calls = calls;
  return sender;
}

/** A sleep that records the delays asked for and returns at once. */
export function recordingSleep() {
  const delays = [];
  const sleep = async (ms) => {
    delays.push(ms);
  };
  sleep.delays = delays;
  return sleep;
}

export const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** A page (window + document) for the lifecycle hooks, outside a browser. */
export function fakePage() {
  const window = new EventTarget();
  const document = new EventTarget();
  document.visibilityState = "visible";
  return {
    window,
    document,
    hide() {
      document.visibilityState = "hidden";
      document.dispatchEvent(new Event("visibilitychange"));
    },
    pagehide() {
      window.dispatchEvent(new Event("pagehide"));
    },
    show() {
      document.visibilityState = "visible";
      document.dispatchEvent(new Event("visibilitychange"));
    },
  };
}

/** Options every client test starts from: no real transport, no page, no console. */
export function base(extra = {}) {
  return { baseUrl: "http://127.0.0.1:1", pageLifecycle: false, ...extra };
}
