package io.eventgrpc.client;

import io.eventgrpc.v1.Event;
import io.eventgrpc.v1.ResultCode;
import java.time.Duration;
import java.util.List;

/**
 * Hears what became of tracked events. Every tracked event ends in exactly
 * one of {@link #onAccepted}, {@link #onRejected}, {@link #onDropped},
 * {@link #onFailed} or {@link #onSaved}. Methods are called on the client's sender thread,
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

  /**
   * Like {@link #onRejected(Event, String)}, with the service's code for
   * the event's fate (INVALID, TOO_LARGE, CONFLICT, INTERNAL; UNSPECIFIED
   * from a service older than the field). The client calls this one; by
   * default it calls {@link #onRejected(Event, String)}.
   */
  default void onRejected(Event event, ResultCode code, String reason) {
    onRejected(event, reason);
  }

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
   * These events were not confirmed by the close deadline and were written
   * to the client's storage file ({@link EventGrpcClient.Builder#storageDir}):
   * the next client opened on that directory sends them.
   */
  default void onSaved(List<Event> events) {}

  /**
   * A request failed with a retryable error and will be sent again after
   * {@code delay}; {@code attempt} counts the retries of this batch from 1.
   */
  default void onRetry(int attempt, Duration delay, EventGrpcException cause) {}
}
