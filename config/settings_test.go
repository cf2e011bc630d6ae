package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// yamlKeys lists the YAML paths of the fields of t (and of the limits
// struct under "limits."), from the struct tags.
func yamlKeys(t reflect.Type, prefix string) map[string]reflect.StructField {
	out := make(map[string]reflect.StructField)
	for f := range t.Fields() {
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		if f.Type == reflect.TypeFor[Limits]() {
			for k, v := range yamlKeys(f.Type, prefix+tag+".") {
				out[k] = v
			}
			continue
		}
		out[prefix+tag] = f
	}
	return out
}

// TestSettingsCoverConfig keeps the table and the struct in step: a field
// added to Config without a setting would be unreachable from the file,
// the environment and the flags.
func TestSettingsCoverConfig(t *testing.T) {
	fields := yamlKeys(reflect.TypeFor[Config](), "")
	seen := make(map[string]bool)
	for _, s := range Settings() {
		if seen[s.Key] {
			t.Errorf("setting %s is listed twice", s.Key)
		}
		seen[s.Key] = true
		f, ok := fields[s.Key]
		if !ok {
			t.Errorf("setting %s has no Config field with that yaml tag", s.Key)
			continue
		}
		// The accessor must point at that very field.
		var c Config
		ptr := reflect.ValueOf(s.field(&c))
		var want reflect.Value
		if l, ok := strings.CutPrefix(s.Key, "limits."); ok {
			want = reflect.ValueOf(&c.Limits).Elem().FieldByIndex(yamlKeys(reflect.TypeFor[Limits](), "")[l].Index)
		} else {
			want = reflect.ValueOf(&c).Elem().FieldByIndex(f.Index)
		}
		if ptr.Pointer() != want.Addr().Pointer() {
			t.Errorf("setting %s points at the wrong field", s.Key)
		}
		wantKind := map[reflect.Type]Kind{
			reflect.TypeFor[string]():        KindString,
			reflect.TypeFor[bool]():          KindBool,
			reflect.TypeFor[int]():           KindInt,
			reflect.TypeFor[time.Duration](): KindDuration,
			reflect.TypeFor[[]string]():      KindStringList,
			reflect.TypeFor[[]int]():         KindIntList,
			reflect.TypeFor[[]Listener]():    KindListeners,
			reflect.TypeFor[[]Profile]():     KindProfiles,
		}[f.Type]
		if s.Kind != wantKind {
			t.Errorf("setting %s has kind %v, its field is %v", s.Key, s.Kind, f.Type)
		}
	}
	for k := range fields {
		if !seen[k] {
			t.Errorf("Config field %s has no setting", k)
		}
	}
}

// TestSettingsNames checks the naming rules: flag = last key element with
// dashes, variable = CONSENTPROXY_ + upper-case last element, help text
// present, names unique; only listeners and profiles are file-only.
func TestSettingsNames(t *testing.T) {
	flags, envs := make(map[string]bool), make(map[string]bool)
	for _, s := range Settings() {
		if s.Help == "" {
			t.Errorf("%s has no help text", s.Key)
		}
		if s.Kind == KindListeners || s.Kind == KindProfiles {
			if s.Flag != "" || s.Env != "" {
				t.Errorf("%s is file-only but has flag %q env %q", s.Key, s.Flag, s.Env)
			}
			continue
		}
		name := s.Key[strings.LastIndexByte(s.Key, '.')+1:]
		wantFlag := strings.ReplaceAll(name, "_", "-")
		if s.Key == "intercept_ports" {
			wantFlag = "intercept-port" // repeatable: one port per use
		}
		if s.Flag != wantFlag {
			t.Errorf("%s: flag %q, want %q", s.Key, s.Flag, wantFlag)
		}
		if want := "CONSENTPROXY_" + strings.ToUpper(name); s.Env != want {
			t.Errorf("%s: env %q, want %q", s.Key, s.Env, want)
		}
		if flags[s.Flag] || envs[s.Env] || s.Flag == ConfigFlag || s.Env == ConfigEnv {
			t.Errorf("%s: flag %q or env %q used twice", s.Key, s.Flag, s.Env)
		}
		flags[s.Flag], envs[s.Env] = true, true
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"listen", "admin", "profile", "profiles", "data_dir", "log_level", "log_format", "watch"}
	tests := []struct{ name, want string }{
		{"listn", "listen"},
		{"lisen", "listen"},
		{"lsiten", "listen"},
		{"LISTEN", "listen"},
		{"data-dir", "data_dir"},
		{"datadir", "data_dir"},
		{"profle", "profile"},
		{"profiless", "profiles"},
		{"log", ""}, // a prefix of two keys: ambiguous
		{"wat", "watch"},
		{"adm", "admin"},
		{"xyz", ""},
		{"banana", ""},
		{"a", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.name, keys); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"listen", "listen", 0},
		{"listn", "listen", 1},
		{"lsiten", "listen", 1},
		{"kitten", "sitting", 3},
		{"ca", "abc", 3}, // optimal string alignment, not full Damerau
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
