// Command kubecheck validates rendered Kubernetes manifests (helm template
// output) without a cluster: `kubectl apply --dry-run=client` needs an API
// server for discovery and the OpenAPI schema, and kubeconform downloads
// its schemas, neither possible offline. Each document is decoded strictly
// (unknown or mistyped fields are errors, as the server's schema would
// reject them) into the k8s.io/api type of its kind, then checked for what
// the server or the rollout would trip on: selectors that miss the pod
// labels, probes and mounts that name no port or volume, invalid names.
// PrometheusRule groups are written to -rules for `promtool check rules`.
//
//	helm template … | go run . [-rules out.yml] [-kinds Deployment,Service]
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

type meta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// The Prometheus Operator kinds, with the fields the chart uses.
type serviceMonitor struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       struct {
		Selector  struct{ MatchLabels map[string]string } `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type prometheusRule struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       struct {
		Groups []map[string]any `json:"groups"`
	} `json:"spec"`
}

func main() {
	rulesOut := flag.String("rules", "", "write the PrometheusRule groups here (for promtool check rules)")
	want := flag.String("kinds", "", "comma-separated kinds that must be present")
	flag.Parse()
	in, err := io.ReadAll(io.LimitReader(os.Stdin, 16<<20))
	if err != nil {
		fail(err)
	}
	var errs []error
	kinds := map[string]int{}
	var services []corev1.Service
	var pods []podOf
	for i, doc := range split(in) {
		var m meta
		if err := yaml.Unmarshal(doc, &m); err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i, err))
			continue
		}
		if m.Kind == "" {
			continue
		}
		kinds[m.Kind]++
		where := m.Kind + "/" + m.Metadata.Name
		for _, e := range validation.IsDNS1123Subdomain(m.Metadata.Name) {
			errs = append(errs, fmt.Errorf("%s: name: %s", where, e))
		}
		strict := func(v any) bool {
			if err := yaml.UnmarshalStrict(doc, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				return false
			}
			return true
		}
		switch m.Kind {
		case "Deployment":
			var d appsv1.Deployment
			if strict(&d) {
				pods = append(pods, podOf{where, d.Spec.Selector.MatchLabels, d.Spec.Template, nil})
			}
		case "StatefulSet":
			var s appsv1.StatefulSet
			if strict(&s) {
				var claims []string
				for _, c := range s.Spec.VolumeClaimTemplates {
					claims = append(claims, c.Name)
					if c.Spec.Resources.Requests.Storage().IsZero() {
						errs = append(errs, fmt.Errorf("%s: claim %s requests no storage", where, c.Name))
					}
				}
				if s.Spec.ServiceName == "" {
					errs = append(errs, fmt.Errorf("%s: no serviceName", where))
				}
				pods = append(pods, podOf{where, s.Spec.Selector.MatchLabels, s.Spec.Template, claims})
			}
		case "Service":
			var s corev1.Service
			if strict(&s) {
				services = append(services, s)
			}
		case "Secret":
			var s corev1.Secret
			strict(&s)
		case "PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			strict(&p)
		case "ServiceMonitor":
			var s serviceMonitor
			if strict(&s) && (len(s.Spec.Endpoints) == 0 || len(s.Spec.Selector.MatchLabels) == 0) {
				errs = append(errs, fmt.Errorf("%s: no endpoints or selector", where))
			}
		case "PrometheusRule":
			var r prometheusRule
			if strict(&r) {
				if len(r.Spec.Groups) == 0 {
					errs = append(errs, fmt.Errorf("%s: no rule groups", where))
				}
				if *rulesOut != "" {
					b, err := yaml.Marshal(map[string]any{"groups": r.Spec.Groups})
					if err == nil {
						err = os.WriteFile(*rulesOut, b, 0o644)
					}
					if err != nil {
						errs = append(errs, err)
					}
				}
			}
		default:
			errs = append(errs, fmt.Errorf("%s: kind %s is not checked here; add it", where, m.Kind))
		}
	}
	for _, p := range pods {
		errs = append(errs, p.check(services)...)
	}
	if *want != "" {
		for k := range strings.SplitSeq(*want, ",") {
			if kinds[k] == 0 {
				errs = append(errs, fmt.Errorf("no %s rendered", k))
			}
		}
	}
	var names []string
	for k, n := range kinds {
		names = append(names, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(names)
	if err := errors.Join(errs...); err != nil {
		fail(err)
	}
	fmt.Printf("kubecheck: ok: %s\n", strings.Join(names, " "))
}

type podOf struct {
	where    string
	selector map[string]string
	tmpl     corev1.PodTemplateSpec
	claims   []string
}

func (p podOf) check(services []corev1.Service) []error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(p.where+": "+f, a...)) }
	if len(p.selector) == 0 {
		bad("empty selector")
	}
	for k, v := range p.selector {
		if p.tmpl.Labels[k] != v {
			bad("selector %s=%s does not match the pod labels %v", k, v, p.tmpl.Labels)
		}
	}
	vols := map[string]bool{}
	for _, v := range p.tmpl.Spec.Volumes {
		vols[v.Name] = true
	}
	for _, c := range p.claims {
		vols[c] = true
	}
	if len(p.tmpl.Spec.Containers) == 0 {
		bad("no containers")
	}
	for _, c := range p.tmpl.Spec.Containers {
		ports := map[string]int32{}
		for _, cp := range c.Ports {
			ports[cp.Name] = cp.ContainerPort
		}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				bad("container %s mounts %s, which is no volume", c.Name, m.Name)
			}
		}
		for name, pr := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
			if pr == nil {
				bad("container %s has no %s probe", c.Name, name)
				continue
			}
			var port string
			switch {
			case pr.HTTPGet != nil:
				port = pr.HTTPGet.Port.String()
			case pr.TCPSocket != nil:
				port = pr.TCPSocket.Port.String()
			case pr.GRPC != nil:
				port = fmt.Sprint(pr.GRPC.Port)
			default:
				bad("%s probe has no handler", name)
				continue
			}
			found := ports[port] != 0
			for _, v := range ports {
				found = found || fmt.Sprint(v) == port
			}
			if !found {
				bad("%s probe port %s is not a container port", name, port)
			}
		}
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		if p.tmpl.Spec.TerminationGracePeriodSeconds == nil {
			bad("no terminationGracePeriodSeconds")
		} else {
			grace, timeout := seconds(env["SHUTDOWN_GRACE"]), seconds(env["SHUTDOWN_TIMEOUT"])
			if grace < 0 || timeout <= 0 || *p.tmpl.Spec.TerminationGracePeriodSeconds <= grace+timeout {
				bad("terminationGracePeriodSeconds %d must exceed SHUTDOWN_GRACE %q + SHUTDOWN_TIMEOUT %q",
					*p.tmpl.Spec.TerminationGracePeriodSeconds, env["SHUTDOWN_GRACE"], env["SHUTDOWN_TIMEOUT"])
			}
		}
	}
	matched := false
	for _, s := range services {
		ok := len(s.Spec.Selector) > 0
		for k, v := range s.Spec.Selector {
			ok = ok && p.tmpl.Labels[k] == v
		}
		matched = matched || ok
	}
	if !matched {
		bad("no Service selects its pods")
	}
	return errs
}

// seconds parses the chart's "<n>s" durations; -1 when it is not one.
func seconds(v string) int64 {
	var n int64
	if _, err := fmt.Sscanf(v, "%ds", &n); err != nil || fmt.Sprintf("%ds", n) != v {
		return -1
	}
	return n
}

// split cuts a multi-document YAML stream at its `---` lines.
func split(in []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(in))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimRight(line, " ") == "---" {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	return append(docs, cur.Bytes())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kubecheck:", err)
	os.Exit(1)
}
