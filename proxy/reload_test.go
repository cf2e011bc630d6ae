package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/consentproxy/consentproxy/certs"
	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/rules"
)

const acmeRules = `version: 1
vendors:
  - id: acme
    name: ACME Analytics
    services:
      - name: collector
        category: %s
        kind: beacon
        hosts: [collect.acme.test]
        paths: ["/v1/*"]
cookies:
  - names: [acme_uid]
    category: analytics
    vendor: acme
`

const brokenRules = `version: 1
vendors:
  - id: acme
    name: ACME Analytics
    servics: []
`

// configFile is a config file the way a user writes one, and the
// ReloadFunc the command would build for it.
type configFile struct {
	dir, path, rules string
	env              []string
	upstreamCA       string // PEM file, written once
}

func newConfigFile(t *testing.T) *configFile {
	dir := t.TempDir()
	return &configFile{dir: dir, path: filepath.Join(dir, "config.yaml"), rules: filepath.Join(dir, "rules.yaml"),
		env: []string{config.ConfigEnv + "=" + filepath.Join(dir, "config.yaml")}}
}

func (f *configFile) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *configFile) resolve() (config.Config, error) {
	cfg, _, err := config.Resolve(config.Sources{Environ: f.env})
	return cfg, err
}

// configYAML is a config file reaching the fake web, with the rules file,
// a profile of its own and the given listen address.
func (f *configFile) configYAML(t *testing.T, upCA *testCA, web *fakeWeb, listen string, withCustom bool) string {
	var b strings.Builder
	b.WriteString("listen: " + listen + "\nadmin: 127.0.0.1:0\n")
	b.WriteString("data_dir: " + f.dir + "\n")
	if f.upstreamCA == "" {
		f.upstreamCA = upCA.writePEM(t)
	}
	b.WriteString("upstream_ca: [" + f.upstreamCA + "]\n")
	b.WriteString("rules: [rules.yaml]\n")
	b.WriteString("resolve:\n")
	for _, r := range web.resolve() {
		b.WriteString("  - " + r + "\n")
	}
	if withCustom {
		b.WriteString("profiles:\n  - name: custom\n    description: analytics allowed\n    allow: [analytics]\n    vendors:\n      facebook: allow\n")
	}
	return b.String()
}

// Reload re-reads the config file and the rules files: a broken rules
// file is refused with its file:line and the running rules stay; a good
// one takes effect at once, with no decision cached under the old rules;
// a runtime-selected profile survives a reload while it exists and falls
// back to the configuration's profile when it goes; settings that need a
// restart are reported.
func TestReload(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newFakeWeb(t, upCA)
	f := newConfigFile(t)
	f.write(t, f.rules, strings.Replace(acmeRules, "%s", "analytics", 1))
	f.write(t, f.path, f.configYAML(t, upCA, web, "127.0.0.1:0", true))
	cfg, err := f.resolve()
	if err != nil {
		t.Fatal(err)
	}
	e := startProxy(t, cfg, WithReload(f.resolve))
	a := e.admin(t)
	c := e.client(t, clientOpts{})
	beacon := probe{method: "POST", url: "https://collect.acme.test/v1/hit?x=1", key: "collect.acme.test/v1/hit",
		hdr: with(thirdPartyBeacon, cookieHeader("acme_uid")...), body: "e=1"}
	expect := func(step string, wantStatus, wantHits int) {
		t.Helper()
		resp, body := beacon.do(t, c)
		if resp.StatusCode != wantStatus || web.count(beacon.key) != wantHits {
			t.Fatalf("%s: got %d %q with %d upstream hits, want %d with %d", step, resp.StatusCode, body, web.count(beacon.key), wantStatus, wantHits)
		}
	}

	expect("acme under reject-all", 204, 0)
	if status, body := a.do(t, "PUT", "/api/profile", map[string]string{"name": "custom"}); status != 200 {
		t.Fatalf("PUT custom: %d %s", status, body)
	}
	expect("acme under custom (analytics allowed)", 200, 1)

	// A broken rules file: 400 naming file:line, and nothing changes.
	f.write(t, f.rules, brokenRules)
	status, body := a.do(t, "POST", "/api/reload", nil)
	var rerr reloadErrorJSON
	decode(t, body, &rerr)
	if status != 400 || !strings.Contains(rerr.Error, f.rules+":5:") || len(rerr.Errors) == 0 {
		t.Fatalf("reload with a broken rules file: %d %s, want 400 citing %s:5", status, body, f.rules)
	}
	expect("after the failed reload", 200, 2)
	var active activeJSON
	_, body = a.do(t, "GET", "/api/profile", nil)
	decode(t, body, &active)
	if active.Name != "custom" || active.SelectedBy != "api" {
		t.Errorf("active after the failed reload: %+v", active)
	}

	// The collector is advertising now: custom refuses it, at once.
	f.write(t, f.rules, strings.Replace(acmeRules, "%s", "advertising", 1))
	status, body = a.do(t, "POST", "/api/reload", nil)
	var rep ReloadReport
	decode(t, body, &rep)
	if status != 200 || rep.ActiveProfile != "custom" || rep.ActiveProfileNote != "" || len(rep.RestartRequired) != 0 {
		t.Fatalf("reload: %d %s", status, body)
	}
	expect("after the reload (acme is advertising)", 204, 2)

	// The config loses profile custom and moves the listener.
	f.write(t, f.path, f.configYAML(t, upCA, web, "127.0.0.1:65001", false))
	status, body = a.do(t, "POST", "/api/reload", nil)
	rep = ReloadReport{}
	decode(t, body, &rep)
	if status != 200 || rep.ActiveProfile != "reject-all" || !strings.Contains(rep.ActiveProfileNote, `"custom"`) {
		t.Fatalf("reload without custom: %d %s", status, body)
	}
	if len(rep.RestartRequired) != 1 || rep.RestartRequired[0] != (RestartSetting{Key: "listen", Running: "127.0.0.1:0", Configured: "127.0.0.1:65001"}) {
		t.Errorf("restart_required %+v, want the listen address", rep.RestartRequired)
	}
	if got := e.srv.ActiveProfile(); got != "reject-all" {
		t.Errorf("active profile %q, want reject-all", got)
	}
	// Still serving on the old address.
	expect("after moving the listener in the config", 204, 2)

	// A bad config file: 400 with file:line, nothing changes.
	f.write(t, f.path, "listn: 127.0.0.1:1\n")
	status, body = a.do(t, "POST", "/api/reload", nil)
	if status != 400 || !strings.Contains(string(body), f.path+":1: unknown key") {
		t.Fatalf("reload with a bad config: %d %s", status, body)
	}
	expect("after the bad config", 204, 2)
}

// Without a ReloadFunc, a reload re-reads the rules files of the running
// configuration.
func TestReloadRereadsRulesFiles(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newFakeWeb(t, upCA)
	cfg := webConfig(t, upCA, web)
	rulesFile := filepath.Join(t.TempDir(), "acme.yaml")
	if err := os.WriteFile(rulesFile, []byte(strings.Replace(acmeRules, "%s", "analytics", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Rules = []string{rulesFile}
	e := startProxy(t, cfg)
	if _, err := e.srv.Reload(); err != nil {
		t.Fatalf("reload of unchanged files: %v", err)
	}
	if err := os.WriteFile(rulesFile, []byte(brokenRules), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := e.srv.Reload()
	if err == nil || !strings.Contains(err.Error(), rulesFile+":5:") {
		t.Fatalf("reload of a broken file: %v, want %s:5", err, rulesFile)
	}
	if _, ok := e.srv.snap.Load().set.Vendor("acme"); !ok {
		t.Errorf("the running rules lost vendor acme after a failed reload")
	}
}

// Starting with a configuration that names a profile that does not exist
// fails, citing where it was named.
func TestNewRejectsUnknownProfiles(t *testing.T) {
	f := newConfigFile(t)
	f.write(t, f.rules, strings.Replace(acmeRules, "%s", "analytics", 1))
	f.write(t, f.path, "profile: nope\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata_dir: "+f.dir+
		"\nlisteners:\n  - listen: 127.0.0.1:0\n    profile: gone\nrules: [rules.yaml, missing.yaml]\n")
	cfg, err := f.resolve()
	if err != nil {
		t.Fatal(err)
	}
	_, err = newServerFor(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("New: %v, want the missing rules file", err)
	}
	f.write(t, f.path, "profile: nope\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata_dir: "+f.dir+
		"\nlisteners:\n  - listen: 127.0.0.1:0\n    profile: gone\n")
	if cfg, err = f.resolve(); err != nil {
		t.Fatal(err)
	}
	_, err = newServerFor(t, cfg)
	for _, want := range []string{
		f.path + `:1: profile: no consent profile named "nope"; profiles: accept-all, analytics-only, reject-all`,
		f.path + `:7: listeners[0].profile: no consent profile named "gone"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New: %v\nwant it to contain %q", err, want)
		}
	}
}

// newServerFor is New with a fresh CA and no logger.
func newServerFor(t *testing.T, cfg config.Config) (*Server, error) {
	t.Helper()
	ca, _, err := certs.LoadOrCreate(cfg.CACert, cfg.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	return New(cfg, ca, zap.NewNop())
}

// ProfilesLayer keeps the config file's origins, down to each vendor
// override's line, so that /api/profiles and rules errors cite them.
func TestProfilesLayerOrigins(t *testing.T) {
	f := newConfigFile(t)
	f.write(t, f.path, "profiles:\n  - name: strict\n    allow: [analytics]\n    vendors:\n      criteo: allow\n      bogus-vendor: deny\n")
	cfg, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	layer := ProfilesLayer(cfg)
	if layer == nil || len(layer.Profiles) != 1 {
		t.Fatalf("layer %+v", layer)
	}
	p := layer.Profiles[0]
	if p.Origin != (rules.Origin{File: f.path, Line: 2}) || p.VendorOrigins["criteo"] != (rules.Origin{File: f.path, Line: 5}) {
		t.Errorf("origins %v %v", p.Origin, p.VendorOrigins)
	}
	_, err = BuildRules(cfg)
	if err == nil || !strings.Contains(err.Error(), f.path+":6:") || !strings.Contains(err.Error(), "bogus-vendor") {
		t.Errorf("BuildRules: %v, want %s:6 naming bogus-vendor", err, f.path)
	}
	if ProfilesLayer(config.Default()) != nil {
		t.Errorf("a config without profiles gave a layer")
	}
}
