package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// SECURITY.md names, for each promise, the tests that keep it, as
// `file_test.go`: `TestName`. Every test it names must exist in the file
// it is listed under, so that the page cannot point at a test that was
// renamed or removed.
func TestSecurityPageNamesRealTests(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(root, "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	code := regexp.MustCompile("`([^`]+)`")
	name := regexp.MustCompile(`^(Test|Fuzz)[A-Za-z0-9_]+$`)
	file, checked := "", 0
	sources := map[string]string{}
	for _, m := range code.FindAllStringSubmatch(string(page), -1) {
		tok := m[1]
		switch {
		case strings.HasSuffix(tok, "_test.go"):
			file = tok
		case name.MatchString(tok) && tok != "TestMain":
			if file == "" {
				t.Errorf("SECURITY.md names %s before any test file", tok)
				continue
			}
			src, ok := sources[file]
			if !ok {
				data, err := os.ReadFile(filepath.Join(root, file))
				if err != nil {
					t.Errorf("SECURITY.md cites %s: %v", file, err)
				}
				src = string(data)
				sources[file] = src
			}
			if !strings.Contains(src, "func "+tok+"(") {
				t.Errorf("SECURITY.md cites %s in %s, which has no such test", tok, file)
			}
			checked++
		}
	}
	if checked < 40 {
		t.Errorf("only %d tests found in SECURITY.md; is the format still `file_test.go`: `TestName`?", checked)
	}
}
