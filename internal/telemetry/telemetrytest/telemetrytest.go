// Package telemetrytest reads metrics back from a registry in tests.
package telemetrytest

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Value is the sum of the counter or gauge series of family name in g
// whose labels include labels (name, value pairs: "kind", "overloaded");
// 0 when none does. With every label of the family given, that is the
// one series' value.
func Value(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	v, _ := Lookup(t, g, name, labels...)
	return v
}

// Lookup is Value that also reports whether any series matched.
func Lookup(t testing.TB, g prometheus.Gatherer, name string, labels ...string) (sum float64, found bool) {
	t.Helper()
	if len(labels)%2 != 0 {
		t.Fatalf("telemetrytest: labels %q are not name, value pairs", labels)
	}
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if m.GetGauge() != nil {
				sum += m.GetGauge().GetValue()
			} else {
				sum += m.GetCounter().GetValue()
			}
			found = true
		}
	}
	return sum, found
}

// Text is every family g gathers, in the protobuf text form, for a test
// that looks for a string anywhere among the metrics (a label value that
// must not show, say).
func Text(t testing.TB, g prometheus.Gatherer) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		b.WriteString(mf.String())
	}
	return b.String()
}
