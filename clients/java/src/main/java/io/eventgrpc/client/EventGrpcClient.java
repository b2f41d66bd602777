package io.eventgrpc.client;

import com.google.protobuf.CodedOutputStream;
import io.eventgrpc.v1.AliasEvent;
import io.eventgrpc.v1.Event;
import io.eventgrpc.v1.EventResult;
import io.eventgrpc.v1.Events;
import io.eventgrpc.v1.GroupEvent;
import io.eventgrpc.v1.Header;
import io.eventgrpc.v1.IdentifyEvent;
import io.eventgrpc.v1.PageEvent;
import io.eventgrpc.v1.Response;
import io.eventgrpc.v1.ResultCode;
import io.eventgrpc.v1.ScreenEvent;
import io.eventgrpc.v1.TrackEvent;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

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
 * The per-event decision reads the result's {@code retryable} field (the
 * reason's text only from a service older than the field).
 *
 * <p>Next to the typed events, the generic calls of the Segment spec —
 * {@link #track(String, Map)}, {@link #identify}, {@link #page}, {@link
 * #screen}, {@link #group}, {@link #alias} — take free-form properties or
 * traits (see {@link Structs}) and stamp each event with the current
 * identity: the user of the last {@link #identify} (until {@link #reset})
 * and an anonymous id minted once, unless the call's {@link CallOptions}
 * say otherwise. With a {@link Builder#storageDir storage directory}, the
 * identity, the {@link #optOut opt-out} and the events not yet confirmed
 * at {@link #close} survive a restart.
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

  private final Storage storage; // null: nothing is kept across restarts
  private final Consumer<String> log; // null: no debug log
  private final AtomicLong restored = new AtomicLong();
  private final AtomicLong saved = new AtomicLong();
  private final AtomicLong storageErrors = new AtomicLong();
  // Guarded by lock.
  private final List<Event> leftover = new ArrayList<>(); // failed at close, to save
  private boolean bufferOnDisk; // the storage file holds events

  // Identity and opt-out; guarded by idLock, optedOut also read without it.
  private final Object idLock = new Object();
  private String userId; // null until identify
  private String anonymousId;
  private volatile boolean optedOut;
  private long stateVersion; // guarded by idLock
  private final Object stateWrite = new Object();
  private long stateWritten; // guarded by stateWrite

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
    this.storage = b.openedStorage;
    this.log = b.log;
    this.optedOut = b.optedOut;
    if (storage != null) {
      restore();
    }
    if (anonymousId == null || anonymousId.isEmpty()) {
      anonymousId = UUID.randomUUID().toString();
      saveState();
    }
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

  /** Reads the identity, the opt-out and the saved events from storage (constructor only). */
  private void restore() {
    Properties p;
    Storage.Loaded l;
    try {
      p = storage.loadState();
      l = storage.loadBuffer(maxQueueEvents, maxQueueBytes);
    } catch (IOException e) {
      throw new UncheckedIOException("storageDir " + storage.dir + ": " + e.getMessage(), e);
    }
    userId = emptyToNull(p.getProperty("userId"));
    anonymousId = emptyToNull(p.getProperty("anonymousId"));
    if (p.getProperty("optedOut") != null) {
      optedOut = Boolean.parseBoolean(p.getProperty("optedOut"));
    }
    if (l.problem != null) {
      storageProblem("reading " + Storage.BUFFER + ": " + l.problem, null);
    }
    if (l.events.isEmpty()) {
      return;
    }
    bufferOnDisk = true;
    restored.addAndGet(l.events.size());
    long now = System.nanoTime();
    for (Event e : l.events) {
      int bytes = CodedOutputStream.computeMessageSize(Events.EVENTS_FIELD_NUMBER, e);
      if (optedOut) {
        drop(e, DropReason.OPTED_OUT);
      } else if (headerBytes + bytes > maxBatchBytes) {
        drop(e, DropReason.TOO_LARGE);
      } else if (queue.size() >= maxQueueEvents || queueBytes + bytes > maxQueueBytes) {
        drop(e, DropReason.QUEUE_FULL);
      } else {
        queue.addLast(new Pending(e, bytes, ++lastSeq, now));
        queueBytes += bytes;
      }
    }
    flushUpTo = lastSeq; // they waited long enough: send them at once
    if (log != null) {
      debug("restored " + queue.size() + " events from " + storage.dir.resolve(Storage.BUFFER));
    }
    if (optedOut) {
      clearBuffer();
    }
  }

  private static String emptyToNull(String s) {
    return s == null || s.isEmpty() ? null : s;
  }

  /**
   * Writes the identity and the opt-out to storage. The file is written
   * outside idLock (tracking threads take it per event); a write older
   * than the last one written is skipped.
   */
  private void saveState() {
    if (storage == null) {
      return;
    }
    Properties p = new Properties();
    long version;
    synchronized (idLock) {
      if (userId != null) {
        p.setProperty("userId", userId);
      }
      p.setProperty("anonymousId", anonymousId);
      p.setProperty("optedOut", Boolean.toString(optedOut));
      version = ++stateVersion;
    }
    synchronized (stateWrite) {
      if (version <= stateWritten) {
        return;
      }
      try {
        storage.saveState(p);
        stateWritten = version;
      } catch (IOException e) {
        storageProblem("writing " + Storage.STATE, e);
      }
    }
  }

  /** Deletes the storage file's events (opt-out). */
  private void clearBuffer() {
    synchronized (storage) {
      try {
        storage.saveBuffer(Collections.emptyList());
        lock.lock();
        try {
          bufferOnDisk = false;
        } finally {
          lock.unlock();
        }
      } catch (IOException e) {
        storageProblem("deleting " + Storage.BUFFER, e);
      }
    }
  }

  /**
   * Writes the events queued or in flight to the storage file (the sender,
   * before a backoff), so that an outage followed by a crash loses only
   * what was tracked since.
   */
  private void saveSnapshot() {
    synchronized (storage) {
      if (optedOut) {
        return;
      }
      List<Event> evs;
      lock.lock();
      try {
        evs = new ArrayList<>(inFlightList.size() + queue.size());
        for (Pending p : inFlightList) {
          evs.add(p.event);
        }
        for (Pending p : queue) {
          evs.add(p.event);
        }
      } finally {
        lock.unlock();
      }
      writeBuffer(evs);
    }
  }

  /** Empties the storage file once everything in it is settled (the sender). */
  private void clearSettledBuffer() {
    lock.lock();
    try {
      if (!bufferOnDisk || !queue.isEmpty() || inFlight > 0) {
        return;
      }
    } finally {
      lock.unlock();
    }
    synchronized (storage) {
      writeBuffer(Collections.emptyList());
    }
  }

  /** Replaces the storage file's events; storage's monitor held. */
  private void writeBuffer(List<Event> evs) {
    try {
      storage.saveBuffer(evs);
      lock.lock();
      try {
        bufferOnDisk = !evs.isEmpty();
      } finally {
        lock.unlock();
      }
      if (log != null) {
        debug("saved " + evs.size() + " events to " + storage.dir.resolve(Storage.BUFFER));
      }
    } catch (IOException e) {
      storageProblem("writing " + Storage.BUFFER, e);
    }
  }

  private void storageProblem(String what, IOException e) {
    storageErrors.incrementAndGet();
    String msg = "event-grpc storage " + storage.dir + ": " + what + (e == null ? "" : ": " + e);
    LOG.log(System.Logger.Level.WARNING, msg);
    if (log != null) {
      debug(msg);
    }
  }

  private void debug(String msg) {
    try {
      log.accept(msg);
    } catch (RuntimeException e) {
      listenerError("logger", e);
    }
  }

  // ---------------------------------------------------------------------
  // Generic calls and identity
  // ---------------------------------------------------------------------

  /** {@link #track(String, Map, CallOptions)} with no options. */
  public boolean track(String name, Map<?, ?> properties) {
    return track(name, properties, CallOptions.NONE);
  }

  /**
   * Tracks an action the user took, named freely (e.g. "Order Completed"),
   * with free-form properties (a {@link TrackEvent}; stored in the {@code
   * tracks} table).
   *
   * @return as {@link #track(Event)}; false also while opted out
   * @throws IllegalArgumentException when name is empty or a property has
   *     no JSON form (naming its path)
   */
  public boolean track(String name, Map<?, ?> properties, CallOptions options) {
    requireText(name, "track: name");
    if (optedOut) {
      return false;
    }
    TrackEvent t =
        TrackEvent.newBuilder().setName(name).setProperties(Structs.of("properties", properties)).build();
    return queueGeneric(options, t, null);
  }

  /** {@link #identify(String, Map, CallOptions)} with no options. */
  public boolean identify(String userId, Map<?, ?> traits) {
    return identify(userId, traits, CallOptions.NONE);
  }

  /**
   * Says who the user is (an {@link IdentifyEvent} with free-form traits;
   * stored in {@code identifies}). A non-empty userId becomes the client's
   * current user, stamped on later calls until {@link #reset} (and kept in
   * the storage directory, when there is one); null identifies the
   * anonymous user. The call's userId is this argument, whatever the
   * options say.
   */
  public boolean identify(String userId, Map<?, ?> traits, CallOptions options) {
    if (userId != null && userId.isEmpty()) {
      throw new IllegalArgumentException("identify: userId must be null (anonymous) or non-empty");
    }
    if (optedOut) {
      return false;
    }
    IdentifyEvent t = IdentifyEvent.newBuilder().setTraits(Structs.of("traits", traits)).build();
    if (userId != null) {
      boolean changed;
      synchronized (idLock) {
        changed = !userId.equals(this.userId);
        this.userId = userId;
      }
      if (changed) {
        saveState();
      }
    }
    return queueGeneric(options, t, userId);
  }

  /** {@link #page(String, Map, CallOptions)} with no options. */
  public boolean page(String name, Map<?, ?> properties) {
    return page(name, properties, CallOptions.NONE);
  }

  /** A web page view (a {@link PageEvent}; stored in {@code pages}); name may be null. */
  public boolean page(String name, Map<?, ?> properties, CallOptions options) {
    if (optedOut) {
      return false;
    }
    PageEvent.Builder p = PageEvent.newBuilder().setProperties(Structs.of("properties", properties));
    if (name != null) {
      p.setName(name);
    }
    return queueGeneric(options, p.build(), null);
  }

  /** {@link #screen(String, Map, CallOptions)} with no options. */
  public boolean screen(String name, Map<?, ?> properties) {
    return screen(name, properties, CallOptions.NONE);
  }

  /** An app screen view (a {@link ScreenEvent}; stored in {@code screens}); name may be null. */
  public boolean screen(String name, Map<?, ?> properties, CallOptions options) {
    if (optedOut) {
      return false;
    }
    ScreenEvent.Builder p = ScreenEvent.newBuilder().setProperties(Structs.of("properties", properties));
    if (name != null) {
      p.setName(name);
    }
    return queueGeneric(options, p.build(), null);
  }

  /** {@link #group(String, Map, CallOptions)} with no options. */
  public boolean group(String groupId, Map<?, ?> traits) {
    return group(groupId, traits, CallOptions.NONE);
  }

  /** The user belongs to a group (a {@link GroupEvent}; stored in {@code groups}); groupId is required. */
  public boolean group(String groupId, Map<?, ?> traits, CallOptions options) {
    requireText(groupId, "group: groupId");
    if (optedOut) {
      return false;
    }
    GroupEvent g = GroupEvent.newBuilder().setGroupId(groupId).setTraits(Structs.of("traits", traits)).build();
    return queueGeneric(options, g, null);
  }

  /** {@link #alias(String, String, CallOptions)} with no options. */
  public boolean alias(String userId, String previousId) {
    return alias(userId, previousId, CallOptions.NONE);
  }

  /**
   * Says that previousId and userId are the same user (an {@link
   * AliasEvent}; stored in {@code aliases}): userId is required;
   * previousId null means the current user, or the anonymous id when no
   * user is identified. Does not change the current identity.
   */
  public boolean alias(String userId, String previousId, CallOptions options) {
    requireText(userId, "alias: userId");
    if (previousId != null) {
      requireText(previousId, "alias: previousId");
    }
    if (optedOut) {
      return false;
    }
    String prev = previousId;
    if (prev == null) {
      synchronized (idLock) {
        prev = this.userId != null ? this.userId : anonymousId;
      }
    }
    return queueGeneric(options, AliasEvent.newBuilder().setPreviousId(prev).build(), userId);
  }

  /**
   * Forgets the current user and mints a new anonymous id (a user logged
   * out), in the storage directory too. The opt-out stays as it is.
   */
  public void reset() {
    synchronized (idLock) {
      userId = null;
      anonymousId = UUID.randomUUID().toString();
    }
    saveState();
    if (log != null) {
      debug("reset: new anonymous id");
    }
  }

  /** The current user (the last identify's), or null. */
  public String userId() {
    synchronized (idLock) {
      return userId;
    }
  }

  /** The client's anonymous id: minted once, kept in the storage directory when there is one. */
  public String anonymousId() {
    synchronized (idLock) {
      return anonymousId;
    }
  }

  /**
   * Opts out (true) or back in (false). While opted out no call queues or
   * sends anything (they return false and count nothing); opting out drops
   * what is queued ({@link DropReason#OPTED_OUT}), stops retries of the
   * request in flight, and empties the storage file. Kept in the storage
   * directory, when there is one, so it outlives the process.
   */
  public void optOut(boolean out) {
    List<Pending> gone = Collections.emptyList();
    synchronized (idLock) {
      optedOut = out;
    }
    if (out) {
      lock.lock();
      try {
        gone = new ArrayList<>(queue);
        queue.clear();
        queueBytes = 0;
        if (inFlight == 0) {
          settledSeq = lastSeq; // the dropped events are settled
        }
        settled.signalAll();
      } finally {
        lock.unlock();
      }
      if (storage != null) {
        clearBuffer();
      }
    }
    saveState();
    for (Pending p : gone) {
      drop(p.event, DropReason.OPTED_OUT);
    }
    if (log != null) {
      debug((out ? "opted out: dropped " + gone.size() + " queued events" : "opted in"));
    }
  }

  /** Whether the client is opted out (see {@link #optOut}). */
  public boolean isOptedOut() {
    return optedOut;
  }

  private static void requireText(String s, String what) {
    if (s == null || s.isEmpty()) {
      throw new IllegalArgumentException(what + " is required (non-empty)");
    }
  }

  /** Builds the event of a generic call and tracks it; forcedUser (non-null) is the call's user. */
  private boolean queueGeneric(CallOptions o, com.google.protobuf.Message payload, String forcedUser) {
    Event.Builder eb = generic(o, forcedUser);
    if (payload instanceof TrackEvent) {
      eb.setTrackEvent((TrackEvent) payload);
    } else if (payload instanceof IdentifyEvent) {
      eb.setIdentifyEvent((IdentifyEvent) payload);
    } else if (payload instanceof PageEvent) {
      eb.setPageEvent((PageEvent) payload);
    } else if (payload instanceof ScreenEvent) {
      eb.setScreenEvent((ScreenEvent) payload);
    } else if (payload instanceof GroupEvent) {
      eb.setGroupEvent((GroupEvent) payload);
    } else {
      eb.setAliasEvent((AliasEvent) payload);
    }
    return track(eb.build());
  }

  /** An event builder with the call's id, time, identity, context and integrations. */
  private Event.Builder generic(CallOptions o, String forcedUser) {
    if (o == null) {
      o = CallOptions.NONE;
    }
    Event.Builder eb = Event.newBuilder();
    if (o.messageId != null) {
      requireText(o.messageId, "messageId");
      eb.setId(o.messageId);
    }
    if (o.timestamp != null) {
      eb.setTimestamp(Long.toString(o.timestamp.toEpochMilli()));
    }
    String uid = forcedUser != null ? forcedUser : o.userId;
    String anon = o.anonymousId;
    synchronized (idLock) {
      if (uid == null) {
        uid = userId;
      }
      if (anon == null) {
        anon = anonymousId;
      }
    }
    if (uid != null) {
      eb.setUserId(uid);
    }
    eb.setAnonymousId(anon);
    if (o.context != null) {
      eb.setContext(Structs.of("context", o.context));
    }
    if (o.integrations != null) {
      eb.setIntegrations(Structs.of("integrations", o.integrations));
    }
    return eb;
  }

  /**
   * Queues one event. Gives it a UUIDv7 id and the current epoch
   * milliseconds as its timestamp when it has none, so that a retried batch
   * is stored once. Never blocks on the network.
   *
   * Stamps the client's anonymous id when the event has none, and the
   * current user (see {@link #identify}) when it has no user id.
   *
   * @return true when queued; false when dropped (queue full, event larger
   *     than a batch, client closed), which is counted in {@link
   *     Stats#dropped()} and reported to {@link Listener#onDropped}; false
   *     also while opted out (see {@link #optOut}), which counts nothing
   */
  public boolean track(Event event) {
    Objects.requireNonNull(event, "event");
    if (optedOut) {
      return false;
    }
    tracked.increment();
    String uid = null;
    String anon = null;
    if (event.getUserId().isEmpty() || event.getAnonymousId().isEmpty()) {
      synchronized (idLock) {
        uid = event.getUserId().isEmpty() ? userId : null;
        anon = event.getAnonymousId().isEmpty() ? anonymousId : null;
      }
    }
    if (event.getId().isEmpty() || event.getTimestamp().isEmpty() || uid != null || anon != null) {
      long now = System.currentTimeMillis();
      Event.Builder eb = event.toBuilder();
      if (event.getId().isEmpty()) {
        eb.setId(Uuid7.at(now).toString());
      }
      if (event.getTimestamp().isEmpty()) {
        eb.setTimestamp(Long.toString(now));
      }
      if (uid != null) {
        eb.setUserId(uid);
      }
      if (anon != null) {
        eb.setAnonymousId(anon);
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
    if (log != null) {
      debug("dropped " + event.getId() + ": " + why);
    }
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
   * With a {@link Builder#storageDir storage directory}, the events not
   * settled by the deadline are written to it instead of failed ({@link
   * Listener#onSaved}), and close waits (at most requestTimeout past the
   * deadline) for a request already in flight to end, so that the file
   * holds what it did not deliver.
   *
   * @return true when every queued event was settled in time (accepted or
   *     rejected by the service, or failed for a reason other than the
   *     deadline); false when some were saved for the next client
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
          // report what it held (with a storage directory: until a
          // request sent before close ends, to save what it did not
          // deliver).
          sender.join(storage != null ? requestTimeout.toMillis() + 1000 : 200);
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
        restored.get(),
        accepted.get(),
        rejected.get(),
        dropped.sum(),
        failed.get(),
        saved.get(),
        pending,
        pendingBytes,
        requests.get(),
        retries.get(),
        listenerErrors.get(),
        storageErrors.get());
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
          // Everything before the first queued event is settled (the queue
          // may have been emptied by optOut meanwhile).
          settledSeq = queue.isEmpty() ? lastSeq : queue.peekFirst().seq - 1;
          settled.signalAll();
        } finally {
          lock.unlock();
        }
        if (storage != null) {
          clearSettledBuffer();
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
      if (storage != null) {
        saveLeftover();
        storage.close();
      }
    }
  }

  /** Writes what close left unconfirmed to the storage file (the sender, as it ends). */
  private void saveLeftover() {
    synchronized (storage) {
      if (optedOut) {
        return;
      }
      List<Event> evs;
      boolean onDisk;
      lock.lock();
      try {
        evs = new ArrayList<>(leftover);
        leftover.clear();
        onDisk = bufferOnDisk;
      } finally {
        lock.unlock();
      }
      if (!evs.isEmpty() || onDisk) {
        writeBuffer(evs);
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
      if (optedOut) {
        setInFlight(unsettled(Collections.emptyList(), parts));
        for (Pending p : todo) {
          drop(p.event, DropReason.OPTED_OUT);
        }
        return null;
      }
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
      if (log != null) {
        debug("retry " + attempt + " of " + todo.size() + " events in " + Duration.ofNanos(delay) + ": " + refusal.getMessage());
      }
      if (storage != null) {
        saveSnapshot();
      }
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
      } else if (retryable(r)) {
        again.add(p);
      } else {
        rejected.incrementAndGet();
        if (log != null) {
          debug("rejected " + p.event.getId() + ": " + r.getCode() + " " + r.getReason());
        }
        try {
          listener.onRejected(p.event, r.getCode(), r.getReason());
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
   * Whether a rejected event may be sent again: the result's retryable
   * field; from a service older than the field (code UNSPECIFIED), the
   * reason's prefix.
   */
  static boolean retryable(EventResult r) {
    if (r.getCode() == ResultCode.RESULT_CODE_UNSPECIFIED) {
      return transientReason(r.getReason());
    }
    return r.getRetryable();
  }

  /**
   * Whether a per-event reason of a service older than the result's code
   * says the event was valid but not made durable (the service's broker
   * refused or failed).
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
    if (atClose && storage != null && !optedOut) {
      // Kept for the next client: runSender writes them when it ends.
      lock.lock();
      try {
        leftover.addAll(events);
      } finally {
        lock.unlock();
      }
      saved.addAndGet(events.size());
      failedAtClose.addAndGet(events.size());
      try {
        listener.onSaved(Collections.unmodifiableList(events));
      } catch (RuntimeException e) {
        listenerError("onSaved", e);
      }
      return;
    }
    if (log != null) {
      debug("failed " + events.size() + " events: " + cause);
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
    private Path storageDir;
    private Storage openedStorage; // set by build
    private Consumer<String> log;
    private boolean debug;
    private boolean gzip = true;
    private int gzipMinBytes = 1024;
    private boolean optedOut;

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
     * A directory where the client keeps, across restarts, its anonymous
     * id, current user and opt-out ({@code state.properties}), and the
     * events not confirmed yet ({@code buffer.pb}, bounded like the queue
     * by maxQueueEvents and maxQueueBytes): written when a send is about to
     * be retried and when {@link EventGrpcClient#close} gives up at its
     * deadline, read back by the next client built on the directory, which
     * sends them first. A crash loses what was tracked after the last such
     * write. One open client per directory (a lock file says so). Default:
     * none, nothing outlives the client.
     */
    public Builder storageDir(Path dir) {
      this.storageDir = dir;
      return this;
    }

    /**
     * A debug log: one line per request sent (events, bytes, gzipped
     * bytes), retry, rejection, drop, failure, save and restore. Called on
     * the thread that did it; must return quickly. Default: none.
     */
    public Builder logger(Consumer<String> logger) {
      this.log = logger;
      return this;
    }

    /**
     * Debug logging to {@link System.Logger} {@code io.eventgrpc.client.EventGrpcClient}
     * at INFO, when no {@link #logger} is given (default off).
     */
    public Builder debug(boolean on) {
      this.debug = on;
      return this;
    }

    /**
     * Whether request bodies of at least gzipMinBytes are sent gzipped
     * (default on). The service accepts {@code Content-Encoding: gzip}.
     */
    public Builder gzip(boolean on) {
      this.gzip = on;
      return this;
    }

    /** The smallest body gzipped (default 1024 bytes; 0: every body). */
    public Builder gzipMinBytes(int n) {
      this.gzipMinBytes = n;
      return this;
    }

    /**
     * Starts opted out (see {@link EventGrpcClient#optOut}); the state
     * saved in the storage directory, when there is one, wins. Default off.
     */
    public Builder optedOut(boolean out) {
      this.optedOut = out;
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
      if (gzipMinBytes < 0) {
        bad.add("gzipMinBytes must be 0 (every body) or more");
      }
      if (!bad.isEmpty()) {
        throw new IllegalArgumentException("EventGrpcClient: " + String.join("; ", bad));
      }
      if (initialBackoff.compareTo(maxBackoff) > 0) {
        maxBackoff = initialBackoff;
      }
      Consumer<String> logTo = log;
      if (logTo == null && debug) {
        logTo = msg -> LOG.log(System.Logger.Level.INFO, msg);
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
        t =
            new ConnectTransport(
                http,
                baseUrl,
                clientId,
                apiKey,
                "event-grpc-java/" + VERSION,
                gzip ? gzipMinBytes : -1,
                logTo);
      }
      Consumer<String> builderLog = log;
      log = logTo;
      openedStorage = storageDir == null ? null : new Storage(storageDir);
      try {
        return new EventGrpcClient(this, t);
      } catch (RuntimeException e) {
        if (openedStorage != null) {
          openedStorage.close();
        }
        throw e;
      } finally {
        openedStorage = null;
        log = builderLog;
      }
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
