package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedDir returns ../shared beside the repository root (the directory
// holding go.mod). Without it the test is skipped, unless
// CONSENTPROXY_REQUIRE_SHARED=1 makes that a failure.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("get working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's working directory: run the test inside the repository")
		}
		dir = parent
	}
	shared := filepath.Join(dir, "..", "shared")
	if _, err := os.Stat(shared); err != nil {
		if os.Getenv("CONSENTPROXY_REQUIRE_SHARED") == "1" {
			t.Fatalf("shared test data: %v (CONSENTPROXY_REQUIRE_SHARED=1; put the shared folder beside the repository)", err)
		}
		t.Skipf("shared test data not found at %s (set CONSENTPROXY_REQUIRE_SHARED=1 to make this a failure)", shared)
	}
	return shared
}

// parseFile parses a file under testdata, failing the test on any error.
func parseFile(t testing.TB, path string) *File {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	f, err := Parse(path, data)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return f
}

// parseText parses rules given inline; the text is dedented so tests can
// indent it with the code.
func parseText(t testing.TB, name, text string) *File {
	t.Helper()
	f, err := Parse(name, []byte(dedent(text)))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return f
}

// dedent removes the common leading tabs of a raw string literal.
func dedent(s string) string {
	lines := strings.Split(strings.TrimPrefix(s, "\n"), "\n")
	prefix := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if prefix < 0 || n < prefix {
			prefix = n
		}
	}
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			lines[i] = ""
			continue
		}
		if len(l) >= prefix && prefix > 0 {
			lines[i] = l[prefix:]
		}
	}
	return strings.Join(lines, "\n")
}

// builtinProfiles is the built-in layer reduced to builtin/profiles.yaml:
// tests of the engine must not depend on the built-in vendor data, which
// changes on its own schedule (it has its own tests).
func builtinProfiles(t testing.TB) *File {
	t.Helper()
	data, err := builtinFS.ReadFile("builtin/profiles.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("builtin/profiles.yaml", data)
	if err != nil {
		t.Fatalf("builtin/profiles.yaml: %v", err)
	}
	f.Name = BuiltinLayer
	return f
}

// trackerSet compiles the built-in profiles with testdata/trackers.yaml
// and any extra layers.
func trackerSet(t testing.TB, extra ...*File) *Set {
	t.Helper()
	layers := append([]*File{builtinProfiles(t), parseFile(t, "testdata/trackers.yaml")}, extra...)
	s, err := Compile(layers...)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

func mustProfile(t testing.TB, s *Set, name string) *Profile {
	t.Helper()
	p, ok := s.Profile(name)
	if !ok {
		t.Fatalf("no profile %q (have %v)", name, s.ProfileNames())
	}
	return p
}

// splitURL turns "host/path" into a Request.
func splitURL(u string) Request {
	host, path, _ := strings.Cut(u, "/")
	return Request{Host: host, Path: "/" + path}
}
