package io.eventgrpc.client;

import io.eventgrpc.v1.Event;
import io.eventgrpc.v1.EventResult;
import io.eventgrpc.v1.Events;
import io.eventgrpc.v1.PageOpenedEvent;
import io.eventgrpc.v1.Response;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The SDK's overhead per tracked event: N track() calls into a transport
 * that answers at once (every event accepted, answers cached per batch
 * size), so what is timed is the SDK alone — id and timestamp minting, the
 * queue, batching, building the request message — not the network or the
 * server.
 *
 * <p>Prints, per round, the caller's time per track() call (wall, single
 * thread), the bytes it allocated per call, and the time per event from the
 * first track() to close() returning (the sender thread's work included, on
 * the other core); then the medians.
 *
 * <pre>
 * java -cp /usr/share/java/protobuf.jar:clients/java/build/event-grpc-client.jar:clients/java/build/test-classes \
 *   io.eventgrpc.client.TrackBenchmark [events-per-round] [rounds] [threads] [typed|generic]
 * </pre>
 *
 * <p>{@code typed} (the default) tracks a PageOpenedEvent; {@code generic}
 * calls {@code track("Page Opened", properties)} with the same three fields
 * as free-form properties (their conversion to a Struct included).
 */
public final class TrackBenchmark {
  private TrackBenchmark() {}

  /** Accepts everything, at once. */
  static final class NoopTransport implements Transport {
    private final ConcurrentHashMap<Integer, Response> answers = new ConcurrentHashMap<>();
    long bytes;

    @Override
    public Response dispatch(Events batch, Duration timeout) {
      bytes += batch.getSerializedSize(); // the request is encoded, as the real transport does
      return answers.computeIfAbsent(batch.getEventsCount(), TrackBenchmark::acceptAll);
    }
  }

  static Response acceptAll(int n) {
    Response.Builder r = Response.newBuilder().setAccepted(n);
    for (int i = 0; i < n; i++) {
      r.addResults(EventResult.newBuilder().setIndex(i).setAccepted(true));
    }
    return r.build();
  }

  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 7;
    int threads = args.length > 2 ? Integer.parseInt(args[2]) : 1;
    boolean generic = args.length > 3 && args[3].equals("generic");
    java.util.Map<String, Object> props =
        java.util.Map.of("page_name", "home", "source", "push", "previous_page", "search");
    Event event =
        Event.newBuilder()
            .setPageOpenedEvent(
                PageOpenedEvent.newBuilder().setPageName("home").setSource("push").setPreviousPage("search"))
            .build();
    com.sun.management.ThreadMXBean mx =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    System.out.printf(
        "TrackBenchmark: %d %s events per round, %d rounds (+1 warm-up), %d tracking thread(s), batches of 500%n",
        n, generic ? "generic" : "typed", rounds, threads);
    List<double[]> results = new ArrayList<>();
    for (int round = 0; round <= rounds; round++) {
      NoopTransport t = new NoopTransport();
      EventGrpcClient c =
          EventGrpcClient.builder()
              .transport(t)
              .maxQueueEvents(Math.max(10_000, n)) // measure the path, not drops
              .maxQueueBytes(1L << 30)
              .build();
      final int per = n / threads;
      long[] allocated = new long[threads];
      long[] callerNanos = new long[threads];
      Thread[] ts = new Thread[threads];
      long t0 = System.nanoTime();
      for (int k = 0; k < threads; k++) {
        final int kk = k;
        ts[k] =
            new Thread(
                () -> {
                  long a0 = mx.getThreadAllocatedBytes(Thread.currentThread().getId());
                  long s = System.nanoTime();
                  for (int i = 0; i < per; i++) {
                    if (generic) {
                      c.track("Page Opened", props);
                    } else {
                      c.track(event);
                    }
                  }
                  callerNanos[kk] = System.nanoTime() - s;
                  allocated[kk] = mx.getThreadAllocatedBytes(Thread.currentThread().getId()) - a0;
                });
        ts[k].start();
      }
      for (Thread th : ts) {
        th.join();
      }
      if (!c.close(Duration.ofMinutes(5))) {
        throw new AssertionError("close did not deliver: " + c.stats());
      }
      long total = System.nanoTime() - t0;
      Stats s = c.stats();
      if (s.accepted() != (long) per * threads) {
        throw new AssertionError("accepted " + s.accepted() + " of " + per * threads + ": " + s);
      }
      double callNs = (double) Arrays.stream(callerNanos).max().getAsLong() / per;
      double allocB = (double) Arrays.stream(allocated).sum() / (per * threads);
      double totalNs = (double) total / (per * threads);
      if (round == 0) {
        System.out.printf("  warm-up   track %.0f ns/call, end-to-end %.0f ns/event%n", callNs, totalNs);
        continue;
      }
      results.add(new double[] {callNs, allocB, totalNs});
      System.out.printf(
          "  round %d   track %.0f ns/call, %.0f B/call allocated by the caller; end-to-end %.0f ns/event"
              + " (%d requests, %.0f B/event encoded)%n",
          round, callNs, allocB, totalNs, s.requests(), (double) t.bytes / s.accepted());
    }
    System.out.printf(
        "median    track %.0f ns/call, %.0f B/call; end-to-end %.0f ns/event (%.2f M events/s)%n",
        median(results, 0), median(results, 1), median(results, 2), 1e3 / median(results, 2));
  }

  private static double median(List<double[]> rs, int col) {
    double[] v = rs.stream().mapToDouble(r -> r[col]).sorted().toArray();
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }
}
