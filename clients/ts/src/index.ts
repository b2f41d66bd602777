/**
 * @event-grpc/client: send analytics events to event-grpc from browsers and
 * Node. See createClient.
 */
export {
  createClient,
  retryable,
  SDK_VERSION,
  type CallOptions,
  type ClientOptions,
  type Drop,
  type DropReason,
  type EventClient,
  type EventInit,
  type EventType,
  type HeaderInit,
  type LogRecord,
  type PageOptions,
  type PayloadInit,
  type Rejection,
  type Stats,
  type TrackedEvent,
} from "./client.js";
export {
  batchMessage,
  createConnectSender,
  type ConnectSenderOptions,
  type EncodedBatch,
  type SendOptions,
  type Sender,
  type WireInfo,
} from "./transport.js";
export { gunzip, gzip } from "./compress.js";
export { JsonValueError, toJsonObject, type JsonObject, type JsonValue, type Properties } from "./json.js";
export { backoffMs, classify, retryHintMs, type BackoffPolicy, type Classified } from "./retry.js";
export { createUuidV7, uuidv7, uuidv7Time, type UuidV7Generator } from "./uuid.js";
export type { PageTargets } from "./lifecycle.js";
export type { KeyValueStore } from "./persist.js";
export * from "./gen/eventgrpc/v1/eventservice_pb.js";
