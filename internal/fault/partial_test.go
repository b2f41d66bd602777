package fault

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestPartial(t *testing.T) {
	if NewPartial(nil) != nil || NewPartial(map[int]error{}) != nil {
		t.Fatal("an empty partial failure must be nil")
	}
	bad := Permanentf("row 7 is bad")
	err := fmt.Errorf("write: %w", NewPartial(map[int]error{7: bad, 2: errors.New("two")}))
	p, ok := AsPartial(err)
	if !ok {
		t.Fatalf("AsPartial(%v) = false", err)
	}
	if got := p.Indexes(); len(got) != 2 || got[0] != 2 || got[1] != 7 {
		t.Fatalf("Indexes = %v, want [2 7]", got)
	}
	if !strings.Contains(err.Error(), "first #2: two") {
		t.Errorf("message %q does not name the first failed item", err)
	}
	if f := FailedOf(err); f[7] != bad {
		t.Errorf("FailedOf lost item 7: %v", f)
	}
	if FailedOf(errors.New("down")) != nil {
		t.Error("FailedOf of a whole-batch error must be nil")
	}
	if _, ok := AsPartial(errors.New("down")); ok {
		t.Error("AsPartial of a plain error")
	}
}
