package certs

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// certs must stay a leaf: the standard library plus the two modules it is
// built on. goproxy in particular must never come in, with its public CA
// key and globals one call away.
func TestImportsAreAllowed(t *testing.T) {
	allowed := map[string]bool{
		"github.com/hashicorp/golang-lru/v2": true,
		"golang.org/x/sync/singleflight":     true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			// Standard library paths have no dot in their first element.
			std := !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
			if !std && !allowed[path] {
				t.Errorf("%s imports %s; certs may use only the standard library, golang-lru and x/sync/singleflight", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no source files found")
	}
}
