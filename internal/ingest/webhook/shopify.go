package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/event-grpc/event-grpc/internal/broker"
	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
)

// Shopify: Shopify's webhooks (orders/create and every other topic). The
// body is the resource as JSON; Shopify's headers say what it is:
//
//	X-Shopify-Topic          orders/create
//	X-Shopify-Hmac-Sha256    base64 HMAC-SHA256 of the raw body, keyed with
//	                         the app's client secret (SHOPIFY_WEBHOOK_SECRET)
//	X-Shopify-Shop-Domain    example-shop.myshopify.com
//	X-Shopify-Webhook-Id     the same on every retry of one delivery
//	X-Shopify-API-Version    2024-04
//	X-Shopify-Triggered-At   2024-06-10T08:30:16.123Z
//	X-Shopify-Event-Id       the event behind the webhook
//
// The signature is checked with hmac.Equal over the body as received. Every
// X-Shopify-* header but the signature is copied into the message headers
// in lower case, where shopify_event's header:x-shopify-… columns read
// them. The webhook id joined with a digest of the body is the broker
// message id (the broker de-duplicates a retried publish) and a repeated
// id with the same body is answered 200 without publishing again while it
// is in the de-duplication window; a different body under the same
// webhook id is a new message.
//
// The body is published unchanged to shopify_event.dx, routing key
// "shopify".
var shopify = spec{
	name:     "shopify",
	env:      "SHOPIFY",
	path:     "/shopify/event",
	exchange: "shopify_event.dx",
	verify:   verifyShopify,
	parse:    parseShopify,
	dedupe:   true,
	keyFrom:  "the routing key",
	idFrom:   "the " + HeaderShopifyWebhookID + " header with its body digest",
}

// Shopify's header names.
const (
	HeaderShopifyHmac      = "X-Shopify-Hmac-Sha256"
	HeaderShopifyWebhookID = "X-Shopify-Webhook-Id"
)

var shopifyTable = schema.ShopifyEventTable()

// maxShopifyHeader bounds a copied header value: an AMQP short string.
const maxShopifyHeader = MaxShortString

func verifyShopify(secret string, req *request) error {
	if secret == "" {
		return nil
	}
	got := strings.TrimSpace(req.header.Get(HeaderShopifyHmac))
	if got == "" {
		return errors.Join(ErrUnauthorized, errors.New("no "+HeaderShopifyHmac+" header"))
	}
	sig, err := base64.StdEncoding.DecodeString(got)
	if err != nil {
		return errors.Join(ErrUnauthorized, errors.New(HeaderShopifyHmac+" is not base64"))
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(req.body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return errors.Join(ErrUnauthorized, errors.New(HeaderShopifyHmac+" does not match the body"))
	}
	return nil
}

// ShopifySignature returns the X-Shopify-Hmac-Sha256 value of body for
// secret (for tests and tools that replay webhooks).
func ShopifySignature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func parseShopify(req *request) (parsed, error) {
	b := bytes.TrimSpace(req.body)
	if len(b) == 0 {
		return parsed{}, fault.Permanentf("the body is empty; want Shopify's JSON object")
	}
	if !utf8.Valid(b) {
		return parsed{}, fault.Permanentf("the body is not valid UTF-8")
	}
	doc, err := decodeObject(b)
	if err != nil {
		return parsed{}, fault.Permanentf("the body is %v", err)
	}
	hdr := baseHeaders("shopify", req.now)
	for name, vs := range req.header {
		lower := strings.ToLower(name)
		if !strings.HasPrefix(lower, "x-shopify-") || lower == "x-shopify-hmac-sha256" || len(vs) == 0 {
			continue
		}
		if len(name) > MaxShortString {
			return parsed{}, fault.Permanentf("header name %.40q… is %d bytes; the limit is %d", name, len(name), MaxShortString)
		}
		v := vs[0]
		if len(v) > maxShopifyHeader {
			return parsed{}, fault.Permanentf("header %s is over %d bytes", name, maxShopifyHeader)
		}
		hdr[lower] = v
	}
	if err := check(shopifyTable, doc, hdr, req.now); err != nil {
		return parsed{}, fault.Permanentf("%v", err)
	}
	id := contentID(hdr["x-shopify-webhook-id"], b)
	msg := broker.Message{ID: id, RoutingKey: "shopify", ContentType: ContentType, Headers: hdr, Body: b}
	return parsed{msgs: []broker.Message{msg}, events: 1, id: id}, nil
}
