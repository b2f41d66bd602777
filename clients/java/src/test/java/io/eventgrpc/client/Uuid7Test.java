package io.eventgrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class Uuid7Test {
  @Test
  void layoutIsRfc9562Version7() {
    long ms = 1_718_000_000_123L;
    UUID u = Uuid7.at(ms);
    assertEquals(7, u.version());
    assertEquals(2, u.variant(), "RFC 4122/9562 variant (binary 10)");
    assertEquals(ms, Uuid7.epochMillis(u));
    assertTrue(u.toString().startsWith(String.format("%08x-%04x-7", ms >>> 16, ms & 0xFFFF)), u.toString());
  }

  @Test
  void idsAreUniqueAndSortByMillisecond() {
    Set<UUID> seen = new HashSet<>();
    for (int i = 0; i < 200_000; i++) {
      assertTrue(seen.add(Uuid7.next()), "duplicate id");
    }
    UUID earlier = Uuid7.at(1_000_000L);
    UUID later = Uuid7.at(1_000_001L);
    assertTrue(earlier.toString().compareTo(later.toString()) < 0, "ids of later milliseconds sort after");
  }

  @Test
  void epochMillisRefusesOtherVersions() {
    assertThrows(IllegalArgumentException.class, () -> Uuid7.epochMillis(UUID.randomUUID()));
  }
}
