package rules

import (
	"sort"
	"strconv"
)

// Origin is where a rule, vendor, service, category or profile was written.
type Origin struct {
	File string
	Line int
}

// String is "file:line" ("file" alone when the line is unknown).
func (o Origin) String() string {
	if o.Line <= 0 {
		return o.File
	}
	return o.File + ":" + strconv.Itoa(o.Line)
}

// File is one layer of rules: the parsed content of a rules file, the
// embedded built-in set (several files, one layer), or a layer a caller
// builds by hand (for example the profiles of the config file). Its fields
// are plain data; Compile validates them again, so a hand-built File gets
// the same checks as a parsed one, with errors citing each item's Origin.
type File struct {
	// Name identifies the layer ("builtin", a file path, "config").
	Name       string
	Categories []CategorySpec
	Vendors    []VendorSpec
	Cookies    []CookieRuleSpec
	Profiles   []ProfileSpec
}

// CategorySpec declares a category beyond the built-in ones (or gives a
// built-in one a new description).
type CategorySpec struct {
	Name        Category
	Description string
	Origin      Origin
}

// VendorSpec is a company or product with tracker services.
type VendorSpec struct {
	// ID is [a-z0-9][a-z0-9-]*: profiles, cookie rules and events use it.
	ID string
	// Name is the display name; empty keeps an earlier layer's name (or the id).
	Name string
	// GVLID is the IAB Global Vendor List id, 0 when none.
	GVLID    int
	Sources  []string
	Services []ServiceSpec
	Origin   Origin
}

// ServiceSpec is one kind of request a vendor's trackers make.
type ServiceSpec struct {
	Name     string
	Category Category
	Kind     Kind
	// Hosts are host patterns: "example.com" (itself and every subdomain)
	// or "*.example.com" (subdomains only).
	Hosts []string
	// Paths are path patterns starting with "/"; none means every path.
	Paths  []string
	Source string
	Origin Origin
}

// CookieRuleSpec categorises cookie names.
type CookieRuleSpec struct {
	// Names are exact names or globs where "*" matches any run of characters.
	Names    []string
	Category Category
	// Vendor is a vendor id from any layer, or "".
	Vendor string
	// Domains limit the rule to requests to these host patterns.
	Domains []string
	Source  string
	Origin  Origin
}

// ProfileSpec is a consent profile as rules files and the config file both
// write it. Compile validates it and turns it into a Profile.
type ProfileSpec struct {
	Name        string
	Description string
	// Allow lists the allowed categories; essential is always allowed.
	Allow []string
	// Vendors overrides categories per vendor id: "allow" or "deny".
	Vendors map[string]string
	// UnknownCookies is "allow" (or "") or "strip".
	UnknownCookies string
	// OnDenied is "block" (or "") or "strip".
	OnDenied string
	GPC, DNT bool
	// ConsentState is the profile's consent_state; nil when it has none.
	ConsentState *ConsentStateSpec
	Origin       Origin
	// VendorOrigins optionally gives the origin of each Vendors entry so
	// that errors about it point at its own line.
	VendorOrigins map[string]Origin
}

// posError is an error at a place in a rules file.
type posError struct {
	origin Origin
	err    error
}

func (e *posError) Error() string { return e.origin.String() + ": " + e.err.Error() }
func (e *posError) Unwrap() error { return e.err }

// sortErrors orders positioned errors by file (in order of first
// appearance) and line, so that a user reads them top to bottom.
func sortErrors(errs []error) {
	files := map[string]int{}
	key := func(err error) (int, int) {
		pe, ok := err.(*posError)
		if !ok {
			return -1, 0
		}
		return files[pe.origin.File], pe.origin.Line
	}
	for _, err := range errs {
		if pe, ok := err.(*posError); ok {
			if _, seen := files[pe.origin.File]; !seen {
				files[pe.origin.File] = len(files)
			}
		}
	}
	sort.SliceStable(errs, func(i, j int) bool {
		fi, li := key(errs[i])
		fj, lj := key(errs[j])
		if fi != fj {
			return fi < fj
		}
		return li < lj
	})
}

// where describes prev relative to cur: "line 12" in the same file, else
// "file:line".
func where(prev, cur Origin) string {
	if prev.File == cur.File && prev.Line > 0 {
		return "line " + strconv.Itoa(prev.Line)
	}
	return prev.String()
}
