package rules

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Set is a compiled, immutable rule set: every layer merged, every pattern
// indexed, every profile resolved. It is safe for concurrent use; a reload
// builds a new Set (and a new Decider) instead of changing one.
type Set struct {
	layers     []string
	categories []CategoryInfo // index = category number
	catIndex   map[Category]int
	vendors    map[string]*vendor
	vendorIDs  []string // sorted
	services   int
	hosts      map[string]*hostBucket
	cookies    cookieIndex
	profiles   map[string]*Profile
	profList   []*Profile // sorted by name
	// fallback judges requests for a nil profile: essential only, block.
	fallback *Profile
}

type vendor struct {
	id, name string
	gvlID    int
	sources  []string
	origin   Origin
	services []*service
}

type service struct {
	vendor   *vendor
	name     string
	category Category
	cat      int
	kind     Kind
	hosts    []hostPattern
	paths    []pathPattern
	source   string
	layer    int
	seq      int // definition order, for deterministic ties
	origin   Origin
}

// hostEntry is one host pattern of one service, filed under its domain.
type hostEntry struct {
	svc  *service
	star bool
}

type hostBucket struct {
	entries []hostEntry
}

// Compile merges layers, lowest priority first (the built-in set, then user
// files in command-line order, then the config file's profiles), validates
// them and builds the indexes. All problems are returned together
// (errors.Join), each "file:line: message".
//
// Merge semantics, per kind of item:
//
//   - Categories: the union of the built-in six and every declared one; a
//     later layer's description replaces an earlier one.
//   - Vendors are merged by id: a later layer's non-empty name and non-zero
//     gvl_id replace the earlier ones, sources accumulate, and services
//     accumulate; a service with the same name as one of an earlier layer
//     replaces it (so a user file can recategorise a built-in service).
//   - Cookie rules: one entry per (name pattern, set of domains); a later
//     layer's entry for the same pattern and domains replaces the earlier.
//   - Profiles are replaced whole by a later profile of the same name.
//   - Within one layer, a repeated category, vendor id, profile name,
//     service name (in one vendor) or cookie pattern+domains is an error.
//
// Matching then applies specificity across whatever the merge left:
// the longest host pattern, then the longest path pattern; a tie between
// services of different layers goes to the later layer, and a tie within one
// layer counts as the most restrictive for the profile at hand. Cookie
// patterns likewise: exact over glob, longer literal prefix, more literal
// characters, a matching domains scope over none (a longer scope domain
// first), then the later layer, then the most restrictive.
//
// References are checked after merging, so a file may use categories and
// vendors another layer defines: every category a service, cookie rule or
// profile names must exist, and every vendor a cookie rule or profile
// override names must exist.
func Compile(layers ...*File) (*Set, error) {
	c := &compiler{
		set: &Set{
			catIndex: map[Category]int{},
			vendors:  map[string]*vendor{},
			hosts:    map[string]*hostBucket{},
			profiles: map[string]*Profile{},
		},
		cookieRules: map[string]*cookieEntry{},
		profileSpec: map[string]ProfileSpec{},
	}
	for _, ci := range BuiltinCategories() {
		c.addCategory(ci)
	}
	for i, f := range layers {
		if f == nil {
			continue
		}
		c.set.layers = append(c.set.layers, f.Name)
		c.errs = append(c.errs, layerDuplicates(f)...)
		c.layer(i, f)
	}
	c.resolve()
	if len(c.errs) > 0 {
		sortErrors(c.errs)
		return nil, errors.Join(c.errs...)
	}
	c.index()
	return c.set, nil
}

type compiler struct {
	set         *Set
	errs        []error
	seq         int
	cookieRules map[string]*cookieEntry // key: pattern + "\x00" + domains
	cookieOrder []string
	profileSpec map[string]ProfileSpec
	profOrder   []string
	// references to check once every layer is merged
	catRefs    []ref
	vendorRefs []ref
}

type ref struct {
	name   string
	what   string
	origin Origin
}

func (c *compiler) errorf(o Origin, format string, args ...any) {
	c.errs = append(c.errs, &posError{o, fmt.Errorf(format, args...)})
}

func (c *compiler) wrap(o Origin, err error) {
	c.errs = append(c.errs, &posError{o, err})
}

func (c *compiler) addCategory(ci CategoryInfo) {
	if i, ok := c.set.catIndex[ci.Name]; ok {
		if ci.Description != "" {
			c.set.categories[i].Description = ci.Description
		}
		c.set.categories[i].Origin = ci.Origin
		return
	}
	c.set.catIndex[ci.Name] = len(c.set.categories)
	c.set.categories = append(c.set.categories, ci)
}

func (c *compiler) layer(li int, f *File) {
	for _, cs := range f.Categories {
		if err := checkID("category name", string(cs.Name)); err != nil {
			c.wrap(cs.Origin, err)
			continue
		}
		c.addCategory(CategoryInfo{Name: cs.Name, Description: cs.Description, Builtin: isBuiltinCategory(cs.Name), Origin: cs.Origin})
	}
	for _, vs := range f.Vendors {
		c.vendor(li, vs)
	}
	for _, cr := range f.Cookies {
		c.cookieRule(li, cr)
	}
	for _, ps := range f.Profiles {
		if c.checkProfile(ps) {
			if _, ok := c.profileSpec[ps.Name]; !ok {
				c.profOrder = append(c.profOrder, ps.Name)
			}
			c.profileSpec[ps.Name] = ps
		}
	}
}

func (c *compiler) vendor(li int, vs VendorSpec) {
	if err := checkID("vendor id", vs.ID); err != nil {
		c.wrap(vs.Origin, err)
		return
	}
	v := c.set.vendors[vs.ID]
	if v == nil {
		v = &vendor{id: vs.ID, name: vs.ID, origin: vs.Origin}
		c.set.vendors[vs.ID] = v
	}
	if vs.Name != "" {
		v.name = vs.Name
		v.origin = vs.Origin
	}
	if vs.GVLID != 0 {
		if vs.GVLID < 0 {
			c.errorf(vs.Origin, "gvl_id %d must be positive", vs.GVLID)
		}
		v.gvlID = vs.GVLID
	}
	v.sources = append(v.sources, vs.Sources...)
	for _, ss := range vs.Services {
		svc, ok := c.service(li, v, ss)
		if !ok {
			continue
		}
		replaced := false
		for i, old := range v.services {
			if old.name == svc.name {
				v.services[i] = svc
				replaced = true
				break
			}
		}
		if !replaced {
			v.services = append(v.services, svc)
		}
	}
}

func (c *compiler) service(li int, v *vendor, ss ServiceSpec) (*service, bool) {
	ok := true
	if ss.Name == "" {
		c.errorf(ss.Origin, "service of vendor %q has no name", v.id)
		ok = false
	}
	if err := checkID("category", string(ss.Category)); err != nil {
		c.wrap(ss.Origin, err)
		ok = false
	} else {
		c.catRefs = append(c.catRefs, ref{string(ss.Category), fmt.Sprintf("service %q of vendor %q", ss.Name, v.id), ss.Origin})
	}
	if err := checkKind(string(ss.Kind)); err != nil {
		c.wrap(ss.Origin, err)
		ok = false
	}
	if len(ss.Hosts) == 0 {
		c.errorf(ss.Origin, "service %q of vendor %q has no hosts", ss.Name, v.id)
		ok = false
	}
	svc := &service{vendor: v, name: ss.Name, category: ss.Category, kind: ss.Kind, source: ss.Source, layer: li, seq: c.seq, origin: ss.Origin}
	c.seq++
	for _, h := range ss.Hosts {
		hp, err := parseHostPattern(h)
		if err != nil {
			c.wrap(ss.Origin, err)
			ok = false
			continue
		}
		svc.hosts = append(svc.hosts, hp)
	}
	for _, pth := range ss.Paths {
		pp, err := parsePathPattern(pth)
		if err != nil {
			c.wrap(ss.Origin, err)
			ok = false
			continue
		}
		svc.paths = append(svc.paths, pp)
	}
	return svc, ok
}

func (c *compiler) cookieRule(li int, cr CookieRuleSpec) {
	ok := true
	if len(cr.Names) == 0 {
		c.errorf(cr.Origin, "cookie rule without names")
		ok = false
	}
	if err := checkID("category", string(cr.Category)); err != nil {
		c.wrap(cr.Origin, err)
		ok = false
	} else {
		c.catRefs = append(c.catRefs, ref{string(cr.Category), "cookie rule", cr.Origin})
	}
	if cr.Vendor != "" {
		if err := checkID("vendor id", cr.Vendor); err != nil {
			c.wrap(cr.Origin, err)
			ok = false
		} else {
			c.vendorRefs = append(c.vendorRefs, ref{cr.Vendor, "cookie rule", cr.Origin})
		}
	}
	var domains []hostPattern
	for _, d := range cr.Domains {
		hp, err := parseHostPattern(d)
		if err != nil {
			c.wrap(cr.Origin, err)
			ok = false
			continue
		}
		domains = append(domains, hp)
	}
	var patterns []cookiePattern
	for _, n := range cr.Names {
		cp, err := parseCookiePattern(n)
		if err != nil {
			c.wrap(cr.Origin, err)
			ok = false
			continue
		}
		patterns = append(patterns, cp)
	}
	if !ok {
		return
	}
	dk := domainsKey(cr.Domains)
	for _, cp := range patterns {
		key := cp.text + "\x00" + dk
		if _, exists := c.cookieRules[key]; !exists {
			c.cookieOrder = append(c.cookieOrder, key)
		}
		c.cookieRules[key] = &cookieEntry{
			pattern:  cp,
			category: cr.Category,
			vendor:   cr.Vendor,
			domains:  domains,
			source:   cr.Source,
			layer:    li,
			seq:      c.seq,
			origin:   cr.Origin,
		}
		c.seq++
	}
}

// domainsKey identifies a domains scope regardless of order.
func domainsKey(domains []string) string {
	if len(domains) == 0 {
		return ""
	}
	d := slices.Clone(domains)
	sort.Strings(d)
	return strings.Join(d, ",")
}

func (c *compiler) checkProfile(ps ProfileSpec) bool {
	ok := true
	if err := checkProfileName(ps.Name); err != nil {
		c.wrap(ps.Origin, err)
		ok = false
	}
	for _, a := range ps.Allow {
		if err := checkID("category", a); err != nil {
			c.wrap(ps.Origin, err)
			ok = false
			continue
		}
		c.catRefs = append(c.catRefs, ref{a, fmt.Sprintf("profile %q", ps.Name), ps.Origin})
	}
	for _, id := range sortedKeys(ps.Vendors) {
		o := ps.Origin
		if vo, has := ps.VendorOrigins[id]; has {
			o = vo
		}
		if err := checkID("vendor id", id); err != nil {
			c.wrap(o, err)
			ok = false
			continue
		}
		if err := checkOverride(ps.Vendors[id]); err != nil {
			c.wrap(o, err)
			ok = false
			continue
		}
		c.vendorRefs = append(c.vendorRefs, ref{id, fmt.Sprintf("profile %q", ps.Name), o})
	}
	if err := checkUnknownCookies(ps.UnknownCookies); err != nil {
		c.wrap(ps.Origin, err)
		ok = false
	}
	if err := checkOnDenied(ps.OnDenied); err != nil {
		c.wrap(ps.Origin, err)
		ok = false
	}
	if ps.ConsentState != nil {
		if errs := checkConsentState(ps.ConsentState); len(errs) > 0 {
			c.errs = append(c.errs, errs...)
			ok = false
		}
		for _, r := range consentCategoryRefs(ps.ConsentState) {
			r.what = fmt.Sprintf("profile %q %s", ps.Name, r.what)
			c.catRefs = append(c.catRefs, r)
		}
	}
	return ok
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resolve checks the references that may point into other layers.
func (c *compiler) resolve() {
	catNames := make([]string, len(c.set.categories))
	for i, ci := range c.set.categories {
		catNames[i] = string(ci.Name)
	}
	for _, r := range c.catRefs {
		if _, ok := c.set.catIndex[Category(r.name)]; !ok {
			c.errorf(r.origin, "%s: unknown category %q%s; declare it under categories: or use one of: %s",
				r.what, r.name, didYouMean(r.name, catNames), oneOf(catNames))
		}
	}
	var vendorIDs []string
	for id := range c.set.vendors {
		vendorIDs = append(vendorIDs, id)
	}
	sort.Strings(vendorIDs)
	c.set.vendorIDs = vendorIDs
	for _, r := range c.vendorRefs {
		if _, ok := c.set.vendors[r.name]; !ok {
			c.errorf(r.origin, "%s: unknown vendor %q%s", r.what, r.name, didYouMean(r.name, vendorIDs))
		}
	}
}

// index builds the lookup structures once every reference is known good.
func (c *compiler) index() {
	s := c.set
	for _, id := range s.vendorIDs {
		v := s.vendors[id]
		for _, svc := range v.services {
			svc.cat = s.catIndex[svc.category]
			s.services++
			for _, hp := range svc.hosts {
				b := s.hosts[hp.domain]
				if b == nil {
					b = &hostBucket{}
					s.hosts[hp.domain] = b
				}
				b.entries = append(b.entries, hostEntry{svc: svc, star: hp.star})
			}
		}
	}
	for _, b := range s.hosts {
		// Definition order keeps ties deterministic whatever the map order.
		sort.SliceStable(b.entries, func(i, j int) bool { return b.entries[i].svc.seq < b.entries[j].svc.seq })
	}
	entries := make([]*cookieEntry, 0, len(c.cookieOrder))
	for _, k := range c.cookieOrder {
		e := c.cookieRules[k]
		e.cat = s.catIndex[e.category]
		entries = append(entries, e)
	}
	s.cookies = buildCookieIndex(entries)
	for _, name := range c.profOrder {
		p := compileProfile(s, c.profileSpec[name])
		s.profiles[name] = p
		s.profList = append(s.profList, p)
	}
	sort.Slice(s.profList, func(i, j int) bool { return s.profList[i].Name < s.profList[j].Name })
	for i, p := range s.profList {
		p.num = i + 1
	}
	s.fallback = compileProfile(s, ProfileSpec{Name: "(none)", Description: "no profile: essential only"})
}

// layerDuplicates reports ids defined twice within one layer.
func layerDuplicates(f *File) []error {
	var errs []error
	dup := func(o Origin, format string, args ...any) {
		errs = append(errs, &posError{o, fmt.Errorf(format, args...)})
	}
	cats := map[Category]Origin{}
	for _, cs := range f.Categories {
		if cs.Name == "" {
			continue
		}
		if prev, ok := cats[cs.Name]; ok {
			dup(cs.Origin, "category %q is declared twice (first at %s)", cs.Name, where(prev, cs.Origin))
			continue
		}
		cats[cs.Name] = cs.Origin
	}
	vendors := map[string]Origin{}
	for _, vs := range f.Vendors {
		if vs.ID == "" {
			continue
		}
		if prev, ok := vendors[vs.ID]; ok {
			dup(vs.Origin, "vendor %q is defined twice (first at %s): merge the entries", vs.ID, where(prev, vs.Origin))
			continue
		}
		vendors[vs.ID] = vs.Origin
		svcs := map[string]Origin{}
		for _, ss := range vs.Services {
			if ss.Name == "" {
				continue
			}
			if prev, ok := svcs[ss.Name]; ok {
				dup(ss.Origin, "service %q is defined twice in vendor %q (first at %s)", ss.Name, vs.ID, where(prev, ss.Origin))
				continue
			}
			svcs[ss.Name] = ss.Origin
		}
	}
	cookies := map[string]Origin{}
	for _, cr := range f.Cookies {
		dk := domainsKey(cr.Domains)
		for _, n := range cr.Names {
			key := n + "\x00" + dk
			if prev, ok := cookies[key]; ok {
				if prev == cr.Origin {
					continue // the parser already reported a repeat inside one rule
				}
				scope := ""
				if dk != "" {
					scope = " with domains " + dk
				}
				dup(cr.Origin, "cookie %q%s is already categorised (first at %s): one rule per name and scope", n, scope, where(prev, cr.Origin))
				continue
			}
			cookies[key] = cr.Origin
		}
	}
	profiles := map[string]Origin{}
	for _, ps := range f.Profiles {
		if ps.Name == "" {
			continue
		}
		if prev, ok := profiles[ps.Name]; ok {
			dup(ps.Origin, "profile %q is defined twice (first at %s)", ps.Name, where(prev, ps.Origin))
			continue
		}
		profiles[ps.Name] = ps.Origin
	}
	return errs
}
