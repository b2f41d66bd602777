package io.eventgrpc.client;

import io.eventgrpc.v1.Event;
import java.time.Duration;
import java.util.List;

/**
 * Hears what became of tracked events. Every tracked event ends in exactly
 * one of {@link #onAccepted}, {@link #onRejected}, {@link #onDropped} or
 * {@link #onFailed}. Methods are called on the client's sender thread,
 * except {@link #onDropped}, which is called on the thread that tracked the
 * event; they must return quickly and must not call {@link
 * EventGrpcClient#flush} or {@link EventGrpcClient#close}. An exception
 * thrown by a method is logged and counted ({@link Stats#listenerErrors()}),
 * never passed on. Every method does nothing by default.
 */
public interface Listener {
  /** The service stored these events (they are durable). */
  default void onAccepted(List<Event> events) {}

  /**
   * The service rejected this event for the given reason (bad data, too
   * old, too large, …). It is not retried: sending it again would be
   * rejected again.
   */
  default void onRejected(Event event, String reason) {}

  /** {@link EventGrpcClient#track} did not queue this event. */
  default void onDropped(Event event, DropReason reason) {}

  /**
   * These events were sent or queued but not confirmed: the request failed
   * with an error that is not retryable (e.g. {@code unauthenticated}, or
   * one event too large for the service), the
   * retry budget ran out, or the close deadline passed. The service may or
   * may not have stored them (a request in flight at the deadline can still
   * land); resending them is safe, their ids make it idempotent.
   */
  default void onFailed(List<Event> events, Throwable cause) {}

  /**
   * A request failed with a retryable error and will be sent again after
   * {@code delay}; {@code attempt} counts the retries of this batch from 1.
   */
  default void onRetry(int attempt, Duration delay, EventGrpcException cause) {}
}
