package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestExampleYAML keeps config/example.yaml from rotting: it must load and
// validate, write every key of the settings table (and of listeners and
// profiles) with a comment, and show the real defaults.
func TestExampleYAML(t *testing.T) {
	const path = "example.yaml"
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	keys := make(map[string]bool)
	collectKeys(t, doc.Content[0], "", keys)

	def := Default()
	for _, s := range Settings() {
		if !keys[s.Key] {
			t.Errorf("example.yaml does not set %s", s.Key)
			continue
		}
		if s.Kind == KindListeners || s.Kind == KindProfiles {
			continue
		}
		got, want := s.get(&cfg), s.get(&def)
		if isZero(got) && isZero(want) {
			continue // [] and nil, "" and unset
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("example.yaml sets %s to %v, but the default is %v", s.Key, got, want)
		}
	}
	for _, k := range listenerKeys() {
		if !keys["listeners[]."+k] {
			t.Errorf("example.yaml has no listener with %s", k)
		}
	}
	for _, k := range profileKeys() {
		if !keys["profiles[]."+k] {
			t.Errorf("example.yaml has no profile with %s", k)
		}
	}
	for _, k := range consentStateKeys() {
		if !keys["profiles[].consent_state."+k] {
			t.Errorf("example.yaml has no consent_state with %s", k)
		}
	}
	for section, ks := range map[string][]string{"onetrust": oneTrustKeys(), "cookiebot": cookiebotKeys(), "tcf": tcfKeys(), "gpp": gppKeys()} {
		for _, k := range ks {
			if !keys["profiles[].consent_state."+section+"."+k] {
				t.Errorf("example.yaml has no consent_state %s.%s", section, k)
			}
		}
	}

	var acceptAll, auth bool
	for _, l := range cfg.Listeners {
		acceptAll = acceptAll || l.Profile == "accept-all"
		auth = auth || l.Auth
	}
	if !acceptAll || !auth {
		t.Errorf("example listeners %+v: want one with profile accept-all and one with auth: true", cfg.Listeners)
	}
	var strict bool
	for _, p := range cfg.Profiles {
		strict = strict || p.UnknownCookies == "strip" && len(p.Vendors) > 0
	}
	if !strict {
		t.Errorf("example profiles %+v: want one with unknown_cookies: strip and a vendor override", cfg.Profiles)
	}
}

// collectKeys records the key paths of n ("limits.idle_timeout",
// "profiles[].name") and fails for a setting key that has no comment above
// it, nor above the key before it (ca_cert and ca_key share one).
func collectKeys(t *testing.T, n *yaml.Node, prefix string, keys map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := prefix + k.Value
			keys[path] = true
			commented := k.HeadComment != "" || (i >= 2 && n.Content[i-2].HeadComment != "") ||
				(i == 0 && prefix != "" && strings.HasSuffix(prefix, "[].")) // first key of a list item: comment sits on "- "
			// vendors and onetrust.groups hold user data, not settings.
			if !commented && !strings.Contains(prefix, "vendors") && !strings.Contains(prefix, "groups") {
				t.Errorf("example.yaml: %s (line %d) has no comment", path, k.Line)
			}
			collectKeys(t, v, path+".", keys)
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			collectKeys(t, item, strings.TrimSuffix(prefix, ".")+"[].", keys)
		}
	}
}
