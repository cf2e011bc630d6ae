package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/consentproxy/consentproxy/config"
)

// newFlagSet makes a FlagSet that reports errors through the returned
// error (printed once, with the right exit status) rather than printing
// its own, and writes -h output to stdout.
func newFlagSet(e env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		io.WriteString(e.stdout, usage)
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args; help is true when -h was asked for (usage
// already printed). Positional arguments are left to the caller.
func parseFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, usageError("%s: %v (see consentproxy %s -h)", fs.Name(), err, fs.Name())
	}
	return false, nil
}

// resolveConfig builds the effective configuration (flag > env > file >
// default) for commands that take the run settings, printing warnings to
// stderr. A bad configuration is a usage error: exit 2, with file:line.
func resolveConfig(e env, flags *config.Flags) (config.Config, error) {
	cfg, warnings, err := config.Resolve(config.Sources{
		Flags:   flags,
		Environ: e.environ,
		Home:    lookupEnv(e.environ, "HOME"),
	})
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "consentproxy: warning: %s\n", w)
	}
	if err != nil {
		return config.Config{}, &exitError{code: 2, err: fmt.Errorf("configuration:\n%w", err)}
	}
	return cfg, nil
}
