package io.eventgrpc.client;

import com.google.protobuf.CodedOutputStream;
import io.eventgrpc.v1.Event;
import io.eventgrpc.v1.EventResult;
import io.eventgrpc.v1.Events;
import io.eventgrpc.v1.Header;
import io.eventgrpc.v1.Response;
import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Batches analytics events and sends them to event-grpc's {@code
 * EventService.dispatch}.
 *
 * <pre>{@code
 * EventGrpcClient client = EventGrpcClient.builder()
 *     .baseUrl("http://localhost:8019")          // the service's HTTP port
 *     .clientId("android-app").apiKey(key)       // when the service has AUTH_MODE=apikey
 *     .header(Header.newBuilder().setAppVersion("5.12.0").build())
 *     .build();
 * client.track(Event.newBuilder()
 *     .setPageOpenedEvent(PageOpenedEvent.newBuilder().setPageName("home"))
 *     .build());
 * client.close(Duration.ofSeconds(5));         // delivers what is queued
 * }</pre>
 *
 * <p>{@link #track} stamps the event with a UUIDv7 id and the current epoch
 * milliseconds (unless it has them), and puts it in a queue bounded in
 * events and bytes; it never blocks on the network. One sender thread takes
 * batches of at most {@code maxBatchEvents} events and {@code maxBatchBytes}
 * bytes, as soon as a batch is full, when the oldest queued event has waited
 * {@code flushInterval}, on {@link #flush}, and on {@link #close}. A batch
 * refused as a whole with a retryable error is sent again after an
 * exponential backoff with jitter (at least the server's retry hint), until
 * it is answered; events the service rejects one by one are reported to the
 * {@link Listener} and never retried, except those it marks transient
 * ({@code UNAVAILABLE: …} or {@code RESOURCE_EXHAUSTED: …} reasons: the
 * broker did not confirm them), which are sent again like a refused batch.
 *
 * <p>Safe for concurrent use by any number of threads.
 */
public final class EventGrpcClient implements AutoCloseable {
  /** The SDK's version, sent as the header's sdkVersion when that is empty. */
  public static final String VERSION = "0.1.0";

  private static final System.Logger LOG = System.getLogger(EventGrpcClient.class.getName());

  private final Transport transport;
  private final Header header;
  private final int headerBytes;
  private final Listener listener;
  private final int maxBatchEvents;
  private final long maxBatchBytes;
  private final long flushIntervalNanos;
  private final int maxQueueEvents;
  private final long maxQueueBytes;
  private final Duration requestTimeout;
  private final long initialBackoffNanos;
  private final long maxBackoffNanos;
  private final int maxAttempts;
  private final Duration defaultCloseTimeout;

  private final ReentrantLock lock = new ReentrantLock();
  /** The sender waits on it for work, and sleeps its backoffs on it. */
  private final Condition work = lock.newCondition();
  /** flush waits on it for the sender to settle events. */
  private final Condition settled = lock.newCondition();

  // Guarded by lock.
  private final ArrayDeque<Pending> queue = new ArrayDeque<>();
  private long queueBytes; // of the events in queue
  private List<Pending> inFlightList = Collections.emptyList(); // for the sender's exit
  private int inFlight; // events taken by the sender, not settled yet
  private long inFlightBytes;
  private long lastSeq; // sequence number of the newest queued event
  private long settledSeq; // every event up to this one is settled
  private long flushUpTo; // send without waiting up to this sequence number
  private boolean closing;
  private long closeDeadline; // System.nanoTime() at which close gives up
  private boolean senderDone;

  private final LongAdder tracked = new LongAdder();
  private final LongAdder dropped = new LongAdder();
  private final AtomicLong accepted = new AtomicLong();
  private final AtomicLong rejected = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private final AtomicLong failedAtClose = new AtomicLong();
  private final AtomicLong requests = new AtomicLong();
  private final AtomicLong retries = new AtomicLong();
  private final AtomicLong listenerErrors = new AtomicLong();

  private final Thread sender;
  private final Thread shutdownHook; // null unless closeOnJvmExit

  private static final class Pending {
    final Event event;
    final int bytes; // encoded size inside Events, tag and length included
    final long seq;
    final long queuedAt; // System.nanoTime()

    Pending(Event event, int bytes, long seq, long queuedAt) {
      this.event = event;
      this.bytes = bytes;
      this.seq = seq;
      this.queuedAt = queuedAt;
    }
  }

  private EventGrpcClient(Builder b, Transport transport) {
    this.transport = transport;
    Header.Builder h = b.header.toBuilder();
    if (h.getClientId().isEmpty() && b.clientId != null) {
      h.setClientId(b.clientId);
    }
    if (h.getSdkVersion().isEmpty()) {
      h.setSdkVersion("java-" + VERSION);
    }
    this.header = h.build();
    this.headerBytes = CodedOutputStream.computeMessageSize(Events.HEADER_FIELD_NUMBER, header);
    this.listener = b.listener;
    this.maxBatchEvents = b.maxBatchEvents;
    this.maxBatchBytes = b.maxBatchBytes;
    this.flushIntervalNanos = b.flushInterval.toNanos();
    this.maxQueueEvents = b.maxQueueEvents;
    this.maxQueueBytes = b.maxQueueBytes;
    this.requestTimeout = b.requestTimeout;
    this.initialBackoffNanos = b.initialBackoff.toNanos();
    this.maxBackoffNanos = b.maxBackoff.toNanos();
    this.maxAttempts = b.maxAttempts;
    this.defaultCloseTimeout = b.closeTimeout;
    this.sender = new Thread(this::runSender, "event-grpc-sender");
    this.sender.setDaemon(true);
    this.sender.start();
    if (b.closeOnJvmExit) {
      this.shutdownHook = new Thread(() -> close(defaultCloseTimeout), "event-grpc-close");
      Runtime.getRuntime().addShutdownHook(shutdownHook);
    } else {
      this.shutdownHook = null;
    }
  }

  /** A builder with the defaults described on each of its methods. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Queues one event. Gives it a UUIDv7 id and the current epoch
   * milliseconds as its timestamp when it has none, so that a retried batch
   * is stored once. Never blocks on the network.
   *
   * @return true when queued; false when dropped (queue full, event larger
   *     than a batch, client closed), which is counted in {@link
   *     Stats#dropped()} and reported to {@link Listener#onDropped}
   */
  public boolean track(Event event) {
    Objects.requireNonNull(event, "event");
    tracked.increment();
    if (event.getId().isEmpty() || event.getTimestamp().isEmpty()) {
      long now = System.currentTimeMillis();
      Event.Builder eb = event.toBuilder();
      if (event.getId().isEmpty()) {
        eb.setId(Uuid7.at(now).toString());
      }
      if (event.getTimestamp().isEmpty()) {
        eb.setTimestamp(Long.toString(now));
      }
      event = eb.build();
    }
    int bytes = CodedOutputStream.computeMessageSize(Events.EVENTS_FIELD_NUMBER, event);
    if (headerBytes + bytes > maxBatchBytes) {
      drop(event, DropReason.TOO_LARGE);
      return false;
    }
    DropReason why = null;
    lock.lock();
    try {
      if (closing) {
        why = DropReason.CLOSED;
      } else if (queue.size() + inFlight >= maxQueueEvents
          || queueBytes + inFlightBytes + bytes > maxQueueBytes) {
        why = DropReason.QUEUE_FULL;
      } else {
        queue.addLast(new Pending(event, bytes, ++lastSeq, System.nanoTime()));
        queueBytes += bytes;
        // Wake the sender for its first event (to start the interval
        // timer) and for a full batch; otherwise it is waiting on a timer.
        if (queue.size() == 1
            || queue.size() == maxBatchEvents
            || (queueBytes + headerBytes >= maxBatchBytes
                && queueBytes - bytes + headerBytes < maxBatchBytes)) {
          work.signal();
        }
      }
    } finally {
      lock.unlock();
    }
    if (why != null) {
      drop(event, why);
      return false;
    }
    return true;
  }

  private void drop(Event event, DropReason why) {
    dropped.increment();
    try {
      listener.onDropped(event, why);
    } catch (RuntimeException e) {
      listenerError("onDropped", e);
    }
  }

  /**
   * Sends every event tracked before this call and waits until each is
   * settled (accepted, rejected or failed). Waits as long as that takes:
   * while the service refuses, that is until it answers.
   *
   * @throws InterruptedException when the waiting thread is interrupted
   */
  public void flush() throws InterruptedException {
    flushUntil(Long.MAX_VALUE);
  }

  /**
   * Like {@link #flush()}, waiting at most {@code timeout}.
   *
   * @return true when every event tracked before the call is settled
   * @throws InterruptedException when the waiting thread is interrupted
   */
  public boolean flush(Duration timeout) throws InterruptedException {
    long t = timeout.toNanos();
    return flushUntil(t <= 0 ? System.nanoTime() : System.nanoTime() + t);
  }

  private boolean flushUntil(long deadline) throws InterruptedException {
    lock.lock();
    try {
      long target = lastSeq;
      if (target > flushUpTo) {
        flushUpTo = target;
        work.signal();
      }
      while (settledSeq < target) {
        if (senderDone) {
          return false;
        }
        if (deadline == Long.MAX_VALUE) {
          settled.await();
          continue;
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        settled.awaitNanos(left);
      }
      return true;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Stops taking events and delivers what is queued, retrying as needed,
   * within {@code timeout}. Events still not confirmed at the deadline are
   * reported to {@link Listener#onFailed} and counted in {@link
   * Stats#failed()}. Events tracked after close are dropped ({@link
   * DropReason#CLOSED}). Safe to call more than once: a later call waits
   * again but does not move the first deadline. Requests sent after close
   * was called end by its deadline; one already in flight is not cut short
   * (it ends within requestTimeout), and close then returns false while the
   * listener still hears that request's outcome.
   *
   * @return true when every queued event was settled in time (accepted or
   *     rejected by the service, or failed for a reason other than the
   *     deadline)
   */
  public boolean close(Duration timeout) {
    if (Thread.currentThread() == sender) {
      throw new IllegalStateException("close must not be called from a Listener method");
    }
    long end = System.nanoTime() + Math.max(0, timeout.toNanos());
    lock.lock();
    try {
      if (!closing) {
        closing = true;
        closeDeadline = end;
      }
      work.signalAll();
    } finally {
      lock.unlock();
    }
    // A thread interrupted while waiting here stops waiting but keeps its
    // interrupt; the sender still honours the deadline.
    boolean interrupted = false;
    try {
      while (sender.isAlive()) {
        long left = end - System.nanoTime();
        if (left <= 0) {
          // The sender gives up at the deadline; allow it a moment to
          // report what it held.
          sender.join(200);
          break;
        }
        TimeUnit.NANOSECONDS.timedJoin(sender, left);
      }
    } catch (InterruptedException e) {
      interrupted = true;
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    if (shutdownHook != null && Thread.currentThread() != shutdownHook) {
      try {
        Runtime.getRuntime().removeShutdownHook(shutdownHook);
      } catch (IllegalStateException shuttingDown) {
        // The JVM is exiting: the hook runs (or ran) close itself.
      }
    }
    return !sender.isAlive() && failedAtClose.get() == 0;
  }

  /** {@link #close(Duration)} with the builder's closeTimeout (default 10 s). */
  @Override
  public void close() {
    close(defaultCloseTimeout);
  }

  /** A snapshot of the client's counters. */
  public Stats stats() {
    long pending;
    long pendingBytes;
    lock.lock();
    try {
      pending = queue.size() + inFlight;
      pendingBytes = queueBytes + inFlightBytes;
    } finally {
      lock.unlock();
    }
    return new Stats(
        tracked.sum(),
        accepted.get(),
        rejected.get(),
        dropped.sum(),
        failed.get(),
        pending,
        pendingBytes,
        requests.get(),
        retries.get(),
        listenerErrors.get());
  }

  /** The header sent with every batch (the builder's, with clientId and sdkVersion filled in). */
  public Header header() {
    return header;
  }

  // ---------------------------------------------------------------------
  // The sender thread
  // ---------------------------------------------------------------------

  private void runSender() {
    try {
      List<Pending> batch;
      while ((batch = nextBatch()) != null) {
        deliver(batch);
        lock.lock();
        try {
          inFlightList = Collections.emptyList();
          inFlight = 0;
          inFlightBytes = 0;
          settledSeq = batch.get(batch.size() - 1).seq;
          settled.signalAll();
        } finally {
          lock.unlock();
        }
      }
    } catch (InterruptedException e) {
      // Only the JVM interrupts this thread; what is left is reported below.
    } catch (RuntimeException | Error e) {
      LOG.log(System.Logger.Level.ERROR, "event-grpc sender stopped by an exception", e);
      throw e;
    } finally {
      List<Event> left = new ArrayList<>();
      lock.lock();
      try {
        for (Pending p : queue) {
          left.add(p.event);
        }
        queue.clear();
        for (Pending p : inFlightList) {
          left.add(p.event);
        }
        queueBytes = 0;
        inFlightList = Collections.emptyList();
        inFlight = 0;
        inFlightBytes = 0;
        settledSeq = lastSeq;
        senderDone = true;
        closing = true;
        settled.signalAll();
      } finally {
        lock.unlock();
      }
      if (!left.isEmpty()) {
        fail(left, new IllegalStateException("the sender thread stopped"), true);
      }
    }
  }

  /**
   * Waits for a batch to send and takes it, or returns null when the client
   * is closed and the queue empty. Past the close deadline, it fails every
   * queued event and returns null.
   */
  private List<Pending> nextBatch() throws InterruptedException {
    List<Event> expired = null;
    lock.lock();
    try {
      while (true) {
        if (closing && System.nanoTime() - closeDeadline >= 0 && !queue.isEmpty()) {
          expired = new ArrayList<>(queue.size());
          for (Pending p : queue) {
            expired.add(p.event);
          }
          settledSeq = queue.peekLast().seq;
          queue.clear();
          queueBytes = 0;
          settled.signalAll();
          break;
        }
        Pending first = queue.peekFirst();
        if (first == null) {
          if (closing) {
            return null;
          }
          work.await();
          continue;
        }
        long wait = first.queuedAt + flushIntervalNanos - System.nanoTime();
        if (closing
            || flushUpTo >= first.seq
            || wait <= 0
            || queue.size() >= maxBatchEvents
            || queueBytes + headerBytes >= maxBatchBytes) {
          return take();
        }
        work.awaitNanos(wait);
      }
    } finally {
      lock.unlock();
    }
    fail(expired, closeDeadlineError(), true);
    return null;
  }

  /** Takes the next batch off the queue; lock held, queue not empty. */
  private List<Pending> take() {
    List<Pending> batch = new ArrayList<>(Math.min(queue.size(), maxBatchEvents));
    long bytes = headerBytes;
    while (!queue.isEmpty() && batch.size() < maxBatchEvents) {
      Pending p = queue.peekFirst();
      if (!batch.isEmpty() && bytes + p.bytes > maxBatchBytes) {
        break;
      }
      queue.pollFirst();
      queueBytes -= p.bytes;
      bytes += p.bytes;
      inFlightBytes += p.bytes;
      batch.add(p);
    }
    inFlightList = batch;
    inFlight = batch.size();
    return batch;
  }

  /**
   * Sends a batch until every event in it is settled. A batch the service
   * finds too large ({@link EventGrpcException#isTooLarge()}) is split in
   * halves, each sent on its own; a single event too large is failed.
   */
  private void deliver(List<Pending> batch) throws InterruptedException {
    ArrayDeque<List<Pending>> parts = new ArrayDeque<>();
    parts.add(batch);
    try {
      while (!parts.isEmpty()) {
        List<List<Pending>> halves = deliverPart(parts.peekFirst(), parts);
        parts.pollFirst();
        if (halves != null) {
          parts.addFirst(halves.get(1));
          parts.addFirst(halves.get(0));
        }
      }
    } catch (InterruptedException e) {
      // Only the JVM interrupts the sender; report what it held.
      List<Pending> held = unsettled(Collections.emptyList(), parts);
      setInFlight(Collections.emptyList());
      fail(events(held), e, true);
      throw e;
    }
  }

  /** The events of todo and of the parts after the first, in order. */
  private static List<Pending> unsettled(List<Pending> todo, ArrayDeque<List<Pending>> parts) {
    List<Pending> out = new ArrayList<>(todo);
    boolean first = true;
    for (List<Pending> p : parts) {
      if (!first) {
        out.addAll(p);
      }
      first = false;
    }
    return out;
  }

  /** Records which events taken by the sender are still unsettled. */
  private void setInFlight(List<Pending> ps) {
    long bytes = 0;
    for (Pending p : ps) {
      bytes += p.bytes;
    }
    lock.lock();
    try {
      inFlightList = ps;
      inFlight = ps.size();
      inFlightBytes = bytes;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Sends part (the first of parts) until each of its events is settled,
   * and returns null; or returns its two halves, to be sent instead.
   */
  private List<List<Pending>> deliverPart(List<Pending> part, ArrayDeque<List<Pending>> parts)
      throws InterruptedException {
    List<Pending> todo = part;
    int attempt = 0;
    while (true) {
      long left = closeDeadlineLeft();
      if (left <= 0) {
        setInFlight(unsettled(Collections.emptyList(), parts));
        fail(events(todo), closeDeadlineError(), true);
        return null;
      }
      Events.Builder req = Events.newBuilder().setHeader(header);
      for (Pending p : todo) {
        req.addEvents(p.event);
      }
      Duration timeout = requestTimeout;
      if (left != Long.MAX_VALUE && left < timeout.toNanos()) {
        timeout = Duration.ofNanos(Math.max(left, TimeUnit.MILLISECONDS.toNanos(1)));
      }
      EventGrpcException refusal;
      requests.incrementAndGet();
      try {
        Response resp = transport.dispatch(req.build(), timeout);
        todo = settle(todo, resp);
        setInFlight(unsettled(todo, parts));
        if (todo.isEmpty()) {
          return null;
        }
        refusal =
            new EventGrpcException(
                Code.UNAVAILABLE,
                todo.size() + " events were not confirmed by the service's broker",
                200,
                null,
                null);
      } catch (EventGrpcException e) {
        if (e.isTooLarge() && todo.size() > 1) {
          int half = todo.size() / 2;
          return List.of(
              new ArrayList<>(todo.subList(0, half)), new ArrayList<>(todo.subList(half, todo.size())));
        }
        if (!e.isRetryable()) {
          setInFlight(unsettled(Collections.emptyList(), parts));
          fail(events(todo), e, false);
          return null;
        }
        refusal = e;
      } catch (RuntimeException e) {
        // A transport that throws is broken, not overloaded: retrying would
        // loop on it.
        setInFlight(unsettled(Collections.emptyList(), parts));
        fail(events(todo), e, false);
        return null;
      }
      attempt++;
      if (maxAttempts > 0 && attempt >= maxAttempts) {
        setInFlight(unsettled(Collections.emptyList(), parts));
        fail(events(todo), refusal, false);
        return null;
      }
      long delay = backoff(attempt, refusal.retryAfter().map(Duration::toNanos).orElse(0L));
      retries.incrementAndGet();
      try {
        listener.onRetry(attempt, Duration.ofNanos(delay), refusal);
      } catch (RuntimeException e) {
        listenerError("onRetry", e);
      }
      sleep(delay);
    }
  }

  /**
   * Reports the outcome of each event of a batch and returns the events to
   * send again: those the service marked transient, and any it gave no
   * result for.
   */
  private List<Pending> settle(List<Pending> todo, Response resp) {
    boolean[] seen = new boolean[todo.size()];
    List<Event> ok = new ArrayList<>(todo.size());
    List<Pending> again = new ArrayList<>(0);
    for (EventResult r : resp.getResultsList()) {
      int i = r.getIndex();
      if (i < 0 || i >= seen.length || seen[i]) {
        continue;
      }
      seen[i] = true;
      Pending p = todo.get(i);
      if (r.getAccepted()) {
        ok.add(p.event);
      } else if (transientReason(r.getReason())) {
        again.add(p);
      } else {
        rejected.incrementAndGet();
        try {
          listener.onRejected(p.event, r.getReason());
        } catch (RuntimeException e) {
          listenerError("onRejected", e);
        }
      }
    }
    for (int i = 0; i < seen.length; i++) {
      if (!seen[i]) {
        again.add(todo.get(i));
      }
    }
    if (!again.isEmpty()) {
      again.sort((a, b) -> Long.compare(a.seq, b.seq));
    }
    if (!ok.isEmpty()) {
      accepted.addAndGet(ok.size());
      try {
        listener.onAccepted(Collections.unmodifiableList(ok));
      } catch (RuntimeException e) {
        listenerError("onAccepted", e);
      }
    }
    return again;
  }

  /**
   * Whether a per-event reason says the event was valid but not made
   * durable (the service's broker refused or failed): such events are sent
   * again; every other reason is final.
   */
  static boolean transientReason(String reason) {
    return reason.startsWith("UNAVAILABLE:") || reason.startsWith("RESOURCE_EXHAUSTED:");
  }

  /**
   * The wait before retry number {@code attempt}: "equal jitter" on
   * min(maxBackoff, initialBackoff·2^(attempt-1)), i.e. uniformly between
   * half of it and all of it, and never less than the server's hint.
   */
  long backoff(int attempt, long hintNanos) {
    long base = initialBackoffNanos;
    for (int i = 1; i < attempt && base < maxBackoffNanos; i++) {
      base *= 2;
    }
    base = Math.min(base, maxBackoffNanos);
    long half = base / 2;
    long d = half + (half > 0 ? ThreadLocalRandom.current().nextLong(half + 1) : 0);
    return Math.max(d, hintNanos);
  }

  /** Sleeps delay nanoseconds, or until the close deadline if that comes first. */
  private void sleep(long delay) throws InterruptedException {
    long end = System.nanoTime() + delay;
    lock.lock();
    try {
      while (true) {
        long now = System.nanoTime();
        long left = end - now;
        if (closing) {
          left = Math.min(left, closeDeadline - now);
        }
        if (left <= 0) {
          return;
        }
        work.awaitNanos(left); // close() signals, to cut the wait to its deadline
      }
    } finally {
      lock.unlock();
    }
  }

  /** Nanoseconds left before the close deadline; Long.MAX_VALUE while open. */
  private long closeDeadlineLeft() {
    lock.lock();
    try {
      return closing ? closeDeadline - System.nanoTime() : Long.MAX_VALUE;
    } finally {
      lock.unlock();
    }
  }

  private static EventGrpcException closeDeadlineError() {
    return new EventGrpcException(
        Code.DEADLINE_EXCEEDED,
        "the close deadline passed before the service confirmed these events",
        0,
        null,
        null);
  }

  private void fail(List<Event> events, Throwable cause, boolean atClose) {
    if (events.isEmpty()) {
      return;
    }
    failed.addAndGet(events.size());
    if (atClose) {
      failedAtClose.addAndGet(events.size());
    }
    try {
      listener.onFailed(Collections.unmodifiableList(events), cause);
    } catch (RuntimeException e) {
      listenerError("onFailed", e);
    }
  }

  private static List<Event> events(List<Pending> ps) {
    List<Event> out = new ArrayList<>(ps.size());
    for (Pending p : ps) {
      out.add(p.event);
    }
    return out;
  }

  private void listenerError(String method, RuntimeException e) {
    listenerErrors.incrementAndGet();
    LOG.log(System.Logger.Level.WARNING, "event-grpc listener " + method + " threw", e);
  }

  // ---------------------------------------------------------------------
  // Builder
  // ---------------------------------------------------------------------

  /** Configures an {@link EventGrpcClient}. Not safe for concurrent use. */
  public static final class Builder {
    private String baseUrl;
    private String clientId;
    private String apiKey;
    private Header header = Header.getDefaultInstance();
    private Listener listener = new Listener() {};
    private Transport transport;
    private HttpClient httpClient;
    private int maxBatchEvents = 500;
    private long maxBatchBytes = 1 << 20;
    private Duration flushInterval = Duration.ofSeconds(1);
    private int maxQueueEvents = 10_000;
    private long maxQueueBytes = 16L << 20;
    private Duration requestTimeout = Duration.ofSeconds(10);
    private Duration initialBackoff = Duration.ofMillis(100);
    private Duration maxBackoff = Duration.ofSeconds(30);
    private int maxAttempts;
    private Duration closeTimeout = Duration.ofSeconds(10);
    private boolean closeOnJvmExit;

    private Builder() {}

    /**
     * The service's HTTP base URL (its GIN_PORT, default 8019), e.g. {@code
     * http://localhost:8019}. Required unless a {@link #transport} is given.
     */
    public Builder baseUrl(String baseUrl) {
      this.baseUrl = baseUrl;
      return this;
    }

    /** The client id, sent as {@code x-client-id} and as the header's clientId when that is empty. */
    public Builder clientId(String clientId) {
      this.clientId = clientId;
      return this;
    }

    /** The API key, sent as {@code Authorization: Bearer KEY} (the service's AUTH_MODE=apikey). */
    public Builder apiKey(String apiKey) {
      this.apiKey = apiKey;
      return this;
    }

    /** The header sent with every batch (session, user, device, app). */
    public Builder header(Header header) {
      this.header = Objects.requireNonNull(header, "header");
      return this;
    }

    /** Hears what became of tracked events (default: a listener that does nothing). */
    public Builder listener(Listener listener) {
      this.listener = Objects.requireNonNull(listener, "listener");
      return this;
    }

    /** Sends batches another way than the default Connect transport. */
    public Builder transport(Transport transport) {
      this.transport = transport;
      return this;
    }

    /** The HttpClient of the Connect transport (default: a new one, 5 s connect timeout). */
    public Builder httpClient(HttpClient httpClient) {
      this.httpClient = httpClient;
      return this;
    }

    /** Most events in one request (default 500; the service allows 1000, MAX_EVENTS_PER_REQUEST). */
    public Builder maxBatchEvents(int n) {
      this.maxBatchEvents = n;
      return this;
    }

    /** Most encoded bytes in one request (default 1 MiB; the service allows 4 MiB, HTTP_MAX_BODY_BYTES). */
    public Builder maxBatchBytes(long n) {
      this.maxBatchBytes = n;
      return this;
    }

    /** Longest an event waits in the queue before its batch is sent (default 1 s). */
    public Builder flushInterval(Duration d) {
      this.flushInterval = d;
      return this;
    }

    /** Most events queued or in flight (default 10,000); more are dropped and reported. */
    public Builder maxQueueEvents(int n) {
      this.maxQueueEvents = n;
      return this;
    }

    /** Most encoded bytes queued or in flight (default 16 MiB); more are dropped and reported. */
    public Builder maxQueueBytes(long n) {
      this.maxQueueBytes = n;
      return this;
    }

    /** How long one request may take (default 10 s); a request that times out is retried. */
    public Builder requestTimeout(Duration d) {
      this.requestTimeout = d;
      return this;
    }

    /** The first retry's backoff (default 100 ms); it doubles per retry up to maxBackoff. */
    public Builder initialBackoff(Duration d) {
      this.initialBackoff = d;
      return this;
    }

    /** The longest backoff (default 30 s). */
    public Builder maxBackoff(Duration d) {
      this.maxBackoff = d;
      return this;
    }

    /**
     * Most sends of one batch before its events are failed (default 0:
     * no limit; a batch is retried until the service answers or close's
     * deadline passes, while the bounded queue reports what it cannot
     * hold).
     */
    public Builder maxAttempts(int n) {
      this.maxAttempts = n;
      return this;
    }

    /** The deadline of {@link EventGrpcClient#close()} without an argument (default 10 s). */
    public Builder closeTimeout(Duration d) {
      this.closeTimeout = d;
      return this;
    }

    /** Closes the client (with closeTimeout) when the JVM shuts down (default off). */
    public Builder closeOnJvmExit(boolean on) {
      this.closeOnJvmExit = on;
      return this;
    }

    /**
     * Builds the client and starts its sender thread.
     *
     * @throws IllegalArgumentException listing every setting at fault
     */
    public EventGrpcClient build() {
      List<String> bad = new ArrayList<>();
      if (transport == null) {
        if (baseUrl == null || baseUrl.isBlank()) {
          bad.add("baseUrl is required (e.g. http://localhost:8019)");
        } else {
          try {
            URI u = URI.create(baseUrl);
            if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme())) {
              bad.add("baseUrl must be http:// or https://, not " + baseUrl);
            } else if (u.getHost() == null) {
              bad.add("baseUrl has no host: " + baseUrl);
            }
          } catch (IllegalArgumentException e) {
            bad.add("baseUrl is not a URL: " + e.getMessage());
          }
        }
      }
      if (clientId != null && !headerSafe(clientId)) {
        bad.add("clientId must be non-empty printable ASCII");
      }
      if (apiKey != null) {
        if (!headerSafe(apiKey)) {
          bad.add("apiKey must be non-empty printable ASCII");
        }
        if (clientId == null) {
          bad.add("apiKey needs a clientId (the service looks the key up by x-client-id)");
        }
      }
      if (maxBatchEvents < 1) {
        bad.add("maxBatchEvents must be at least 1");
      }
      if (maxBatchBytes < 1024) {
        bad.add("maxBatchBytes must be at least 1024");
      }
      if (maxQueueEvents < 1) {
        bad.add("maxQueueEvents must be at least 1");
      }
      if (maxQueueBytes < 1) {
        bad.add("maxQueueBytes must be at least 1");
      }
      positive(bad, "flushInterval", flushInterval);
      positive(bad, "requestTimeout", requestTimeout);
      positive(bad, "initialBackoff", initialBackoff);
      positive(bad, "maxBackoff", maxBackoff);
      if (closeTimeout == null || closeTimeout.isNegative()) {
        bad.add("closeTimeout must not be negative");
      }
      if (maxAttempts < 0) {
        bad.add("maxAttempts must be 0 (no limit) or more");
      }
      if (!bad.isEmpty()) {
        throw new IllegalArgumentException("EventGrpcClient: " + String.join("; ", bad));
      }
      if (initialBackoff.compareTo(maxBackoff) > 0) {
        maxBackoff = initialBackoff;
      }
      Transport t = transport;
      if (t == null) {
        HttpClient http = httpClient;
        if (http == null) {
          http =
              HttpClient.newBuilder()
                  .connectTimeout(Duration.ofSeconds(5))
                  // Plain http: HTTP/1.1 (no h2c upgrade dance); https:
                  // HTTP/2 when the server offers it.
                  .version(
                      baseUrl.startsWith("https:")
                          ? HttpClient.Version.HTTP_2
                          : HttpClient.Version.HTTP_1_1)
                  .build();
        }
        t = new ConnectTransport(http, baseUrl, clientId, apiKey, "event-grpc-java/" + VERSION);
      }
      return new EventGrpcClient(this, t);
    }

    private static void positive(List<String> bad, String name, Duration d) {
      if (d == null || d.isZero() || d.isNegative()) {
        bad.add(name + " must be positive");
      }
    }

    private static boolean headerSafe(String s) {
      if (s.isEmpty()) {
        return false;
      }
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        if (c < 0x20 || c >= 0x7f) {
          return false;
        }
      }
      return true;
    }
  }
}
