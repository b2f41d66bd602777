package sinktest

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/fault"
	"github.com/event-grpc/event-grpc/internal/schema"
	"github.com/event-grpc/event-grpc/internal/schema/schematest"
)

// MapSource is a schematest.Source over a flat map: a column's From is a key.
type MapSource map[string]any

// Lookup implements schematest.Source.
func (m MapSource) Lookup(from string) (any, bool) { v, ok := m[from]; return v, ok }

// Row maps src to a row of tbl, failing the test if it does not map.
func Row(t testing.TB, tbl *schema.Table, src schematest.Source) schematest.Row {
	t.Helper()
	r, err := schematest.Map(tbl, src)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// AllTypes returns the table all_types, with one column of every type, in
// store and keyed on key (none: on its OrderBy columns).
func AllTypes(store schema.Store, key ...string) *schema.Table {
	return &schema.Table{
		Name:  "all_types",
		Store: store,
		Columns: []schema.Column{
			{Name: "id", Type: schema.String, From: "id", Required: true},
			{Name: "kind", Type: schema.String, From: "kind"},
			{Name: "n32", Type: schema.Int32, From: "n32"},
			{Name: "n64", Type: schema.Int64, From: "n64"},
			{Name: "f", Type: schema.Float64, From: "f"},
			{Name: "ok", Type: schema.Bool, From: "ok"},
			{Name: "at", Type: schema.DateTime, From: "at", Required: true},
			{Name: "day", Type: schema.Date, From: "day"},
			{Name: "doc", Type: schema.JSON, From: "doc"},
			{Name: "tags", Type: schema.Strings, From: "tags"},
		},
		OrderBy:     []string{"kind", "id"},
		Key:         key,
		PartitionBy: "at",
		Comment:     "test",
	}
}

// AllTypesRows returns n rows of a table made by AllTypes, ids id-00000
// onwards; row i is at base plus i hours.
func AllTypesRows(t testing.TB, tbl *schema.Table, n int, base time.Time) []schematest.Row {
	t.Helper()
	rows := make([]schematest.Row, n)
	for i := range rows {
		rows[i] = Row(t, tbl, MapSource{
			"id": fmt.Sprintf("id-%05d", i), "kind": "k" + strconv.Itoa(i%3),
			"n32": int64(-i), "n64": int64(i) << 40, "f": float64(i) + 0.25, "ok": i%2 == 0,
			"at": base.Add(time.Duration(i) * time.Hour), "day": "2024-06-10",
			"doc": map[string]any{"i": i, "s": "é\t\"q\""}, "tags": []any{"a", strconv.Itoa(i)},
		})
	}
	return rows
}

// CheckReadOnly runs a backend's read-only check on each statement, as a
// subtest: it must accept every statement of accepted and refuse every
// one of refused with a permanent error (fault.Permanent).
func CheckReadOnly(t *testing.T, readOnly func(string) error, accepted, refused []string) {
	t.Helper()
	for _, q := range accepted {
		t.Run(q, func(t *testing.T) {
			if err := readOnly(q); err != nil {
				t.Fatalf("ReadOnly(%q) = %v, want nil", q, err)
			}
		})
	}
	for _, q := range refused {
		t.Run(q, func(t *testing.T) {
			err := readOnly(q)
			if err == nil {
				t.Fatalf("ReadOnly(%q) accepted it", q)
			}
			if !fault.IsPermanent(err) {
				t.Errorf("refusal is not permanent: %v", err)
			}
		})
	}
}

// Batch returns a columnar batch of tbl holding rows, failing the test if
// they do not fit its columns.
func Batch(t testing.TB, tbl *schema.Table, rows []schematest.Row) *schema.Batch {
	t.Helper()
	b, err := schematest.BatchOf(tbl, rows)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DefaultTables is every table of schema.Default, in the order of their
// names.
func DefaultTables() []*schema.Table {
	cat := schema.Default()
	var all []*schema.Table
	for _, n := range cat.Names() {
		all = append(all, cat[n])
	}
	return all
}
