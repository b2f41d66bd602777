// Package configtest helps test code that reads its settings from the
// environment.
package configtest

import (
	"strings"
	"testing"
)

// Env is a lookup over vars, as os.LookupEnv is over the environment.
func Env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// WantErr checks the error of reading one case of a table: with want
// set, err must contain it and WantErr returns true (the case is done);
// with want empty, err must be nil.
func WantErr(t testing.TB, err error, want string) (done bool) {
	t.Helper()
	if want != "" {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want one containing %q", err, want)
		}
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}
