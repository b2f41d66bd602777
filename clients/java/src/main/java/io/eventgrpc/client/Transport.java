package io.eventgrpc.client;

import io.eventgrpc.v1.Events;
import io.eventgrpc.v1.Response;
import java.time.Duration;

/**
 * Sends one batch to the service. {@link EventGrpcClient} calls it from its
 * single sender thread, one request at a time; an implementation used by
 * several clients must be safe for concurrent use. The default is the
 * Connect transport over {@link java.net.http.HttpClient}; another one can be
 * given to {@link EventGrpcClient.Builder#transport} (for tests, or another
 * protocol).
 */
public interface Transport {
  /**
   * Sends {@code batch} and returns the service's answer: one result per
   * event, in the order of the batch.
   *
   * @param batch the events and their header
   * @param timeout how long to wait for the answer
   * @throws EventGrpcException when the request failed as a whole; its code
   *     tells whether it may be retried
   * @throws InterruptedException when the calling thread was interrupted
   */
  Response dispatch(Events batch, Duration timeout) throws EventGrpcException, InterruptedException;
}
