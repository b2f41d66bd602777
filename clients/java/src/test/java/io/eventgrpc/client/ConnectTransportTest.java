package io.eventgrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import io.eventgrpc.v1.Events;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The Connect error mapping. The requests themselves are tested against the
 * real service in EventGrpcServerIT.
 */
class ConnectTransportTest {
  private static final Map<String, List<String>> NO_HEADERS = Map.of();

  static byte[] retryInfo(long seconds, int nanos) throws IOException {
    byte[] dur =
        com.google.protobuf.Duration.newBuilder().setSeconds(seconds).setNanos(nanos).build().toByteArray();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    CodedOutputStream c = CodedOutputStream.newInstance(out);
    c.writeBytes(1, ByteString.copyFrom(dur));
    c.flush();
    return out.toByteArray();
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void connectErrorWithRetryInfo() throws IOException {
    String value = Base64.getEncoder().withoutPadding().encodeToString(retryInfo(1, 500_000_000));
    String body =
        "{\"code\":\"resource_exhausted\",\"message\":\"ingest queue is full\","
            + "\"details\":[{\"type\":\"google.rpc.RetryInfo\",\"value\":\"" + value + "\"}]}";
    EventGrpcException e =
        ConnectTransport.errorOf(429, "application/json", utf8(body), Map.of("retry-after-ms", List.of("9")));
    assertEquals(Code.RESOURCE_EXHAUSTED, e.code());
    assertEquals(429, e.httpStatus());
    assertEquals(Duration.ofMillis(1500), e.retryAfter().orElseThrow(), "the detail wins over the header");
    assertTrue(e.isRetryable());
    assertEquals("resource_exhausted: ingest queue is full", e.getMessage());
  }

  @Test
  void connectErrorWithHeaderHint() {
    String body = "{\"code\":\"unavailable\",\"message\":\"broker down\"}";
    EventGrpcException e =
        ConnectTransport.errorOf(503, "application/json", utf8(body), Map.of("Retry-After-Ms", List.of("250")));
    assertEquals(Code.UNAVAILABLE, e.code());
    assertEquals(Duration.ofMillis(250), e.retryAfter().orElseThrow());
  }

  @Test
  void codeInTheBodyWinsOverTheStatus() {
    String body = "{\"code\":\"invalid_argument\",\"message\":\"too many events\"}";
    EventGrpcException e = ConnectTransport.errorOf(400, "application/json; charset=utf-8", utf8(body), NO_HEADERS);
    assertEquals(Code.INVALID_ARGUMENT, e.code());
    assertFalse(e.isRetryable());
    assertFalse(e.retryAfter().isPresent());
  }

  @Test
  void middlewareRefusalsMapByStatus() {
    // The service's rate limiter and authenticator answer {"error": "..."}.
    EventGrpcException limited =
        ConnectTransport.errorOf(
            429, "application/json", utf8("{\"error\":\"rate limit of 1 requests/s exceeded\"}"),
            Map.of("Retry-After", List.of("2")));
    assertEquals(Code.UNAVAILABLE, limited.code(), "429 without a Connect body is unavailable (Connect spec)");
    assertTrue(limited.isRetryable());
    assertEquals(Duration.ofSeconds(2), limited.retryAfter().orElseThrow());
    assertTrue(limited.getMessage().contains("rate limit"), limited.getMessage());

    EventGrpcException denied =
        ConnectTransport.errorOf(401, "application/json", utf8("{\"error\":\"x-client-id and key do not match\"}"), NO_HEADERS);
    assertEquals(Code.UNAUTHENTICATED, denied.code());
    assertFalse(denied.isRetryable());
  }

  @Test
  void proxyErrorsMapByStatus() {
    assertEquals(Code.UNAVAILABLE, ConnectTransport.errorOf(502, "text/html", utf8("<html>bad gateway</html>"), NO_HEADERS).code());
    assertEquals(Code.UNAVAILABLE, ConnectTransport.errorOf(504, "", new byte[0], NO_HEADERS).code());
    assertEquals(Code.UNIMPLEMENTED, ConnectTransport.errorOf(404, "text/plain", utf8("404 page not found"), NO_HEADERS).code());
    assertEquals(Code.UNKNOWN, ConnectTransport.errorOf(413, "text/plain", utf8("too large"), NO_HEADERS).code());
    assertEquals(Code.INTERNAL, ConnectTransport.errorOf(400, "application/json", utf8("not json"), NO_HEADERS).code());
    EventGrpcException e = ConnectTransport.errorOf(500, "text/plain", utf8("x".repeat(1000)), NO_HEADERS);
    assertTrue(e.getMessage().length() < 300, "long bodies are cut: " + e.getMessage().length());
  }

  @Test
  void retryAfterAsHttpDate() {
    String date =
        java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME.format(
            java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC).plusSeconds(30));
    Duration d = ConnectTransport.headerHint(Map.of("retry-after", List.of(date)));
    assertTrue(d.compareTo(Duration.ofSeconds(25)) > 0 && d.compareTo(Duration.ofSeconds(31)) <= 0, d.toString());
    assertEquals(null, ConnectTransport.headerHint(Map.of("retry-after", List.of("soon"))));
  }

  @Test
  void malformedRetryInfoIsNoHint() {
    String body =
        "{\"code\":\"unavailable\",\"details\":[{\"type\":\"google.rpc.RetryInfo\",\"value\":\"!!!\"},"
            + "{\"type\":\"google.rpc.ErrorInfo\",\"value\":\"CgIIAg\"}]}";
    EventGrpcException e =
        ConnectTransport.errorOf(503, "application/json", utf8(body), Map.of("retry-after", List.of("3")));
    assertEquals(Duration.ofSeconds(3), e.retryAfter().orElseThrow(), "falls back to the header");
  }

  @Test
  void connectionRefusedIsUnavailable() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort(); // closed again: nothing listens there
    }
    ConnectTransport t =
        new ConnectTransport(
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build(),
            "http://127.0.0.1:" + port + "/", "c", null, "test");
    assertEquals("http://127.0.0.1:" + port + ConnectTransport.PATH, t.uri().toString());
    EventGrpcException e =
        assertThrows(EventGrpcException.class, () -> t.dispatch(Events.getDefaultInstance(), Duration.ofSeconds(5)));
    assertEquals(Code.UNAVAILABLE, e.code());
    assertEquals(0, e.httpStatus());
    assertTrue(e.isRetryable());
  }
}
