package io.eventgrpc.client;

import io.eventgrpc.v1.Event;
import io.eventgrpc.v1.TestEvent;

/** Events for the tests. */
final class TestEvents {
  private TestEvents() {}

  /** A TestEvent named name with the given number, no id, no timestamp. */
  static Event test(String name, long number) {
    return Event.newBuilder()
        .setTestEvent(TestEvent.newBuilder().setName(name).setNumber(number))
        .build();
  }

  /** A TestEvent whose value is a string of n bytes. */
  static Event sized(String name, int n) {
    return Event.newBuilder()
        .setTestEvent(TestEvent.newBuilder().setName(name).setValue("x".repeat(n)))
        .build();
  }
}
