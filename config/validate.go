package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks every value and returns every problem at once
// (errors.Join, one per line). Each message starts with where the value
// came from: "file:line: key" for the config file, the flag ("--listen") or
// the variable ("CONSENTPROXY_LISTEN"), else the key; and it says what to
// do about it.
//
// It checks what config alone can know. Whether a profile name, a category
// or a vendor id exists is for the rules package, which knows the ruleset.
func (c Config) Validate() error {
	v := &validator{c: c}
	v.addresses()
	v.enum("log_level", c.LogLevel, "debug", "info", "warn", "error")
	v.enum("log_format", c.LogFormat, "console", "json")
	if c.Profile == "" {
		v.errorf("profile", "empty; name the consent profile active at start (e.g. %s)", DefaultProfile)
	}
	v.profiles()
	v.files("rules", c.Rules)
	v.files("upstream_ca", c.UpstreamCA)
	if (c.CACert == "") != (c.CAKey == "") {
		set, unset := "ca_cert", "ca_key"
		if c.CACert == "" {
			set, unset = unset, set
		}
		v.errorf(set, "set without %s; set both, or neither to use %s and %s in the data dir", unset, CACertFile, CAKeyFile)
	}
	for i, p := range c.InterceptPorts {
		if p < 1 || p > 65535 {
			v.errorf(fmt.Sprintf("intercept_ports[%d]", i), "%d is not a port (1-65535)", p)
		}
	}
	for i, s := range c.Resolve {
		if _, err := ParseResolve(s); err != nil {
			v.wrap(fmt.Sprintf("resolve[%d]", i), err)
		}
	}
	for i, s := range c.Passthrough {
		if _, err := ParseHostPattern(s); err != nil {
			v.wrap(fmt.Sprintf("passthrough[%d]", i), err)
		}
	}
	v.limits()
	return errors.Join(v.errs...)
}

type validator struct {
	c    Config
	errs []error
}

func (v *validator) errorf(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", v.c.at(key), fmt.Sprintf(format, args...)))
}

func (v *validator) wrap(key string, err error) {
	v.errs = append(v.errs, fmt.Errorf("%s: %w", v.c.at(key), err))
}

// enum checks that value is one of allowed.
func (v *validator) enum(key, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		v.errorf(key, "%q must be %s", value, orList(allowed))
	}
}

// orList is "a or b", "a, b or c".
func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// bind is a parsed listen address.
type bind struct {
	key  string
	addr string
	host string // lower-case; IPs in canonical form; "" for every interface
	port int
}

// addresses checks listen, admin and the listeners, each on its own and
// against each other: two listeners on one address would fail at bind
// time, with a message far from the config line that caused it.
func (v *validator) addresses() {
	var binds []bind
	if b, ok := v.addr("listen", v.c.Listen); ok {
		binds = append(binds, b)
	}
	switch {
	case v.c.Admin == AdminOff:
	case strings.EqualFold(v.c.Admin, AdminOff):
		v.errorf("admin", "%q: write %s in lower case to disable the admin API", v.c.Admin, AdminOff)
	default:
		if b, ok := v.addr("admin", v.c.Admin); ok {
			binds = append(binds, b)
		}
	}
	for i, l := range v.c.Listeners {
		key := fmt.Sprintf("listeners[%d]", i)
		if l.Listen == "" {
			v.errorf(key, "listen is missing (e.g. listen: 127.0.0.1:8082)")
			continue
		}
		if b, ok := v.addr(key+".listen", l.Listen); ok {
			binds = append(binds, b)
		}
	}
	for i, b := range binds {
		for _, other := range binds[:i] {
			if overlap(b, other) {
				at := ""
				if o := v.c.Origin(other.key).String(); o != "" {
					at = " (" + o + ")"
				}
				v.errorf(b.key, "%q collides with %s %q%s; give each listener its own port", b.addr, other.key, other.addr, at)
				break
			}
		}
	}
}

// addr parses and checks one listen address.
func (v *validator) addr(key, addr string) (bind, bool) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		v.errorf(key, "%q is not host:port (e.g. 127.0.0.1:8080)", addr)
		return bind{}, false
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		v.errorf(key, "%q: port %q is not a number from 0 to 65535", addr, portText)
		return bind{}, false
	}
	b := bind{key: key, addr: addr, host: strings.ToLower(host), port: port}
	if ip, err := netip.ParseAddr(host); err == nil {
		b.host = ip.Unmap().String()
		if ip.IsUnspecified() {
			b.host = ""
		}
	} else if host != "" {
		if err := checkHostName(b.host); err != nil {
			v.errorf(key, "%q: %v", addr, err)
			return bind{}, false
		}
	}
	if !v.c.AllowRemote && !isLoopback(b.host) {
		what := "is not a loopback address"
		if b.host == "" {
			what = "listens on every interface"
		}
		v.errorf(key, "%q %s, so other machines could use the proxy; set allow_remote: true (--allow-remote, CONSENTPROXY_ALLOW_REMOTE=true) if that is intended, or use 127.0.0.1", addr, what)
	}
	return b, true
}

// isLoopback reports whether a normalised bind host only accepts local
// connections. Any other name is remote: it may resolve anywhere.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// overlap reports whether two binds would take the same socket: the same
// port (0 is a fresh port each time) on the same host, or on any host when
// one of them listens on every interface.
func overlap(a, b bind) bool {
	if a.port != b.port || a.port == 0 {
		return false
	}
	if a.host == b.host || a.host == "" || b.host == "" {
		return true
	}
	// localhost binds 127.0.0.1 and ::1.
	isLocal := func(h string) bool { return h == "127.0.0.1" || h == "::1" }
	return a.host == "localhost" && isLocal(b.host) || b.host == "localhost" && isLocal(a.host)
}

func (v *validator) profiles() {
	first := make(map[string]int)
	for i, p := range v.c.Profiles {
		key := fmt.Sprintf("profiles[%d]", i)
		switch j, dup := first[p.Name]; {
		case p.Name == "":
			v.errorf(key+".name", "a profile needs a name (e.g. name: strict)")
		case dup:
			at := v.c.Origin(fmt.Sprintf("profiles[%d]", j)).String()
			if at == "" {
				at = fmt.Sprintf("profiles[%d]", j)
			}
			v.errorf(key+".name", "profile %q is defined twice (first at %s); rename or remove one", p.Name, at)
		default:
			first[p.Name] = i
		}
		for k, cat := range p.Allow {
			if !isIdentifier(cat, true) {
				v.errorf(fmt.Sprintf("%s.allow[%d]", key, k), "%q is not a category name (lower-case letters, digits, - and _, e.g. analytics)", cat)
			}
		}
		ids := make([]string, 0, len(p.Vendors))
		for id := range p.Vendors {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			vk := key + ".vendors." + id
			if !isIdentifier(id, false) {
				v.errorf(vk, "vendor id %q must be lower-case letters, digits and - (e.g. criteo)", id)
			}
			v.enum(vk, p.Vendors[id], "allow", "deny")
		}
		if p.UnknownCookies != "" {
			v.enum(key+".unknown_cookies", p.UnknownCookies, "allow", "strip")
		}
		if p.OnDenied != "" {
			v.enum(key+".on_denied", p.OnDenied, "block", "strip")
		}
		if p.ConsentState != nil {
			v.consentState(key+".consent_state", p.ConsentState)
		}
	}
}

// isIdentifier accepts [a-z][a-z0-9_-]* for categories and
// [a-z0-9][a-z0-9-]* for vendor ids, the shapes the rules format defines.
func isIdentifier(s string, category bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && (i > 0 || !category):
		case c == '-' && i > 0:
		case c == '_' && i > 0 && category:
		default:
			return false
		}
	}
	return true
}

// files checks a list of file names for empty entries (a stray comma in
// CONSENTPROXY_RULES is dropped, but "" in YAML is kept and would fail
// later with a confusing "open : no such file").
func (v *validator) files(key string, names []string) {
	for i, n := range names {
		if strings.TrimSpace(n) == "" {
			v.errorf(fmt.Sprintf("%s[%d]", key, i), "empty file name")
		}
	}
}

func (v *validator) limits() {
	for _, s := range Settings() {
		if !strings.HasPrefix(s.Key, "limits.") {
			continue
		}
		switch x := s.get(&v.c).(type) {
		case int:
			if x <= 0 {
				v.errorf(s.Key, "%d must be greater than 0", x)
			}
		case time.Duration:
			if x <= 0 {
				v.errorf(s.Key, "%s must be greater than 0", x)
			}
		}
	}
}
