package bench

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
)

// scene is what one synthetic event is about: a product, a cart, a stream,
// a page, ... drawn together so the event's fields agree with each other.
type scene struct {
	r     *rand.Rand
	msg   string // payload message name, e.g. "AddToCartEvent"
	nowMs int64

	p          *product
	cart       []*product
	st         *liveStream
	pg, prev   page
	w          *widget
	n          notification
	exp        experiment
	pl         place
	pay        payment
	fail       failure
	success    bool
	qty, items int64
	amount     float64 // what the cart/order/payment is worth
	discount   float64
	shipping   float64
	currency   string
	coupon     string

	cartID, checkoutID, orderID, searchID, query string
	addressID, reviewID, videoID, contentID      string
	creatorID                                    string
	videoDurMs                                   int64
	custom                                       int    // index into customNames
	elemType                                     string // kind of widget element
}

func newScene(r *rand.Rand, c *catalog, msg string, nowMs int64) *scene {
	s := &scene{r: r, msg: msg, nowMs: nowMs}
	s.p = &c.products[r.IntN(len(c.products))]
	s.cart = []*product{s.p}
	for n := r.IntN(4); n > 0; n-- {
		s.cart = append(s.cart, &c.products[r.IntN(len(c.products))])
	}
	for _, p := range s.cart {
		q := int64(1)
		if chance(r, 0.15) {
			q = 2
		}
		s.items += q
		s.amount += p.price * float64(q)
	}
	s.qty = 1 + int64(r.IntN(2))*int64(r.IntN(2))
	s.currency = "INR"
	if chance(r, 0.03) {
		s.currency = pick(r, "USD", "AED")
	}
	if chance(r, 0.35) {
		s.coupon = pick(r, "FIRST50", "SAVE10", "FREESHIP", "DIWALI200", "BANK10")
		s.discount = money(min(s.amount*0.1, 200))
	}
	if s.amount < 499 {
		s.shipping = 49
	}
	s.amount = money(s.amount - s.discount + s.shipping)
	s.st = &c.streams[r.IntN(len(c.streams))]
	s.w = &c.widgets[r.IntN(len(c.widgets))]
	s.pg = pick(r, pages...)
	s.prev = pick(r, pages...)
	s.n = notification{
		id:         "ntf_" + base62(r, 12),
		campaignID: fmt.Sprintf("cmp_%05d", 10_000+r.IntN(300)),
		title:      pick(r, notificationTitles...),
		deepLink:   "shop://p/" + s.p.id,
	}
	s.exp = pick(r, experiments...)
	s.pl = pick(r, places...)
	s.pay = pick(r, payments...)
	switch msg {
	case "PageLoadFailedEvent":
		s.fail = pick(r, pageFailures...)
	case "PurchaseFailedEvent":
		s.fail = pick(r, paymentFailures...)
	default:
		s.fail = pick(r, appErrors...)
	}
	s.success = chance(r, 0.88)
	s.cartID = "cart_" + hexString(r, 16)
	s.checkoutID = "chk_" + hexString(r, 16)
	s.orderID = fmt.Sprintf("ORD%d%06d", 24, r.IntN(1_000_000))
	s.searchID = "srch_" + hexString(r, 16)
	s.query = pick(r, searchQueries...)
	s.addressID = fmt.Sprintf("addr_%08d", r.IntN(100_000_000))
	s.reviewID = fmt.Sprintf("rev_%08d", r.IntN(100_000_000))
	s.videoID = fmt.Sprintf("vid_%07d", r.IntN(10_000_000))
	s.contentID = pick(r, "pst_", "vid_") + fmt.Sprintf("%07d", r.IntN(10_000_000))
	s.creatorID = fmt.Sprintf("usr_%07d", 2_000_000+r.IntN(40)*101)
	s.videoDurMs = between(r, 8_000, 180_000)
	s.custom = r.IntN(len(customNames))
	s.elemType = pick(r, "product", "product", "product", "stream", "category", "banner")
	return s
}

// pageURL is the route of pg within the scene.
func (s *scene) pageURL(pg page) string {
	switch pg.name {
	case "pdp":
		return pg.route + s.p.id
	case "plp":
		return pg.route + strings.TrimPrefix(s.p.cat.id, "cat_")
	case "stream":
		return pg.route + s.st.id
	case "search":
		return pg.route + "?q=" + url.QueryEscape(s.query)
	}
	return pg.route
}

// elementID is the id of the widget element the scene shows, of its kind.
func (s *scene) elementID() string {
	switch s.elemType {
	case "stream":
		return s.st.id
	case "category":
		return s.p.cat.id
	case "banner":
		return "bnr_" + s.n.campaignID[4:]
	}
	return s.p.id
}

func (s *scene) productIDs() []string {
	out := make([]string, len(s.cart))
	for i, p := range s.cart {
		out[i] = p.id
	}
	return out
}

// ago returns an epoch-ms time up to d milliseconds before now.
func (s *scene) ago(d int64) int64 { return s.nowMs - s.r.Int64N(d+1) }

// orEmpty returns v with probability p, else nil (the field stays unset,
// as a real client leaves an optional field empty).
func orEmpty(r *rand.Rand, p float64, v any) any {
	if chance(r, p) {
		return v
	}
	return nil
}
