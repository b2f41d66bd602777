package auth

import (
	"testing"
	"time"
)

// In HMAC mode no answer tells which client ids exist: an unknown client
// and a known client with a wrong signature get the same message, and a
// stale timestamp is reported alike for both. On 470972f an unknown id was
// answered "x-client-id and key do not match a configured client" while a
// known one got "x-signature does not match the request" or the clock
// skew, so ids could be enumerated.
func TestHMACDoesNotRevealClientIDs(t *testing.T) {
	for _, tr := range transports(t) {
		t.Run(tr.name, func(t *testing.T) {
			h := newHarness(t, Config{Mode: ModeHMAC, Keys: keys})
			_, unknown, c1 := tr.send(t, h, signed("stranger", keyA, h.clk.Now(), tr.signed), false)
			_, wrong, c2 := tr.send(t, h, signed(clientA, keyB, h.clk.Now(), tr.signed), false)
			if unknown != wrong || c1 != c2 || unknown == "" {
				t.Fatalf("unknown client: %d %q; known client, wrong signature: %d %q; want the same answer", c1, unknown, c2, wrong)
			}
			old := h.clk.Now().Add(-time.Hour)
			_, su, _ := tr.send(t, h, signed("stranger", keyA, old, tr.signed), false)
			_, sk, _ := tr.send(t, h, signed(clientA, keyA, old, tr.signed), false)
			if su != sk {
				t.Fatalf("stale timestamp, unknown client: %q; known client: %q; want the same answer", su, sk)
			}
		})
	}
}
