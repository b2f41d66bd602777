package config

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// secretNames are the variables that carry a secret. Each NAME may instead
// be given as NAME_FILE, the path of a file holding the value (a mounted
// Kubernetes or Docker secret), so the secret never sits in the process
// environment or a manifest. (API keys have their own file variable,
// AUTH_KEYS_FILE, one client_id:key a line.)
var secretNames = []string{
	"ADMIN_TOKEN",
	"RABBIT_PASSWORD",
	"CLICKHOUSE_PASSWORD",
	"POSTGRES_PASSWORD",
	"REDIS_CLUSTER_PASSWORD",
	"SENTRY_DSN",
	"WEBENGAGE_API_KEY",
	"WEBENGAGE_BRAND_API_KEY",
	"BRANCH_WEBHOOK_SECRET",
	"WEBENGAGE_WEBHOOK_SECRET",
	"VIDOOLY_WEBHOOK_SECRET",
	"SHOPIFY_WEBHOOK_SECRET",
	"GRAPHY_WEBHOOK_SECRET",
}

// maxSecretFileBytes bounds what a NAME_FILE may hold.
const maxSecretFileBytes = 64 << 10

// withSecretFiles returns a lookup that answers each secret NAME from the
// file NAME_FILE names when NAME itself is unset or empty. One trailing
// newline (as `echo` or an editor leaves) is removed. Setting both NAME and
// NAME_FILE, an unreadable file and a file over 64 KiB are errors, each
// appended to errs once.
func withSecretFiles(lookup Lookup, errs *[]error) Lookup {
	files := map[string]string{}
	for _, name := range secretNames {
		path, ok := lookup(name + "_FILE")
		if !ok || strings.TrimSpace(path) == "" {
			continue
		}
		if v, ok := lookup(name); ok && v != "" {
			*errs = append(*errs, fmt.Errorf("%s_FILE: %s is set too; set one of them", name, name))
			continue
		}
		v, err := readSecretFile(path)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s_FILE: %w", name, err))
			continue
		}
		files[name] = v
	}
	if len(files) == 0 {
		return lookup
	}
	return func(k string) (string, bool) {
		if v, ok := files[k]; ok {
			return v, true
		}
		return lookup(k)
	}
}

func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxSecretFileBytes {
		return "", fmt.Errorf("%s: larger than %d bytes", path, maxSecretFileBytes)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	return s, nil
}
