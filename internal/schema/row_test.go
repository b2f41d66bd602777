package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCompiledAlternatives(t *testing.T) {
	ins := time.Date(2024, 6, 10, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		from string
		doc  string
		hdr  map[string]string
		meta map[string]any
		want any
		ok   bool // has a value
	}{
		{"first wins", "$.a|$.b", `{"a":"x","b":"y"}`, nil, nil, "x", true},
		{"second when first missing", "$.a|$.b", `{"b":"y"}`, nil, nil, "y", true},
		{"second when first null", "$.a|$.b", `{"a":null,"b":"y"}`, nil, nil, "y", true},
		{"meta fallback", "$.event_id|meta.message_id", `{}`, nil, map[string]any{"message_id": "m-1"}, "m-1", true},
		{"header then json", "header:x-id|$.id", `{"id":"j"}`, map[string]string{"x-id": "h"}, nil, "h", true},
		{"const default", "$.status|const:new", `{}`, nil, nil, "new", true},
		{"const keeps pipes", "$.s|const:a|b", `{}`, nil, nil, "a|b", true},
		{"none", "$.a|$.b", `{}`, nil, nil, "", false},
		{"meta insert time", "meta.insert_time", `{}`, nil, map[string]any{"insert_time": ins}, ins, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ := String
			if _, isTime := tc.want.(time.Time); isTime {
				typ = DateTime
			}
			tbl := &Table{Name: "t", Columns: []Column{{Name: "c", Type: typ, From: tc.from, Required: true}}}
			mp, err := CompileJSON(tbl)
			if err != nil {
				t.Fatal(err)
			}
			src := &JSONRow{Doc: decode(t, tc.doc), Headers: tc.hdr}
			src.MessageID, _ = tc.meta["message_id"].(string)
			src.InsertTime, _ = tc.meta["insert_time"].(time.Time)
			b := NewBatch(tbl)
			err = mp.Append(b, src)
			if !tc.ok {
				if !errors.Is(err, ErrMissing) {
					t.Fatalf("want ErrMissing, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got any
			if typ == DateTime {
				got = b.Cols[0].Time[0]
			} else {
				got = b.Cols[0].Str[0]
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestConvertTimeLayouts(t *testing.T) {
	want := time.Date(2018, 1, 1, 18, 10, 10, 0, time.UTC)
	for _, s := range []string{
		"2018-01-01T10:10:10-0800", // WebEngage's eventTime
		"2018-01-01T10:10:10-08:00",
		"2018-01-01T18:10:10Z",
		"2018-01-01 18:10:10",
		"2018-01-01T23:40:10+0530",
		"1514830210000",
		"1514830210",
	} {
		t.Run(s, func(t *testing.T) {
			got, err := Convert(DateTime, s)
			if err != nil {
				t.Fatal(err)
			}
			if !got.(time.Time).Equal(want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	if _, err := Convert(DateTime, "10/01/2018"); err == nil {
		t.Error("a date in no known layout converted")
	}
}
