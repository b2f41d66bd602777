package io.eventgrpc.client;

import io.eventgrpc.v1.Event;
import io.eventgrpc.v1.EventResult;
import io.eventgrpc.v1.Events;
import io.eventgrpc.v1.Response;
import io.eventgrpc.v1.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * An in-memory service for the client's tests: it stores accepted events by
 * id (counting how often each id was sent) and answers as a script says.
 * By default it accepts every event.
 */
final class FakeTransport implements Transport {
  /** What one call answers: a Response, or a refusal to throw. */
  interface Script {
    Response answer(int call, Events batch) throws EventGrpcException;
  }

  final ConcurrentLinkedQueue<Events> batches = new ConcurrentLinkedQueue<>();
  final ConcurrentLinkedQueue<Long> callTimes = new ConcurrentLinkedQueue<>(); // System.nanoTime()
  final ConcurrentHashMap<String, Integer> sends = new ConcurrentHashMap<>();
  final ConcurrentHashMap<String, Event> stored = new ConcurrentHashMap<>();
  private volatile Script script = (call, batch) -> acceptAll(batch, e -> null);
  private volatile CountDownLatch gate; // when set, calls wait for it
  private int calls;

  FakeTransport script(Script s) {
    this.script = s;
    return this;
  }

  /** Makes calls wait until {@link #open} (a slow or hung service). */
  FakeTransport hold() {
    gate = new CountDownLatch(1);
    return this;
  }

  void open() {
    CountDownLatch g = gate;
    gate = null;
    if (g != null) {
      g.countDown();
    }
  }

  synchronized int calls() {
    return calls;
  }

  @Override
  public Response dispatch(Events batch, Duration timeout)
      throws EventGrpcException, InterruptedException {
    int n;
    synchronized (this) {
      n = ++calls;
    }
    callTimes.add(System.nanoTime());
    batches.add(batch);
    for (Event e : batch.getEventsList()) {
      sends.merge(e.getId(), 1, Integer::sum);
    }
    CountDownLatch g = gate;
    if (g != null && !g.await(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
      throw new EventGrpcException(Code.DEADLINE_EXCEEDED, "fake: held", 0, null, null);
    }
    Response r = script.answer(n, batch);
    for (EventResult res : r.getResultsList()) {
      if (res.getAccepted()) {
        Event e = batch.getEvents(res.getIndex());
        stored.put(e.getId(), e);
      }
    }
    return r;
  }

  /**
   * A Response that accepts every event except those for which reject
   * returns a reason.
   */
  static Response acceptAll(Events batch, Function<Event, String> reject) {
    Response.Builder r = Response.newBuilder();
    int acc = 0;
    List<EventResult> results = new ArrayList<>();
    for (int i = 0; i < batch.getEventsCount(); i++) {
      Event e = batch.getEvents(i);
      String reason = reject.apply(e);
      EventResult.Builder res = EventResult.newBuilder().setIndex(i).setEventId(e.getId());
      if (reason == null) {
        res.setAccepted(true);
        acc++;
      } else {
        res.setReason(reason);
      }
      results.add(res.build());
    }
    int rej = batch.getEventsCount() - acc;
    return r.addAllResults(results)
        .setAccepted(acc)
        .setRejected(rej)
        .setStatus(rej == 0 ? Status.STATUS_OK : acc == 0 ? Status.STATUS_REJECTED : Status.STATUS_PARTIAL)
        .build();
  }

  static EventGrpcException refusal(Code code, Duration hint) {
    return new EventGrpcException(code, "fake refusal", code.httpStatus(), hint, null);
  }
}
