package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load as a config file: it must never
// panic, every error must cite the file, and a config it accepts must
// survive Validate and the helpers the CLI calls next.
func FuzzLoad(f *testing.F) {
	if example, err := os.ReadFile("example.yaml"); err == nil {
		f.Add(example)
	}
	for _, seed := range []string{
		"",
		"listen: 127.0.0.1:8080\n",
		"listn: x\n",
		"limits:\n  idle_timeout: 2 minutes\n",
		"limits: &a {<<: *a}\n",
		"profiles:\n  - &p {name: a, allow: [x]}\n  - <<: *p\n    name: b\n",
		"listeners: [{listen: ':1', auth: true}, {listen: ':1'}]\n",
		"resolve: ['*=[::1]:8443', 'a=b']\npassthrough: ['*.x', '*']\n",
		"intercept_ports: [0, 65536, -1]\n",
		"a: 1\n---\nb: 2\n",
		"rules: [a\n",
		"? [a]\n: b\n",
		"vendors: !!map {}\n",
		"listen: !!binary aGVsbG8=\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !strings.HasPrefix(line, path) {
					t.Fatalf("error line %q does not start with the file name", line)
				}
			}
			return
		}
		if cfg.File != path {
			t.Fatalf("File = %q, want %q", cfg.File, path)
		}
		cfg.DataDir = "/data"
		cfg.FillPaths()
		_ = cfg.Validate()
		_, _ = cfg.ResolveRules()
		_, _ = cfg.PassthroughPatterns()
		_ = cfg.Redacted()
	})
}
