package ratelimit

import "testing"

// TestIPv6By64: a throttled IPv6 sender cannot reset its bucket by moving
// to another address of its /64; another /64 is another bucket; an
// IPv4-mapped address is the IPv4 address.
func TestIPv6By64(t *testing.T) {
	l, _ := newLimiter(t, Config{Default: Limit{RPS: 1, Burst: 1}})
	if !l.Take(Key{IP: "2001:db8:1:2::1"}).OK {
		t.Fatal("first request refused")
	}
	for _, ip := range []string{"2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::1%eth0"} {
		if l.Take(Key{IP: ip}).OK {
			t.Fatalf("%s (same /64) got a fresh bucket", ip)
		}
	}
	if !l.Take(Key{IP: "2001:db8:1:3::1"}).OK {
		t.Fatal("another /64 shares the bucket")
	}
	if !l.Take(Key{IP: "192.0.2.7"}).OK || l.Take(Key{IP: "::ffff:192.0.2.7"}).OK {
		t.Fatal("an IPv4-mapped address is not its IPv4 address's bucket")
	}
}

// TestAddressAndClientBucketsApart: an authenticated client's bucket and an
// address bucket never share tokens, whatever the client id looks like.
func TestAddressAndClientBucketsApart(t *testing.T) {
	l, _ := newLimiter(t, Config{Default: Limit{RPS: 1, Burst: 1}})
	for _, id := range []string{"192.0.2.9", "ip4:192.0.2.9", "ip:192.0.2.9"} {
		if !l.Take(Key{AuthID: id, IP: "192.0.2.9"}).OK {
			t.Fatalf("client %q: first request refused", id)
		}
	}
	if !l.Take(Key{IP: "192.0.2.9"}).OK {
		t.Fatal("the address bucket was spent by clients")
	}
	// A throttled client stays throttled from any address.
	if l.Take(Key{AuthID: "192.0.2.9", IP: "198.51.100.1"}).OK || l.Take(Key{AuthID: "192.0.2.9", IP: "2001:db8::1"}).OK {
		t.Fatal("a new address reset a throttled client")
	}
}
