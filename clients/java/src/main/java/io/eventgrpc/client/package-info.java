/**
 * The Java client of event-grpc: batches analytics events and sends them to
 * {@code EventService.dispatch} over the Connect protocol (binary protobuf
 * over HTTP POST), using only the JDK's {@link java.net.http.HttpClient} and
 * protobuf-java.
 *
 * <p>{@link io.eventgrpc.client.EventGrpcClient} is the entry point. Each
 * tracked event gets a UUIDv7 id and an epoch-millisecond timestamp when it
 * is tracked (unless it already has them), so a retried batch is stored
 * once: the service dedupes on the id. Events wait in a bounded queue (items
 * and bytes) and leave in batches bounded by events and bytes, at least once
 * per flush interval. Refusals of the whole request (Connect
 * {@code unavailable}, {@code resource_exhausted}, {@code deadline_exceeded},
 * HTTP 429/502/503/504, connection failures) are retried with exponential
 * backoff and jitter, waiting at least as long as the server's retry hint.
 * A {@code resource_exhausted} refusal without a hint means the request
 * was too large for the service: it is split in halves instead.
 * Events the service rejects one by one are retried only when their
 * result says {@code retryable} (valid, not durable yet); the others go to
 * {@link io.eventgrpc.client.Listener#onRejected}, once.
 *
 * <p>The generic calls ({@code track(name, properties)}, {@code identify},
 * {@code page}, {@code screen}, {@code group}, {@code alias}) take
 * free-form properties ({@link io.eventgrpc.client.Structs}) and per-call
 * {@link io.eventgrpc.client.CallOptions}; the client remembers the
 * identified user and an anonymous id, gzips large request bodies, has a
 * debug logger and an opt-out, and with a storage directory keeps the
 * identity, the opt-out and unconfirmed events across restarts. Events that cannot be
 * queued are counted and reported to
 * {@link io.eventgrpc.client.Listener#onDropped}; nothing is dropped
 * silently.
 *
 * <p>The message classes ({@code io.eventgrpc.v1.Event}, {@code Header},
 * …) are generated from {@code proto/eventgrpc/v1/eventservice.proto} by
 * {@code clients/java/generate.sh}.
 */
package io.eventgrpc.client;
