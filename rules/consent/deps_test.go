package consent

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps the package pure: the standard library and the rules
// vocabulary only (no proxy, no goproxy, no zap, no config).
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(imp, ".") && imp != "github.com/consentproxy/consentproxy/rules" {
			t.Errorf("rules/consent imports %s: only the standard library and rules are allowed", imp)
		}
	}
}
