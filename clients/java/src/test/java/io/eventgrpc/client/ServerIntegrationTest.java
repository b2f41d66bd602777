package io.eventgrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventgrpc.v1.CustomEvent;
import io.eventgrpc.v1.Event;
import io.eventgrpc.v1.Header;
import io.eventgrpc.v1.PageOpenedEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * The SDK against the real event-grpc server, started zero-config from the
 * binary scripts/test-java.sh builds: events tracked are stored exactly
 * once; a server that refuses (rate limit) or is down for a while loses and
 * doubles nothing; per-event rejections reach the listener; bad
 * credentials fail without retries.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ServerIntegrationTest {
  private static final String CLIENT = "java-it";
  private static final String KEY = "java-it-key-0123456789abcdef";

  private final int portBase = Integer.getInteger("eventgrpc.it.portBase", 18700);
  private ServerProcess plain;
  private ServerProcess guarded; // apikey auth and a tiny rate limit

  @BeforeAll
  void startServers() throws Exception {
    ServerProcess.binary(); // fails, naming the property, when the binary is missing
    plain = new ServerProcess(portBase, portBase + 1, Map.of()).start();
    guarded =
        new ServerProcess(
                portBase + 2,
                portBase + 3,
                Map.of(
                    "AUTH_MODE", "apikey",
                    "AUTH_API_KEYS", CLIENT + ":" + KEY,
                    "RATE_LIMIT_RPS", "4",
                    "RATE_LIMIT_BURST", "1"))
            .start();
  }

  @AfterAll
  void stopServers() throws Exception {
    if (plain != null) {
      plain.stop();
    }
    if (guarded != null) {
      guarded.stop();
    }
  }

  /** Polls until every id is stored (or 60 s pass), then returns the counts. */
  private static Map<String, Integer> awaitStored(ServerProcess s, Set<String> ids) throws Exception {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    Map<String, Integer> got = s.storedCounts(ids);
    while (got.size() < ids.size() && System.nanoTime() < end) {
      Thread.sleep(250);
      got = s.storedCounts(ids);
    }
    return got;
  }

  private static void assertExactlyOnce(Set<String> ids, Map<String, Integer> got) {
    Set<String> missing = new HashSet<>(ids);
    missing.removeAll(got.keySet());
    assertTrue(missing.isEmpty(), missing.size() + " of " + ids.size() + " events not stored, e.g. " + first(missing));
    for (Map.Entry<String, Integer> e : got.entrySet()) {
      assertEquals(1, e.getValue(), "event " + e.getKey() + " stored " + e.getValue() + " times");
    }
    assertEquals(ids, got.keySet());
  }

  private static String first(Set<String> s) {
    return s.isEmpty() ? "-" : s.iterator().next();
  }

  private static Set<String> ids(Iterable<Event> evs) {
    Set<String> out = new HashSet<>();
    for (Event e : evs) {
      out.add(e.getId());
    }
    return out;
  }

  private static List<String> hints(RecordingListener l) {
    List<String> out = new ArrayList<>();
    for (EventGrpcException e : l.retryCauses) {
      out.add(e.retryAfter().map(d -> d.toMillis() + "ms").orElse("none"));
    }
    return out;
  }

  private static Event page(String name) {
    return Event.newBuilder().setPageOpenedEvent(PageOpenedEvent.newBuilder().setPageName(name)).build();
  }

  @Test
  void trackedEventsAreStoredExactlyOnce() throws Exception {
    RecordingListener l = new RecordingListener();
    EventGrpcClient c =
        EventGrpcClient.builder()
            .baseUrl(plain.baseUrl())
            .clientId(CLIENT)
            .header(Header.newBuilder().setUserId("u-1").setAppVersion("1.2.3").build())
            .listener(l)
            .maxBatchEvents(200)
            .flushInterval(Duration.ofMillis(50))
            .build();
    int threads = 4;
    int each = 750;
    List<Thread> ts = new ArrayList<>();
    for (int k = 0; k < threads; k++) {
      final int kk = k;
      Thread th =
          new Thread(
              () -> {
                for (int i = 0; i < each; i++) {
                  Event e =
                      i % 3 == 0
                          ? Event.newBuilder()
                              .setCustomEvent(
                                  CustomEvent.newBuilder().setName("JavaSdkEvent").putParams("k", kk + "/" + i))
                              .build()
                          : i % 3 == 1 ? TestEvents.test("java-it-" + kk, i) : page("home-" + kk);
                  c.track(e);
                }
              });
      th.start();
      ts.add(th);
    }
    for (Thread th : ts) {
      th.join();
    }
    assertTrue(c.close(Duration.ofSeconds(60)), "close delivered everything: " + c.stats());
    Stats s = c.stats();
    int n = threads * each;
    assertEquals(n, s.accepted(), s.toString());
    assertEquals(0, s.rejected() + s.dropped() + s.failed(), s.toString());
    Set<String> sent = ids(l.accepted);
    assertEquals(n, sent.size(), "distinct ids minted by the client");

    Map<String, Integer> got = awaitStored(plain, sent);
    assertExactlyOnce(sent, got);

    // The header went along: one row's user id and client id.
    String any = first(sent);
    List<List<String>> row =
        plain.query("SELECT user_id, client_id, app_version FROM event WHERE event_id = '" + any + "'");
    assertEquals(List.of(List.of("u-1", CLIENT, "1.2.3")), row);
  }

  @Test
  void perEventRejectionsReachTheListenerAndAreNotStored() throws Exception {
    RecordingListener l = new RecordingListener();
    EventGrpcClient c =
        EventGrpcClient.builder()
            .baseUrl(plain.baseUrl())
            .listener(l)
            .flushInterval(Duration.ofMinutes(1))
            .build();
    Event noPayload = Event.newBuilder().setId(Uuid7.next().toString()).build();
    Event ancient = page("old").toBuilder().setId(Uuid7.next().toString()).setTimestamp("12").build();
    Event badName =
        Event.newBuilder()
            .setId(Uuid7.next().toString())
            .setCustomEvent(CustomEvent.newBuilder().setName("1 not a name"))
            .build();
    for (int i = 0; i < 5; i++) {
      c.track(page("ok-" + i));
    }
    c.track(noPayload);
    c.track(ancient);
    c.track(badName);
    c.flush();
    Stats s = c.stats();
    assertEquals(5, s.accepted(), s.toString());
    assertEquals(3, s.rejected(), s.toString());
    assertEquals(1, s.requests(), "one request, nothing retried");
    assertEquals(0, s.retries());
    assertEquals(Set.of(noPayload.getId(), ancient.getId(), badName.getId()), l.rejected.keySet());
    assertTrue(l.rejected.get(ancient.getId()).contains("timestamp"), l.rejected.get(ancient.getId()));
    assertTrue(l.rejected.get(badName.getId()).contains("CustomEvent.name"), l.rejected.get(badName.getId()));
    assertFalse(l.rejected.get(noPayload.getId()).isEmpty());
    assertTrue(c.close(Duration.ofSeconds(10)));

    Set<String> ok = ids(l.accepted);
    assertExactlyOnce(ok, awaitStored(plain, ok));
    assertTrue(
        plain.storedCounts(l.rejected.keySet()).isEmpty(), "rejected events are not stored");
  }

  @Test
  void rateLimitedServerGetsEverythingExactlyOnceThroughRetries() throws Exception {
    RecordingListener l = new RecordingListener();
    EventGrpcClient c =
        EventGrpcClient.builder()
            .baseUrl(guarded.baseUrl())
            .clientId(CLIENT)
            .apiKey(KEY)
            .listener(l)
            .maxBatchEvents(40)
            .flushInterval(Duration.ofMillis(10))
            .initialBackoff(Duration.ofMillis(20))
            .build();
    int n = 400; // 10 requests against 4 requests/s, burst 1
    for (int i = 0; i < n; i++) {
      c.track(TestEvents.test("limited", i));
    }
    assertTrue(c.close(Duration.ofSeconds(90)), "close delivered everything: " + c.stats());
    Stats s = c.stats();
    System.out.println("rate-limited server: " + s + " hints=" + hints(l));
    assertEquals(n, s.accepted(), s.toString());
    assertTrue(s.retries() > 0, "the rate limit refused some requests: " + s);
    for (EventGrpcException e : l.retryCauses) {
      assertTrue(e.isRetryable());
      assertEquals(429, e.httpStatus(), e.getMessage());
      assertTrue(e.retryAfter().isPresent(), "the refusal carries a retry hint: " + e.getMessage());
    }
    List<Duration> delays = new ArrayList<>(l.retryDelays);
    List<EventGrpcException> causes = new ArrayList<>(l.retryCauses);
    for (int i = 0; i < delays.size(); i++) {
      assertTrue(delays.get(i).compareTo(causes.get(i).retryAfter().orElseThrow()) >= 0, "waited at least the hint");
    }
    Set<String> sent = ids(l.accepted);
    assertEquals(n, sent.size());
    assertExactlyOnce(sent, awaitStored(guarded, sent));
  }

  @Test
  void wrongKeyFailsOnceWithoutRetrying() throws Exception {
    RecordingListener l = new RecordingListener();
    EventGrpcClient c =
        EventGrpcClient.builder()
            .baseUrl(guarded.baseUrl())
            .clientId(CLIENT)
            .apiKey("not-the-key-0123456789abcdef")
            .listener(l)
            .build();
    c.track(page("denied"));
    c.flush();
    Stats s = c.stats();
    assertEquals(1, s.failed(), s.toString());
    assertEquals(0, s.retries());
    EventGrpcException e = assertInstanceOf(EventGrpcException.class, l.failures.peek());
    assertEquals(Code.UNAUTHENTICATED, e.code(), e.getMessage());
    assertEquals(401, e.httpStatus());
    c.close(Duration.ofSeconds(5));
  }

  @Test
  void serverDownForAWhileLosesAndDoublesNothing() throws Exception {
    ServerProcess late = new ServerProcess(portBase + 4, portBase + 5, Map.of());
    RecordingListener l = new RecordingListener();
    EventGrpcClient c =
        EventGrpcClient.builder()
            .baseUrl(late.baseUrl())
            .listener(l)
            .maxBatchEvents(100)
            .flushInterval(Duration.ofMillis(20))
            .initialBackoff(Duration.ofMillis(50))
            .maxBackoff(Duration.ofMillis(500))
            .build();
    try {
      int n = 1000;
      for (int i = 0; i < n / 2; i++) {
        c.track(TestEvents.test("down", i));
      }
      EventGrpcClientTest.waitFor(() -> c.stats().retries() >= 3, "retries while the server is down");
      assertEquals(0, c.stats().accepted());
      late.start();
      for (int i = n / 2; i < n; i++) {
        c.track(TestEvents.test("down", i));
      }
      assertTrue(c.close(Duration.ofSeconds(60)), "close delivered everything: " + c.stats());
      Stats s = c.stats();
      System.out.println("server down, then up: " + s);
      assertEquals(n, s.accepted(), s.toString());
      for (EventGrpcException e : l.retryCauses) {
        assertEquals(Code.UNAVAILABLE, e.code(), e.getMessage());
      }
      Set<String> sent = ids(l.accepted);
      assertEquals(n, sent.size());
      assertExactlyOnce(sent, awaitStored(late, sent));
    } finally {
      c.close(Duration.ZERO);
      late.stop();
    }
  }
}
