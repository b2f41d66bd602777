// Package consume is the consume stage's delivery policy.
//
// The delivery policy, written once for every broker transport, one concern
// per file: batch.go cuts a subscription's deliveries into batches (max
// messages, bytes, age); hold.go holds a batch whose handler failed
// transiently and hands it again with exponential backoff and jitter,
// spending no retry; retry.go reads x-retry-count and republishes a
// permanently failed message to its own queue with the count raised;
// deadletter.go sends it to the error exchange with x-error-reason and the
// x-original-* headers once its retries are spent; settle.go stores those
// copies (bounded tries, counted failures, never an ack without a confirmed
// copy) and acks; runner.go runs each queue's workers over a
// broker.Transport and opens lost subscriptions again; pipeline.go runs
// them without waiting for each batch's insert, when the queue's sink
// gathers many batches into one (sink.Submitter), settling each batch in
// order once its fate is known.
//
// What a batch is landed by — decode, rows, writes, the byte budget — is
// internal/landing's Handler; this package only decides each message's
// fate from the handler's answer.
package consume
