package io.eventgrpc.client;

/**
 * Counters of one client since it was built. Whenever no {@link
 * EventGrpcClient#track} call is under way, {@code tracked == accepted +
 * rejected + dropped + failed + pending}.
 */
public final class Stats {
  private final long tracked;
  private final long accepted;
  private final long rejected;
  private final long dropped;
  private final long failed;
  private final long pending;
  private final long pendingBytes;
  private final long requests;
  private final long retries;
  private final long listenerErrors;

  Stats(
      long tracked,
      long accepted,
      long rejected,
      long dropped,
      long failed,
      long pending,
      long pendingBytes,
      long requests,
      long retries,
      long listenerErrors) {
    this.tracked = tracked;
    this.accepted = accepted;
    this.rejected = rejected;
    this.dropped = dropped;
    this.failed = failed;
    this.pending = pending;
    this.pendingBytes = pendingBytes;
    this.requests = requests;
    this.retries = retries;
    this.listenerErrors = listenerErrors;
  }

  /** Calls of {@link EventGrpcClient#track}. */
  public long tracked() {
    return tracked;
  }

  /** Events the service stored. */
  public long accepted() {
    return accepted;
  }

  /** Events the service rejected one by one. */
  public long rejected() {
    return rejected;
  }

  /** Events not queued (queue full, too large, client closed). */
  public long dropped() {
    return dropped;
  }

  /** Events sent or queued but not confirmed (see {@link Listener#onFailed}). */
  public long failed() {
    return failed;
  }

  /** Events queued or in flight now. */
  public long pending() {
    return pending;
  }

  /** Encoded bytes of the events queued or in flight now. */
  public long pendingBytes() {
    return pendingBytes;
  }

  /** Dispatch requests sent, retries included. */
  public long requests() {
    return requests;
  }

  /** Requests sent again after a retryable failure. */
  public long retries() {
    return retries;
  }

  /** Exceptions thrown by the listener. */
  public long listenerErrors() {
    return listenerErrors;
  }

  @Override
  public String toString() {
    return "tracked="
        + tracked
        + " accepted="
        + accepted
        + " rejected="
        + rejected
        + " dropped="
        + dropped
        + " failed="
        + failed
        + " pending="
        + pending
        + " pendingBytes="
        + pendingBytes
        + " requests="
        + requests
        + " retries="
        + retries
        + " listenerErrors="
        + listenerErrors;
  }
}
