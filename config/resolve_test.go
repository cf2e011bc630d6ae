package config

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// parseFlags registers the config flags on a new FlagSet and parses args.
func parseFlags(t *testing.T, args ...string) *Flags {
	t.Helper()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	f := RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return f
}

// TestResolvePrecedence checks default < file < env < flag, setting by
// setting, and that lists are replaced, never merged.
func TestResolvePrecedence(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "c.yaml", `listen: 127.0.0.1:9001
admin: 127.0.0.1:9101
allow_remote: true
log_level: debug
rules: [a.yaml, b.yaml]
passthrough: [x.example]
intercept_ports: [443, 8443]
upstream_ca: [ca1.pem]
limits:
  idle_timeout: 30s
  dial_timeout: 3s
`)
	environ := []string{
		"CONSENTPROXY_CONFIG=" + path,
		"CONSENTPROXY_LISTEN=127.0.0.1:9002",
		"CONSENTPROXY_ADMIN=127.0.0.1:9102",
		"CONSENTPROXY_RULES=c.yaml",
		"CONSENTPROXY_PASSTHROUGH=y.example",
		"CONSENTPROXY_IDLE_TIMEOUT=40s",
		"CONSENTPROXY_MAX_CONNECTIONS=10",
		"XDG_DATA_HOME=/xdg",
	}
	flags := parseFlags(t,
		"--listen", "127.0.0.1:9003",
		"--passthrough", "z.example", "--passthrough", "w.example",
		"--intercept-port", "9443",
		"--upstream-ca=",
		"--idle-timeout", "50s",
		"--allow-remote=false",
		"--watch",
	)
	cfg, warnings, err := Resolve(Sources{Flags: flags, Environ: environ, Home: "/home/u"})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings = %q, want none", warnings)
	}
	tests := []struct {
		key    string
		got    any
		want   any
		origin string
	}{
		{"listen", cfg.Listen, "127.0.0.1:9003", "--listen"},
		{"admin", cfg.Admin, "127.0.0.1:9102", "CONSENTPROXY_ADMIN"},
		{"allow_remote", cfg.AllowRemote, false, "--allow-remote"},
		{"log_level", cfg.LogLevel, "debug", path + ":4"},
		{"log_format", cfg.LogFormat, "console", ""},
		{"rules", cfg.Rules, []string{"c.yaml"}, "CONSENTPROXY_RULES"},
		{"rules[0]", cfg.Rules[0], "c.yaml", "CONSENTPROXY_RULES"},
		{"passthrough", cfg.Passthrough, []string{"z.example", "w.example"}, "--passthrough"},
		{"intercept_ports", cfg.InterceptPorts, []int{9443}, "--intercept-port"},
		{"upstream_ca", cfg.UpstreamCA, []string(nil), "--upstream-ca"},
		{"limits.idle_timeout", cfg.Limits.IdleTimeout, 50 * time.Second, "--idle-timeout"},
		{"limits.dial_timeout", cfg.Limits.DialTimeout, 3 * time.Second, path + ":11"},
		{"limits.max_connections", cfg.Limits.MaxConnections, 10, "CONSENTPROXY_MAX_CONNECTIONS"},
		{"limits.shutdown_timeout", cfg.Limits.ShutdownTimeout, Default().Limits.ShutdownTimeout, ""},
		{"watch", cfg.Watch, true, "--watch"},
		{"data_dir", cfg.DataDir, "/xdg/consentproxy", ""},
		{"ca_cert", cfg.CACert, "/xdg/consentproxy/ca.pem", ""},
		{"ca_key", cfg.CAKey, "/xdg/consentproxy/ca-key.pem", ""},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.key, tt.got, tt.want)
		}
		if got := cfg.Origin(tt.key).String(); got != tt.origin {
			t.Errorf("Origin(%s) = %q, want %q", tt.key, got, tt.origin)
		}
	}
	if cfg.File != path {
		t.Errorf("File = %q, want %q", cfg.File, path)
	}
}

func TestResolveConfigPath(t *testing.T) {
	dir := t.TempDir()
	fromFlag := writeFile(t, dir, "flag.yaml", "profile: from-flag\n")
	fromEnv := writeFile(t, dir, "env.yaml", "profile: from-env\n")
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{"none", nil, nil, DefaultProfile},
		{"env", nil, []string{"CONSENTPROXY_CONFIG=" + fromEnv}, "from-env"},
		{"flag beats env", []string{"--config", fromFlag}, []string{"CONSENTPROXY_CONFIG=" + fromEnv}, "from-flag"},
		{"empty flag means no file", []string{"--config="}, []string{"CONSENTPROXY_CONFIG=" + fromEnv}, DefaultProfile},
		{"empty env means no file", nil, []string{"CONSENTPROXY_CONFIG="}, DefaultProfile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := Resolve(Sources{Flags: parseFlags(t, tt.args...), Environ: tt.environ, Home: "/home/u"})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Profile != tt.want {
				t.Errorf("Profile = %q, want %q", cfg.Profile, tt.want)
			}
		})
	}
}

func TestResolveReportsEverySource(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "c.yaml", "listn: 127.0.0.1:1\n")
	_, warnings, err := Resolve(Sources{
		Flags:   parseFlags(t, "--config", path),
		Environ: []string{"CONSENTPROXY_WATCH=sometimes", "CONSENTPROXY_WACTH=true"},
		Home:    "/home/u",
	})
	want := strings.Join([]string{
		path + `:1: unknown key "listn" (did you mean "listen"?)`,
		`CONSENTPROXY_WATCH: "sometimes" is not a boolean (use true or false)`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("err =\n%v\nwant\n%s", err, want)
	}
	if want := []string{"CONSENTPROXY_WACTH is not a consentproxy setting (did you mean CONSENTPROXY_WATCH?); ignored"}; !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings = %q, want %q", warnings, want)
	}
}

func TestResolveValidates(t *testing.T) {
	_, _, err := Resolve(Sources{Flags: parseFlags(t, "--listen", "0.0.0.0:1", "--log-level", "loud"), Home: "/home/u"})
	if err == nil || !strings.Contains(err.Error(), `--listen: "0.0.0.0:1" listens on every interface`) ||
		!strings.Contains(err.Error(), `--log-level: "loud" must be debug, info, warn or error`) {
		t.Errorf("err = %v, want both validation errors naming their flags", err)
	}
}

func TestResolveWithoutDataDir(t *testing.T) {
	_, _, err := Resolve(Sources{})
	if err == nil || !strings.Contains(err.Error(), "set data_dir (--data-dir, CONSENTPROXY_DATA_DIR)") {
		t.Errorf("err = %v, want a request for a data dir", err)
	}
	cfg, _, err := Resolve(Sources{Flags: parseFlags(t, "--ca-cert", "/c.pem", "--ca-key", "/k.pem")})
	if err != nil {
		t.Fatalf("explicit CA paths without a data dir: %v", err)
	}
	if cfg.CACert != "/c.pem" || cfg.CAKey != "/k.pem" {
		t.Errorf("CA paths = %q, %q", cfg.CACert, cfg.CAKey)
	}
}

func TestResolveIsRepeatable(t *testing.T) {
	// A reload calls Resolve again with the same Sources; the flags must
	// still win and the result must be the same.
	dir := t.TempDir()
	path := writeFile(t, dir, "c.yaml", "profile: one\nlog_level: warn\n")
	src := Sources{Flags: parseFlags(t, "--config", path, "--log-level", "error"), Home: "/home/u"}
	first, _, err := Resolve(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "c.yaml", "profile: two\nlog_level: warn\n")
	second, _, err := Resolve(src)
	if err != nil {
		t.Fatal(err)
	}
	if first.Profile != "one" || second.Profile != "two" || second.LogLevel != "error" {
		t.Errorf("first %q/%q, second %q/%q; want one/error then two/error", first.Profile, first.LogLevel, second.Profile, second.LogLevel)
	}
}

func TestApplyDoesNotChangeCopies(t *testing.T) {
	cfg, err := Parse("x.yaml", []byte("listen: 127.0.0.1:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	before := cfg
	if _, err := ApplyEnv(&cfg, []string{"CONSENTPROXY_LISTEN=127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	if got := before.Origin("listen").String(); got != "x.yaml:1" {
		t.Errorf("copy's Origin(listen) = %q after ApplyEnv on the original, want x.yaml:1", got)
	}
	if got := cfg.Origin("listen").String(); got != "CONSENTPROXY_LISTEN" {
		t.Errorf("Origin(listen) = %q, want CONSENTPROXY_LISTEN", got)
	}
}

func TestDefaultDataDir(t *testing.T) {
	tests := []struct {
		environ []string
		home    string
		want    string
	}{
		{nil, "/home/u", "/home/u/.local/share/consentproxy"},
		{[]string{"XDG_DATA_HOME=/xdg"}, "/home/u", "/xdg/consentproxy"},
		{[]string{"XDG_DATA_HOME=/old", "XDG_DATA_HOME=/xdg"}, "/home/u", "/xdg/consentproxy"},
		{[]string{"XDG_DATA_HOME=relative"}, "/home/u", "/home/u/.local/share/consentproxy"},
		{[]string{"XDG_DATA_HOME="}, "/home/u", "/home/u/.local/share/consentproxy"},
		{[]string{"XDG_DATA_HOME=/xdg"}, "", "/xdg/consentproxy"},
		{nil, "", ""},
	}
	for _, tt := range tests {
		if got := DefaultDataDir(tt.environ, tt.home); got != tt.want {
			t.Errorf("DefaultDataDir(%q, %q) = %q, want %q", tt.environ, tt.home, got, tt.want)
		}
	}
}

func TestFillPaths(t *testing.T) {
	tests := []struct {
		dataDir, cert, key         string
		wantCert, wantKey, comment string
	}{
		{"/d", "", "", "/d/ca.pem", "/d/ca-key.pem", "both from the data dir"},
		{"/d", "/c.pem", "/k.pem", "/c.pem", "/k.pem", "explicit paths kept"},
		{"/d", "/c.pem", "", "/c.pem", "", "half a pair is left for Validate to report"},
		{"", "", "", "", "", "nothing to fill from"},
	}
	for _, tt := range tests {
		cfg := Config{DataDir: tt.dataDir, CACert: tt.cert, CAKey: tt.key}
		cfg.FillPaths()
		if cfg.CACert != tt.wantCert || cfg.CAKey != tt.wantKey {
			t.Errorf("%s: got %q, %q; want %q, %q", tt.comment, cfg.CACert, cfg.CAKey, tt.wantCert, tt.wantKey)
		}
	}
}

func TestRedacted(t *testing.T) {
	cfg := Default()
	cfg.AdminToken = "s3cret"
	cfg.ProxyPassword = "hunter2"
	r := cfg.Redacted()
	if r.AdminToken != "REDACTED" || r.ProxyPassword != "REDACTED" {
		t.Errorf("Redacted: token %q, password %q", r.AdminToken, r.ProxyPassword)
	}
	if cfg.AdminToken != "s3cret" || cfg.ProxyPassword != "hunter2" {
		t.Error("Redacted changed the original")
	}
	if r := Default().Redacted(); r.AdminToken != "" || r.ProxyPassword != "" {
		t.Errorf("Redacted of unset secrets = %q, %q; want them left empty", r.AdminToken, r.ProxyPassword)
	}
}

func TestResolveRulesAndPassthroughPatterns(t *testing.T) {
	cfg, err := Parse("x.yaml", []byte("resolve: ['*.a.test=127.0.0.1:1', 'bad']\npassthrough: ['*.b.test', 'x*y']\n"))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := cfg.ResolveRules()
	if len(rules) != 1 || rules[0].Pattern != "*.a.test" || err == nil ||
		err.Error() != `x.yaml:1: resolve[1]: "bad" is not PATTERN=IP[:PORT] (e.g. *.example.com=127.0.0.1:8443)` {
		t.Errorf("ResolveRules = %v, %v", rules, err)
	}
	pats, err := cfg.PassthroughPatterns()
	if len(pats) != 1 || pats[0] != "*.b.test" || err == nil || !strings.HasPrefix(err.Error(), `x.yaml:2: passthrough[1]: "x*y": `) {
		t.Errorf("PassthroughPatterns = %v, %v", pats, err)
	}
}
