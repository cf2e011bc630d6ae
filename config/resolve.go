package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Sources is everything Resolve reads besides the config file itself.
type Sources struct {
	// Flags from RegisterFlags, after the FlagSet was parsed; nil when the
	// command has none.
	Flags *Flags
	// Environ is the process environment ("NAME=value", os.Environ()).
	Environ []string
	// Home is the user's home directory (os.UserHomeDir), for the default
	// data dir; "" when unknown.
	Home string
}

// Resolve builds the configuration the way `consentproxy run` takes it:
// Default(), then the config file (--config, else CONSENTPROXY_CONFIG; no
// file when neither names one), then CONSENTPROXY_* variables, then the
// flags given on the command line. Later sources win, and a list from a
// later source replaces the earlier list. Then DataDir defaults to
// DefaultDataDir, the CA paths to files in it (FillPaths), and the result
// is validated.
//
// Warnings (unknown CONSENTPROXY_* variables) are for the user to read; the
// error lists every problem found, one per line, each citing file:line or
// the flag or variable it came from. Resolve reads nothing but the config
// file, so a reload is Resolve again with the same Sources.
func Resolve(src Sources) (Config, []string, error) {
	path, given := "", false
	if src.Flags != nil {
		path, given = src.Flags.ConfigPath()
	}
	if !given {
		path = lookupEnv(src.Environ, ConfigEnv)
	}

	cfg := Default()
	var errs []error
	if path != "" {
		loaded, err := Load(path)
		if err != nil {
			errs = append(errs, err)
		} else {
			cfg = loaded
		}
	}
	warnings, err := ApplyEnv(&cfg, src.Environ)
	if err != nil {
		errs = append(errs, err)
	}
	if src.Flags != nil {
		if err := src.Flags.Apply(&cfg); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// Validating a config that did not load would bury the real
		// problems under consequences of them.
		return Config{}, warnings, errors.Join(errs...)
	}

	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir(src.Environ, src.Home)
	}
	if cfg.DataDir == "" && (cfg.CACert == "" || cfg.CAKey == "") {
		return Config{}, warnings, errors.New("no data directory for the CA: no home directory and no XDG_DATA_HOME; set data_dir (--data-dir, CONSENTPROXY_DATA_DIR)")
	}
	cfg.FillPaths()
	if err := cfg.Validate(); err != nil {
		return Config{}, warnings, err
	}
	return cfg, warnings, nil
}

// lookupEnv returns the last value of name in environ ("" when unset).
func lookupEnv(environ []string, name string) string {
	value := ""
	for _, kv := range environ {
		if n, v, ok := strings.Cut(kv, "="); ok && n == name {
			value = v
		}
	}
	return value
}

// DefaultDataDir is where the CA lives when data_dir is not set:
// $XDG_DATA_HOME/consentproxy, else HOME/.local/share/consentproxy (the XDG
// base directory default), else "". A relative XDG_DATA_HOME is ignored,
// as the XDG spec requires, since it would move with the working directory.
func DefaultDataDir(environ []string, home string) string {
	if x := lookupEnv(environ, "XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "consentproxy")
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "share", "consentproxy")
}

// CA file names inside the data dir.
const (
	CACertFile = "ca.pem"
	CAKeyFile  = "ca-key.pem"
)

// FillPaths sets CACert and CAKey to ca.pem and ca-key.pem in DataDir when
// both are empty and DataDir is set. When only one of them is set it
// leaves both alone, and Validate reports it: a certificate from one place
// and a key from another almost never belong together.
func (c *Config) FillPaths() {
	if c.CACert == "" && c.CAKey == "" && c.DataDir != "" {
		c.CACert = filepath.Join(c.DataDir, CACertFile)
		c.CAKey = filepath.Join(c.DataDir, CAKeyFile)
	}
}

// Redacted returns a copy of c fit for printing or logging: the admin
// token and the proxy password, when set, read "REDACTED".
func (c Config) Redacted() Config {
	if c.AdminToken != "" {
		c.AdminToken = "REDACTED"
	}
	if c.ProxyPassword != "" {
		c.ProxyPassword = "REDACTED"
	}
	return c
}

// ResolveRules parses c.Resolve (see ParseResolve). After Validate it
// cannot fail.
func (c Config) ResolveRules() ([]ResolveRule, error) {
	out := make([]ResolveRule, 0, len(c.Resolve))
	var errs []error
	for i, s := range c.Resolve {
		r, err := ParseResolve(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.at(fmt.Sprintf("resolve[%d]", i)), err))
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// PassthroughPatterns parses c.Passthrough (see HostPattern). After
// Validate it cannot fail.
func (c Config) PassthroughPatterns() ([]HostPattern, error) {
	out := make([]HostPattern, 0, len(c.Passthrough))
	var errs []error
	for i, s := range c.Passthrough {
		p, err := ParseHostPattern(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.at(fmt.Sprintf("passthrough[%d]", i)), err))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}
