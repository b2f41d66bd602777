package schematest

import (
	"errors"
	"testing"

	"github.com/event-grpc/event-grpc/internal/schema"
)

// A row whose Go values do not fit its columns never enters a batch.
func TestBatchRefusesWrongTypes(t *testing.T) {
	tbl := &schema.Table{Name: "t", Columns: []schema.Column{{Name: "n", Type: schema.Int32}, {Name: "s", Type: schema.String}}}
	b := schema.NewBatch(tbl)
	if err := AppendRow(b, Row{int32(1), "a"}); err != nil {
		t.Fatal(err)
	}
	var ce *schema.ColumnError
	if err := AppendRow(b, Row{"seven", "b"}); !errors.As(err, &ce) || ce.Column != "n" {
		t.Fatalf("err = %v, want a ColumnError naming n", err)
	}
	if b.Len() != 1 || len(b.Cols[0].I32) != 1 || len(b.Cols[1].Str) != 1 {
		t.Fatalf("a refused row left values behind: %+v", b.Cols)
	}
}
