package io.eventgrpc.client;

import io.eventgrpc.v1.Event;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

/** Records every callback, for assertions. Safe for concurrent use. */
class RecordingListener implements Listener {
  final ConcurrentLinkedQueue<Event> accepted = new ConcurrentLinkedQueue<>();
  final Map<String, String> rejected = new ConcurrentHashMap<>(); // id → reason
  final Map<String, DropReason> dropped = new ConcurrentHashMap<>(); // id → reason
  final ConcurrentLinkedQueue<Event> failed = new ConcurrentLinkedQueue<>();
  final ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
  final ConcurrentLinkedQueue<Duration> retryDelays = new ConcurrentLinkedQueue<>();
  final ConcurrentLinkedQueue<EventGrpcException> retryCauses = new ConcurrentLinkedQueue<>();

  @Override
  public void onAccepted(List<Event> events) {
    accepted.addAll(events);
  }

  @Override
  public void onRejected(Event event, String reason) {
    rejected.put(event.getId(), reason);
  }

  @Override
  public void onDropped(Event event, DropReason reason) {
    dropped.put(event.getId(), reason);
  }

  @Override
  public void onFailed(List<Event> events, Throwable cause) {
    failed.addAll(events);
    failures.add(cause);
  }

  @Override
  public void onRetry(int attempt, Duration delay, EventGrpcException cause) {
    retryDelays.add(delay);
    retryCauses.add(cause);
  }
}
