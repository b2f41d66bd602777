package schema

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/topology"
)

var update = flag.Bool("update", false, "rewrite the generated field tables of docs/messages.md")

const messagesDoc = "../../docs/messages.md"

// docs/messages.md describes every JSON queue; its field tables match the
// declarations and its examples map to rows.
func TestMessagesDoc(t *testing.T) {
	b, err := os.ReadFile(messagesDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	cat := Default()

	jsonTables := map[string]bool{}
	for _, q := range topology.Default().Queues {
		if q.Handler != topology.HandlerJSON {
			continue
		}
		for _, name := range q.Tables {
			jsonTables[name] = true
			line := regexp.MustCompile("(?m)^\\|.*`" + regexp.QuoteMeta(q.Name) + "`.*\\| `" + regexp.QuoteMeta(name) + "` \\|")
			if !line.MatchString(doc) {
				t.Errorf("queue %s → table %s is not in the table of queues", q.Name, name)
			}
		}
	}

	// Field tables.
	out := doc
	for name := range jsonTables {
		open := "<!-- fields:" + name + " -->\n"
		i := strings.Index(out, open)
		if i < 0 {
			t.Errorf("no %q section", strings.TrimSpace(open))
			continue
		}
		j := strings.Index(out[i:], "<!-- /fields -->")
		if j < 0 {
			t.Fatalf("%s: no closing marker", name)
		}
		out = out[:i+len(open)] + fieldsTable(cat[name]) + out[i+j:]
	}
	if out != doc {
		if *update {
			if err := os.WriteFile(messagesDoc, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Log("updated", messagesDoc)
		} else {
			t.Errorf("the field tables of %s are out of date: go test ./internal/schema -run TestMessagesDoc -update", messagesDoc)
		}
	}

	// Examples.
	examples := blocks(t, doc, "example")
	headers := blocks(t, doc, "headers")
	for name := range jsonTables {
		if len(examples[name]) == 0 {
			t.Errorf("table %s has no example", name)
		}
	}
	for name, list := range examples {
		tbl, ok := cat[name]
		if !ok {
			t.Errorf("example of undeclared table %s", name)
			continue
		}
		for i, body := range list {
			t.Run(fmt.Sprintf("%s/%d", name, i), func(t *testing.T) {
				dec := json.NewDecoder(strings.NewReader(body))
				dec.UseNumber()
				var m map[string]any
				if err := dec.Decode(&m); err != nil {
					t.Fatalf("example is not a JSON object: %v", err)
				}
				var hdr map[string]string
				if h := headers[name]; len(h) > 0 {
					if err := json.Unmarshal([]byte(h[0]), &hdr); err != nil {
						t.Fatal(err)
					}
				}
				mp, err := CompileJSON(tbl)
				if err != nil {
					t.Fatal(err)
				}
				if err := mp.Append(NewBatch(tbl), &JSONRow{Doc: m, Headers: hdr, InsertTime: time.Now(), MessageID: "msg-1"}); err != nil {
					t.Fatalf("example does not map: %v", err)
				}
				// Every field of the example is one the table reads, unless
				// the table keeps the whole message.
				known := map[string]bool{}
				whole := false
				for _, c := range tbl.Columns {
					for _, alt := range alternatives(c.From) {
						if alt == "$" {
							whole = true
						}
						if p, ok := strings.CutPrefix(alt, "$."); ok {
							known[strings.Split(p, ".")[0]] = true
						}
					}
				}
				for k := range m {
					if !known[k] && !whole {
						t.Errorf("example field %q is not read by table %s", k, name)
					}
				}
			})
		}
	}
}

// blocks returns the ```json blocks that follow <!-- kind:name --> markers.
func blocks(t *testing.T, doc, kind string) map[string][]string {
	re := regexp.MustCompile("(?s)<!-- " + kind + ":([a-z_]+) -->\\s*```json\\n(.*?)```")
	out := map[string][]string{}
	for _, m := range re.FindAllStringSubmatch(doc, -1) {
		out[m[1]] = append(out[m[1]], m[2])
	}
	return out
}

// fieldsTable renders a table's columns as the message fields they read.
func fieldsTable(t *Table) string {
	var b bytes.Buffer
	b.WriteString("| field | column | type | required |\n|---|---|---|---|\n")
	for _, c := range t.Columns {
		var parts []string
		fallback := false
		for _, alt := range alternatives(c.From) {
			switch {
			case alt == "$":
				parts = append(parts, "the whole message")
			case strings.HasPrefix(alt, "$."):
				parts = append(parts, "`"+alt[2:]+"`")
			case strings.HasPrefix(alt, "header:"):
				parts = append(parts, "header `"+alt[len("header:"):]+"`")
			case alt == "meta.insert_time":
				parts = append(parts, "(when consumed)")
				fallback = true
			case alt == "meta.message_id":
				parts = append(parts, "(message id)")
				fallback = true
			case strings.HasPrefix(alt, "const:"):
				parts = append(parts, "`"+alt[len("const:"):]+"`")
				fallback = true
			default:
				parts = append(parts, "`"+alt+"`")
			}
		}
		req := ""
		if c.Required && !fallback {
			req = "yes"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", strings.Join(parts, " else "), c.Name, typeDoc[c.Type], req)
	}
	return b.String()
}

var typeDoc = map[Type]string{
	String:   "string",
	Int32:    "integer (32-bit)",
	Int64:    "integer",
	Float64:  "number",
	Bool:     "boolean",
	DateTime: "time",
	Date:     "date",
	JSON:     "any JSON",
	Strings:  "array of strings",
}

func TestFieldsTableSample(t *testing.T) {
	tbl := &Table{Columns: []Column{
		{Name: "id", Type: String, From: "$.id|meta.message_id", Required: true},
		{Name: "topic", Type: String, From: "header:x-topic"},
		{Name: "n", Type: Int64, From: "$.a.n", Required: true},
	}}
	want := "| field | column | type | required |\n|---|---|---|---|\n" +
		"| `id` else (message id) | `id` | string |  |\n" +
		"| header `x-topic` | `topic` | string |  |\n" +
		"| `a.n` | `n` | integer | yes |\n"
	if got := fieldsTable(tbl); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
