package io.eventgrpc.client;

import java.time.Instant;
import java.util.Map;

/**
 * Per-call options of the generic calls ({@link EventGrpcClient#track(String,
 * Map, CallOptions)} and the others): each one left unset takes the
 * client's default. Immutable; build one with {@link #builder()}.
 *
 * <pre>{@code
 * client.track("Order Completed", Map.of("revenue", 49.5),
 *     CallOptions.builder().userId("u-42").messageId(orderId).build());
 * }</pre>
 */
public final class CallOptions {
  /** No options: every field takes the client's default. */
  public static final CallOptions NONE = new Builder().build();

  final String userId;
  final String anonymousId;
  final Map<?, ?> context;
  final Map<?, ?> integrations;
  final Instant timestamp;
  final String messageId;

  private CallOptions(Builder b) {
    this.userId = b.userId;
    this.anonymousId = b.anonymousId;
    this.context = b.context;
    this.integrations = b.integrations;
    this.timestamp = b.timestamp;
    this.messageId = b.messageId;
  }

  /** A builder with every option unset. */
  public static Builder builder() {
    return new Builder();
  }

  /** Builds {@link CallOptions}. Not safe for concurrent use. */
  public static final class Builder {
    private String userId;
    private String anonymousId;
    private Map<?, ?> context;
    private Map<?, ?> integrations;
    private Instant timestamp;
    private String messageId;

    private Builder() {}

    /** The event's user, instead of the client's current one (the last identify). */
    public Builder userId(String userId) {
      this.userId = userId;
      return this;
    }

    /** The event's anonymous id, instead of the client's own. */
    public Builder anonymousId(String anonymousId) {
      this.anonymousId = anonymousId;
      return this;
    }

    /** Free-form context (library, device, os, locale, campaign, …), converted by {@link Structs}. */
    public Builder context(Map<?, ?> context) {
      this.context = context;
      return this;
    }

    /** Which downstream destinations the event is meant for, kept as sent. */
    public Builder integrations(Map<?, ?> integrations) {
      this.integrations = integrations;
      return this;
    }

    /** When the event happened (default: when the call was made). */
    public Builder timestamp(Instant timestamp) {
      this.timestamp = timestamp;
      return this;
    }

    /**
     * The event's id, the service's dedupe key (default: a UUIDv7 minted
     * by the call). Sending the same id twice stores the event once.
     */
    public Builder messageId(String messageId) {
      this.messageId = messageId;
      return this;
    }

    public CallOptions build() {
      return new CallOptions(this);
    }
  }
}
