package rules

import (
	"embed"
	"errors"
	"fmt"
	"path"
)

// builtinFS holds the built-in ruleset: profiles.yaml (the built-in
// profiles) and the vendor, service and cookie files beside it.
//
//go:embed builtin/*.yaml
var builtinFS embed.FS

// BuiltinLayer is the name of the layer Builtin returns.
const BuiltinLayer = "builtin"

// Builtin parses the embedded ruleset into one layer named "builtin". Each
// file keeps its own origin ("builtin/meta.yaml:40"). Files are read in
// name order; ids repeated across them are reported by Compile, as for any
// layer.
func Builtin() (*File, error) {
	entries, err := builtinFS.ReadDir("builtin")
	if err != nil {
		return nil, fmt.Errorf("read the embedded rules: %w", err)
	}
	layer := &File{Name: BuiltinLayer}
	var errs []error
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".yaml" {
			continue
		}
		name := path.Join("builtin", e.Name())
		data, err := builtinFS.ReadFile(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("read the embedded %s: %w", name, err))
			continue
		}
		f, err := Parse(name, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		layer.Categories = append(layer.Categories, f.Categories...)
		layer.Vendors = append(layer.Vendors, f.Vendors...)
		layer.Cookies = append(layer.Cookies, f.Cookies...)
		layer.Profiles = append(layer.Profiles, f.Profiles...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return layer, nil
}

// BuiltinFiles returns the names of the embedded rules files
// ("builtin/profiles.yaml", ...), for documentation and `rules check`.
func BuiltinFiles() []string {
	entries, err := builtinFS.ReadDir("builtin")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && path.Ext(e.Name()) == ".yaml" {
			out = append(out, path.Join("builtin", e.Name()))
		}
	}
	return out
}
