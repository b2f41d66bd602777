package io.eventgrpc.client;

import java.security.SecureRandom;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

/**
 * UUID version 7 (RFC 9562): 48 bits of Unix epoch milliseconds, then 74
 * random bits. Ids sort by creation time, which keeps the service's
 * storage order keys local. The random bits come from {@link
 * ThreadLocalRandom} mixed with a per-process salt drawn once from {@link
 * SecureRandom}, so two processes whose thread-local generators start alike
 * still mint different ids, and minting costs no lock.
 */
public final class Uuid7 {
  private static final long SALT_HI;
  private static final long SALT_LO;

  static {
    SecureRandom r = new SecureRandom();
    SALT_HI = r.nextLong();
    SALT_LO = r.nextLong();
  }

  private Uuid7() {}

  /** A new UUIDv7 for the current time. */
  public static UUID next() {
    return at(System.currentTimeMillis());
  }

  /** A new UUIDv7 for the given epoch milliseconds. */
  public static UUID at(long epochMillis) {
    ThreadLocalRandom r = ThreadLocalRandom.current();
    long randA = (r.nextLong() ^ SALT_HI) & 0xFFFL;
    long randB = (r.nextLong() ^ SALT_LO) & 0x3FFF_FFFF_FFFF_FFFFL;
    long msb = ((epochMillis & 0xFFFF_FFFF_FFFFL) << 16) | 0x7000L | randA;
    long lsb = 0x8000_0000_0000_0000L | randB;
    return new UUID(msb, lsb);
  }

  /** The epoch milliseconds of a UUIDv7. */
  public static long epochMillis(UUID u) {
    if (u.version() != 7) {
      throw new IllegalArgumentException("not a version 7 UUID: " + u);
    }
    return u.getMostSignificantBits() >>> 16;
  }
}
