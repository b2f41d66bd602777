// Package webhook receives the webhooks of third-party providers — Branch,
// WebEngage, Vidooly, Shopify and Graphy — one file per provider: verify the
// request (the provider's signature scheme, else a shared token), check the
// JSON against the table it will land in, and publish it to the provider's
// exchange in the shape docs/messages.md documents.
//
// Each provider has its own bounded worker pool. A request is answered 200
// only after the broker confirmed its messages durably; a full pool is
// refused at once with 429, a broker failure with 503, bad JSON with 400, a
// missing or wrong signature with 401 — and a refused request publishes
// nothing.
package webhook
