package schema

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/topology"
)

// Every table a queue of the default topology writes is declared, and the
// handler kind matches the columns' sources.
func TestTopologyTablesAreDeclared(t *testing.T) {
	cat := Default()
	used := map[string]bool{}
	for _, q := range topology.Default().Queues {
		for _, name := range q.Tables {
			used[name] = true
			t.Run(q.Name+"/"+name, func(t *testing.T) {
				tbl, ok := cat.Lookup(name)
				if !ok {
					t.Fatalf("queue %s writes table %s, which is not declared", q.Name, name)
				}
				for _, c := range tbl.Columns {
					for _, alt := range alternatives(c.From) {
						switch q.Handler {
						case topology.HandlerJSON:
							if !jsonSourcePrefix(alt) {
								t.Errorf("column %s: From %q is not a JSON-handler source", c.Name, c.From)
							}
						case topology.HandlerEvents:
							if !eventSourcePrefix(alt) {
								t.Errorf("column %s: From %q is not an events-handler source", c.Name, c.From)
							}
						}
					}
				}
			})
		}
	}
	// entity_metric has no queue in the default topology yet; every other
	// declared table is written by one.
	for _, name := range cat.Names() {
		if !used[name] && name != "entity_metric" {
			t.Errorf("table %s is declared but no queue writes it", name)
		}
	}
}

func alternatives(from string) []string {
	var out []string
	for {
		if strings.HasPrefix(from, "const:") {
			return append(out, from)
		}
		first, rest, more := strings.Cut(from, "|")
		out = append(out, first)
		if !more {
			return out
		}
		from = rest
	}
}

func jsonSourcePrefix(from string) bool {
	return from == "$" || strings.HasPrefix(from, "$.") || strings.HasPrefix(from, "header:") ||
		from == "meta.insert_time" || from == "meta.message_id" || strings.HasPrefix(from, "const:")
}

func eventSourcePrefix(from string) bool {
	switch from {
	case "event.id", "event.name", "event.timestamp", "event.params", "meta.insert_time",
		"event.user_id", "event.anonymous_id", "event.context", "event.integrations":
		return true
	}
	return strings.HasPrefix(from, "payload.") || strings.HasPrefix(from, "header.")
}

func TestTableConventions(t *testing.T) {
	transactional := map[string]bool{"user_account": true, "referral_event": true}
	for _, tbl := range defaultTables() {
		t.Run(tbl.Name, func(t *testing.T) {
			if got, want := tbl.Store == Transactional, transactional[tbl.Name]; got != want {
				t.Errorf("store %s", tbl.Store)
			}
			i := tbl.Index("insert_timestamp")
			if i < 0 {
				t.Fatal("no insert_timestamp column")
			}
			if c := tbl.Columns[i]; c.Type != DateTime || c.From != "meta.insert_time" || !c.Required {
				t.Errorf("insert_timestamp is %+v", c)
			}
			for _, k := range tbl.UniqueKey() {
				// client_id scopes event_id and may be empty (its zero
				// value, never NULL): a request without clientId.
				if c := tbl.Columns[tbl.Index(k)]; !c.Required && k != "client_id" {
					t.Errorf("key column %s is not required", k)
				}
			}
			if tbl.PartitionBy == "" {
				t.Error("no partition column")
			}
			if tbl.Comment == "" {
				t.Error("no comment")
			}
		})
	}
}

// The typed event tables read payload fields that exist in the proto, with
// a column type that fits the field's kind.
func TestPayloadColumnsMatchProto(t *testing.T) {
	msgs := map[string]protoreflect.MessageDescriptor{
		"error_event":        (&eventgrpcv1.ErrorEvent{}).ProtoReflect().Descriptor(),
		"click_event":        (&eventgrpcv1.ClickEvent{}).ProtoReflect().Descriptor(),
		"app_init_event":     (&eventgrpcv1.AppInitEvent{}).ProtoReflect().Descriptor(),
		"launch_refer_event": (&eventgrpcv1.LaunchReferEvent{}).ProtoReflect().Descriptor(),
		"referral_event":     (&eventgrpcv1.LaunchReferEvent{}).ProtoReflect().Descriptor(),
		"ab_assignment":      (&eventgrpcv1.AbAssignmentEvent{}).ProtoReflect().Descriptor(),
	}
	header := (&eventgrpcv1.Header{}).ProtoReflect().Descriptor()
	cat := Default()
	for name, md := range msgs {
		t.Run(name, func(t *testing.T) {
			tbl := cat[name]
			seen := 0
			for _, c := range tbl.Columns {
				switch {
				case strings.HasPrefix(c.From, "payload."):
					seen++
					fd := md.Fields().ByName(protoreflect.Name(strings.TrimPrefix(c.From, "payload.")))
					if fd == nil {
						t.Errorf("column %s: %s has no field %s", c.Name, md.Name(), c.From)
						continue
					}
					if !kindFits(c.Type, fd) {
						t.Errorf("column %s (%s) does not fit field %s (%s, list %v)", c.Name, c.Type, fd.Name(), fd.Kind(), fd.IsList())
					}
				case strings.HasPrefix(c.From, "header."):
					if header.Fields().ByName(protoreflect.Name(strings.TrimPrefix(c.From, "header."))) == nil {
						t.Errorf("column %s: Header has no field %s", c.Name, c.From)
					}
				}
			}
			if seen != md.Fields().Len() {
				t.Errorf("%d payload columns for %d fields of %s", seen, md.Fields().Len(), md.Name())
			}
		})
	}
}

func kindFits(t Type, fd protoreflect.FieldDescriptor) bool {
	if fd.IsList() {
		return t == Strings && fd.Kind() == protoreflect.StringKind
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return t == String || t == JSON
	case protoreflect.BoolKind:
		return t == Bool
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		return t == Float64
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return t == Int32 || t == Int64
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return t == Int64 || t == DateTime // epoch milliseconds
	}
	return false
}

func TestValidateVersion(t *testing.T) {
	tests := []struct {
		name    string
		version string
		ok      bool
	}{
		{"datetime", "updated", true},
		{"date", "day", true},
		{"integer", "n64", false},
		{"undeclared", "nope", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl := sample()
			tbl.Version = tc.version
			if err := tbl.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}
