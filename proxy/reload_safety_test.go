package proxy

import (
	"fmt"
	"strings"
	"testing"
)

// POST /api/reload with a config file that parses but does not validate,
// or names a profile that does not exist: 400 with every problem as
// file:line, the running rules and profiles untouched, the failure counted.
func TestReloadAPIRefusesInvalidConfig(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newFakeWeb(t, upCA)
	f := newConfigFile(t)
	f.write(t, f.rules, strings.Replace(acmeRules, "%s", "analytics", 1))
	good := f.configYAML(t, upCA, web, "127.0.0.1:0", true) + "profile: custom\n"
	f.write(t, f.path, good)
	cfg, err := f.resolve()
	if err != nil {
		t.Fatal(err)
	}
	e := startProxy(t, cfg, WithReload(f.resolve))
	a := e.admin(t)
	c := e.client(t, clientOpts{})
	beacon := probe{method: "POST", url: "https://collect.acme.test/v1/hit", key: "collect.acme.test/v1/hit",
		hdr: with(thirdPartyBeacon, cookieHeader("acme_uid")...), body: "e=1"}
	lines := strings.Count(good, "\n")
	tests := []struct {
		name, append string
		want         []string
	}{
		{"a limit out of range", "limits:\n  max_connections: -1\n  idle_timeout: 0s\n", []string{
			fmt.Sprintf("%s:%d: limits.max_connections: -1 must be greater than 0", f.path, lines+2),
			fmt.Sprintf("%s:%d: limits.idle_timeout: 0s must be greater than 0", f.path, lines+3)}},
		{"a remote listener without allow_remote", "listeners:\n  - listen: 0.0.0.0:9999\n", []string{
			fmt.Sprintf("%s:%d: listeners[0].listen: \"0.0.0.0:9999\" listens on every interface", f.path, lines+2)}},
		{"an unknown profile", "listeners:\n  - listen: 127.0.0.1:0\n    profile: nope\n", []string{
			fmt.Sprintf("%s:%d: listeners[0].profile: no consent profile named \"nope\"", f.path, lines+3)}},
	}
	for i, tt := range tests {
		f.write(t, f.path, good+tt.append)
		status, body := a.do(t, "POST", "/api/reload", nil)
		var rerr reloadErrorJSON
		decode(t, body, &rerr)
		if status != 400 || len(rerr.Errors) == 0 {
			t.Errorf("%s: got %d %s, want 400 with the errors", tt.name, status, body)
		}
		for _, w := range tt.want {
			if !strings.Contains(rerr.Error, w) {
				t.Errorf("%s: error %q lacks %q", tt.name, rerr.Error, w)
			}
		}
		// Still the running configuration: profile custom (analytics
		// allowed) lets the beacon through with its cookie.
		if got := e.srv.ActiveProfile(); got != "custom" {
			t.Errorf("%s: active profile %q, want custom", tt.name, got)
		}
		resp, _ := beacon.do(t, c)
		if resp.StatusCode != 200 || web.count(beacon.key) != i+1 {
			t.Errorf("%s: the beacon after the failed reload: %d, %d hits", tt.name, resp.StatusCode, web.count(beacon.key))
		}
	}
	_, metrics := a.do(t, "GET", "/metrics", nil)
	if got := metricValues(t, string(metrics))[`consentproxy_reloads_total{result="failed"}`]; int(got) != len(tests) {
		t.Errorf("reloads_total{result=failed} = %v, want %d", got, len(tests))
	}
}
