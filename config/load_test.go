package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// parseErr parses src as "x.yaml" and returns the error text, failing the
// test when there is none.
func parseErr(t *testing.T, src string) string {
	t.Helper()
	_, err := Parse("x.yaml", []byte(src))
	if err == nil {
		t.Fatalf("Parse(%q) succeeded, want an error", src)
	}
	return err.Error()
}

func TestParseUnknownKeys(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"top-level with suggestion", "listen: 127.0.0.1:1\n\nlistn: x\n",
			`x.yaml:3: unknown key "listn" (did you mean "listen"?)`},
		{"top-level transposition", "lsiten: x\n",
			`x.yaml:1: unknown key "lsiten" (did you mean "listen"?)`},
		{"top-level dashes", "data-dir: /tmp\n",
			`x.yaml:1: unknown key "data-dir" (did you mean "data_dir"?)`},
		{"top-level without suggestion", "watch: true\nbanana: 1\n",
			`x.yaml:2: unknown key "banana"`},
		{"limit at the top level", "idle_timeout: 5s\n",
			`x.yaml:1: unknown key "idle_timeout" (did you mean "limits.idle_timeout"?)`},
		{"top-level key under limits", "limits:\n  listen: x\n",
			`x.yaml:2: unknown key "listen" in limits (did you mean "listen (at the top level, not under limits)"?)`},
		{"nested with suggestion", "log_level: info\nlimits:\n  max_connections: 5\n  idle_timout: 5s\n",
			`x.yaml:4: unknown key "idle_timout" in limits (did you mean "idle_timeout"?)`},
		{"nested without suggestion", "limits:\n  zzz: 1\n",
			`x.yaml:2: unknown key "zzz" in limits (valid keys: max_connections, max_header_bytes, event_ring_size, cert_cache_size, decision_cache_size, idle_timeout, handshake_timeout, read_header_timeout, dial_timeout, response_header_timeout, shutdown_timeout)`},
		{"listener key abbreviated", "listeners:\n  - listen: 127.0.0.1:1\n    prof: x\n",
			`x.yaml:3: unknown key "prof" in listeners[0] (did you mean "profile"?)`},
		{"listener key without suggestion", "listeners:\n  - listen: 127.0.0.1:1\n  - listen: 127.0.0.1:2\n    xyzzy: 1\n",
			`x.yaml:4: unknown key "xyzzy" in listeners[1] (valid keys: listen, profile, auth)`},
		{"profile key with suggestion", "profiles:\n  - name: a\n    unknown_cookie: strip\n",
			`x.yaml:3: unknown key "unknown_cookie" in profiles[0] (did you mean "unknown_cookies"?)`},
		{"profile consent_state not a mapping", "profiles:\n  - name: a\n    consent_state: x\n",
			`x.yaml:3: profiles[0].consent_state: want a mapping (key: value), got "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseErr(t, tt.src); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseTypeErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"duration with words", "limits:\n  max_connections: 10\n\n\n\n\n  idle_timeout: 2 minutes\n",
			`x.yaml:7: limits.idle_timeout: "2 minutes" is not a duration (e.g. 90s, 2m)`},
		{"duration without unit", "limits:\n  dial_timeout: 120\n",
			`x.yaml:2: limits.dial_timeout: "120" is not a duration: add a unit (e.g. 120s)`},
		{"int", "limits:\n  max_connections: many\n",
			`x.yaml:2: limits.max_connections: "many" is not an integer`},
		{"int overflow", "limits:\n  max_connections: 99999999999999999999999\n",
			`x.yaml:2: limits.max_connections: "99999999999999999999999" is out of range for an integer`},
		{"bool", "watch: yes\n",
			`x.yaml:1: watch: "yes" is not a boolean (use true or false)`},
		{"string given a list", "listen: [a]\n",
			`x.yaml:1: listen: want a string, got a list`},
		{"string given a mapping", "profile:\n  a: b\n",
			`x.yaml:2: profile: want a string, got a mapping`},
		{"no value", "admin:\n",
			`x.yaml:1: admin: no value (remove the key to keep the default, or write "" for an empty string)`},
		{"list given a string", "rules: a.yaml\n",
			`x.yaml:1: rules: want a list of strings, got "a.yaml" (write rules: [a, b] or one "- item" per line)`},
		{"int list item", "intercept_ports: [443, https]\n",
			`x.yaml:1: intercept_ports[1]: "https" is not an integer`},
		{"int list given a string", "intercept_ports: 443\n",
			`x.yaml:1: intercept_ports: want a list of integers, got "443" (write intercept_ports: [a, b] or one "- item" per line)`},
		{"list item is a list", "passthrough:\n  - a\n  - [b]\n",
			`x.yaml:3: passthrough[1]: want a string, got a list`},
		{"list item empty", "resolve:\n  -\n",
			`x.yaml:2: resolve[0]: no value (remove the key to keep the default, or write "" for an empty string)`},
		{"limits not a mapping", "limits: 5\n",
			`x.yaml:1: limits: want a mapping (key: value), got "5"`},
		{"listeners not a list", "listeners: {listen: x}\n",
			`x.yaml:1: listeners: want a list of mappings (one "- key: value" block per entry), got a mapping`},
		{"listener not a mapping", "listeners:\n  - 127.0.0.1:1\n",
			`x.yaml:2: listeners[0]: want a mapping (key: value), got "127.0.0.1:1"`},
		{"listener auth", "listeners:\n  - listen: 127.0.0.1:1\n    auth: maybe\n",
			`x.yaml:3: listeners[0].auth: "maybe" is not a boolean (use true or false)`},
		{"vendors not a map", "profiles:\n  - name: a\n    vendors: [criteo]\n",
			`x.yaml:3: profiles[0].vendors: want a mapping (key: value), got a list`},
		{"vendor value a list", "profiles:\n  - name: a\n    vendors:\n      criteo: [allow]\n",
			`x.yaml:4: profiles[0].vendors.criteo: want a string, got a list`},
		{"profile gpc", "profiles:\n  - name: a\n    gpc: 1.5\n",
			`x.yaml:3: profiles[0].gpc: "1.5" is not a boolean (use true or false)`},
		{"key is a list", "[a]: 1\n",
			`x.yaml:1: a key must be a name, not a list`},
		{"root is a list", "- a\n- b\n",
			`x.yaml:1: the file must be a mapping of settings (key: value), not a list`},
		{"root is a scalar", "\n\nhello\n",
			`x.yaml:3: the file must be a mapping of settings (key: value), not "hello"`},
		{"second document", "listen: 127.0.0.1:1\n---\nadmin: off\n",
			`x.yaml:2: a second YAML document (after ---) is not allowed; keep all settings in one document`},
		{"unclosed flow list", "listen: 127.0.0.1:1\nrules: [a\nwatch: true\n",
			`x.yaml:2: invalid YAML: did not find expected ',' or ']'`},
		{"mapping inside a list", "listen: 127.0.0.1:1\nlisteners:\n  - listen: x\n  y: 1\n",
			`x.yaml:4: invalid YAML: did not find expected '-' indicator`},
		{"over-indented key", "a: 1\n  b: 2\n",
			`x.yaml:2: invalid YAML: mapping values are not allowed in this context`},
		{"unterminated quote", "a: 1\nb: \"x\n",
			`x.yaml:2: invalid YAML: found unexpected end of stream`},
		{"syntax error in a second document", "a: 1\n---\nb: [\n",
			`x.yaml:3: invalid YAML: did not find expected node content`},
		{"tab indentation", "limits:\n\tidle_timeout: 1s\n",
			`x.yaml:2: invalid YAML: found character that cannot start any token`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseErr(t, tt.src); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseDuplicateKeys(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"top-level", "listen: 127.0.0.1:1\nwatch: true\nlisten: 127.0.0.1:2\n",
			`x.yaml:3: duplicate key "listen" (first at line 1); keep one`},
		{"limits", "limits:\n  dial_timeout: 1s\n  dial_timeout: 2s\n",
			`x.yaml:3: duplicate key "dial_timeout" (first at line 2); keep one`},
		{"limits section twice", "limits: {}\nlimits: {}\n",
			`x.yaml:2: duplicate key "limits" (first at line 1); keep one`},
		{"listener", "listeners:\n  - listen: 127.0.0.1:1\n    listen: 127.0.0.1:2\n",
			`x.yaml:3: duplicate key "listen" (first at line 2); keep one`},
		{"vendors", "profiles:\n  - name: a\n    vendors:\n      criteo: allow\n      criteo: deny\n",
			`x.yaml:5: duplicate key "criteo" (first at line 4); keep one`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseErr(t, tt.src); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseReportsEveryErrorInLineOrder(t *testing.T) {
	src := `listn: 127.0.0.1:1
limits:
  idle_timeout: soon
  max_connections: 1
  max_connections: 2
watch: maybe
`
	want := strings.Join([]string{
		`x.yaml:1: unknown key "listn" (did you mean "listen"?)`,
		`x.yaml:3: limits.idle_timeout: "soon" is not a duration (e.g. 90s, 2m)`,
		`x.yaml:5: duplicate key "max_connections" (first at line 4); keep one`,
		`x.yaml:6: watch: "maybe" is not a boolean (use true or false)`,
	}, "\n")
	if got := parseErr(t, src); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParseCapsErrors(t *testing.T) {
	var b strings.Builder
	for i := range maxErrors + 7 {
		b.WriteString("k")
		b.WriteString(strings.Repeat("z", i+1))
		b.WriteString(": 1\n")
	}
	got := strings.Split(parseErr(t, b.String()), "\n")
	if len(got) != maxErrors+1 {
		t.Fatalf("got %d lines, want %d", len(got), maxErrors+1)
	}
	if want := "x.yaml: 7 more errors not shown"; got[maxErrors] != want {
		t.Errorf("last line = %q, want %q", got[maxErrors], want)
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	for _, src := range []string{"", "\n\n", "# only a comment\n", "~\n", "null\n", "---\n"} {
		cfg, err := Parse("x.yaml", []byte(src))
		if err != nil {
			t.Errorf("Parse(%q): %v", src, err)
			continue
		}
		want := Default()
		want.File = "x.yaml"
		want.origins = map[string]Origin{}
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("Parse(%q) = %+v, want defaults", src, cfg)
		}
	}
}

func TestParseValues(t *testing.T) {
	src := `listen: 127.0.0.1:9000
admin: off
allow_remote: true
admin_token: 12345
profile: strict
rules:
  - a.yaml
  - /abs/b.yaml
data_dir: data
upstream_ca: []
passthrough:
# - commented out
intercept_ports: [443, 8443]
limits:
  max_header_bytes: 1024
  idle_timeout: 90s
listeners:
  - listen: 127.0.0.1:9001
    profile: accept-all

  - listen: 127.0.0.1:9002
    auth: true
profiles:
  - name: strict
    allow: [analytics]
    vendors: {criteo: allow}
    unknown_cookies: strip
    on_denied: strip
    gpc: true
    dnt: true
`
	dir := t.TempDir()
	path := filepath.Join(dir, "consentproxy.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Listen = "127.0.0.1:9000"
	want.Admin = "off"
	want.AllowRemote = true
	want.AdminToken = "12345"
	want.Profile = "strict"
	want.Rules = []string{filepath.Join(dir, "a.yaml"), "/abs/b.yaml"}
	want.DataDir = filepath.Join(dir, "data")
	want.InterceptPorts = []int{443, 8443}
	want.Limits.MaxHeaderBytes = 1024
	want.Limits.IdleTimeout = 90 * time.Second
	want.Listeners = []Listener{
		{Listen: "127.0.0.1:9001", Profile: "accept-all", Line: 18},
		{Listen: "127.0.0.1:9002", Auth: true, Line: 21},
	}
	want.Profiles = []Profile{{
		Name: "strict", Allow: []string{"analytics"}, Vendors: map[string]string{"criteo": "allow"},
		UnknownCookies: "strip", OnDenied: "strip", GPC: true, DNT: true, Line: 24,
	}}
	want.File = path
	got.origins = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseRecordsLines(t *testing.T) {
	src := `listen: 127.0.0.1:9000
rules:
  - a.yaml

  - b.yaml
limits:
  dial_timeout: 3s
profiles:
  - name: p
    vendors:
      criteo: allow
`
	cfg, err := Parse("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for key, line := range map[string]int{
		"listen": 1, "rules": 2, "rules[0]": 3, "rules[1]": 5,
		"limits.dial_timeout": 7, "profiles[0]": 9, "profiles[0].name": 9,
		"profiles[0].vendors": 10, "profiles[0].vendors.criteo": 11,
	} {
		if got, want := cfg.Origin(key), (Origin{File: "x.yaml", Line: line}); got != want {
			t.Errorf("Origin(%q) = %+v, want %+v", key, got, want)
		}
	}
	for _, key := range []string{"admin", "limits.idle_timeout"} {
		if got := cfg.Origin(key); got != (Origin{}) {
			t.Errorf("Origin(%s) = %+v, want the zero Origin (default)", key, got)
		}
	}
}

func TestParseAliasesAndMerge(t *testing.T) {
	src := `base: &base
  allow: [analytics]
  gpc: true
`
	// An unknown key holding the anchor is still an error; anchors belong
	// in values that are used.
	if got, want := parseErr(t, src), `x.yaml:1: unknown key "base"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}

	src = `rules: &r [a.yaml]
upstream_ca: *r
profiles:
  - &strict
    name: strict
    allow: [analytics]
    gpc: true
  - <<: *strict
    name: stricter
    gpc: false
`
	cfg, err := Parse("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.UpstreamCA, []string{"a.yaml"}; !reflect.DeepEqual(got, want) {
		t.Errorf("UpstreamCA = %q, want %q", got, want)
	}
	p := cfg.Profiles[1]
	if p.Name != "stricter" || p.GPC || !reflect.DeepEqual(p.Allow, []string{"analytics"}) {
		t.Errorf("merged profile = %+v, want name stricter, gpc false, allow [analytics]", p)
	}
}

func TestParseSelfMergeTerminates(t *testing.T) {
	// The parser links an anchor before its content is complete, so a
	// mapping can merge itself; the walk must stop with an error.
	_, err := Parse("x.yaml", []byte("limits: &a {<<: *a}\n"))
	if err == nil || !strings.Contains(err.Error(), "merge keys (<<) nested more than") {
		t.Errorf("err = %v, want a merge depth error", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !os.IsNotExist(errorsUnwrapAll(err)) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("err = %v, want a not-exist error naming the file", err)
	}
}

func errorsUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestParseMergeBombIsLinear(t *testing.T) {
	// Each level merges the previous one ten times: walked naively this
	// is 10^15 merges, and the test would run until go test's timeout.
	var b strings.Builder
	b.WriteString("x0: &a0 {dial_timeout: 1s}\n")
	for i := 1; i < 16; i++ {
		fmt.Fprintf(&b, "x%d: &a%d {<<: [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("limits: *a15\n")
	_, err := Parse("x.yaml", []byte(b.String()))
	if err == nil || !strings.HasPrefix(err.Error(), `x.yaml:1: unknown key "x0"`) {
		t.Errorf("err = %v", err)
	}
}

func TestParseShortensLongValues(t *testing.T) {
	long := strings.Repeat("é", 100)
	got := parseErr(t, "watch: "+long+"\n")
	want := `x.yaml:1: watch: "` + strings.Repeat("é", 32) + `"... is not a boolean (use true or false)`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
