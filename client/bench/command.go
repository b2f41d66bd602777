package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Command runs `event-grpc bench` with args (the arguments after "bench"):
// it parses the flags, runs the load and prints, on stdout, the summary
// line
//
//	events/s=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d
//
// (and with --json the Result as a JSON object on a second line), and on
// stderr the breakdown "sent=… acked=… rejected=… refused=… dispatches=…
// by_code={…} …". Failed dispatches are results, not errors: Command
// returns an error only for bad flags (flag.ErrHelp for -h), a target it
// cannot reach at start, or a failure to write --out or the output.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return CommandAt(ctx, DefaultTarget, args, stdout, stderr)
}

// CommandAt is Command with target as the default of --target (and its
// alias --grpc): the address the caller resolved from the service's
// variables.
func CommandAt(ctx context.Context, target string, args []string, stdout, stderr io.Writer) error {
	cfg, asJSON, quiet, err := parseFlags(args, target, stderr)
	if err != nil {
		return err
	}
	if !quiet && isTerminal(stdout) {
		cfg.Live = stdout
	}
	res, err := Run(ctx, cfg)
	if err != nil && res.Target == "" { // Run stopped before any load: no result to print
		return err
	}
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if _, werr := fmt.Fprintln(stdout, res.SummaryLine()); werr != nil {
		errs = append(errs, fmt.Errorf("bench: write summary: %w", werr))
	}
	if asJSON {
		b, jerr := json.Marshal(res)
		if jerr != nil {
			errs = append(errs, fmt.Errorf("bench: encode result: %w", jerr))
		} else if _, werr := fmt.Fprintf(stdout, "%s\n", b); werr != nil {
			errs = append(errs, fmt.Errorf("bench: write result: %w", werr))
		}
	}
	if _, werr := fmt.Fprintln(stderr, res.Breakdown()); werr != nil {
		errs = append(errs, fmt.Errorf("bench: write breakdown: %w", werr))
	}
	return errors.Join(errs...)
}

// parseFlags turns args into a validated Config.
func parseFlags(args []string, target string, stderr io.Writer) (Config, bool, bool, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg    Config
		ids    bool
		asJSON bool
		quiet  bool
		md     = metadataFlag{}
	)
	fs.StringVar(&cfg.Target, "target", target, "gRPC address of event-grpc")
	fs.StringVar(&cfg.Target, "grpc", target, "the same as --target")
	fs.IntVar(&cfg.Concurrency, "concurrency", DefaultConcurrency, "workers, each with one dispatch in flight")
	fs.IntVar(&cfg.Batch, "batch", DefaultBatch, "events per dispatch")
	fs.DurationVar(&cfg.Duration, "duration", DefaultDuration, "how long to send (not applied when only --requests is given)")
	fs.Int64Var(&cfg.Requests, "requests", 0, "stop after this many dispatches in total (0 = until --duration)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "target dispatches per second across all workers (0 = as fast as possible)")
	fs.Float64Var(&cfg.Poison, "poison", 0, "fraction 0..1 of events made invalid on purpose")
	fs.StringVar(&cfg.ClientID, "header-client-id", "", "Header.clientId of every batch (default: per synthetic user)")
	fs.Var(md, "metadata", "gRPC metadata key=value sent with every call (repeatable)")
	fs.BoolVar(&ids, "ids", true, "give each event a client-side UUIDv7 id (false: leave ids empty for the service to mint)")
	fs.BoolVar(&quiet, "quiet", false, "no live progress line (it is shown only when stdout is a terminal)")
	fs.BoolVar(&asJSON, "json", false, "also print the result as a JSON object on a second stdout line")
	fs.StringVar(&cfg.OutPath, "out", "", "append the id of every accepted event to this file, one per line")
	fs.DurationVar(&cfg.CallTimeout, "timeout", DefaultCallTimeout, "timeout of each dispatch call")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", DefaultDialTimeout, "how long to wait for the target at start")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the synthetic data (0 = random)")
	if err := fs.Parse(args); err != nil {
		return Config{}, false, false, err
	}
	if fs.NArg() > 0 {
		return Config{}, false, false, fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["requests"] && !set["duration"] {
		cfg.Duration = 0 // run until the requests are done
	}
	// Zero means "default" in Config; on the command line it is a mistake.
	var errs []error
	for _, name := range []string{"concurrency", "batch", "timeout"} {
		if v := fs.Lookup(name).Value.String(); set[name] && (v == "0" || v == "0s") {
			errs = append(errs, fmt.Errorf("--%s must be greater than 0, got %s", name, v))
		}
	}
	cfg.EmptyIDs = !ids
	if len(md) > 0 {
		cfg.Metadata = md
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Config{}, false, false, errors.Join(errs...)
	}
	return cfg, asJSON, quiet, nil
}

// metadataFlag collects repeated --metadata key=value.
type metadataFlag map[string]string

func (m metadataFlag) String() string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (m metadataFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want key=value, got %q", s)
	}
	k = strings.ToLower(strings.TrimSpace(k))
	if err := checkMetadataKey(k); err != nil {
		return err
	}
	m[k] = v
	return nil
}
