package io.eventgrpc.client;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The real event-grpc server, zero-config (embedded JetStream and DuckDB in
 * a fresh DATA_DIR), started from the binary named by the system property
 * {@code eventgrpc.server.bin} (scripts/test-java.sh builds it). Without the
 * property the tests fail: they never skip.
 */
final class ServerProcess {
  private static final HttpClient HTTP =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2)).build();

  final int grpcPort;
  final int httpPort;
  final Path dataDir;
  private final Map<String, String> env;
  private Process proc;

  ServerProcess(int grpcPort, int httpPort, Map<String, String> env) throws IOException {
    this.grpcPort = grpcPort;
    this.httpPort = httpPort;
    this.env = env;
    Path base = Path.of(System.getProperty("eventgrpc.it.dir", System.getProperty("java.io.tmpdir")));
    Files.createDirectories(base);
    this.dataDir = Files.createTempDirectory(base, "server-" + httpPort + "-");
  }

  static String binary() {
    String bin = System.getProperty("eventgrpc.server.bin");
    if (bin == null || bin.isEmpty() || !new File(bin).canExecute()) {
      throw new AssertionError(
          "system property eventgrpc.server.bin must name the event-grpc binary"
              + " (scripts/test-java.sh builds it with go build ./cmd/event-grpc); got " + bin);
    }
    return bin;
  }

  /** The base URL of the HTTP port, where the Connect handler is. */
  String baseUrl() {
    return "http://127.0.0.1:" + httpPort;
  }

  /** Starts the server and waits until its heartbeat answers 200. */
  ServerProcess start() throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(binary());
    pb.environment().put("PORT", Integer.toString(grpcPort));
    pb.environment().put("GIN_PORT", Integer.toString(httpPort));
    pb.environment().put("DATA_DIR", dataDir.toString());
    pb.environment().put("ENV", "local");
    pb.environment().putAll(env);
    pb.redirectErrorStream(true);
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(dataDir.resolve("server.log").toFile()));
    proc = pb.start();
    // scripts/test-java.sh kills what a crashed test run leaves behind.
    Files.writeString(dataDir.resolve("server.pid"), Long.toString(proc.pid()));
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    while (System.nanoTime() < end) {
      if (!proc.isAlive()) {
        throw new AssertionError("the server exited with " + proc.exitValue() + ":\n" + logTail());
      }
      try {
        HttpResponse<String> r =
            HTTP.send(
                HttpRequest.newBuilder(URI.create(baseUrl() + "/heartbeat")).timeout(Duration.ofSeconds(2)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 200) {
          return this;
        }
      } catch (IOException notYet) {
        // still starting
      }
      Thread.sleep(100);
    }
    throw new AssertionError("the server did not get ready in 90 s:\n" + logTail());
  }

  String logTail() {
    try {
      List<String> lines = Files.readAllLines(dataDir.resolve("server.log"), StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  /** Runs SQL on the server's store (POST /v1/query, loopback) and returns the rows. */
  List<List<String>> query(String sql) throws IOException, InterruptedException {
    List<List<String>> rows = new ArrayList<>();
    for (List<Object> row : queryValues(sql)) {
      List<String> cells = new ArrayList<>();
      for (Object c : row) {
        cells.add(c == null ? null : c.toString());
      }
      rows.add(cells);
    }
    return rows;
  }

  /** Like {@link #query}, with each cell as the answer's JSON has it (String, Double, Boolean, Map, List, null). */
  List<List<Object>> queryValues(String sql) throws IOException, InterruptedException {
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(URI.create(baseUrl() + "/v1/query"))
                .header("Content-Type", "text/plain")
                // The operator endpoints refuse an unmarked POST (cross-site protection).
                .header("X-Requested-By", "event-grpc-java-tests")
                .timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(sql))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new AssertionError("query " + sql + ": HTTP " + r.statusCode() + " " + r.body());
    }
    Map<?, ?> m = (Map<?, ?>) Json.parse(r.body());
    List<List<Object>> rows = new ArrayList<>();
    for (Object row : (List<?>) m.get("rows")) {
      rows.add(new ArrayList<>((List<?>) row));
    }
    return rows;
  }

  /** How many rows of the event table hold each of these ids (ids absent from the table are absent). */
  Map<String, Integer> storedCounts(Collection<String> ids) throws IOException, InterruptedException {
    Map<String, Integer> out = new java.util.HashMap<>();
    List<String> all = new ArrayList<>(ids);
    for (int i = 0; i < all.size(); i += 2000) {
      StringBuilder in = new StringBuilder();
      for (String id : all.subList(i, Math.min(all.size(), i + 2000))) {
        if (in.length() > 0) {
          in.append(',');
        }
        in.append('\'').append(id.replace("'", "''")).append('\'');
      }
      for (List<String> row :
          query("SELECT event_id, count(*) FROM event WHERE event_id IN (" + in + ") GROUP BY event_id")) {
        out.put(row.get(0), Integer.parseInt(row.get(1)));
      }
    }
    return out;
  }

  /** Stops the server (SIGTERM, then SIGKILL after 20 s). Safe twice. */
  void stop() throws InterruptedException {
    if (proc == null) {
      return;
    }
    proc.destroy();
    if (!proc.waitFor(20, TimeUnit.SECONDS)) {
      proc.destroyForcibly();
      proc.waitFor(10, TimeUnit.SECONDS);
    }
    proc = null;
  }
}
