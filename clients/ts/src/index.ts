/**
 * @event-grpc/client: send analytics events to event-grpc from browsers and
 * Node. See createClient.
 */
export {
  createClient,
  SDK_VERSION,
  type ClientOptions,
  type Drop,
  type DropReason,
  type EventClient,
  type EventInit,
  type EventType,
  type HeaderInit,
  type PayloadInit,
  type Rejection,
  type Stats,
  type TrackedEvent,
} from "./client.js";
export { batchMessage, createConnectSender, type ConnectSenderOptions, type EncodedBatch, type SendOptions, type Sender } from "./transport.js";
export { backoffMs, classify, retryHintMs, type BackoffPolicy, type Classified } from "./retry.js";
export { createUuidV7, uuidv7, uuidv7Time, type UuidV7Generator } from "./uuid.js";
export type { PageTargets } from "./lifecycle.js";
export type { KeyValueStore } from "./persist.js";
export * from "./gen/eventgrpc/v1/eventservice_pb.js";
