package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestPackageBoundaries keeps the layering of ARCHITECTURE.md true: the
// pure packages never reach the proxy, goproxy or zap, and goproxy is
// imported by proxy alone (and by the load harness's baseline).
func TestPackageBoundaries(t *testing.T) {
	const mod = "github.com/consentproxy/consentproxy"
	forbidden := map[string][]string{
		mod + "/config":        {mod + "/", "github.com/elazarl/goproxy", "go.uber.org/zap"},
		mod + "/certs":         {mod + "/", "github.com/elazarl/goproxy", "go.uber.org/zap"},
		mod + "/rules":         {mod + "/proxy", mod + "/certs", mod + "/config", "github.com/elazarl/goproxy", "go.uber.org/zap"},
		mod + "/rules/cookie":  {mod + "/", "github.com/elazarl/goproxy", "go.uber.org/zap"},
		mod + "/rules/consent": {mod + "/proxy", mod + "/certs", mod + "/config", "github.com/elazarl/goproxy", "go.uber.org/zap"},
	}
	out, err := exec.Command("go", "list", "-json=ImportPath,Deps", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := map[string]bool{}
	for dec.More() {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		seen[p.ImportPath] = true
		for _, dep := range p.Deps {
			// bench/ holds the load harness's bare goproxy baseline: the
			// same library, measured without consentproxy around it.
			if strings.HasPrefix(dep, "github.com/elazarl/goproxy") && !strings.HasPrefix(p.ImportPath, mod+"/proxy") &&
				!strings.HasPrefix(p.ImportPath, mod+"/cmd/") && !strings.HasPrefix(p.ImportPath, mod+"/bench/") {
				t.Errorf("%s imports %s: only proxy (and the harness's baseline in bench/) may use goproxy", p.ImportPath, dep)
			}
			for _, bad := range forbidden[p.ImportPath] {
				if strings.HasPrefix(dep, bad) && !(p.ImportPath == mod+"/rules" && dep == mod+"/rules/cookie") {
					t.Errorf("%s depends on %s, which ARCHITECTURE.md forbids", p.ImportPath, dep)
				}
			}
		}
	}
	for pkg := range forbidden {
		if !seen[pkg] {
			t.Errorf("package %s not found by go list; update this test if it moved", pkg)
		}
	}
}

// TestNoBuiltinGoproxyCA guards SPEC §6: goproxy's built-in CA key is
// public, so neither it nor the globals that sign with it may appear.
func TestNoBuiltinGoproxyCA(t *testing.T) {
	// The names are assembled so that this file does not match itself.
	banned := []string{"Goproxy" + "Ca", "Always" + "Mitm", "goproxy." + "MitmConnect", "goproxy." + "HTTPMitmConnect", "goproxy." + "RejectConnect", "goproxy." + "OkConnect"}
	out, err := exec.Command("git", "grep", "-n", "-E", strings.Join(banned, "|"), "--", "*.go").CombinedOutput()
	if err == nil {
		t.Fatalf("goproxy's built-in CA or its globals are referenced:\n%s", out)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("git grep: %v\n%s", err, out)
	}
}
