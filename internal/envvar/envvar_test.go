package envvar

import (
	"strings"
	"testing"
	"time"
)

// An unset variable leaves the field; a good value sets it; any other
// value leaves it and is reported by its variable's name.
func TestPositive(t *testing.T) {
	env := map[string]string{"D": "2m", "DZERO": "0s", "DBAD": "soon", "N": "7", "NNEG": "-1", "NBAD": "x"}
	get := func(k string) string { return env[k] }
	for _, c := range []struct {
		key     string
		dur     bool
		want    int64
		problem bool
	}{
		{"UNSET", true, 1, false}, {"D", true, int64(2 * time.Minute), false}, {"DZERO", true, 1, true}, {"DBAD", true, 1, true},
		{"UNSET", false, 1, false}, {"N", false, 7, false}, {"NNEG", false, 1, true}, {"NBAD", false, 1, true},
	} {
		var errs []error
		var got int64
		if c.dur {
			d := time.Duration(1)
			PositiveDuration(get, &errs, c.key, &d, "10m")
			got = int64(d)
		} else {
			n := 1
			PositiveInt(get, &errs, c.key, &n)
			got = int64(n)
		}
		if got != c.want || (len(errs) > 0) != c.problem {
			t.Fatalf("%s: got %d, errors %v; want %d, a problem %v", c.key, got, errs, c.want, c.problem)
		}
		if c.problem && !strings.HasPrefix(errs[0].Error(), c.key+": ") {
			t.Fatalf("%s: the error does not name the variable: %v", c.key, errs[0])
		}
	}
}
