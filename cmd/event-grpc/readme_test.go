package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/event-grpc/event-grpc/internal/app/apptest"
)

// grpcurlVersion is the grpcurl the README tells a newcomer to install.
const grpcurlVersion = "v1.9.4"

// readmeBlock is one ```sh block of the README.
type readmeBlock struct {
	section string
	text    string
}

// readmeBlocks returns the README's sh blocks, each with the "## " section
// it is in.
func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []readmeBlock
	section, in := "", false
	var cur strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case in && l == "```":
			out = append(out, readmeBlock{section, cur.String()})
			cur.Reset()
			in = false
		case in:
			cur.WriteString(l + "\n")
		case l == "```sh":
			in = true
		case strings.HasPrefix(l, "## "):
			section = strings.TrimPrefix(l, "## ")
		}
	}
	return out
}

// TestReadmeFirstSession runs the README's first-session examples (grpcurl
// and curl over gRPC, JSON and Connect, the queries, the heartbeat) as they
// are written — only the ports changed to private ones and `go run
// ./cmd/event-grpc` to the built binary — against a started server, and
// checks the answers the README documents.
func TestReadmeFirstSession(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed (apt-get install curl)")
	}
	bin := buildBinary(t)
	gobin := t.TempDir()
	install := exec.Command("go", "install", "github.com/fullstorydev/grpcurl/cmd/grpcurl@"+grpcurlVersion)
	install.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install grpcurl@%s: %v\n%s", grpcurlVersion, err, out)
	}
	grpcPort, httpPort := freePort(t), freePort(t)
	a := apptest.Start(t, map[string]string{"PORT": grpcPort, "GIN_PORT": httpPort})

	var blocks []readmeBlock
	for _, b := range readmeBlocks(t) {
		switch {
		case b.section == "A first session" && strings.TrimSpace(b.text) == "go run ./cmd/event-grpc":
			// starting the server: the test did
		case b.section == "A first session" && strings.Contains(b.text, " bench "):
			// a 20 s load run: bench has tests of its own
		case b.section == "A first session",
			b.section == "Clients" && strings.Contains(b.text, "curl "):
			blocks = append(blocks, b)
		}
	}
	if len(blocks) != 5 {
		t.Fatalf("found %d first-session and Connect examples in the README, want 5 (grpcurl, curl, query, heartbeat, Connect curl): update this test with the README", len(blocks))
	}
	ports := strings.NewReplacer("localhost:8017", "localhost:"+grpcPort, "localhost:8019", "localhost:"+httpPort,
		"go run ./cmd/event-grpc ", bin+" ")
	sh := func(b readmeBlock) string {
		t.Helper()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", ports.Replace(b.text))
		// The commands find the server by the variables the server reads.
		cmd.Env = append(os.Environ(), "PATH="+gobin+string(os.PathListSeparator)+os.Getenv("PATH"),
			"PORT="+grpcPort, "GIN_PORT="+httpPort, "LISTEN_ADDR=", "ENV=", "ADMIN_TOKEN=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README example failed: %v\n%s\noutput:\n%s", err, b.text, out)
		}
		return string(out)
	}
	accepted := regexp.MustCompile(`"accepted":\s*true`)
	for _, b := range blocks {
		switch {
		case strings.Contains(b.text, "grpcurl"):
			out := sh(b)
			// list, then dispatch: two accepted, the third rejected.
			if !strings.Contains(out, "eventgrpc.v1.EventService") {
				t.Errorf("grpcurl list does not show the service:\n%s", out)
			}
			if n := len(accepted.FindAllString(out, -1)); n != 2 || !strings.Contains(out, "event has no eventOf set") {
				t.Errorf("grpcurl dispatch: %d accepted, want 2 and the third rejected (event has no eventOf set):\n%s", n, out)
			}
		case strings.Contains(b.text, "/v1/events"):
			if out := sh(b); !accepted.MatchString(out) {
				t.Errorf("curl /v1/events: not accepted:\n%s", out)
			}
		case strings.Contains(b.text, " query "):
			// What the two dispatches above accepted has landed.
			apptest.WaitRows(t, a, 30*time.Second, "SELECT count(*) FROM event", "3")
			out := sh(b)
			want := documentedOutput(b.text, "query 'SELECT count(*) AS events FROM event'")
			if want == "" || !strings.HasPrefix(out, want) {
				t.Errorf("query: the README says\n%s\ngot\n%s", want, out)
			}
			if !strings.Contains(out, "event_name\tuser_id\tsession_id\tevent_params\n") {
				t.Errorf("the second query has no header row:\n%s", out)
			}
		case strings.Contains(b.text, "/heartbeat"):
			sh(b)
			if body := httpGet(t, apptest.URL(a)+"/heartbeat"); body == "" {
				t.Error("/heartbeat answers nothing after beat=true")
			}
			if ok, why := a.State.Ready(); !ok {
				t.Errorf("not ready after the heartbeat example: %s", why)
			}
		case strings.Contains(b.text, "EventService/dispatch"):
			out := sh(b)
			if !strings.Contains(out, `"status":"STATUS_OK"`) || !accepted.MatchString(out) {
				t.Errorf("Connect curl: want STATUS_OK and accepted:\n%s", out)
			}
		default:
			t.Errorf("a README example this test does not check:\n%s", b.text)
		}
	}
	apptest.WaitRows(t, a, 30*time.Second, "SELECT count(*) FROM event", "4")
}

// documentedOutput is the "# " comment lines right after the line that
// ends with cmd: the output the README shows for it.
func documentedOutput(block, cmd string) string {
	lines := strings.Split(block, "\n")
	for i, l := range lines {
		if !strings.HasSuffix(l, cmd) {
			continue
		}
		var out strings.Builder
		for _, o := range lines[i+1:] {
			if !strings.HasPrefix(o, "# ") {
				break
			}
			out.WriteString(strings.TrimPrefix(o, "# ") + "\n")
		}
		return out.String()
	}
	return ""
}
