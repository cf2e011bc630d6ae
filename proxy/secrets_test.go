package proxy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// The proxy password and the admin token are compared in constant time,
// so that a client on the network cannot find them byte by byte from the
// time a refusal takes. Timing cannot be tested reliably; this test keeps
// the code that does it from regressing: the functions that compare them
// must call subtle.ConstantTimeCompare and compare the secrets with == or
// != only against the empty string (is one set at all).
func TestSecretsComparedInConstantTime(t *testing.T) {
	tests := []struct {
		file, fn string
		secrets  []string // identifiers and field names holding secrets in fn
	}{
		{"auth.go", "checkCredentials", []string{"pass", "password"}},
		{"admin/admin.go", "requireToken", []string{"token", "got", "want"}},
	}
	for _, tt := range tests {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, tt.file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		var fn *ast.FuncDecl
		for _, d := range f.Decls {
			if d, ok := d.(*ast.FuncDecl); ok && d.Name.Name == tt.fn {
				fn = d
			}
		}
		if fn == nil {
			t.Fatalf("%s: no function %s; update this test if it moved", tt.file, tt.fn)
		}
		constantTime := false
		ast.Inspect(fn, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "ConstantTimeCompare" {
					if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "subtle" {
						constantTime = true
					}
				}
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Equal" && mentions(n, tt.secrets) {
					t.Errorf("%s: %s compares a secret with %s.Equal (%s)", tt.file, tt.fn, sel.X, fset.Position(n.Pos()))
				}
			case *ast.BinaryExpr:
				if n.Op != token.EQL && n.Op != token.NEQ {
					return true
				}
				if isEmptyString(n.X) || isEmptyString(n.Y) || isConstantTimeCall(n.X) || isConstantTimeCall(n.Y) {
					return true
				}
				if mentions(n.X, tt.secrets) || mentions(n.Y, tt.secrets) {
					t.Errorf("%s: %s compares a secret with %s (%s)", tt.file, tt.fn, n.Op, fset.Position(n.Pos()))
				}
			}
			return true
		})
		if !constantTime {
			t.Errorf("%s: %s does not call subtle.ConstantTimeCompare", tt.file, tt.fn)
		}
	}
}

// mentions reports whether n refers to one of names (an identifier or a
// field).
func mentions(n ast.Node, names []string) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok {
			for _, name := range names {
				if id.Name == name {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

// isConstantTimeCall reports subtle.ConstantTimeCompare(...), whose result
// is compared with 1.
func isConstantTimeCall(e ast.Expr) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "ConstantTimeCompare"
}

func isEmptyString(e ast.Expr) bool {
	lit, ok := e.(*ast.BasicLit)
	return ok && lit.Kind == token.STRING && (lit.Value == `""` || lit.Value == "``")
}
