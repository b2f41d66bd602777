package io.eventgrpc.client;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * A process that tracks events to a service that is down and exits without
 * closing its client: the shutdown hook (closeOnJvmExit) must save them in
 * the storage directory (the second half is in no snapshot before exit). Run by GenericCallsTest in a child JVM.
 *
 * <p>Arguments: storage directory, base URL, number of events.
 */
final class ExitHookMain {
  private ExitHookMain() {}

  public static void main(String[] args) throws Exception {
    EventGrpcClient c =
        EventGrpcClient.builder()
            .baseUrl(args[1])
            .storageDir(Path.of(args[0]))
            .closeOnJvmExit(true)
            .closeTimeout(Duration.ofMillis(500))
            .requestTimeout(Duration.ofSeconds(1))
            .flushInterval(Duration.ofMillis(10))
            // A long backoff: the snapshot written before it holds the
            // first half only, so the second half can reach the file only
            // through the hook.
            .initialBackoff(Duration.ofSeconds(20))
            .maxBackoff(Duration.ofSeconds(20))
            .build();
    int n = Integer.parseInt(args[2]);
    for (int i = 0; i < n / 2; i++) {
      c.track("Exit", Map.of("i", i), CallOptions.builder().messageId("hook-" + i).build());
    }
    EventGrpcClientTest.waitFor(() -> c.stats().retries() >= 1, "a retry");
    for (int i = n / 2; i < n; i++) {
      c.track("Exit", Map.of("i", i), CallOptions.builder().messageId("hook-" + i).build());
    }
    System.exit(0); // no close: the hook's job
  }
}
