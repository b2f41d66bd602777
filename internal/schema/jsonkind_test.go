package schema

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestJSONKind(t *testing.T) {
	tests := []struct {
		doc  string
		want string
	}{
		{`null`, "null"},
		{`"x"`, "a string"},
		{`1.5`, "a number"},
		{`true`, "a boolean"},
		{`[1]`, "an array"},
		{`{"a":1}`, "map[string]interface {}"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			dec := json.NewDecoder(bytes.NewReader([]byte(tc.doc)))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			if got := JSONKind(v); got != tc.want {
				t.Fatalf("JSONKind(%s) = %q, want %q", tc.doc, got, tc.want)
			}
		})
	}
}
