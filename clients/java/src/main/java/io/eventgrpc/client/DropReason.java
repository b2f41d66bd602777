package io.eventgrpc.client;

/** Why {@link EventGrpcClient#track} did not queue an event. */
public enum DropReason {
  /** The queue was at its bound in events or bytes (maxQueueEvents, maxQueueBytes). */
  QUEUE_FULL,
  /** The event alone is larger than a batch may be (maxBatchBytes). */
  TOO_LARGE,
  /** The client was closed. */
  CLOSED,
  /** The user opted out ({@link EventGrpcClient#optOut}): nothing is queued or sent. */
  OPTED_OUT
}
