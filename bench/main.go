// Command bench is consentproxy's load harness. It builds consentproxy and
// a bare goproxy v1.9.4 MITM proxy (bench/baregoproxy, the same-library
// baseline), starts a loopback upstream, and measures, interleaved in
// rounds so that drift on a shared machine hits every target alike: no
// proxy, the baseline, consentproxy (built-in rules, reject-all), and
// mitmdump, Privoxy and Squid when installed. It prints a markdown table
// and writes it, with JSON lines, to --out.
//
//	go run ./bench            # full run (about 8 minutes on 2 cores)
//	go run ./bench --quick    # smoke run (about 30 seconds)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// options is the run's configuration, from flags.
type options struct {
	quick      bool
	out        string
	rounds     int
	window     time.Duration
	warmup     time.Duration
	targets    []string // empty: all found
	scenarios  []string // empty: all
	external   bool
	memClients int
	pprofDir   string
	pprofTime  time.Duration
	keepWork   bool
	also       []alsoTarget
	args       []string // as given, for the record
}

// alsoTarget is another consentproxy build to measure beside the current
// one (--also NAME=BINARY), to compare a change before and after in one
// interleaved run.
type alsoTarget struct{ name, bin string }

const usageText = `usage: go run ./bench [flags]

Measures consentproxy against no proxy, a bare goproxy MITM proxy and, when
installed, mitmdump, privoxy and squid, on a loopback upstream. Prints a
markdown table; writes results.md and results.jsonl to --out.

flags:
`

func parseOptions(args []string, stderr io.Writer) (options, error) {
	o := options{args: args}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	var targets, scens string
	fs.BoolVar(&o.quick, "quick", false, "smoke run of about 30 seconds: 1 round of short windows")
	fs.StringVar(&o.out, "out", "", "directory for results.md, results.jsonl, logs and profiles (default: a new directory under $TMPDIR)")
	fs.IntVar(&o.rounds, "rounds", 0, "rounds per scenario, each target once per round (default 5; 1 with --quick)")
	fs.DurationVar(&o.window, "duration", 0, "measured window per target per round (default 1.2s; 250ms with --quick)")
	fs.DurationVar(&o.warmup, "warmup", 0, "unmeasured load before each window (default 300ms; 100ms with --quick)")
	fs.StringVar(&targets, "targets", "", "comma-separated targets to run (default: all found): "+strings.Join(allTargets(), ","))
	fs.StringVar(&scens, "scenarios", "", "comma-separated scenario ids to run (default: all)")
	fs.BoolVar(&o.external, "external", true, "also measure mitmdump, privoxy and squid when installed")
	fs.IntVar(&o.memClients, "mem-clients", 256, "concurrent keep-alive clients of the memory scenario")
	fs.StringVar(&o.pprofDir, "pprof", "", "after each scenario's rounds, profile consentproxy and the baseline under it: CPU and allocation profiles into this directory")
	fs.DurationVar(&o.pprofTime, "pprof-seconds", 10*time.Second, "length of each profiling window (with --pprof)")
	fs.BoolVar(&o.keepWork, "keep", false, "keep the work directory (binaries, CAs, configs)")
	fs.Func("also", "NAME=BINARY: also measure another consentproxy build under NAME, e.g. the binary before a change (repeatable)", func(v string) error {
		name, bin, ok := strings.Cut(v, "=")
		if !ok || name == "" || bin == "" || contains(allTargets(), name) {
			return fmt.Errorf("want NAME=BINARY with a NAME other than %s", strings.Join(allTargets(), ", "))
		}
		o.also = append(o.also, alsoTarget{name, bin})
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q (flags only; see -h)", errUsage, fs.Arg(0))
	}
	if o.rounds == 0 {
		o.rounds = pick(o.quick, 1, 5)
	}
	if o.window == 0 {
		o.window = pick(o.quick, 250*time.Millisecond, 1200*time.Millisecond)
	}
	if o.warmup == 0 {
		o.warmup = pick(o.quick, 100*time.Millisecond, 300*time.Millisecond)
	}
	if targets != "" {
		o.targets = strings.Split(targets, ",")
		for _, t := range o.targets {
			if !contains(allTargets(), t) {
				return o, fmt.Errorf("%w: --targets: unknown target %q (known: %s)", errUsage, t, strings.Join(allTargets(), ", "))
			}
		}
	}
	if scens != "" {
		o.scenarios = strings.Split(scens, ",")
		var ids []string
		for _, sc := range scenarios(o.memClients) {
			ids = append(ids, sc.id)
		}
		for _, s := range o.scenarios {
			if !contains(ids, s) {
				return o, fmt.Errorf("%w: --scenarios: unknown scenario %q (known: %s)", errUsage, s, strings.Join(ids, ", "))
			}
		}
	}
	switch {
	case o.rounds < 1:
		return o, fmt.Errorf("%w: --rounds must be at least 1", errUsage)
	case o.window <= 0 || o.warmup < 0:
		return o, fmt.Errorf("%w: --duration must be positive and --warmup not negative", errUsage)
	case o.memClients < 1:
		return o, fmt.Errorf("%w: --mem-clients must be at least 1", errUsage)
	}
	return o, nil
}

func pick[T any](quick bool, q, full T) T {
	if quick {
		return q
	}
	return full
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func allTargets() []string {
	return []string{tDirect, tBareGoproxy, tConsentproxy, tNoConsentWrite, tMitmdump, tPrivoxy, tSquid}
}

// cli runs the harness with command-line arguments.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	rep, err := run(ctx, o, stderr)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep.markdown)
	fmt.Fprintf(stderr, "bench: wrote %s and %s\n", rep.mdPath, rep.jsonPath)
	return nil
}
