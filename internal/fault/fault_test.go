package fault

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestKindOf(t *testing.T) {
	base := errors.New("boom")
	cases := []struct {
		name  string
		err   error
		want  Kind
		after time.Duration
	}{
		{"plain is transient", base, KindTransient, 0},
		{"permanent", Permanent(base), KindPermanent, 0},
		{"wrapped permanent", fmt.Errorf("ctx: %w", Permanent(base)), KindPermanent, 0},
		{"throttled with hint", Throttled(base, 3*time.Second), KindThrottled, 3 * time.Second},
		{"transient", Transient(base), KindTransient, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := KindOf(c.err); got != c.want {
				t.Fatalf("KindOf = %v, want %v", got, c.want)
			}
			if got := RetryAfter(c.err); got != c.after {
				t.Fatalf("RetryAfter = %v, want %v", got, c.after)
			}
			if !errors.Is(c.err, base) {
				t.Fatalf("classification hides the cause")
			}
		})
	}
	if Permanent(nil) != nil || Transient(nil) != nil || Throttled(nil, 0) != nil {
		t.Fatal("wrapping nil must stay nil")
	}
	if IsPermanent(nil) {
		t.Fatal("nil is not permanent")
	}
}
