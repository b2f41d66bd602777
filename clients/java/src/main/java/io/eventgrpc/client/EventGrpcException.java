package io.eventgrpc.client;

import java.time.Duration;
import java.util.Optional;

/**
 * A dispatch request that failed as a whole: the service refused it (a
 * Connect error), something in front of the service answered with an HTTP
 * error, the connection failed, or no answer came in time. Events the
 * service rejected one by one are not exceptions; they are reported to
 * {@link Listener#onRejected}.
 */
public final class EventGrpcException extends Exception {
  private static final long serialVersionUID = 1L;

  private final Code code;
  private final int httpStatus;
  private final Duration retryAfter;

  /**
   * @param code the Connect code
   * @param message what went wrong
   * @param httpStatus the HTTP status of the answer, or 0 when there was none
   * @param retryAfter the server's hint for when to try again, or null
   * @param cause the underlying exception, or null
   */
  public EventGrpcException(
      Code code, String message, int httpStatus, Duration retryAfter, Throwable cause) {
    super(code.wireName() + ": " + message, cause);
    this.code = code;
    this.httpStatus = httpStatus;
    this.retryAfter = retryAfter;
  }

  /** The Connect code of the failure. */
  public Code code() {
    return code;
  }

  /** The HTTP status of the answer, or 0 when no answer came. */
  public int httpStatus() {
    return httpStatus;
  }

  /** How long the server asked the client to wait before trying again, when it said. */
  public Optional<Duration> retryAfter() {
    return Optional.ofNullable(retryAfter);
  }

  /**
   * Whether the same request may be sent again: its code is retryable
   * ({@link Code#retryable()}) and it is not {@link #isTooLarge()}.
   */
  public boolean isRetryable() {
    return code.retryable() && !isTooLarge();
  }

  /**
   * Whether the service refused the request for its size: {@code
   * resource_exhausted} without a retry hint (an overloaded service always
   * gives one). Sending it again as it is would be refused again; smaller
   * requests may pass.
   */
  public boolean isTooLarge() {
    return code == Code.RESOURCE_EXHAUSTED && retryAfter == null;
  }
}
