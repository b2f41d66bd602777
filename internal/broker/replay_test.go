package broker

import "testing"

// A Replay is capped however it is asked: 0, negative and huge limits all
// mean MaxReplay; smaller limits are kept.
func TestReplayLimit(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{0, MaxReplay}, {-1, MaxReplay}, {1 << 30, MaxReplay}, {MaxReplay + 1, MaxReplay},
		{1, 1}, {MaxReplay, MaxReplay}, {250, 250},
	} {
		if got := ReplayLimit(tc.in); got != tc.want {
			t.Errorf("ReplayLimit(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
