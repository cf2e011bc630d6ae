package config

import (
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFlagsApplyOnlyGiven(t *testing.T) {
	cfg := Default()
	cfg.LogLevel = "debug" // as if from a file: an untouched flag must keep it
	cfg.Rules = []string{"file.yaml"}
	f := parseFlags(t,
		"--admin", "off",
		"--rules", "a.yaml", "--rules", "b.yaml",
		"--intercept-port", "443,8443", "--intercept-port", "9443",
		"--max-header-bytes", "1024",
		"--handshake-timeout", "3s",
		"--pprof",
	)
	if err := f.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.LogLevel = "debug"
	want.Admin = "off"
	want.Rules = []string{"a.yaml", "b.yaml"}
	want.InterceptPorts = []int{443, 8443, 9443}
	want.Limits.MaxHeaderBytes = 1024
	want.Limits.HandshakeTimeout = 3 * time.Second
	want.Pprof = true
	cfg.origins = nil
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestFlagsBadValues(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--idle-timeout", "2 minutes"}, `invalid value "2 minutes" for flag -idle-timeout: not a duration (e.g. 90s, 2m)`},
		{[]string{"--dial-timeout", "5"}, `invalid value "5" for flag -dial-timeout: not a duration: add a unit (e.g. 5s)`},
		{[]string{"--max-connections", "x"}, `invalid value "x" for flag -max-connections: not an integer`},
		{[]string{"--watch=maybe"}, `invalid boolean value "maybe" for -watch: not a boolean (use true or false)`},
		{[]string{"--intercept-port", "443,https"}, `invalid value "443,https" for flag -intercept-port: https is not an integer`},
		{[]string{"--listn", "x"}, `flag provided but not defined: -listn`},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		fs.SetOutput(new(strings.Builder))
		RegisterFlags(fs)
		err := fs.Parse(tt.args)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) = %v, want %s", tt.args, err, tt.want)
		}
	}
}

func TestFlagsApplyBeforeParse(t *testing.T) {
	f := RegisterFlags(flag.NewFlagSet("run", flag.ContinueOnError))
	cfg := Default()
	if err := f.Apply(&cfg); err == nil {
		t.Error("Apply before Parse succeeded, want an error")
	}
}

// TestFlagsRegistered checks that every setting with a flag is registered,
// with its help text, its variable and its default.
func TestFlagsRegistered(t *testing.T) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var out strings.Builder
	fs.SetOutput(&out)
	RegisterFlags(fs)
	if fs.Lookup(ConfigFlag) == nil {
		t.Error("--config is not registered")
	}
	def := Default()
	n := 0
	for _, s := range Settings() {
		if s.Flag == "" {
			if s.Kind != KindListeners && s.Kind != KindProfiles {
				t.Errorf("%s has no flag", s.Key)
			}
			continue
		}
		n++
		fl := fs.Lookup(s.Flag)
		if fl == nil {
			t.Errorf("--%s (%s) is not registered", s.Flag, s.Key)
			continue
		}
		if !strings.HasPrefix(fl.Usage, s.Help) || !strings.HasSuffix(fl.Usage, "also "+s.Env) {
			t.Errorf("--%s usage %q lacks the help text or the variable", s.Flag, fl.Usage)
		}
		wantDef := ""
		if v := s.get(&def); !isZero(v) {
			wantDef = formatValue(v)
		}
		if fl.DefValue != wantDef {
			t.Errorf("--%s default %q, want %q", s.Flag, fl.DefValue, wantDef)
		}
	}
	fs.PrintDefaults()
	for _, want := range []string{"-listen value", "(default 127.0.0.1:8080)", "-watch\n", "(default 2m0s)", "(default 443)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
	if n != 33 {
		t.Errorf("%d settings have flags, want 33 (every top-level scalar and list and every limit)", n)
	}
}
