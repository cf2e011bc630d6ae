package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// nonSettingEnv are CONSENTPROXY_* variables that are read by someone other
// than ApplyEnv (Resolve reads CONSENTPROXY_CONFIG; the test suites read
// the others), so they must never draw an "unknown variable" warning.
// Names under CONSENTPROXY_TEST_ and CONSENTPROXY_REQUIRE_ are reserved for
// test harnesses and never warn either, so a new test switch does not need
// an entry here.
func nonSettingEnv() []string {
	return []string{ConfigEnv, envPrefix + "REQUIRE_SHARED", envPrefix + "REQUIRE_CHROMIUM"}
}

// ApplyEnv applies the CONSENTPROXY_* variables of environ ("NAME=value"
// entries, as os.Environ returns them) to cfg. Lists are comma-separated
// ("a.yaml,b.yaml"; spaces around items are ignored) and replace cfg's
// list. An empty value counts as unset, because `VAR=${VAR}` in compose
// files and CI templates sets variables to "" routinely. When a name
// appears twice the last one wins, as for exec.Cmd.
//
// A bad value is an error naming the variable and the fix; all of them are
// reported (errors.Join) and the good ones still applied. A CONSENTPROXY_*
// name that is not a setting is only a warning (with a suggestion), since
// a stray variable must not stop a proxy from starting.
func ApplyEnv(cfg *Config, environ []string) (warnings []string, err error) {
	vars := make(map[string]string)
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, envPrefix) {
			vars[name] = value
		}
	}
	if len(vars) == 0 {
		return nil, nil
	}

	cfg.ownOrigins()
	var errs []error
	known := make(map[string]bool)
	var envNames []string
	fileOnly := make(map[string]string)
	for _, s := range Settings() {
		if s.Env == "" {
			fileOnly[envPrefix+strings.ToUpper(s.Key)] = s.Key
			continue
		}
		known[s.Env] = true
		envNames = append(envNames, s.Env)
		value := vars[s.Env]
		if value == "" {
			continue
		}
		v, err := parseEnv(s, value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Env, err))
			continue
		}
		s.set(cfg, v)
		cfg.replaceOrigin(s.Key, Origin{Env: s.Env})
	}
	fileOnly[envPrefix+"LIMITS"] = "limits"
	for _, n := range nonSettingEnv() {
		known[n] = true
	}

	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if known[name] || strings.HasPrefix(name, envPrefix+"TEST_") || strings.HasPrefix(name, envPrefix+"REQUIRE_") {
			continue
		}
		if key, ok := fileOnly[name]; ok {
			warnings = append(warnings, fmt.Sprintf("%s is ignored: %s can only be set in the config file", name, key))
			continue
		}
		w := fmt.Sprintf("%s is not a consentproxy setting; ignored", name)
		if s := suggest(name, envNames); s != "" {
			w = fmt.Sprintf("%s is not a consentproxy setting (did you mean %s?); ignored", name, s)
		}
		warnings = append(warnings, w)
	}
	return warnings, errors.Join(errs...)
}

// parseEnv parses the value of s's variable.
func parseEnv(s Setting, value string) (any, error) {
	switch s.Kind {
	case KindStringList, KindIntList:
		var strs []string
		var ints []int
		for i, item := range strings.Split(value, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			v, err := parseScalar(elemKind(s.Kind), item)
			if err != nil {
				return nil, fmt.Errorf("item %d: %q is %w (the list is comma-separated, e.g. %s)", i+1, item, err, envExample(s.Kind))
			}
			if s.Kind == KindIntList {
				ints = append(ints, v.(int))
			} else {
				strs = append(strs, v.(string))
			}
		}
		if s.Kind == KindIntList {
			return ints, nil
		}
		return strs, nil
	}
	v, err := parseScalar(s.Kind, strings.TrimSpace(value))
	if err != nil {
		return nil, fmt.Errorf("%q is %w", value, err)
	}
	if s.Kind == KindString {
		// Strings are taken verbatim: a token or password may contain
		// spaces on purpose.
		return value, nil
	}
	return v, nil
}

func envExample(k Kind) string {
	if k == KindIntList {
		return "443,8443"
	}
	return "a,b"
}
