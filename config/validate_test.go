package config

import (
	"flag"
	"strings"
	"testing"
)

func TestValidateDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	cfg := Default()
	cfg.DataDir = "/data"
	cfg.FillPaths()
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate after FillPaths = %v", err)
	}
}

// TestValidateMessages checks every message Validate writes, for values
// from a file (cited as file:line).
func TestValidateMessages(t *testing.T) {
	const remote = `, so other machines could use the proxy; set allow_remote: true (--allow-remote, CONSENTPROXY_ALLOW_REMOTE=true) if that is intended, or use 127.0.0.1`
	tests := []struct {
		name, src string
		want      []string
	}{
		{"listen without port", "listen: localhost\n",
			[]string{`x.yaml:1: listen: "localhost" is not host:port (e.g. 127.0.0.1:8080)`}},
		{"listen bad port", "listen: 127.0.0.1:http\n",
			[]string{`x.yaml:1: listen: "127.0.0.1:http": port "http" is not a number from 0 to 65535`}},
		{"listen port out of range", "listen: 127.0.0.1:70000\n",
			[]string{`x.yaml:1: listen: "127.0.0.1:70000": port "70000" is not a number from 0 to 65535`}},
		{"listen bad host", "listen: 'bad host:80'\n",
			[]string{`x.yaml:1: listen: "bad host:80": " " is not allowed in a host name`}},
		{"listen every interface", "listen: ':8080'\n",
			[]string{`x.yaml:1: listen: ":8080" listens on every interface` + remote}},
		{"listen 0.0.0.0", "listen: 0.0.0.0:8080\n",
			[]string{`x.yaml:1: listen: "0.0.0.0:8080" listens on every interface` + remote}},
		{"listen [::]", "listen: '[::]:8080'\n",
			[]string{`x.yaml:1: listen: "[::]:8080" listens on every interface` + remote}},
		{"listen LAN address", "listen: 192.168.1.5:8080\n",
			[]string{`x.yaml:1: listen: "192.168.1.5:8080" is not a loopback address` + remote}},
		{"listen host name", "listen: proxy.example.com:8080\n",
			[]string{`x.yaml:1: listen: "proxy.example.com:8080" is not a loopback address` + remote}},
		{"admin remote", "admin: 10.0.0.1:8081\n",
			[]string{`x.yaml:1: admin: "10.0.0.1:8081" is not a loopback address` + remote}},
		{"admin OFF", "admin: 'OFF'\n",
			[]string{`x.yaml:1: admin: "OFF": write off in lower case to disable the admin API`}},
		{"admin same as listen", "listen: 127.0.0.1:9000\nadmin: 127.0.0.1:9000\n",
			[]string{`x.yaml:2: admin: "127.0.0.1:9000" collides with listen "127.0.0.1:9000" (x.yaml:1); give each listener its own port`}},
		{"listener remote", "listeners:\n  - listen: 0.0.0.0:9001\n",
			[]string{`x.yaml:2: listeners[0].listen: "0.0.0.0:9001" listens on every interface` + remote}},
		{"listener without listen", "listeners:\n  - profile: accept-all\n",
			[]string{`x.yaml:2: listeners[0]: listen is missing (e.g. listen: 127.0.0.1:8082)`}},
		{"listener equal to listen", "listeners:\n  - listen: 127.0.0.1:8080\n",
			[]string{`x.yaml:2: listeners[0].listen: "127.0.0.1:8080" collides with listen "127.0.0.1:8080"; give each listener its own port`}},
		{"listener equal to admin via localhost", "listeners:\n  - listen: localhost:8081\n",
			[]string{`x.yaml:2: listeners[0].listen: "localhost:8081" collides with admin "127.0.0.1:8081"; give each listener its own port`}},
		{"listeners duplicate", "listeners:\n  - listen: 127.0.0.1:9001\n  - listen: 127.0.0.1:9001\n",
			[]string{`x.yaml:3: listeners[1].listen: "127.0.0.1:9001" collides with listeners[0].listen "127.0.0.1:9001" (x.yaml:2); give each listener its own port`}},
		{"listener wildcard overlaps", "allow_remote: true\nlisteners:\n  - listen: 127.0.0.1:9001\n  - listen: ':9001'\n",
			[]string{`x.yaml:4: listeners[1].listen: ":9001" collides with listeners[0].listen "127.0.0.1:9001" (x.yaml:3); give each listener its own port`}},
		{"profile active empty", "profile: ''\n",
			[]string{`x.yaml:1: profile: empty; name the consent profile active at start (e.g. reject-all)`}},
		{"profile without name", "profiles:\n  - allow: [analytics]\n",
			[]string{`x.yaml:2: profiles[0].name: a profile needs a name (e.g. name: strict)`}},
		{"profile defined twice", "profiles:\n  - name: strict\n  - name: other\n  - name: strict\n",
			[]string{`x.yaml:4: profiles[2].name: profile "strict" is defined twice (first at x.yaml:2); rename or remove one`}},
		{"allow not an identifier", "profiles:\n  - name: p\n    allow:\n      - analytics\n      - Advertising\n      - ''\n",
			[]string{
				`x.yaml:5: profiles[0].allow[1]: "Advertising" is not a category name (lower-case letters, digits, - and _, e.g. analytics)`,
				`x.yaml:6: profiles[0].allow[2]: "" is not a category name (lower-case letters, digits, - and _, e.g. analytics)`,
			}},
		{"vendor value", "profiles:\n  - name: p\n    vendors:\n      criteo: maybe\n",
			[]string{`x.yaml:4: profiles[0].vendors.criteo: "maybe" must be allow or deny`}},
		{"vendor id", "profiles:\n  - name: p\n    vendors:\n      Criteo: allow\n",
			[]string{`x.yaml:4: profiles[0].vendors.Criteo: vendor id "Criteo" must be lower-case letters, digits and - (e.g. criteo)`}},
		{"unknown_cookies", "profiles:\n  - name: p\n    unknown_cookies: block\n",
			[]string{`x.yaml:3: profiles[0].unknown_cookies: "block" must be allow or strip`}},
		{"on_denied", "profiles:\n  - name: p\n    on_denied: allow\n",
			[]string{`x.yaml:3: profiles[0].on_denied: "allow" must be block or strip`}},
		{"log_level", "log_level: verbose\n",
			[]string{`x.yaml:1: log_level: "verbose" must be debug, info, warn or error`}},
		{"log_format", "log_format: text\n",
			[]string{`x.yaml:1: log_format: "text" must be console or json`}},
		{"limit zero", "limits:\n  max_connections: 0\n",
			[]string{`x.yaml:2: limits.max_connections: 0 must be greater than 0`}},
		{"limit negative duration", "limits:\n  idle_timeout: -5s\n",
			[]string{`x.yaml:2: limits.idle_timeout: -5s must be greater than 0`}},
		{"intercept port zero", "intercept_ports: [443, 0, 70000]\n",
			[]string{
				`x.yaml:1: intercept_ports[1]: 0 is not a port (1-65535)`,
				`x.yaml:1: intercept_ports[2]: 70000 is not a port (1-65535)`,
			}},
		{"resolve", "resolve:\n  - a.example.com=1.2.3.4\n  - example.com:443:127.0.0.1\n",
			[]string{`x.yaml:3: resolve[1]: "example.com:443:127.0.0.1" looks like curl's HOST:PORT:ADDR; write PATTERN=IP[:PORT] (e.g. example.com=127.0.0.1:8443)`}},
		{"passthrough", "passthrough:\n  - 'ex*ample.com'\n",
			[]string{`x.yaml:2: passthrough[0]: "ex*ample.com": * is allowed only as the whole pattern or as the first label (*.example.com)`}},
		{"rules empty entry", "rules: ['']\n",
			[]string{`x.yaml:1: rules[0]: empty file name`}},
		{"upstream_ca empty entry", "upstream_ca: [a.pem, ' ']\n",
			[]string{`x.yaml:1: upstream_ca[1]: empty file name`}},
		{"ca_cert without ca_key", "ca_cert: /ca.pem\n",
			[]string{`x.yaml:1: ca_cert: set without ca_key; set both, or neither to use ca.pem and ca-key.pem in the data dir`}},
		{"ca_key without ca_cert", "ca_key: /ca-key.pem\n",
			[]string{`x.yaml:1: ca_key: set without ca_cert; set both, or neither to use ca.pem and ca-key.pem in the data dir`}},
		{"several at once", "log_level: loud\nlimits:\n  dial_timeout: 0s\nlisten: ':1'\n",
			[]string{
				`x.yaml:4: listen: ":1" listens on every interface` + remote,
				`x.yaml:1: log_level: "loud" must be debug, info, warn or error`,
				`x.yaml:3: limits.dial_timeout: 0s must be greater than 0`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("x.yaml", []byte(tt.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = cfg.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want\n%s", strings.Join(tt.want, "\n"))
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestValidateLoopback lists what binds without allow_remote.
func TestValidateLoopback(t *testing.T) {
	tests := []struct {
		addr     string
		loopback bool
	}{
		{"127.0.0.1:8080", true},
		{"127.1.2.3:8080", true},
		{"localhost:8080", true},
		{"LOCALHOST:8080", true},
		{"[::1]:8080", true},
		{"[::ffff:127.0.0.1]:8080", true},
		{"127.0.0.1:0", true},
		{":8080", false},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{"10.0.0.1:8080", false},
		{"[2001:db8::1]:8080", false},
		{"localhost.example.com:8080", false},
		{"example.com:8080", false},
	}
	for _, tt := range tests {
		for _, allowRemote := range []bool{false, true} {
			cfg := Default()
			cfg.Listen = tt.addr
			cfg.Admin = AdminOff
			cfg.AllowRemote = allowRemote
			err := cfg.Validate()
			if got, want := err == nil, tt.loopback || allowRemote; got != want {
				t.Errorf("listen %s, allow_remote %v: Validate() = %v, want ok=%v", tt.addr, allowRemote, err, want)
			}
			if err != nil && !strings.Contains(err.Error(), "set allow_remote: true") {
				t.Errorf("listen %s: error %q does not say how to allow it", tt.addr, err)
			}
		}
	}
}

func TestValidatePortZeroMayRepeat(t *testing.T) {
	// Port 0 picks a free port at each bind (tests use it), so two of them
	// do not collide.
	cfg := Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin = "127.0.0.1:0"
	cfg.Listeners = []Listener{{Listen: "127.0.0.1:0"}, {Listen: "localhost:0"}}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

// TestValidateNamesSource checks that a value from a flag, an environment
// variable or code is named that way instead of with a file line.
func TestValidateNamesSource(t *testing.T) {
	cfg, err := Parse("x.yaml", []byte("log_level: debug\nlisten: 127.0.0.1:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ApplyEnv(&cfg, []string{"CONSENTPROXY_LOG_LEVEL=chatty", "CONSENTPROXY_RESOLVE=a=1.2.3.4,b"}); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	flags := RegisterFlags(fs)
	if err := fs.Parse([]string{"--listen", "0.0.0.0:1", "--max-connections", "-1"}); err != nil {
		t.Fatal(err)
	}
	if err := flags.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Limits.DialTimeout = 0 // set by code: named by its key
	want := strings.Join([]string{
		`--listen: "0.0.0.0:1" listens on every interface, so other machines could use the proxy; set allow_remote: true (--allow-remote, CONSENTPROXY_ALLOW_REMOTE=true) if that is intended, or use 127.0.0.1`,
		`CONSENTPROXY_LOG_LEVEL: "chatty" must be debug, info, warn or error`,
		`CONSENTPROXY_RESOLVE: "b" is not PATTERN=IP[:PORT] (e.g. *.example.com=127.0.0.1:8443)`,
		`--max-connections: -1 must be greater than 0`,
		`limits.dial_timeout: 0s must be greater than 0`,
	}, "\n")
	err = cfg.Validate()
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestIsIdentifier(t *testing.T) {
	tests := []struct {
		s                  string
		category, vendorID bool
	}{
		{"analytics", true, true},
		{"ad-tech", true, true},
		{"ad_tech", true, false},
		{"a1", true, true},
		{"1a", false, true},
		{"-a", false, false},
		{"_a", false, false},
		{"Analytics", false, false},
		{"a b", false, false},
		{"", false, false},
		{"é", false, false},
	}
	for _, tt := range tests {
		if got := isIdentifier(tt.s, true); got != tt.category {
			t.Errorf("isIdentifier(%q, category) = %v, want %v", tt.s, got, tt.category)
		}
		if got := isIdentifier(tt.s, false); got != tt.vendorID {
			t.Errorf("isIdentifier(%q, vendor) = %v, want %v", tt.s, got, tt.vendorID)
		}
	}
}
