package io.eventgrpc.client;

/**
 * Counters of one client since it was built. Whenever no call that queues
 * an event is under way, {@code tracked + restored == accepted + rejected +
 * dropped + failed + saved + pending}.
 */
public final class Stats {
  private final long tracked;
  private final long restored;
  private final long accepted;
  private final long rejected;
  private final long dropped;
  private final long failed;
  private final long saved;
  private final long pending;
  private final long pendingBytes;
  private final long requests;
  private final long retries;
  private final long listenerErrors;
  private final long storageErrors;

  Stats(
      long tracked,
      long restored,
      long accepted,
      long rejected,
      long dropped,
      long failed,
      long saved,
      long pending,
      long pendingBytes,
      long requests,
      long retries,
      long listenerErrors,
      long storageErrors) {
    this.tracked = tracked;
    this.restored = restored;
    this.accepted = accepted;
    this.rejected = rejected;
    this.dropped = dropped;
    this.failed = failed;
    this.saved = saved;
    this.pending = pending;
    this.pendingBytes = pendingBytes;
    this.requests = requests;
    this.retries = retries;
    this.listenerErrors = listenerErrors;
    this.storageErrors = storageErrors;
  }

  /**
   * Events handed to the client: calls of {@link EventGrpcClient#track(io.eventgrpc.v1.Event)}
   * and of the generic calls (track, identify, page, screen, group, alias)
   * made while not opted out.
   */
  public long tracked() {
    return tracked;
  }

  /** Events read back from the storage file when the client was built (see {@link EventGrpcClient.Builder#storageDir}). */
  public long restored() {
    return restored;
  }

  /** Events the service stored. */
  public long accepted() {
    return accepted;
  }

  /** Events the service rejected one by one. */
  public long rejected() {
    return rejected;
  }

  /** Events not queued or given up (queue full, too large, client closed, opted out). */
  public long dropped() {
    return dropped;
  }

  /** Events sent or queued but not confirmed (see {@link Listener#onFailed}). */
  public long failed() {
    return failed;
  }

  /** Events written to the storage file at close, for the next client (see {@link Listener#onSaved}). */
  public long saved() {
    return saved;
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

  /**
   * Reads and writes of the storage directory that failed (each also
   * logged as a WARNING and to the debug logger); the client goes on
   * without them.
   */
  public long storageErrors() {
    return storageErrors;
  }

  @Override
  public String toString() {
    return "tracked="
        + tracked
        + " restored="
        + restored
        + " accepted="
        + accepted
        + " rejected="
        + rejected
        + " dropped="
        + dropped
        + " failed="
        + failed
        + " saved="
        + saved
        + " pending="
        + pending
        + " pendingBytes="
        + pendingBytes
        + " requests="
        + requests
        + " retries="
        + retries
        + " listenerErrors="
        + listenerErrors
        + " storageErrors="
        + storageErrors;
  }
}
