package io.eventgrpc.client;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.WireFormat;
import io.eventgrpc.v1.Events;
import io.eventgrpc.v1.Response;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * {@code EventService.dispatch} over the Connect protocol's unary calls:
 * the batch as binary protobuf in an HTTP POST to {@code
 * BASE/eventgrpc.v1.EventService/dispatch} with {@code Content-Type:
 * application/proto} and {@code Connect-Protocol-Version: 1}; the answer is
 * a protobuf {@code Response} (200) or a Connect error, a JSON body {@code
 * {"code": …, "message": …, "details": […]}}. An HTTP error whose body is
 * not a Connect error (from a proxy, or the service's middleware) is mapped
 * from its status as the Connect protocol specifies. Credentials go in
 * {@code x-client-id} and {@code Authorization: Bearer KEY}.
 *
 * <p>A body of at least {@code gzipMinBytes} bytes is sent gzipped with
 * {@code Content-Encoding: gzip} (the Connect protocol's unary
 * compression, which the service accepts); a negative {@code gzipMinBytes}
 * sends every body as it is. An answer with {@code Content-Encoding: gzip}
 * (the service compresses the answer to a gzipped request) is
 * decompressed, still bounded by {@link #MAX_ANSWER_BYTES}.
 *
 * <p>The retry hint is read, first found wins, from a {@code
 * google.rpc.RetryInfo} error detail, a {@code retry-after-ms} header
 * (milliseconds), or a {@code Retry-After} header (seconds or an HTTP date).
 *
 * <p>Safe for concurrent use. Answers are read up to {@link
 * #MAX_ANSWER_BYTES}; a longer one is an error.
 */
final class ConnectTransport implements Transport {
  /** The Connect path of dispatch. */
  static final String PATH = "/eventgrpc.v1.EventService/dispatch";
  /** The largest answer read. */
  static final int MAX_ANSWER_BYTES = 8 << 20;

  private static final String RETRY_INFO = "google.rpc.RetryInfo";

  private final HttpClient http;
  private final URI uri;
  private final String clientId;
  private final String authorization;
  private final String userAgent;
  private final int gzipMinBytes;
  private final Consumer<String> log; // null: no debug log

  ConnectTransport(HttpClient http, String baseUrl, String clientId, String apiKey, String userAgent) {
    this(http, baseUrl, clientId, apiKey, userAgent, -1, null);
  }

  ConnectTransport(
      HttpClient http,
      String baseUrl,
      String clientId,
      String apiKey,
      String userAgent,
      int gzipMinBytes,
      Consumer<String> log) {
    this.gzipMinBytes = gzipMinBytes;
    this.log = log;
    this.http = http;
    String base = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
    this.uri = URI.create(base + PATH);
    this.clientId = clientId;
    this.authorization = apiKey == null ? null : "Bearer " + apiKey;
    this.userAgent = userAgent;
  }

  URI uri() {
    return uri;
  }

  @Override
  public Response dispatch(Events batch, Duration timeout)
      throws EventGrpcException, InterruptedException {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(uri)
            .timeout(timeout)
            .header("Content-Type", "application/proto")
            .header("Connect-Protocol-Version", "1")
            .header("Connect-Timeout-Ms", Long.toString(Math.max(1, timeout.toMillis())))
            .header("User-Agent", userAgent);
    byte[] raw = batch.toByteArray();
    byte[] payload = raw;
    if (gzipMinBytes >= 0 && raw.length >= gzipMinBytes) {
      payload = gzip(raw);
      b.header("Content-Encoding", "gzip");
    }
    if (log != null) {
      log.accept(
          "POST "
              + uri
              + ": "
              + batch.getEventsCount()
              + " events, "
              + raw.length
              + " bytes"
              + (payload != raw ? ", " + payload.length + " gzipped" : ""));
    }
    b.POST(HttpRequest.BodyPublishers.ofByteArray(payload));
    if (clientId != null) {
      b.header("x-client-id", clientId);
    }
    if (authorization != null) {
      b.header("Authorization", authorization);
    }
    HttpResponse<InputStream> resp;
    byte[] body;
    try {
      resp = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
      InputStream in = resp.body();
      // The service answers a gzipped request gzipped (Connect's unary
      // compression), and proxies may compress answers too.
      if (resp.headers().firstValue("Content-Encoding").map(v -> v.strip().equalsIgnoreCase("gzip")).orElse(false)) {
        in = new GZIPInputStream(in, 8192);
      }
      body = readBounded(in);
    } catch (HttpTimeoutException e) {
      throw new EventGrpcException(
          Code.DEADLINE_EXCEEDED, "no answer from " + uri + " within " + timeout, 0, null, e);
    } catch (IOException e) {
      throw new EventGrpcException(
          Code.UNAVAILABLE, "request to " + uri + " failed: " + e, 0, null, e);
    }
    int status = resp.statusCode();
    String type = resp.headers().firstValue("Content-Type").orElse("").toLowerCase(Locale.ROOT);
    if (status == 200) {
      if (!type.startsWith("application/proto")) {
        throw new EventGrpcException(
            Code.INTERNAL,
            uri + " answered 200 with Content-Type \"" + type + "\", not application/proto"
                + " (is the base URL the service's HTTP port?)",
            status,
            null,
            null);
      }
      try {
        return Response.parseFrom(body);
      } catch (InvalidProtocolBufferException e) {
        throw new EventGrpcException(
            Code.INTERNAL, "the answer is not a Response message: " + e.getMessage(), status, null, e);
      }
    }
    throw errorOf(status, type, body, resp.headers().map());
  }

  /** The gzip of b (package-private for tests). */
  static byte[] gzip(byte[] b) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(b.length / 4 + 64);
    try (GZIPOutputStream z = new GZIPOutputStream(out, 8192)) {
      z.write(b);
    } catch (IOException e) {
      throw new IllegalStateException("gzip into memory failed", e); // cannot happen
    }
    return out.toByteArray();
  }

  /** Reads an answer (decompressed, when it came gzipped) of at most MAX_ANSWER_BYTES. */
  private static byte[] readBounded(InputStream in) throws IOException {
    try (in) {
      byte[] b = in.readNBytes(MAX_ANSWER_BYTES + 1);
      if (b.length > MAX_ANSWER_BYTES) {
        throw new IOException("the answer is over " + MAX_ANSWER_BYTES + " bytes");
      }
      return b;
    }
  }

  /** The exception of a non-200 answer (package-private for tests). */
  static EventGrpcException errorOf(
      int status, String contentType, byte[] body, Map<String, List<String>> headers) {
    Code code = null;
    String message = null;
    Duration hint = null;
    String text = new String(body, StandardCharsets.UTF_8);
    if (contentType.startsWith("application/json")) {
      try {
        Object v = Json.parse(text);
        if (v instanceof Map) {
          Map<?, ?> m = (Map<?, ?>) v;
          if (m.get("code") instanceof String) {
            code = Code.fromWireName((String) m.get("code"));
          }
          if (m.get("message") instanceof String) {
            message = (String) m.get("message");
          } else if (m.get("error") instanceof String) {
            message = (String) m.get("error"); // the service's middleware: {"error": "..."}
          }
          if (code != null) {
            hint = retryInfo(m.get("details"));
          }
        }
      } catch (IllegalArgumentException notJson) {
        // Not JSON after all: fall back to the status below.
      }
    }
    if (code == null) {
      code = Code.fromHttpStatus(status);
    }
    if (message == null) {
      String t = text.strip();
      message = "HTTP " + status + (t.isEmpty() ? "" : ": " + (t.length() > 200 ? t.substring(0, 200) + "…" : t));
    }
    if (hint == null) {
      hint = headerHint(headers);
    }
    return new EventGrpcException(code, message, status, hint, null);
  }

  /** The delay of a google.rpc.RetryInfo among Connect error details, or null. */
  static Duration retryInfo(Object details) {
    if (!(details instanceof List)) {
      return null;
    }
    for (Object d : (List<?>) details) {
      if (!(d instanceof Map)) {
        continue;
      }
      Map<?, ?> m = (Map<?, ?>) d;
      Object type = m.get("type");
      Object value = m.get("value");
      if (!(type instanceof String) || !(value instanceof String)) {
        continue;
      }
      String t = (String) type;
      if (!t.equals(RETRY_INFO) && !t.endsWith("/" + RETRY_INFO)) {
        continue;
      }
      try {
        Duration dur = parseRetryInfo(decodeBase64((String) value));
        if (dur != null) {
          return dur;
        }
      } catch (IllegalArgumentException | IOException bad) {
        // A malformed detail is no hint; the other sources are tried.
      }
    }
    return null;
  }

  private static byte[] decodeBase64(String v) {
    // Connect writes standard base64, padding optional; accept URL-safe too.
    if (v.indexOf('-') >= 0 || v.indexOf('_') >= 0) {
      return Base64.getUrlDecoder().decode(v);
    }
    return Base64.getDecoder().decode(v);
  }

  /**
   * Reads RetryInfo { google.protobuf.Duration retry_delay = 1; } without
   * the common-protos classes: Duration is { int64 seconds = 1; int32 nanos = 2; }.
   */
  static Duration parseRetryInfo(byte[] b) throws IOException {
    CodedInputStream in = CodedInputStream.newInstance(b);
    Duration out = null;
    while (!in.isAtEnd()) {
      int tag = in.readTag();
      if (WireFormat.getTagFieldNumber(tag) == 1
          && WireFormat.getTagWireType(tag) == WireFormat.WIRETYPE_LENGTH_DELIMITED) {
        com.google.protobuf.Duration d = com.google.protobuf.Duration.parseFrom(in.readBytes());
        if (d.getSeconds() >= 0 && d.getNanos() >= 0) {
          out = Duration.ofSeconds(d.getSeconds(), d.getNanos());
        }
      } else if (!in.skipField(tag)) {
        break;
      }
    }
    return out;
  }

  /** The hint of a retry-after-ms or Retry-After header, or null. */
  static Duration headerHint(Map<String, List<String>> headers) {
    String ms = first(headers, "retry-after-ms");
    if (ms != null) {
      try {
        long v = Long.parseLong(ms.strip());
        if (v >= 0) {
          return Duration.ofMillis(v);
        }
      } catch (NumberFormatException ignored) {
        // Not a number: try Retry-After.
      }
    }
    String ra = first(headers, "retry-after");
    if (ra == null) {
      return null;
    }
    ra = ra.strip();
    try {
      long secs = Long.parseLong(ra);
      return secs >= 0 ? Duration.ofSeconds(secs) : null;
    } catch (NumberFormatException notSeconds) {
      try {
        Duration d =
            Duration.between(
                ZonedDateTime.now(), ZonedDateTime.parse(ra, DateTimeFormatter.RFC_1123_DATE_TIME));
        return d.isNegative() ? Duration.ZERO : d;
      } catch (RuntimeException notDate) {
        return null;
      }
    }
  }

  private static String first(Map<String, List<String>> headers, String name) {
    for (Map.Entry<String, List<String>> e : headers.entrySet()) {
      if (e.getKey() != null && e.getKey().equalsIgnoreCase(name) && !e.getValue().isEmpty()) {
        return e.getValue().get(0);
      }
    }
    return null;
  }
}
