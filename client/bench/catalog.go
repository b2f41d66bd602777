package bench

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// siteURL is the synthetic shop's web address (a reserved example domain).
const siteURL = "https://shop.example.com"

// The synthetic shop: categories, products, live streams, pages, widgets.
// Built once per run from the seed; events draw from it so that the
// values of one event belong together.

type category struct {
	id, name, parent string
	items            []string // product nouns
	brands           []string
	priceLo, priceHi int
}

var categories = []category{
	{"cat_women_kurtas", "Kurtas", "cat_women_ethnic", []string{"Cotton Kurta", "Anarkali Kurta", "Straight Kurta Set"}, []string{"Biba", "W", "Libas", "Aurelia"}, 499, 2999},
	{"cat_women_sarees", "Sarees", "cat_women_ethnic", []string{"Banarasi Saree", "Chiffon Saree", "Kanjeevaram Silk Saree"}, []string{"Kalki", "Sareemall", "Mitera"}, 799, 8999},
	{"cat_men_tshirts", "T-Shirts", "cat_men_topwear", []string{"Crew Neck T-Shirt", "Polo T-Shirt", "Oversized T-Shirt"}, []string{"Roadster", "HRX", "Bewakoof", "Puma"}, 299, 1499},
	{"cat_men_sneakers", "Sneakers", "cat_men_footwear", []string{"Running Shoes", "Court Sneakers", "Slip-On Sneakers"}, []string{"Nike", "Adidas", "Campus", "Red Tape"}, 999, 8999},
	{"cat_beauty_lipstick", "Lipstick", "cat_beauty_makeup", []string{"Matte Lipstick", "Liquid Lipstick", "Lip Crayon"}, []string{"Lakme", "Maybelline", "Sugar", "Nykaa"}, 199, 1299},
	{"cat_home_bedsheets", "Bedsheets", "cat_home_furnishing", []string{"Cotton Double Bedsheet", "Fitted Bedsheet Set"}, []string{"Bombay Dyeing", "Spaces", "Raymond Home"}, 499, 2499},
	{"cat_mobile_cases", "Mobile Covers", "cat_electronics_accessories", []string{"Silicone Back Cover", "Flip Cover", "Clear Case"}, []string{"Spigen", "Dailyobjects", "Casekaro"}, 149, 1299},
	{"cat_kitchen_cookware", "Cookware", "cat_home_kitchen", []string{"Non-Stick Tawa", "Pressure Cooker 3L", "Kadai with Lid"}, []string{"Prestige", "Hawkins", "Pigeon"}, 399, 3499},
}

var (
	adjectives = []string{"Printed", "Solid", "Embroidered", "Classic", "Premium", "Everyday", "Festive", "Slim Fit"}
	colours    = []string{"Red", "Navy", "Black", "White", "Olive", "Mustard", "Pink", "Teal"}
	sizes      = []string{"XS", "S", "M", "L", "XL", "XXL", "FREE"}
)

type product struct {
	id, variant, name, brand string
	cat                      *category
	price, listPrice, rating float64
	inStock                  bool
}

type liveStream struct {
	id, streamerID, title string
	viewers               int64
}

type page struct {
	name, route, typ string
}

var pages = []page{
	{"home", "/", "landing"},
	{"home", "/", "landing"},
	{"plp", "/c/", "listing"},
	{"pdp", "/p/", "product"},
	{"pdp", "/p/", "product"},
	{"search", "/search", "search"},
	{"cart", "/cart", "cart"},
	{"checkout", "/checkout", "checkout"},
	{"stream", "/live/", "stream"},
	{"feed", "/feed", "feed"},
	{"orders", "/account/orders", "account"},
	{"wishlist", "/wishlist", "account"},
	{"profile", "/account", "account"},
}

type widget struct {
	id, typ, title, page string
	position, elements   int64
}

var widgetTitles = []string{"Deals of the day", "Trending now", "Live now", "Inspired by your browsing", "Top brands", "Under ₹499", "New arrivals", "Shop by category"}

type notification struct {
	id, campaignID, title, deepLink string
}

var notificationTitles = []string{"Your order is out for delivery", "Flash sale starts in 10 minutes!", "Price drop on items in your wishlist", "Your favourite creator is live now", "Complete your purchase and save ₹100"}

type experiment struct {
	id, name string
	variants []string
}

var experiments = []experiment{
	{"exp_0142", "pdp_sticky_buy_button", []string{"control", "treatment_a"}},
	{"exp_0157", "home_feed_ranking_v3", []string{"control", "treatment_a", "treatment_b"}},
	{"exp_0163", "checkout_one_tap_upi", []string{"control", "treatment_a"}},
	{"exp_0171", "stream_gift_bar", []string{"control", "treatment_a"}},
}

type place struct{ city, state, postal string }

var places = []place{
	{"Bengaluru", "Karnataka", "5600"}, {"Mumbai", "Maharashtra", "4000"}, {"New Delhi", "Delhi", "1100"},
	{"Hyderabad", "Telangana", "5000"}, {"Chennai", "Tamil Nadu", "6000"}, {"Pune", "Maharashtra", "4110"},
	{"Kolkata", "West Bengal", "7000"}, {"Jaipur", "Rajasthan", "3020"}, {"Lucknow", "Uttar Pradesh", "2260"},
}

type payment struct{ method, provider, gateway string }

var payments = []payment{
	{"upi", "gpay", "razorpay"}, {"upi", "phonepe", "razorpay"}, {"upi", "paytm", "payu"},
	{"card", "visa", "razorpay"}, {"card", "mastercard", "cashfree"}, {"card", "rupay", "payu"},
	{"netbanking", "hdfc", "payu"}, {"wallet", "amazonpay", "cashfree"}, {"cod", "cod", "none"},
}

type failure struct {
	code, message string
	http          int32
}

var (
	pageFailures = []failure{
		{"HTTP_503", "Service temporarily unavailable", 503}, {"HTTP_500", "Something went wrong", 500},
		{"HTTP_504", "Gateway timeout", 504}, {"TIMEOUT", "Request timed out after 15s", 0},
		{"NO_NETWORK", "No internet connection", 0}, {"HTTP_404", "Page not found", 404},
	}
	appErrors = []failure{
		{"HTTP_503", "feed request failed: 503", 503}, {"E_PAYMENT_SDK", "payment SDK init failed", 0},
		{"E_PLAYER_DECODE", "video decoder error: codec not supported", 0}, {"HTTP_429", "too many requests", 429},
		{"E_NULL_STATE", "cart state missing after restore", 0},
	}
	paymentFailures = []failure{
		{"PAYMENT_DECLINED", "Payment declined by bank", 0}, {"UPI_TIMEOUT", "UPI collect request expired", 0},
		{"INSUFFICIENT_FUNDS", "Insufficient funds", 0}, {"USER_CANCELLED", "Payment cancelled by user", 0},
		{"GATEWAY_ERROR", "Payment gateway error, try again", 0},
	}
)

var searchQueries = []string{"red kurta", "running shoes", "iphone 15 cover", "banarasi saree", "matte lipstick", "oversized tshirt", "non stick tawa", "kurta set for women", "sneakers under 2000", "cotton bedsheet double"}

// catalog is the shop a run's events draw from.
type catalog struct {
	products []product
	streams  []liveStream
	widgets  []widget
}

func newCatalog(r *rand.Rand) *catalog {
	c := &catalog{}
	for i := 0; i < 400; i++ {
		cat := &categories[r.IntN(len(categories))]
		price := float64(cat.priceLo + r.IntN(cat.priceHi-cat.priceLo+1))
		price = math.Floor(price/100)*100 + 99 // prices end in 99
		brand := pick(r, cat.brands...)
		c.products = append(c.products, product{
			id:        fmt.Sprintf("prd_%06d", 100+i*7),
			variant:   fmt.Sprintf("sku_%06d_%s", 100+i*7, pick(r, sizes...)),
			name:      fmt.Sprintf("%s %s %s %s", brand, pick(r, colours...), pick(r, adjectives...), pick(r, cat.items...)),
			brand:     brand,
			cat:       cat,
			price:     price,
			listPrice: math.Floor(price*(1.2+r.Float64())/100)*100 + 99,
			rating:    math.Round((3.2+r.Float64()*1.7)*10) / 10,
			inStock:   r.Float64() < 0.9,
		})
	}
	hosts := []string{"Festive kurta haul", "Sneaker drop", "Makeup masterclass", "Kitchen deals live", "Saree styling 101", "Weekend flash sale"}
	for i := 0; i < 40; i++ {
		c.streams = append(c.streams, liveStream{
			id:         fmt.Sprintf("str_%05d", 3000+i),
			streamerID: fmt.Sprintf("usr_%07d", 2_000_000+i*101),
			title:      fmt.Sprintf("%s — live deals #%d", pick(r, hosts...), 1+r.IntN(40)),
			viewers:    int64(20 + r.ExpFloat64()*1500),
		})
	}
	types := []string{"carousel", "carousel", "grid", "banner", "list", "stories"}
	for i := 0; i < 60; i++ {
		pg := pick(r, "home", "home", "home", "plp", "pdp", "feed", "stream", "cart")
		c.widgets = append(c.widgets, widget{
			id:       fmt.Sprintf("wdg_%s_%03d", pg, i),
			typ:      pick(r, types...),
			title:    pick(r, widgetTitles...),
			page:     pg,
			position: int64(r.IntN(12)),
			elements: int64(4 + r.IntN(17)),
		})
	}
	return c
}

// Small random helpers. All take the caller's *rand.Rand: no shared state.

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func chance(r *rand.Rand, p float64) bool { return r.Float64() < p }

// between returns an int64 in [lo, hi].
func between(r *rand.Rand, lo, hi int64) int64 { return lo + r.Int64N(hi-lo+1) }

// skewed returns an int64 in [lo, hi] biased towards lo (an exponential
// tail, like load times and durations).
func skewed(r *rand.Rand, lo, hi int64) int64 {
	v := lo + int64(r.ExpFloat64()*float64(hi-lo)/4)
	return min(v, hi)
}

func money(v float64) float64 { return math.Round(v*100) / 100 }

func hexString(r *rand.Rand, n int) string {
	b := make([]byte, (n+1)/2)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return hex.EncodeToString(b)[:n]
}

func uuid4(r *rand.Rand) string {
	h := hexString(r, 32)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-" + string("89ab"[r.IntN(4)]) + h[17:20] + "-" + h[20:]
}

func base62(r *rand.Rand, n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}
