// Package compose checks the compose files of deploy/compose without a
// container engine (none runs here, and the docker client has no compose
// plugin): every file they mount exists, every event-grpc variable they set
// is one the service reads and the whole environment passes the service's
// own validation, every secret and *_FILE path is declared, and haproxy and
// Prometheus point at services and ports that exist.
package compose

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/event-grpc/event-grpc/internal/config"
)

type file struct {
	Services map[string]service `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"`
}

type service struct {
	Image       string                                `yaml:"image"`
	Build       *struct{ Context, Dockerfile string } `yaml:"build"`
	Environment map[string]string                     `yaml:"environment"`
	Volumes     []string                              `yaml:"volumes"`
	Secrets     []string                              `yaml:"secrets"`
	Ports       []string                              `yaml:"ports"`
}

func load(t *testing.T, name string) file {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var f file
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(f.Services) == 0 {
		t.Fatalf("%s: no services", name)
	}
	return f
}

// readNames is every variable the configuration looks up, *_FILE included.
func readNames(t *testing.T) map[string]bool {
	var mu sync.Mutex
	asked := map[string]bool{}
	if _, err := config.Load(func(k string) (string, bool) {
		mu.Lock()
		asked[k] = true
		mu.Unlock()
		return "", false
	}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	return asked
}

func isEventGrpc(s service) bool { return strings.HasPrefix(s.Image, "event-grpc:") }

func TestComposeFiles(t *testing.T) {
	read := readNames(t)
	for _, name := range []string{"quickstart.yml", "production.yml"} {
		t.Run(name, func(t *testing.T) {
			f := load(t, name)
			n := 0
			for sname, s := range f.Services {
				if s.Build != nil {
					if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
						t.Errorf("%s: build: %v", sname, err)
					}
				}
				for _, v := range s.Volumes {
					src, _, ok := strings.Cut(v, ":")
					if !ok {
						t.Errorf("%s: volume %q has no target", sname, v)
						continue
					}
					if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
						if _, err := os.Stat(src); err != nil {
							t.Errorf("%s: mounts %s: %v", sname, src, err)
						}
					} else if _, ok := f.Volumes[src]; !ok {
						t.Errorf("%s: volume %s is not declared", sname, src)
					}
				}
				for _, sec := range s.Secrets {
					if _, ok := f.Secrets[sec]; !ok {
						t.Errorf("%s: secret %s is not declared", sname, sec)
					}
				}
				if !isEventGrpc(s) {
					continue
				}
				n++
				checkEnv(t, sname, s, read)
			}
			if n == 0 {
				t.Fatal("no event-grpc service")
			}
		})
	}
}

// checkEnv: every variable is read by the service, each *_FILE names a
// secret the service mounts, and the environment (secrets written to
// temporary files) passes config.Load.
func checkEnv(t *testing.T, sname string, s service, read map[string]bool) {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{}
	for k, v := range s.Environment {
		if !read[k] {
			t.Errorf("%s: %s is not a variable event-grpc reads", sname, k)
		}
		if strings.HasSuffix(k, "_FILE") {
			sec, ok := strings.CutPrefix(v, "/run/secrets/")
			if !ok || !contains(s.Secrets, sec) {
				t.Errorf("%s: %s=%s is not one of its secrets %v", sname, k, v, s.Secrets)
				continue
			}
			val := "compose-test-secret-0123456789"
			if k == "AUTH_KEYS_FILE" {
				val = "backend:compose-test-key-0123456789\n"
			}
			p := filepath.Join(dir, sec)
			if err := os.WriteFile(p, []byte(val), 0o600); err != nil {
				t.Fatal(err)
			}
			v = p
		}
		env[k] = v
	}
	if _, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, t.TempDir()); err != nil {
		t.Errorf("%s: its environment does not pass the service's validation:\n%v", sname, err)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// haproxy's servers and Prometheus's targets are event-grpc services on the
// ports those services listen on; haproxy checks /heartbeat.
func TestProductionWiring(t *testing.T) {
	f := load(t, "production.yml")
	ports := map[string]bool{}
	var names []string
	for sname, s := range f.Services {
		if isEventGrpc(s) {
			names = append(names, sname)
			ports[sname+":"+s.Environment["PORT"]] = true
			ports[sname+":"+s.Environment["GIN_PORT"]] = true
		}
	}
	sort.Strings(names)
	if len(names) < 2 {
		t.Fatalf("want two event-grpc instances, have %v", names)
	}
	hc, err := os.Open("haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	server := regexp.MustCompile(`^\s*server\s+\S+\s+(\S+)`)
	seen := map[string]bool{}
	checks := 0
	sc := bufio.NewScanner(hc)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "httpchk GET /heartbeat") {
			checks++
		}
		if m := server.FindStringSubmatch(line); m != nil {
			if !ports[m[1]] {
				t.Errorf("haproxy.cfg: server %s is no event-grpc service port (%v)", m[1], ports)
			}
			seen[strings.Split(m[1], ":")[0]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if checks != 2 {
		t.Errorf("haproxy.cfg: want a /heartbeat check on the gRPC and the HTTP backend, found %d", checks)
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("haproxy.cfg: instance %s is in no backend", n)
		}
	}

	b, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &prom); err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				if !ports[tg] {
					t.Errorf("prometheus.yml: target %s is no event-grpc service port", tg)
				}
				targets[strings.Split(tg, ":")[0]] = true
			}
		}
	}
	for _, n := range names {
		if !targets[n] {
			t.Errorf("prometheus.yml: instance %s is not scraped", n)
		}
	}
	mounted := strings.Join(f.Services["prometheus"].Volumes, " ")
	for _, r := range prom.RuleFiles {
		if !strings.Contains(mounted, ":"+r+":") {
			t.Errorf("prometheus.yml: rule file %s is not mounted (%s)", r, mounted)
		}
	}
}
