// Package envvar reads the values of environment variables that the parts'
// ConfigFromEnv functions share: each sets a field when its variable is
// set and adds an error naming the variable when the value is not what it
// must be, so that every problem is reported at once.
package envvar

import (
	"fmt"
	"strconv"
	"time"
)

// PositiveDuration sets *dst to variable k (read with get; "" leaves *dst)
// when it is a Go duration above 0; any other value adds an error to errs
// naming k, with example ("10m") as a value that would do.
func PositiveDuration(get func(string) string, errs *[]error, k string, dst *time.Duration, example string) {
	if v := get(k); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			*errs = append(*errs, fmt.Errorf("%s: %q is not a positive duration (e.g. %s)", k, v, example))
			return
		}
		*dst = d
	}
}

// PositiveInt sets *dst to variable k (read with get; "" leaves *dst) when
// it is an integer above 0; any other value adds an error to errs naming k.
func PositiveInt(get func(string) string, errs *[]error, k string, dst *int) {
	if v := get(k); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			*errs = append(*errs, fmt.Errorf("%s: %q is not a positive integer", k, v))
			return
		}
		*dst = n
	}
}
