// Command consentproxy is a forward HTTP/HTTPS proxy that enforces cookie
// consent: it intercepts TLS with its own CA, recognises trackers and
// categorised cookies, and blocks or strips what the active consent profile
// refuses.
//
// main is the only place that reads the process environment or calls
// os.Exit; every command is a function of (ctx, args, stdio, environ) that
// returns an error, so that tests can drive the real CLI in-process.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// env is what a command may know about its process: standard streams and
// the environment. Passing it explicitly keeps commands testable.
type env struct {
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	environ []string
}

// command is one `consentproxy <name>` subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"run":     {"start the proxy", runProxy},
		"ca":      {"create, show or export the CA certificate (init|show|export|trust-help)", runCA},
		"rules":   {"check, explain or import rules (check|explain|import-ocd)", runRules},
		"consent": {"write or read consent-platform cookies and signals (encode|decode)", runConsent},
		"version": {"print the version", runVersion},
	}
}

// exitError carries a specific exit status out of a command: 1 for a
// failed check, 2 for bad usage or configuration.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks an error as a usage or configuration mistake (exit 2).
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func main() {
	e := env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ()}
	err := run(context.Background(), e, os.Args[1:])
	os.Exit(report(e.stderr, err))
}

// run dispatches to a subcommand.
func run(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(e.stdout)
		if len(args) == 0 {
			return &exitError{code: 2, err: errors.New("no command given")}
		}
		return nil
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		return usageError("unknown command %q (try: consentproxy help)", args[0])
	}
	return cmd.run(ctx, e, args[1:])
}

// report prints err (if any) and returns the process exit status.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	code := 1
	if errors.As(err, &ee) {
		code = ee.code
	}
	if ee == nil || ee.err != errSilent {
		fmt.Fprintf(stderr, "consentproxy: %v\n", err)
	}
	return code
}

// errSilent is wrapped in an exitError when the command already printed
// everything the user needs (e.g. `rules check` listing its findings).
var errSilent = errors.New("failed")

func printUsage(w io.Writer) {
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: consentproxy <command> [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nRun 'consentproxy <command> -h' for the flags of a command.\n")
	io.WriteString(w, b.String())
}

func runVersion(_ context.Context, e env, args []string) error {
	if len(args) > 0 {
		return usageError("version takes no arguments")
	}
	fmt.Fprintf(e.stdout, "consentproxy %s\n", version)
	return nil
}
