package io.eventgrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.eventgrpc.v1.Event;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The generic calls against the real event-grpc server (zero-config, as
 * {@link ServerIntegrationTest}): each call lands once in its table with
 * its properties and identity intact, request bodies travel gzipped (seen
 * by a capturing proxy in front of the server) and are accepted, an
 * opted-out client sends nothing, and events a client could not deliver
 * before close are sent by the next client on the same storage directory
 * once the server is up.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class GenericServerIntegrationTest {
  private static final HttpClient HTTP =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2)).build();

  private final int portBase = Integer.getInteger("eventgrpc.it.portBase", 18700) + 6;
  private ServerProcess server;
  private Proxy proxy;

  @TempDir Path tmp;

  @BeforeAll
  void start() throws Exception {
    ServerProcess.binary();
    server = new ServerProcess(portBase, portBase + 1, Map.of()).start();
    proxy = new Proxy(server.baseUrl());
  }

  @AfterAll
  void stop() throws Exception {
    if (proxy != null) {
      proxy.close();
    }
    if (server != null) {
      server.stop();
    }
  }

  /**
   * Forwards requests to the server and records, per request, its
   * Content-Encoding and whether its body starts with gzip's magic bytes.
   */
  static final class Proxy implements AutoCloseable {
    final ConcurrentLinkedQueue<String> encodings = new ConcurrentLinkedQueue<>();
    final AtomicInteger gzipBodies = new AtomicInteger();
    final AtomicInteger requests = new AtomicInteger();
    private final String target;
    private final HttpServer http;
    private final ExecutorService pool = Executors.newFixedThreadPool(2);

    Proxy(String target) throws IOException {
      this.target = target;
      http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
      http.createContext("/", this::handle);
      http.setExecutor(pool);
      http.start();
    }

    String baseUrl() {
      return "http://127.0.0.1:" + http.getAddress().getPort();
    }

    void reset() {
      encodings.clear();
      gzipBodies.set(0);
      requests.set(0);
    }

    private void handle(HttpExchange ex) throws IOException {
      try {
        byte[] body = ex.getRequestBody().readAllBytes();
        String enc = ex.getRequestHeaders().getFirst("Content-Encoding");
        requests.incrementAndGet();
        encodings.add(enc == null ? "identity" : enc);
        if (body.length > 2 && body[0] == (byte) 0x1f && body[1] == (byte) 0x8b) {
          gzipBodies.incrementAndGet();
        }
        HttpRequest.Builder rb =
            HttpRequest.newBuilder(URI.create(target + ex.getRequestURI()))
                .timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        for (String h :
            List.of(
                "Content-Type",
                "Content-Encoding",
                "Connect-Protocol-Version",
                "Connect-Timeout-Ms",
                "x-client-id",
                "Authorization",
                "User-Agent")) {
          String v = ex.getRequestHeaders().getFirst(h);
          if (v != null) {
            rb.header(h, v);
          }
        }
        HttpResponse<byte[]> r;
        try {
          r = HTTP.send(rb.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException(e);
        }
        for (String h : List.of("Content-Type", "Content-Encoding", "Retry-After-Ms", "Retry-After")) {
          r.headers().firstValue(h).ifPresent(v -> ex.getResponseHeaders().add(h, v));
        }
        byte[] out = r.body();
        ex.sendResponseHeaders(r.statusCode(), out.length == 0 ? -1 : out.length);
        try (OutputStream os = ex.getResponseBody()) {
          os.write(out);
        }
      } finally {
        ex.close();
      }
    }

    @Override
    public void close() {
      http.stop(0);
      pool.shutdownNow();
    }
  }

  /** The one number sql answers. */
  private static long count(ServerProcess s, String sql) throws Exception {
    return Long.parseLong(s.query(sql).get(0).get(0).replaceAll("\\.0$", ""));
  }

  /** Polls until sql (a count(*)) answers want, or 60 s pass; returns the last answer. */
  private static long awaitCount(ServerProcess s, String sql, long want) throws Exception {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    long got;
    while (true) {
      got = count(s, sql);
      if (got >= want || System.nanoTime() > end) {
        return got;
      }
      Thread.sleep(200);
    }
  }

  /** JSON as the store gives it back (text or already parsed), with numbers as Double. */
  private static Object json(Object cell) {
    return normalize(cell instanceof String ? Json.parse((String) cell) : cell);
  }

  /** A Java value as its JSON form reads back: maps, lists, Doubles, strings, booleans, null. */
  static Object normalize(Object v) {
    if (v instanceof Map) {
      Map<String, Object> m = new HashMap<>();
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
        m.put((String) e.getKey(), normalize(e.getValue()));
      }
      return m;
    }
    if (v instanceof Iterable) {
      List<Object> l = new ArrayList<>();
      for (Object o : (Iterable<?>) v) {
        l.add(normalize(o));
      }
      return l;
    }
    if (v instanceof Object[]) {
      return normalize(List.of((Object[]) v));
    }
    if (v instanceof Number) {
      return ((Number) v).doubleValue();
    }
    return v;
  }

  private static Map<String, Event> byName(Iterable<Event> evs) {
    Map<String, Event> out = new HashMap<>();
    for (Event e : evs) {
      String k = e.getEventOfCase().name();
      if (e.hasTrackEvent()) {
        k = "track:" + e.getTrackEvent().getName();
      }
      out.put(k, e);
    }
    return out;
  }

  private List<Object> row(String sql) throws Exception {
    List<List<Object>> rows = server.queryValues(sql);
    assertEquals(1, rows.size(), "exactly one row for " + sql + ": " + rows);
    return rows.get(0);
  }

  @Test
  void everyCallLandsInItsTableWithItsPropertiesAndIdentityGzipped() throws Exception {
    proxy.reset();
    RecordingListener l = new RecordingListener();
    ConcurrentLinkedQueue<String> log = new ConcurrentLinkedQueue<>();
    EventGrpcClient c =
        EventGrpcClient.builder()
            .baseUrl(proxy.baseUrl())
            .clientId("java-generic")
            .listener(l)
            .logger(log::add)
            .gzipMinBytes(0) // every body, whatever its size
            .flushInterval(Duration.ofMillis(50))
            .build();
    String anon = c.anonymousId();
    Map<String, Object> props = GenericCallsTest.props();
    Map<String, Object> traits = new LinkedHashMap<>();
    traits.put("email", "ana@example.com");
    traits.put("logins", 3);
    traits.put("beta", true);
    traits.put("address", Map.of("city", "Zürich", "zip", "8001"));
    Map<String, Object> pageProps = new LinkedHashMap<>();
    pageProps.put("path", "/pricing");
    pageProps.put("referrer", null);
    pageProps.put("utm", List.of("spring", 2026));

    assertTrue(c.page("Pricing", pageProps));
    assertTrue(c.identify("u-java", traits));
    assertTrue(c.track("Order Completed", props, CallOptions.builder().context(Map.of("locale", "pt-BR")).build()));
    assertTrue(
        c.track("Shared Cart", Map.of("n", 1), CallOptions.builder().userId("u-other").anonymousId("anon-other").build()));
    assertTrue(c.screen("Cart", Map.of("items", 2)));
    assertTrue(c.group("acme-ltd", Map.of("name", "Acme Ltd", "employees", 120, "tags", List.of("b2b", "eu"))));
    assertTrue(c.alias("u-java", anon));
    assertTrue(c.close(Duration.ofSeconds(30)), "delivered: " + c.stats());
    assertEquals(7, c.stats().accepted(), c.stats() + " " + l.failures);

    assertTrue(proxy.requests.get() > 0);
    assertEquals(proxy.requests.get(), proxy.gzipBodies.get(), "every body gzipped: " + proxy.encodings);
    assertTrue(proxy.encodings.stream().allMatch("gzip"::equals), proxy.encodings.toString());
    assertTrue(log.stream().anyMatch(x -> x.contains("gzipped")), log.toString());

    Map<String, Event> ev = byName(l.accepted);
    for (Map.Entry<String, String> t :
        Map.of(
                "track:Order Completed", "tracks",
                "track:Shared Cart", "tracks",
                "PAGE_EVENT", "pages",
                "IDENTIFY_EVENT", "identifies",
                "SCREEN_EVENT", "screens",
                "GROUP_EVENT", "groups",
                "ALIAS_EVENT", "aliases")
            .entrySet()) {
      String id = ev.get(t.getKey()).getId();
      assertEquals(
          1,
          awaitCount(server, "SELECT count(*) FROM " + t.getValue() + " WHERE event_id = '" + id + "'", 1),
          t.getKey() + " stored once in " + t.getValue());
    }

    List<Object> page =
        row("SELECT user_id, anonymous_id, name, properties FROM pages WHERE event_id = '" + ev.get("PAGE_EVENT").getId() + "'");
    assertEquals("", page.get(0), "before identify: no user");
    assertEquals(anon, page.get(1));
    assertEquals("Pricing", page.get(2));
    assertEquals(normalize(pageProps), json(page.get(3)));

    List<Object> ident =
        row("SELECT user_id, anonymous_id, traits FROM identifies WHERE event_id = '" + ev.get("IDENTIFY_EVENT").getId() + "'");
    assertEquals(List.of("u-java", anon), ident.subList(0, 2));
    assertEquals(normalize(traits), json(ident.get(2)));

    List<Object> order =
        row(
            "SELECT user_id, anonymous_id, event, properties, context, client_id FROM tracks WHERE event_id = '"
                + ev.get("track:Order Completed").getId()
                + "'");
    assertEquals(List.of("u-java", anon, "Order Completed"), order.subList(0, 3), "identify is remembered");
    assertEquals(normalize(props), json(order.get(3)), "nested, numbers, booleans, arrays, null, unicode");
    assertEquals(normalize(Map.of("locale", "pt-BR")), json(order.get(4)));
    assertEquals("java-generic", order.get(5));

    List<Object> shared =
        row("SELECT user_id, anonymous_id FROM tracks WHERE event_id = '" + ev.get("track:Shared Cart").getId() + "'");
    assertEquals(List.of("u-other", "anon-other"), shared, "per-call identity wins");

    List<Object> screen =
        row("SELECT user_id, name, properties FROM screens WHERE event_id = '" + ev.get("SCREEN_EVENT").getId() + "'");
    assertEquals(List.of("u-java", "Cart"), screen.subList(0, 2));
    assertEquals(normalize(Map.of("items", 2)), json(screen.get(2)));

    List<Object> group =
        row("SELECT user_id, group_id, traits FROM groups WHERE event_id = '" + ev.get("GROUP_EVENT").getId() + "'");
    assertEquals(List.of("u-java", "acme-ltd"), group.subList(0, 2));
    assertEquals(
        normalize(Map.of("name", "Acme Ltd", "employees", 120, "tags", List.of("b2b", "eu"))), json(group.get(2)));

    List<Object> alias =
        row("SELECT user_id, previous_id FROM aliases WHERE event_id = '" + ev.get("ALIAS_EVENT").getId() + "'");
    assertEquals(List.of("u-java", anon), alias);
  }

  @Test
  void smallBodiesTravelAsTheyAreAndGzipCanBeTurnedOff() throws Exception {
    proxy.reset();
    EventGrpcClient c = EventGrpcClient.builder().baseUrl(proxy.baseUrl()).gzip(false).build();
    String id = "plain-" + UUID.randomUUID();
    c.track("Plain", GenericCallsTest.props(), CallOptions.builder().messageId(id).build());
    assertTrue(c.close(Duration.ofSeconds(30)), c.stats().toString());
    assertEquals(List.of("identity"), new ArrayList<>(proxy.encodings), "gzip off");
    assertEquals(0, proxy.gzipBodies.get());
    assertEquals(1, awaitCount(server, "SELECT count(*) FROM tracks WHERE event_id = '" + id + "'", 1));

    proxy.reset();
    EventGrpcClient small = EventGrpcClient.builder().baseUrl(proxy.baseUrl()).build();
    String tiny = "tiny-" + UUID.randomUUID();
    small.track("Tiny", null, CallOptions.builder().messageId(tiny).build());
    assertTrue(small.close(Duration.ofSeconds(30)), small.stats().toString());
    assertEquals(List.of("identity"), new ArrayList<>(proxy.encodings), "a body under gzipMinBytes (1024)");
    assertEquals(1, awaitCount(server, "SELECT count(*) FROM tracks WHERE event_id = '" + tiny + "'", 1));
  }

  @Test
  void anOptedOutClientSendsNothing() throws Exception {
    proxy.reset();
    Path dir = tmp.resolve("opted-out");
    EventGrpcClient c =
        EventGrpcClient.builder().baseUrl(proxy.baseUrl()).storageDir(dir).flushInterval(Duration.ofMillis(10)).build();
    c.optOut(true);
    String tag = "optout-" + UUID.randomUUID();
    for (int i = 0; i < 20; i++) {
      assertFalse(c.track("Opted Out", Map.of("i", i), CallOptions.builder().messageId(tag + "-" + i).build()));
    }
    assertFalse(c.identify("u-x", Map.of()));
    assertTrue(c.close(Duration.ofSeconds(5)));
    EventGrpcClient again = EventGrpcClient.builder().baseUrl(proxy.baseUrl()).storageDir(dir).build();
    assertTrue(again.isOptedOut(), "kept across a restart");
    assertFalse(again.page("p", Map.of(), CallOptions.builder().messageId(tag + "-page").build()));
    assertTrue(again.close(Duration.ofSeconds(5)));
    assertEquals(0, proxy.requests.get(), "no request at all");
    assertEquals(0, count(server, "SELECT count(*) FROM tracks WHERE event_id LIKE '" + tag + "%'"));
  }

  @Test
  void eventsBufferedWhileTheServerIsDownSurviveAClientRestart() throws Exception {
    ServerProcess late = new ServerProcess(portBase + 2, portBase + 3, Map.of());
    Path dir = tmp.resolve("offline");
    String tag = "offline-" + UUID.randomUUID();
    int n = 50;
    try {
      RecordingListener l = new RecordingListener();
      EventGrpcClient a =
          EventGrpcClient.builder()
              .baseUrl(late.baseUrl())
              .storageDir(dir)
              .listener(l)
              .flushInterval(Duration.ofMillis(20))
              .initialBackoff(Duration.ofMillis(50))
              .maxBackoff(Duration.ofMillis(200))
              .build();
      String anon = a.anonymousId();
      a.identify("u-offline", Map.of("tier", "gold"), CallOptions.builder().messageId(tag + "-identify").build());
      for (int i = 0; i < n; i++) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("i", i);
        p.put("label", "événement " + i);
        p.put("list", List.of(i, true, Map.of("k", "v")));
        a.track("Offline Event", p, CallOptions.builder().messageId(tag + "-" + i).build());
      }
      EventGrpcClientTest.waitFor(() -> a.stats().retries() >= 2, "retries while the server is down");
      assertFalse(a.close(Duration.ofMillis(300)), "nothing could be delivered");
      Stats sa = a.stats();
      assertEquals(n + 1, sa.saved(), sa.toString());
      assertEquals(0, sa.accepted() + sa.failed(), sa.toString());
      assertTrue(Files.size(dir.resolve(Storage.BUFFER)) > 0);

      late.start();
      EventGrpcClient b = EventGrpcClient.builder().baseUrl(late.baseUrl()).storageDir(dir).build();
      assertEquals(anon, b.anonymousId());
      assertEquals("u-offline", b.userId());
      assertTrue(b.close(Duration.ofSeconds(60)), "delivered: " + b.stats());
      Stats sb = b.stats();
      assertEquals(n + 1, sb.restored(), sb.toString());
      assertEquals(n + 1, sb.accepted(), sb.toString());
      assertFalse(Files.exists(dir.resolve(Storage.BUFFER)), "emptied once delivered");

      assertEquals(
          n, awaitCount(late, "SELECT count(*) FROM tracks WHERE event_id LIKE '" + tag + "-%'", n));
      String where = " FROM tracks WHERE event_id LIKE '" + tag + "-%'";
      assertEquals(n, count(late, "SELECT count(*)" + where), "each once");
      assertEquals(n, count(late, "SELECT count(DISTINCT event_id)" + where));
      assertEquals(1, count(late, "SELECT count(DISTINCT user_id)" + where), "the identity of the moment");
      assertEquals(1, count(late, "SELECT count(DISTINCT anonymous_id)" + where));
      List<List<Object>> r =
          late.queryValues(
              "SELECT user_id, anonymous_id, properties FROM tracks WHERE event_id = '" + tag + "-7'");
      assertEquals("u-offline", r.get(0).get(0));
      assertEquals(anon, r.get(0).get(1));
      assertEquals(normalize(Map.of("i", 7, "label", "événement 7", "list", List.of(7, true, Map.of("k", "v")))), json(r.get(0).get(2)));
      assertEquals(
          1, awaitCount(late, "SELECT count(*) FROM identifies WHERE event_id = '" + tag + "-identify'", 1));
    } finally {
      late.stop();
    }
  }
}
