// Package webengage forwards events and user updates to WebEngage's REST
// API: the handler of the topology's "webengage" queues. Each delivery's
// JSON body — an Events API body ({"userId", "eventName", "eventTime",
// "eventData"}) or a Users API body ({"userId", "firstName", …}) — is POSTed
// with the account's API key, a bounded number of requests in flight per
// key.
//
// Failures are classified where they happen: 2xx is done; 429, 5xx and
// network errors are transient — retried in process (honouring
// Retry-After, else exponential backoff), and when that is not enough the
// whole batch is held by the broker and handed again, re-sending only what
// did not succeed yet; any other 4xx, or a body that is not JSON, fails
// that delivery permanently (retry count, then the error queue).
package webengage
