package io.eventgrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ListValue;
import com.google.protobuf.NullValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.eventgrpc.v1.Event;
import io.eventgrpc.v1.EventResult;
import io.eventgrpc.v1.Events;
import io.eventgrpc.v1.Response;
import io.eventgrpc.v1.ResultCode;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The generic calls, identity, opt-out, the storage directory and the
 * per-event retry decision, against the in-memory transport.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GenericCallsTest {
  @TempDir Path tmp;

  private static EventGrpcClient.Builder client(FakeTransport t, Listener l) {
    return EventGrpcClient.builder()
        .transport(t)
        .listener(l)
        .flushInterval(Duration.ofSeconds(30))
        .initialBackoff(Duration.ofMillis(5))
        .maxBackoff(Duration.ofMillis(20));
  }

  static Map<String, Object> props() {
    Map<String, Object> item = new LinkedHashMap<>();
    item.put("sku", "é-42");
    item.put("price", 19.99);
    item.put("qty", 2);
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("revenue", 49.5);
    p.put("count", 3L);
    p.put("paid", true);
    p.put("coupon", null);
    p.put("items", List.of(item, Map.of("sku", "b", "price", 0)));
    p.put("tags", new String[] {"x", "日本語", "🚀"});
    p.put("nested", Map.of("a", Map.of("b", List.of(1, false, "c"))));
    return p;
  }

  private static List<Event> sent(FakeTransport t) {
    List<Event> out = new ArrayList<>();
    for (Events b : t.batches) {
      out.addAll(b.getEventsList());
    }
    return out;
  }

  @Test
  void structsConvertEveryJsonShapeAndNameTheBadPath() {
    Struct s = Structs.of(props());
    assertEquals(49.5, s.getFieldsOrThrow("revenue").getNumberValue());
    assertEquals(3.0, s.getFieldsOrThrow("count").getNumberValue());
    assertTrue(s.getFieldsOrThrow("paid").getBoolValue());
    assertEquals(NullValue.NULL_VALUE, s.getFieldsOrThrow("coupon").getNullValue());
    ListValue items = s.getFieldsOrThrow("items").getListValue();
    assertEquals("é-42", items.getValues(0).getStructValue().getFieldsOrThrow("sku").getStringValue());
    assertEquals(2.0, items.getValues(0).getStructValue().getFieldsOrThrow("qty").getNumberValue());
    assertEquals(
        List.of("x", "日本語", "🚀"),
        Arrays.asList(
            s.getFieldsOrThrow("tags").getListValue().getValuesList().stream()
                .map(Value::getStringValue)
                .toArray()));
    Value deep =
        s.getFieldsOrThrow("nested").getStructValue().getFieldsOrThrow("a").getStructValue().getFieldsOrThrow("b");
    assertFalse(deep.getListValue().getValues(1).getBoolValue());
    assertEquals(Struct.getDefaultInstance(), Structs.of(null));

    Map<String, Object> bad = new LinkedHashMap<>();
    bad.put("items", List.of(Map.of("price", new Object())));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Structs.of(bad));
    assertTrue(e.getMessage().startsWith("properties.items[0].price: a java.lang.Object"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Structs.of(Map.of("x", Double.NaN)));
    assertTrue(e.getMessage().contains("properties.x"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Structs.of(Map.of(1, "x")));
    assertTrue(e.getMessage().contains("keys must be Strings"), e.getMessage());
    Map<String, Object> cycle = new LinkedHashMap<>();
    cycle.put("self", cycle);
    e = assertThrows(IllegalArgumentException.class, () -> Structs.of(cycle));
    assertTrue(e.getMessage().contains("deeper than"), e.getMessage());
  }

  @Test
  void everyCallBuildsItsEventWithTheIdentityOfTheMoment() throws Exception {
    FakeTransport t = new FakeTransport();
    EventGrpcClient c = client(t, new RecordingListener()).build();
    String anon = c.anonymousId();
    assertEquals(36, anon.length());
    assertEquals(null, c.userId());

    assertTrue(c.page("Home", Map.of("path", "/")));
    assertTrue(c.identify("u-1", Map.of("plan", "pro")));
    assertEquals("u-1", c.userId());
    assertTrue(c.track("Order Completed", props()));
    Instant when = Instant.parse("2026-01-02T03:04:05.678Z");
    assertTrue(
        c.track(
            "Refund",
            Map.of(),
            CallOptions.builder()
                .userId("u-2")
                .anonymousId("anon-x")
                .messageId("msg-1")
                .timestamp(when)
                .context(Map.of("locale", "fr-FR"))
                .integrations(Map.of("All", false))
                .build()));
    assertTrue(c.screen("Cart", null));
    assertTrue(c.group("acme", Map.of("employees", 12)));
    assertTrue(c.alias("u-9", null));
    c.reset();
    assertNotEquals(anon, c.anonymousId());
    assertEquals(null, c.userId());
    assertTrue(c.track("After Logout", null));
    c.flush();

    List<Event> evs = sent(t);
    assertEquals(8, evs.size());
    Event page = evs.get(0);
    assertEquals("Home", page.getPageEvent().getName());
    assertEquals("", page.getUserId(), "nobody identified yet");
    assertEquals(anon, page.getAnonymousId());
    assertEquals("pro", evs.get(1).getIdentifyEvent().getTraits().getFieldsOrThrow("plan").getStringValue());
    assertEquals("u-1", evs.get(1).getUserId());
    Event order = evs.get(2);
    assertEquals("Order Completed", order.getTrackEvent().getName());
    assertEquals(Structs.of(props()), order.getTrackEvent().getProperties());
    assertEquals("u-1", order.getUserId(), "identify is remembered");
    assertEquals(anon, order.getAnonymousId());
    assertEquals(36, order.getId().length(), "a UUIDv7 by default");
    Event refund = evs.get(3);
    assertEquals("u-2", refund.getUserId(), "per-call user wins");
    assertEquals("anon-x", refund.getAnonymousId());
    assertEquals("msg-1", refund.getId());
    assertEquals(Long.toString(when.toEpochMilli()), refund.getTimestamp());
    assertEquals("fr-FR", refund.getContext().getFieldsOrThrow("locale").getStringValue());
    assertFalse(refund.getIntegrations().getFieldsOrThrow("All").getBoolValue());
    assertEquals("Cart", evs.get(4).getScreenEvent().getName());
    assertEquals("acme", evs.get(5).getGroupEvent().getGroupId());
    assertEquals("u-1", evs.get(5).getUserId());
    assertEquals("u-9", evs.get(6).getUserId());
    assertEquals("u-1", evs.get(6).getAliasEvent().getPreviousId(), "previousId defaults to the current user");
    Event after = evs.get(7);
    assertEquals("", after.getUserId(), "reset forgets the user");
    assertEquals(c.anonymousId(), after.getAnonymousId());
    assertTrue(c.close(Duration.ofSeconds(5)));
  }

  @Test
  void typedEventsGetTheIdentityWhenTheyHaveNone() throws Exception {
    FakeTransport t = new FakeTransport();
    EventGrpcClient c = client(t, new RecordingListener()).build();
    c.identify("u-1", null);
    c.track(TestEvents.test("typed", 1));
    c.track(TestEvents.test("typed", 2).toBuilder().setUserId("own").setAnonymousId("own-anon").build());
    assertTrue(c.close(Duration.ofSeconds(5)));
    List<Event> evs = sent(t);
    assertEquals(List.of("u-1", c.anonymousId()), List.of(evs.get(1).getUserId(), evs.get(1).getAnonymousId()));
    assertEquals(List.of("own", "own-anon"), List.of(evs.get(2).getUserId(), evs.get(2).getAnonymousId()));
  }

  @Test
  void badCallsFailNamingTheProblem() {
    EventGrpcClient c = client(new FakeTransport(), new RecordingListener()).build();
    assertEquals(
        "track: name is required (non-empty)",
        assertThrows(IllegalArgumentException.class, () -> c.track("", Map.of())).getMessage());
    assertThrows(IllegalArgumentException.class, () -> c.group(null, Map.of()));
    assertThrows(IllegalArgumentException.class, () -> c.alias("", "x"));
    assertThrows(IllegalArgumentException.class, () -> c.identify("", Map.of()));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> c.track("x", Map.of("when", new Object())));
    assertTrue(e.getMessage().startsWith("properties.when:"), e.getMessage());
    assertEquals(0, c.stats().tracked(), "nothing queued");
    c.close(Duration.ofSeconds(1));
  }

  /** Records the code of each rejection. */
  static final class CodeListener extends RecordingListener {
    final Map<String, ResultCode> codes = new ConcurrentHashMap<>();

    @Override
    public void onRejected(Event event, ResultCode code, String reason) {
      codes.put(event.getId(), code);
      super.onRejected(event, code, reason);
    }
  }

  private static EventResult result(int i, Event e, ResultCode code, boolean retryable, String reason) {
    return EventResult.newBuilder()
        .setIndex(i)
        .setEventId(e.getId())
        .setCode(code)
        .setRetryable(retryable)
        .setReason(reason)
        .build();
  }

  @Test
  void theResultsRetryableFieldDecidesNotTheReasonsText() throws Exception {
    // Call 1: "perm" says UNAVAILABLE: in its text but is INVALID and not
    // retryable; "busy" is retryable whatever its text; "old" comes from a
    // service older than the code (UNSPECIFIED) and its prefix decides.
    FakeTransport t =
        new FakeTransport()
            .script(
                (call, batch) -> {
                  Response.Builder r = Response.newBuilder();
                  for (int i = 0; i < batch.getEventsCount(); i++) {
                    Event e = batch.getEvents(i);
                    String name = e.getTrackEvent().getName();
                    if (name.equals("perm")) {
                      r.addResults(result(i, e, ResultCode.RESULT_CODE_INVALID, false, "UNAVAILABLE: looks transient"));
                    } else if (call == 1 && name.equals("busy")) {
                      r.addResults(result(i, e, ResultCode.RESULT_CODE_UNAVAILABLE, true, "broker slow"));
                    } else if (call == 1 && name.equals("old")) {
                      r.addResults(
                          result(i, e, ResultCode.RESULT_CODE_UNSPECIFIED, false, "UNAVAILABLE: publish timed out"));
                    } else {
                      r.addResults(
                          EventResult.newBuilder()
                              .setIndex(i)
                              .setEventId(e.getId())
                              .setAccepted(true)
                              .setCode(ResultCode.RESULT_CODE_ACCEPTED));
                    }
                  }
                  return r.build();
                });
    CodeListener l = new CodeListener();
    ConcurrentLinkedQueue<String> lines = new ConcurrentLinkedQueue<>();
    EventGrpcClient c = client(t, l).logger(lines::add).build();
    c.track("perm", null);
    c.track("busy", null);
    c.track("old", null);
    c.track("fine", null);
    assertTrue(c.close(Duration.ofSeconds(5)));
    assertEquals(2, t.calls());
    Map<String, Integer> byName = new LinkedHashMap<>();
    for (Event e : sent(t)) {
      byName.merge(e.getTrackEvent().getName(), 1, Integer::sum);
    }
    assertEquals(Map.of("perm", 1, "busy", 2, "old", 2, "fine", 1), byName);
    assertEquals(1, l.rejected.size(), "reported once");
    assertEquals(List.of(ResultCode.RESULT_CODE_INVALID), new ArrayList<>(l.codes.values()));
    assertEquals("UNAVAILABLE: looks transient", l.rejected.values().iterator().next());
    Stats s = c.stats();
    assertEquals(3, s.accepted(), s.toString());
    assertEquals(1, s.rejected(), s.toString());
    assertEquals(1, s.retries(), s.toString());
    assertTrue(lines.stream().anyMatch(x -> x.startsWith("rejected ") && x.contains("RESULT_CODE_INVALID")), lines.toString());
    assertTrue(lines.stream().anyMatch(x -> x.startsWith("retry 1 of 2 events")), lines.toString());
  }

  @Test
  void optedOutNothingIsQueuedOrSentAndItIsKept() throws Exception {
    FakeTransport t = new FakeTransport();
    RecordingListener l = new RecordingListener();
    ConcurrentLinkedQueue<String> lines = new ConcurrentLinkedQueue<>();
    EventGrpcClient c = client(t, l).storageDir(tmp).logger(lines::add).build();
    assertTrue(c.track("queued", null));
    assertTrue(c.identify("u-1", null));
    c.optOut(true);
    assertTrue(c.isOptedOut());
    assertEquals(2, l.dropped.size(), "what was queued is dropped");
    assertTrue(l.dropped.values().stream().allMatch(r -> r == DropReason.OPTED_OUT));
    assertFalse(c.track("x", Map.of("a", 1)));
    assertFalse(c.page("p", null));
    assertFalse(c.track(TestEvents.test("typed", 1)));
    assertTrue(c.flush(Duration.ofSeconds(5)), "flush does not wait for dropped events");
    assertTrue(c.close(Duration.ofSeconds(5)));
    assertEquals(0, t.calls(), "nothing sent");
    assertEquals(2, c.stats().tracked(), "calls while opted out count nothing");
    assertFalse(Files.exists(tmp.resolve(Storage.BUFFER)));
    assertTrue(lines.stream().anyMatch(x -> x.startsWith("opted out: dropped 2")), lines.toString());

    EventGrpcClient again = client(t, l).storageDir(tmp).build();
    assertTrue(again.isOptedOut(), "the opt-out outlives the client");
    assertFalse(again.track("x", null));
    again.optOut(false);
    assertTrue(again.track("back", null));
    assertTrue(again.close(Duration.ofSeconds(5)));
    assertEquals(1, t.calls());
    assertEquals("u-1", sent(t).get(0).getUserId(), "the identity was kept too");
  }

  @Test
  void unconfirmedEventsAreSavedAtCloseAndSentByTheNextClient() throws Exception {
    FakeTransport down =
        new FakeTransport().script((call, batch) -> {
          throw FakeTransport.refusal(Code.UNAVAILABLE, null);
        });
    RecordingListener l1 = new RecordingListener();
    EventGrpcClient a = client(down, l1).storageDir(tmp).flushInterval(Duration.ofMillis(5)).build();
    String anon = a.anonymousId();
    Set<String> ids = new HashSet<>();
    for (int i = 0; i < 20; i++) {
      String id = "offline-" + i;
      ids.add(id);
      a.track("Offline", Map.of("i", i), CallOptions.builder().messageId(id).build());
    }
    EventGrpcClientTest.waitFor(() -> a.stats().retries() >= 2, "retries while the service is down");
    assertTrue(Files.size(tmp.resolve(Storage.BUFFER)) > 0, "a snapshot before the backoff");
    assertFalse(a.close(Duration.ofMillis(200)), "not delivered");
    Stats s = a.stats();
    assertEquals(20, s.saved(), s.toString());
    assertEquals(0, s.failed(), s.toString());
    assertEquals(s.tracked(), s.accepted() + s.rejected() + s.dropped() + s.failed() + s.saved() + s.pending());

    FakeTransport up = new FakeTransport();
    RecordingListener l2 = new RecordingListener();
    EventGrpcClient b = client(up, l2).storageDir(tmp).build();
    assertEquals(anon, b.anonymousId(), "the anonymous id is kept");
    assertEquals(20, b.stats().restored());
    assertTrue(b.close(Duration.ofSeconds(5)));
    assertEquals(ids, up.stored.keySet());
    assertEquals(Map.of("i", 7.0), Map.of("i", up.stored.get("offline-7").getTrackEvent().getProperties().getFieldsOrThrow("i").getNumberValue()));
    assertFalse(Files.exists(tmp.resolve(Storage.BUFFER)), "emptied once delivered");
    Stats s2 = b.stats();
    assertEquals(s2.restored(), s2.accepted(), s2.toString());

    EventGrpcClient c = client(up, l2).storageDir(tmp).build();
    assertEquals(0, c.stats().restored(), "nothing twice");
    c.close(Duration.ofSeconds(1));
  }

  private static String location(Class<?> c) throws Exception {
    return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
  }

  @Test
  void theShutdownHookSavesWhatAnExitingProcessCouldNotDeliver() throws Exception {
    String cp =
        String.join(
            java.io.File.pathSeparator,
            location(ExitHookMain.class),
            location(EventGrpcClient.class),
            location(Event.class),
            location(com.google.protobuf.Message.class));
    Path javaBin = Path.of(System.getProperty("java.home"), "bin", "java");
    // Port 9 (discard) on loopback: connection refused, the service is "down".
    Process p =
        new ProcessBuilder(
                javaBin.toString(), "-cp", cp, ExitHookMain.class.getName(), tmp.toString(), "http://127.0.0.1:9", "50")
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertTrue(p.waitFor(30, TimeUnit.SECONDS), out);
    assertEquals(0, p.exitValue(), out);
    assertTrue(Files.size(tmp.resolve(Storage.BUFFER)) > 0, out);

    FakeTransport up = new FakeTransport();
    EventGrpcClient c = client(up, new RecordingListener()).storageDir(tmp).build();
    assertEquals(50, c.stats().restored(), out);
    assertTrue(c.close(Duration.ofSeconds(5)));
    Set<String> want = new HashSet<>();
    for (int i = 0; i < 50; i++) {
      want.add("hook-" + i);
    }
    assertEquals(want, up.stored.keySet());
  }

  @Test
  void aDamagedBufferFileGivesBackWhatPrecedesTheDamage() throws Exception {
    try (OutputStream out = Files.newOutputStream(tmp.resolve(Storage.BUFFER))) {
      for (int i = 0; i < 3; i++) {
        Event.newBuilder().setId("e-" + i).setTimestamp("1").setTrackEvent(io.eventgrpc.v1.TrackEvent.newBuilder().setName("n")).build().writeDelimitedTo(out);
      }
      out.write(new byte[] {0x7f, 1, 2}); // a torn write
    }
    FakeTransport t = new FakeTransport();
    ConcurrentLinkedQueue<String> lines = new ConcurrentLinkedQueue<>();
    EventGrpcClient c = client(t, new RecordingListener()).storageDir(tmp).logger(lines::add).build();
    assertEquals(3, c.stats().restored());
    assertTrue(c.close(Duration.ofSeconds(5)));
    assertEquals(Set.of("e-0", "e-1", "e-2"), t.stored.keySet());
    assertTrue(lines.stream().anyMatch(x -> x.contains("damaged after 3 events")), lines.toString());
    assertEquals(1, c.stats().storageErrors());
  }

  @Test
  void oneOpenClientPerStorageDir() throws Exception {
    EventGrpcClient a = client(new FakeTransport(), new RecordingListener()).storageDir(tmp).build();
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () -> client(new FakeTransport(), new RecordingListener()).storageDir(tmp).build());
    assertTrue(e.getMessage().contains("in use by another open client"), e.getMessage());
    assertTrue(a.close(Duration.ofSeconds(5)));
    client(new FakeTransport(), new RecordingListener()).storageDir(tmp).build().close(Duration.ofSeconds(5));
  }

  @Test
  void gzipRoundTrips() throws Exception {
    byte[] raw = Events.newBuilder().addEvents(TestEvents.test("g", 1)).build().toByteArray();
    byte[] z = ConnectTransport.gzip(raw);
    assertEquals((byte) 0x1f, z[0]);
    assertEquals((byte) 0x8b, z[1]);
    try (java.util.zip.GZIPInputStream in = new java.util.zip.GZIPInputStream(new java.io.ByteArrayInputStream(z))) {
      assertEquals(Arrays.toString(raw), Arrays.toString(in.readAllBytes()));
    }
  }
}
