package io.eventgrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.CodedOutputStream;
import io.eventgrpc.v1.Event;
import io.eventgrpc.v1.EventResult;
import io.eventgrpc.v1.Events;
import io.eventgrpc.v1.Header;
import io.eventgrpc.v1.Response;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class EventGrpcClientTest {

  private static EventGrpcClient.Builder client(FakeTransport t, Listener l) {
    return EventGrpcClient.builder()
        .transport(t)
        .listener(l)
        .flushInterval(Duration.ofSeconds(30)) // tests flush or close explicitly
        .initialBackoff(Duration.ofMillis(5))
        .maxBackoff(Duration.ofMillis(50));
  }

  private static void assertBalanced(Stats s) {
    assertEquals(
        s.tracked(),
        s.accepted() + s.rejected() + s.dropped() + s.failed() + s.pending(),
        "tracked = accepted + rejected + dropped + failed + pending: " + s);
  }

  @Test
  void trackMintsUuid7AndTimestampAtTrackTime() throws Exception {
    FakeTransport t = new FakeTransport();
    RecordingListener l = new RecordingListener();
    EventGrpcClient c = client(t, l).build();
    long before = System.currentTimeMillis();
    assertTrue(c.track(TestEvents.test("a", 1)));
    long after = System.currentTimeMillis();
    Event given = TestEvents.test("b", 2).toBuilder().setId("my-id").setTimestamp("1700000000000").build();
    assertTrue(c.track(given));
    assertTrue(c.close(Duration.ofSeconds(5)));

    Event a = t.stored.values().stream().filter(e -> e.getTestEvent().getName().equals("a")).findFirst().orElseThrow();
    UUID id = UUID.fromString(a.getId());
    assertEquals(7, id.version());
    assertEquals(2, id.variant());
    long ts = Long.parseLong(a.getTimestamp());
    assertTrue(ts >= before && ts <= after, "timestamp " + ts + " not in [" + before + "," + after + "]");
    assertEquals(ts, Uuid7.epochMillis(id), "the id's time is the event's timestamp");

    Event b = t.stored.get("my-id");
    assertEquals("1700000000000", b.getTimestamp(), "a given timestamp is kept");
    assertEquals(2, l.accepted.size());
  }

  @Test
  void retriedBatchCarriesTheSameIds() throws Exception {
    FakeTransport t =
        new FakeTransport()
            .script(
                (call, batch) -> {
                  if (call <= 2) {
                    throw FakeTransport.refusal(Code.UNAVAILABLE, null);
                  }
                  return FakeTransport.acceptAll(batch, e -> null);
                });
    RecordingListener l = new RecordingListener();
    EventGrpcClient c = client(t, l).build();
    for (int i = 0; i < 10; i++) {
      c.track(TestEvents.test("r", i));
    }
    c.flush();
    assertEquals(3, t.calls());
    List<Events> sent = new ArrayList<>(t.batches);
    assertEquals(sent.get(0), sent.get(1), "a retry resends the same bytes");
    assertEquals(sent.get(0), sent.get(2));
    for (int n : t.sends.values()) {
      assertEquals(3, n);
    }
    assertEquals(10, t.stored.size());
    assertEquals(2, c.stats().retries());
    assertEquals(3, c.stats().requests());
    c.close(Duration.ofSeconds(5));
  }

  @Test
  void batchesAreBoundedByEventsAndBytes() throws Exception {
    FakeTransport t = new FakeTransport();
    EventGrpcClient c = client(t, new RecordingListener()).maxBatchEvents(7).build();
    for (int i = 0; i < 50; i++) {
      c.track(TestEvents.test("n", i));
    }
    assertTrue(c.close(Duration.ofSeconds(5)));
    int total = 0;
    for (Events b : t.batches) {
      assertTrue(b.getEventsCount() <= 7, "batch of " + b.getEventsCount());
      total += b.getEventsCount();
    }
    assertEquals(50, total);
    assertEquals(8, t.batches.size(), "7 full batches of 7 and one of 1");

    FakeTransport t2 = new FakeTransport();
    long maxBytes = 4096;
    EventGrpcClient c2 = client(t2, new RecordingListener()).maxBatchBytes(maxBytes).build();
    for (int i = 0; i < 40; i++) {
      c2.track(TestEvents.sized("s" + i, 500));
    }
    assertTrue(c2.close(Duration.ofSeconds(5)));
    int total2 = 0;
    for (Events b : t2.batches) {
      assertTrue(b.getSerializedSize() <= maxBytes, "batch of " + b.getSerializedSize() + " bytes");
      total2 += b.getEventsCount();
    }
    assertEquals(40, total2);
    assertTrue(t2.batches.size() >= 40 * 500 / maxBytes, "batches: " + t2.batches.size());
  }

  @Test
  void fullBatchLeavesWithoutWaitingForTheInterval() throws Exception {
    FakeTransport t = new FakeTransport();
    EventGrpcClient c =
        client(t, new RecordingListener()).maxBatchEvents(5).flushInterval(Duration.ofHours(1)).build();
    for (int i = 0; i < 5; i++) {
      c.track(TestEvents.test("f", i));
    }
    waitFor(() -> t.stored.size() == 5, "a full batch is sent at once");
    c.track(TestEvents.test("f", 99));
    Thread.sleep(200);
    assertEquals(5, t.stored.size(), "a partial batch waits for the interval");
    c.close(Duration.ofSeconds(5));
    assertEquals(6, t.stored.size());
  }

  @Test
  void partialBatchLeavesAfterTheFlushInterval() throws Exception {
    FakeTransport t = new FakeTransport();
    EventGrpcClient c =
        client(t, new RecordingListener()).flushInterval(Duration.ofMillis(100)).build();
    long start = System.nanoTime();
    c.track(TestEvents.test("i", 1));
    waitFor(() -> t.stored.size() == 1, "the interval sends a partial batch");
    long waited = t.callTimes.peek() - start;
    assertTrue(waited >= TimeUnit.MILLISECONDS.toNanos(100), "sent after " + waited + " ns, before the interval");
    c.close(Duration.ofSeconds(5));
  }

  @Test
  void retryWaitsAtLeastTheServersHint() throws Exception {
    Duration hint = Duration.ofMillis(300);
    FakeTransport t =
        new FakeTransport()
            .script(
                (call, batch) -> {
                  if (call == 1) {
                    throw FakeTransport.refusal(Code.RESOURCE_EXHAUSTED, hint);
                  }
                  return FakeTransport.acceptAll(batch, e -> null);
                });
    RecordingListener l = new RecordingListener();
    EventGrpcClient c = client(t, l).build();
    c.track(TestEvents.test("h", 1));
    c.flush();
    List<Long> times = new ArrayList<>(t.callTimes);
    long gap = times.get(1) - times.get(0);
    assertTrue(gap >= hint.toNanos(), "retried after " + gap / 1_000_000 + " ms, hint was 300 ms");
    assertEquals(hint, l.retryDelays.peek(), "the backoff (≤ 5 ms) is raised to the hint");
    assertEquals(Code.RESOURCE_EXHAUSTED, l.retryCauses.peek().code());
    c.close(Duration.ofSeconds(5));
  }

  @Test
  void perEventRejectionsAreReportedAndNeverRetried() throws Exception {
    FakeTransport t =
        new FakeTransport()
            .script(
                (call, batch) ->
                    FakeTransport.acceptAll(
                        batch, e -> e.getTestEvent().getNumber() % 3 == 0 ? "timestamp too old" : null));
    RecordingListener l = new RecordingListener();
    EventGrpcClient c = client(t, l).build();
    for (int i = 0; i < 9; i++) {
      c.track(TestEvents.test("p", i));
    }
    assertTrue(c.close(Duration.ofSeconds(5)));
    assertEquals(1, t.calls(), "no retry for per-event rejections");
    assertEquals(3, l.rejected.size());
    for (String reason : l.rejected.values()) {
      assertEquals("timestamp too old", reason);
    }
    assertEquals(6, l.accepted.size());
    Stats s = c.stats();
    assertEquals(3, s.rejected());
    assertEquals(6, s.accepted());
    assertEquals(0, s.retries());
    assertBalanced(s);
  }

  @Test
  void transientPerEventResultsAreSentAgainAlone() throws Exception {
    // The service's broker did not confirm some events: their reasons start
    // with UNAVAILABLE; only they are sent again.
    FakeTransport t =
        new FakeTransport()
            .script(
                (call, batch) ->
                    FakeTransport.acceptAll(
                        batch,
                        e -> call == 1 && e.getTestEvent().getNumber() < 2 ? "UNAVAILABLE: publish timed out" : null));
    RecordingListener l = new RecordingListener();
    EventGrpcClient c = client(t, l).build();
    for (int i = 0; i < 5; i++) {
      c.track(TestEvents.test("t", i));
    }
    assertTrue(c.close(Duration.ofSeconds(5)));
    List<Events> sent = new ArrayList<>(t.batches);
    assertEquals(2, sent.size());
    assertEquals(5, sent.get(0).getEventsCount());
    assertEquals(2, sent.get(1).getEventsCount());
    assertEquals(0, sent.get(1).getEvents(0).getTestEvent().getNumber());
    assertEquals(1, sent.get(1).getEvents(1).getTestEvent().getNumber());
    assertEquals(5, t.stored.size());
    assertEquals(0, l.rejected.size());
    assertEquals(5, c.stats().accepted());
  }

  @Test
  void resultsMissingFromTheAnswerAreSentAgain() throws Exception {
    FakeTransport t =
        new FakeTransport()
            .script(
                (call, batch) -> {
                  Response all = FakeTransport.acceptAll(batch, e -> null);
                  if (call > 1) {
                    return all;
                  }
                  Response.Builder first = Response.newBuilder();
                  for (EventResult r : all.getResultsList()) {
                    if (r.getIndex() != 1) {
                      first.addResults(r);
                    }
                  }
                  return first.build();
                });
    EventGrpcClient c = client(t, new RecordingListener()).build();
    for (int i = 0; i < 3; i++) {
      c.track(TestEvents.test("m", i));
    }
    assertTrue(c.close(Duration.ofSeconds(5)));
    assertEquals(2, t.calls());
    assertEquals(1, new ArrayList<>(t.batches).get(1).getEventsCount());
    assertEquals(3, c.stats().accepted());
  }

  @Test
  void nonRetryableRefusalFailsTheBatchOnce() throws Exception {
    FakeTransport t =
        new FakeTransport().script((call, batch) -> {
          throw FakeTransport.refusal(Code.UNAUTHENTICATED, null);
        });
    RecordingListener l = new RecordingListener();
    EventGrpcClient c = client(t, l).build();
    for (int i = 0; i < 4; i++) {
      c.track(TestEvents.test("u", i));
    }
    c.flush();
    assertEquals(1, t.calls());
    assertEquals(4, l.failed.size());
    EventGrpcException cause = assertInstanceOf(EventGrpcException.class, l.failures.peek());
    assertEquals(Code.UNAUTHENTICATED, cause.code());
    assertEquals(4, c.stats().failed());
    assertTrue(c.close(Duration.ofSeconds(1)), "failures not caused by the deadline do not fail close");
  }

  @Test
  void batchTooLargeForTheServiceIsSplitInHalves() throws Exception {
    // resource_exhausted without a retry hint: the request is too large
    // (HTTP_MAX_BODY_BYTES); this fake takes at most 3 events a request.
    FakeTransport t =
        new FakeTransport()
            .script(
                (call, batch) -> {
                  if (batch.getEventsCount() > 3) {
                    throw FakeTransport.refusal(Code.RESOURCE_EXHAUSTED, null);
                  }
                  return FakeTransport.acceptAll(batch, e -> null);
                });
    RecordingListener l = new RecordingListener();
    EventGrpcClient c = client(t, l).build();
    for (int i = 0; i < 10; i++) {
      c.track(TestEvents.test("split", i));
    }
    assertTrue(c.close(Duration.ofSeconds(5)));
    assertEquals(10, t.stored.size());
    assertEquals(0, c.stats().retries(), "a split is not a retry");
    // 10 → 5+5 → (2+3)+(2+3): 1 + 2 refused, 4 accepted.
    assertEquals(7, t.calls());
    List<Long> order = new ArrayList<>();
    for (Event e : l.accepted) {
      order.add(e.getTestEvent().getNumber());
    }
    assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L), order, "halves go in order");
  }

  @Test
  void singleEventTooLargeForTheServiceFails() throws Exception {
    FakeTransport t =
        new FakeTransport().script((call, batch) -> {
          throw FakeTransport.refusal(Code.RESOURCE_EXHAUSTED, null);
        });
    RecordingListener l = new RecordingListener();
    EventGrpcClient c = client(t, l).build();
    c.track(TestEvents.test("big", 1));
    c.track(TestEvents.test("big", 2));
    c.flush();
    assertEquals(3, t.calls(), "the pair, then each alone");
    assertEquals(2, l.failed.size());
    assertTrue(((EventGrpcException) l.failures.peek()).isTooLarge());
    assertBalanced(c.stats());
    c.close(Duration.ofSeconds(1));
  }

  @Test
  void maxAttemptsBoundsTheRetries() throws Exception {
    FakeTransport t =
        new FakeTransport().script((call, batch) -> {
          throw FakeTransport.refusal(Code.UNAVAILABLE, null);
        });
    RecordingListener l = new RecordingListener();
    EventGrpcClient c = client(t, l).maxAttempts(3).build();
    c.track(TestEvents.test("x", 1));
    c.flush();
    assertEquals(3, t.calls());
    assertEquals(1, l.failed.size());
    assertEquals(2, c.stats().retries());
    c.close(Duration.ofSeconds(1));
  }

  @Test
  void brokenTransportFailsWithoutLooping() throws Exception {
    Transport broken = (batch, timeout) -> {
      throw new IllegalStateException("bug");
    };
    RecordingListener l = new RecordingListener();
    EventGrpcClient c =
        EventGrpcClient.builder().transport(broken).listener(l).build();
    c.track(TestEvents.test("b", 1));
    c.flush();
    assertEquals(1, l.failed.size());
    assertInstanceOf(IllegalStateException.class, l.failures.peek());
    c.close(Duration.ofSeconds(1));
  }

  @Test
  void queueIsBoundedInEventsAndDropsAreReported() throws Exception {
    FakeTransport t = new FakeTransport().hold(); // the service hangs
    RecordingListener l = new RecordingListener();
    EventGrpcClient c =
        client(t, l).maxBatchEvents(10).maxQueueEvents(25).requestTimeout(Duration.ofSeconds(30)).build();
    int queued = 0;
    for (int i = 0; i < 100; i++) {
      if (c.track(TestEvents.test("q", i))) {
        queued++;
      }
    }
    assertEquals(25, queued, "queued + in flight never pass maxQueueEvents");
    Stats s = c.stats();
    assertEquals(75, s.dropped());
    assertEquals(75, l.dropped.size());
    for (DropReason r : l.dropped.values()) {
      assertEquals(DropReason.QUEUE_FULL, r);
    }
    assertEquals(25, s.pending());
    assertBalanced(s);
    t.open();
    assertTrue(c.close(Duration.ofSeconds(5)));
    assertEquals(25, t.stored.size());
    assertBalanced(c.stats());
  }

  @Test
  void queueIsBoundedInBytes() throws Exception {
    FakeTransport t = new FakeTransport().hold();
    RecordingListener l = new RecordingListener();
    Event probe = TestEvents.sized("B", 1000).toBuilder().setId(Uuid7.next().toString()).setTimestamp("1").build();
    int each = CodedOutputStream.computeMessageSize(2, probe);
    EventGrpcClient c =
        client(t, l).maxQueueBytes(10L * each).requestTimeout(Duration.ofSeconds(30)).build();
    int queued = 0;
    for (int i = 0; i < 30; i++) {
      if (c.track(TestEvents.sized("B", 1000))) {
        queued++;
      }
    }
    assertTrue(queued >= 9 && queued <= 10, "queued " + queued + " events of ~" + each + " bytes under " + 10 * each);
    assertTrue(c.stats().pendingBytes() <= 10L * each);
    assertEquals(30 - queued, l.dropped.size());
    t.open();
    assertTrue(c.close(Duration.ofSeconds(5)));
    assertEquals(queued, t.stored.size());
  }

  @Test
  void eventLargerThanABatchIsDroppedAsTooLarge() throws Exception {
    FakeTransport t = new FakeTransport();
    RecordingListener l = new RecordingListener();
    EventGrpcClient c = client(t, l).maxBatchBytes(2048).build();
    assertFalse(c.track(TestEvents.sized("big", 4000)));
    assertTrue(c.track(TestEvents.sized("small", 100)));
    assertTrue(c.close(Duration.ofSeconds(5)));
    assertEquals(List.of(DropReason.TOO_LARGE), new ArrayList<>(l.dropped.values()));
    assertEquals(1, t.stored.size());
  }

  @Test
  void closeDeliversWhatIsQueuedAndDropsLaterTracks() throws Exception {
    FakeTransport t =
        new FakeTransport()
            .script(
                (call, batch) -> {
                  if (call <= 3) {
                    throw FakeTransport.refusal(Code.UNAVAILABLE, Duration.ofMillis(50));
                  }
                  return FakeTransport.acceptAll(batch, e -> null);
                });
    RecordingListener l = new RecordingListener();
    EventGrpcClient c = client(t, l).build();
    for (int i = 0; i < 1234; i++) {
      c.track(TestEvents.test("c", i));
    }
    assertTrue(c.close(Duration.ofSeconds(10)));
    assertEquals(1234, t.stored.size());
    assertFalse(c.track(TestEvents.test("late", 0)));
    assertEquals(DropReason.CLOSED, l.dropped.values().iterator().next());
    Stats s = c.stats();
    assertEquals(1234, s.accepted());
    assertEquals(0, s.pending());
    assertBalanced(s);
    assertTrue(c.close(Duration.ofSeconds(1)), "close twice is fine");
  }

  @Test
  void closeGivesUpAtItsDeadlineAndReportsTheRest() throws Exception {
    FakeTransport t =
        new FakeTransport().script((call, batch) -> {
          throw FakeTransport.refusal(Code.UNAVAILABLE, Duration.ofMillis(100));
        });
    RecordingListener l = new RecordingListener();
    EventGrpcClient c = client(t, l).maxBatchEvents(10).build();
    for (int i = 0; i < 35; i++) {
      c.track(TestEvents.test("d", i));
    }
    long start = System.nanoTime();
    assertFalse(c.close(Duration.ofMillis(500)));
    long took = System.nanoTime() - start;
    assertTrue(took < TimeUnit.SECONDS.toNanos(3), "close took " + took / 1_000_000 + " ms");
    assertEquals(35, l.failed.size(), "every undelivered event is reported");
    assertEquals(35, new HashSet<>(ids(l.failed)).size());
    Stats s = c.stats();
    assertEquals(35, s.failed());
    assertEquals(0, s.pending());
    assertBalanced(s);
  }

  @Test
  void closeCutsALongBackoffToItsDeadline() throws Exception {
    FakeTransport t =
        new FakeTransport().script((call, batch) -> {
          throw FakeTransport.refusal(Code.RESOURCE_EXHAUSTED, Duration.ofMinutes(5));
        });
    RecordingListener l = new RecordingListener();
    EventGrpcClient c = client(t, l).build();
    c.track(TestEvents.test("l", 1));
    assertFalse(c.flush(Duration.ofMillis(200)), "flush gives up at its timeout");
    long start = System.nanoTime();
    assertFalse(c.close(Duration.ofMillis(300)));
    assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(3));
    assertEquals(1, l.failed.size());
  }

  @Test
  void manyThreadsTrackingLoseAndDoubleNothing() throws Exception {
    AtomicInteger n = new AtomicInteger();
    FakeTransport t =
        new FakeTransport()
            .script(
                (call, batch) -> {
                  if (n.incrementAndGet() % 4 == 0) {
                    throw FakeTransport.refusal(Code.UNAVAILABLE, null);
                  }
                  return FakeTransport.acceptAll(batch, e -> null);
                });
    RecordingListener l = new RecordingListener();
    EventGrpcClient c =
        client(t, l).maxBatchEvents(100).maxQueueEvents(1_000_000).flushInterval(Duration.ofMillis(5)).build();
    int threads = 8;
    int each = 5_000;
    CountDownLatch go = new CountDownLatch(1);
    List<Thread> ts = new ArrayList<>();
    for (int k = 0; k < threads; k++) {
      final int kk = k;
      Thread th =
          new Thread(
              () -> {
                try {
                  go.await();
                } catch (InterruptedException e) {
                  return;
                }
                for (int i = 0; i < each; i++) {
                  c.track(TestEvents.test("t" + kk, i));
                }
              });
      th.start();
      ts.add(th);
    }
    go.countDown();
    for (Thread th : ts) {
      th.join();
    }
    assertTrue(c.close(Duration.ofSeconds(30)));
    assertEquals(threads * each, t.stored.size(), "every event stored");
    assertEquals(threads * each, l.accepted.size(), "each reported accepted once");
    assertEquals(threads * each, new HashSet<>(ids(l.accepted)).size());
    Set<String> seen = new HashSet<>();
    for (Event e : t.stored.values()) {
      assertTrue(seen.add(e.getTestEvent().getName() + "/" + e.getTestEvent().getNumber()), "payload twice: " + e);
    }
    Stats s = c.stats();
    assertEquals(threads * each, s.accepted());
    assertEquals(0, s.dropped());
    assertBalanced(s);
  }

  @Test
  void flushWaitsForEverythingTrackedBefore() throws Exception {
    FakeTransport t = new FakeTransport();
    EventGrpcClient c = client(t, new RecordingListener()).maxBatchEvents(3).build();
    for (int i = 0; i < 10; i++) {
      c.track(TestEvents.test("w", i));
    }
    assertTrue(c.flush(Duration.ofSeconds(5)));
    assertEquals(10, t.stored.size());
    assertTrue(c.flush(Duration.ofSeconds(1)), "nothing to flush");
    c.close(Duration.ofSeconds(1));
  }

  @Test
  void listenerExceptionsAreCountedNotPassedOn() throws Exception {
    FakeTransport t = new FakeTransport();
    Listener throwing =
        new Listener() {
          @Override
          public void onAccepted(List<Event> events) {
            throw new RuntimeException("listener bug");
          }
        };
    EventGrpcClient c = client(t, throwing).build();
    c.track(TestEvents.test("e", 1));
    c.track(TestEvents.test("e", 2));
    c.flush();
    c.track(TestEvents.test("e", 3));
    assertTrue(c.close(Duration.ofSeconds(5)));
    assertEquals(3, t.stored.size(), "the sender goes on after a listener throws");
    assertEquals(2, c.stats().listenerErrors());
  }

  @Test
  void headerGetsClientIdAndSdkVersion() throws Exception {
    FakeTransport t = new FakeTransport();
    EventGrpcClient c =
        client(t, new RecordingListener())
            .clientId("app-1")
            .header(Header.newBuilder().setAppVersion("5.1").build())
            .build();
    c.track(TestEvents.test("h", 1));
    assertTrue(c.close(Duration.ofSeconds(5)));
    Header h = t.batches.peek().getHeader();
    assertEquals("app-1", h.getClientId());
    assertEquals("java-" + EventGrpcClient.VERSION, h.getSdkVersion());
    assertEquals("5.1", h.getAppVersion());

    FakeTransport t2 = new FakeTransport();
    EventGrpcClient c2 =
        client(t2, new RecordingListener())
            .clientId("app-1")
            .header(Header.newBuilder().setClientId("web").setSdkVersion("custom").build())
            .build();
    c2.track(TestEvents.test("h", 1));
    assertTrue(c2.close(Duration.ofSeconds(5)));
    assertEquals("web", t2.batches.peek().getHeader().getClientId(), "a given header field is kept");
    assertEquals("custom", t2.batches.peek().getHeader().getSdkVersion());
  }

  @Test
  void backoffGrowsWithJitterUpToTheCap() {
    EventGrpcClient c =
        EventGrpcClient.builder()
            .transport(new FakeTransport())
            .initialBackoff(Duration.ofMillis(100))
            .maxBackoff(Duration.ofSeconds(2))
            .build();
    long ms = 1_000_000;
    Set<Long> distinct = new HashSet<>();
    for (int i = 0; i < 200; i++) {
      long d1 = c.backoff(1, 0);
      assertTrue(d1 >= 50 * ms && d1 <= 100 * ms, "attempt 1: " + d1);
      long d3 = c.backoff(3, 0);
      assertTrue(d3 >= 200 * ms && d3 <= 400 * ms, "attempt 3: " + d3);
      long d20 = c.backoff(20, 0);
      assertTrue(d20 >= 1000 * ms && d20 <= 2000 * ms, "attempt 20 is capped: " + d20);
      assertTrue(c.backoff(1, 5000 * ms) >= 5000 * ms, "never less than the hint");
      distinct.add(d3);
    }
    assertTrue(distinct.size() > 50, "jittered: " + distinct.size() + " distinct delays");
    c.close(Duration.ofSeconds(1));
  }

  @Test
  void builderListsEveryProblem() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                EventGrpcClient.builder()
                    .apiKey("k\u00e9y")
                    .maxBatchEvents(0)
                    .flushInterval(Duration.ZERO)
                    .build());
    String m = e.getMessage();
    assertTrue(m.contains("baseUrl is required"), m);
    assertTrue(m.contains("apiKey must be non-empty printable ASCII"), m);
    assertTrue(m.contains("apiKey needs a clientId"), m);
    assertTrue(m.contains("maxBatchEvents must be at least 1"), m);
    assertTrue(m.contains("flushInterval must be positive"), m);
    assertThrows(
        IllegalArgumentException.class, () -> EventGrpcClient.builder().baseUrl("ftp://x").build());
  }

  @Test
  void idsDifferAcrossClients() throws Exception {
    FakeTransport t = new FakeTransport();
    EventGrpcClient a = client(t, new RecordingListener()).build();
    EventGrpcClient b = client(t, new RecordingListener()).build();
    for (int i = 0; i < 1000; i++) {
      a.track(TestEvents.test("same", i));
      b.track(TestEvents.test("same", i));
    }
    assertTrue(a.close(Duration.ofSeconds(5)));
    assertTrue(b.close(Duration.ofSeconds(5)));
    assertEquals(2000, t.stored.size(), "identical payloads get distinct ids");
    for (int v : t.sends.values()) {
      assertEquals(1, v);
    }
    assertNotEquals(0, t.stored.size());
  }

  private static List<String> ids(Iterable<Event> evs) {
    List<String> out = new ArrayList<>();
    for (Event e : evs) {
      out.add(e.getId());
    }
    return out;
  }

  static void waitFor(java.util.function.BooleanSupplier cond, String what) throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError("timed out waiting: " + what);
      }
      Thread.sleep(5);
    }
  }
}
