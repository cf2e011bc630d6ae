package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Parse reads one rules file. name is how errors and origins refer to it
// (usually the path as the user typed it). Parsing is strict: unknown keys,
// wrong types, duplicate keys or ids, bad patterns, unknown kinds and a
// missing or wrong `version: 1` are errors. Every error is
// "name:line: message" naming the offending text, and all of them are
// returned together (errors.Join). Whether referenced categories and vendors
// exist is checked by Compile, because another layer may define them.
func Parse(name string, data []byte) (*File, error) {
	p := &parser{name: name}
	f := p.parse(data)
	if len(p.errs) > 0 {
		sortErrors(p.errs)
		return nil, errors.Join(p.errs...)
	}
	return f, nil
}

type parser struct {
	name string
	errs []error
}

func (p *parser) errorf(line int, format string, args ...any) {
	if line < 1 {
		line = 1
	}
	p.errs = append(p.errs, &posError{Origin{p.name, line}, fmt.Errorf(format, args...)})
}

// wrap reports a validation error from the shared check functions at a node.
func (p *parser) wrap(n *yaml.Node, err error) {
	p.errs = append(p.errs, &posError{p.origin(n), err})
}

func (p *parser) origin(n *yaml.Node) Origin { return Origin{File: p.name, Line: n.Line} }

// yamlLine pulls the line out of the YAML library's messages
// ("yaml: line 3: did not find expected key").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) yamlError(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.errorf(line, "invalid YAML: %s", m[2])
		return
	}
	p.errorf(1, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

func (p *parser) parse(data []byte) *File {
	f := &File{Name: p.name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(1, "empty rules file: it must start with \"version: %d\"", FormatVersion)
		} else {
			p.yamlError(err)
		}
		return f
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorf(extra.Line, "a second YAML document (after \"---\"): a rules file holds exactly one")
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(err)
	}
	if len(doc.Content) == 0 {
		p.errorf(1, "empty rules file: it must start with \"version: %d\"", FormatVersion)
		return f
	}
	root := doc.Content[0]
	if !p.resolve(root) {
		return f
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root.Line, "a rules file is a mapping with \"version: %d\" and categories, vendors, cookies, profiles", FormatVersion)
		return f
	}
	seen := p.mapping(root, "the top level", topKeys(), func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			p.version(v)
		case "categories":
			p.list(v, "categories", func(n *yaml.Node) {
				c, _ := p.category(n)
				f.Categories = append(f.Categories, c)
			})
		case "vendors":
			p.list(v, "vendors", func(n *yaml.Node) {
				vs, _ := p.vendor(n)
				f.Vendors = append(f.Vendors, vs)
			})
		case "cookies":
			p.list(v, "cookies", func(n *yaml.Node) {
				c, _ := p.cookieRule(n)
				f.Cookies = append(f.Cookies, c)
			})
		case "profiles":
			p.list(v, "profiles", func(n *yaml.Node) {
				ps, _ := p.profile(n)
				f.Profiles = append(f.Profiles, ps)
			})
		}
	})
	if _, ok := seen["version"]; !ok {
		p.errorf(root.Line, "missing \"version: %d\" (the format version this file is written for)", FormatVersion)
	}
	p.duplicates(f)
	return f
}

// resolve rejects aliases: following them would let a small file expand
// into an enormous rule set, and nothing in the format needs them.
func (p *parser) resolve(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		p.errorf(n.Line, "alias *%s: aliases are not supported in rules files; repeat the value", n.Value)
		return false
	}
	return true
}

func (p *parser) version(v *yaml.Node) {
	if !p.resolve(v) {
		return
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" {
		p.errorf(v.Line, "version %q: write \"version: %d\"", v.Value, FormatVersion)
		return
	}
	n, err := strconv.Atoi(v.Value)
	if err != nil || n != FormatVersion {
		p.errorf(v.Line, "unsupported version %s: this consentproxy reads version %d", v.Value, FormatVersion)
	}
}

// mapping walks a mapping node, reporting non-string, duplicate and unknown
// keys, and calls fn for each known key. It returns the keys seen.
func (p *parser) mapping(n *yaml.Node, what string, allowed []string, fn func(key string, k, v *yaml.Node)) map[string]*yaml.Node {
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !p.resolve(k) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.errorf(k.Line, "%s: a key must be a plain name", what)
			continue
		}
		key := k.Value
		if prev, dup := seen[key]; dup {
			p.errorf(k.Line, "duplicate key %q in %s (first at line %d)", key, what, prev.Line)
			continue
		}
		seen[key] = k
		known := false
		for _, a := range allowed {
			if a == key {
				known = true
				break
			}
		}
		if !known {
			p.errorf(k.Line, "unknown key %q in %s%s; valid keys: %s", key, what, didYouMean(key, allowed), oneOf(allowed))
			continue
		}
		fn(key, k, v)
	}
	return seen
}

// list walks a sequence node; null is an empty list.
func (p *parser) list(n *yaml.Node, what string, fn func(*yaml.Node)) {
	if !p.resolve(n) || isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n.Line, "%s must be a list (one \"- \" entry per item)", what)
		return
	}
	for _, c := range n.Content {
		if p.resolve(c) {
			fn(c)
		}
	}
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// str reads a scalar as text; null reads as "".
func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if !p.resolve(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		p.errorf(n.Line, "%s must be a single value, not a list or mapping", what)
		return "", false
	}
	if isNull(n) {
		return "", true
	}
	return n.Value, true
}

// strList reads a sequence of scalars; null is empty. The nodes are
// returned too, so that per-item errors point at the item's own line.
func (p *parser) strList(n *yaml.Node, what string) ([]string, []*yaml.Node) {
	if !p.resolve(n) || isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		if n.Kind == yaml.ScalarNode {
			p.errorf(n.Line, "%s must be a list: write [%s]", what, n.Value)
		} else {
			p.errorf(n.Line, "%s must be a list of values", what)
		}
		return nil, nil
	}
	out := make([]string, 0, len(n.Content))
	nodes := make([]*yaml.Node, 0, len(n.Content))
	for _, c := range n.Content {
		if s, ok := p.str(c, what+" entry"); ok {
			out = append(out, s)
			nodes = append(nodes, c)
		}
	}
	return out, nodes
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	if !p.resolve(n) {
		return false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n.Line, "%s %q must be true or false", what, n.Value)
		return false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
}

func (p *parser) category(n *yaml.Node) (CategorySpec, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "a category is a mapping with name and description")
		return CategorySpec{}, false
	}
	c := CategorySpec{Origin: p.origin(n)}
	before := len(p.errs)
	seen := p.mapping(n, "category", categoryKeys(), func(key string, k, v *yaml.Node) {
		s, _ := p.str(v, key)
		switch key {
		case "name":
			c.Name = Category(s)
			if err := checkID("category name", s); err != nil {
				p.wrap(v, err)
			}
		case "description":
			c.Description = s
		}
	})
	if seen["name"] == nil {
		p.errorf(n.Line, "category without a name")
	}
	return c, len(p.errs) == before
}

func (p *parser) vendor(n *yaml.Node) (VendorSpec, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "a vendor is a mapping with id, name and services")
		return VendorSpec{}, false
	}
	vs := VendorSpec{Origin: p.origin(n)}
	before := len(p.errs)
	seen := p.mapping(n, "vendor", vendorKeys(), func(key string, k, v *yaml.Node) {
		switch key {
		case "id":
			vs.ID, _ = p.str(v, "id")
			if err := checkID("vendor id", vs.ID); err != nil {
				p.wrap(v, err)
			}
		case "name":
			vs.Name, _ = p.str(v, "name")
		case "gvl_id":
			if !p.resolve(v) {
				return
			}
			id, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || err != nil || id <= 0 {
				p.errorf(v.Line, "gvl_id %q must be a positive whole number (the IAB Global Vendor List id)", v.Value)
				return
			}
			vs.GVLID = id
		case "sources":
			vs.Sources, _ = p.strList(v, "sources")
		case "services":
			names := map[string]int{}
			p.list(v, "services", func(sn *yaml.Node) {
				s, _ := p.service(sn)
				if s.Name == "" {
					return
				}
				if line, dup := names[s.Name]; dup {
					p.errorf(sn.Line, "duplicate service %q in vendor %q (first at line %d): service names are unique within a vendor", s.Name, vs.ID, line)
					return
				}
				names[s.Name] = sn.Line
				vs.Services = append(vs.Services, s)
			})
		}
	})
	if seen["id"] == nil {
		p.errorf(n.Line, "vendor without an id")
	}
	return vs, len(p.errs) == before
}

func (p *parser) service(n *yaml.Node) (ServiceSpec, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "a service is a mapping with name, category, kind and hosts")
		return ServiceSpec{}, false
	}
	s := ServiceSpec{Origin: p.origin(n)}
	before := len(p.errs)
	seen := p.mapping(n, "service", serviceKeys(), func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			s.Name, _ = p.str(v, "name")
			if s.Name == "" {
				p.errorf(v.Line, "service name is empty")
			}
		case "category":
			c, _ := p.str(v, "category")
			s.Category = Category(c)
			if err := checkID("category", c); err != nil {
				p.wrap(v, err)
			}
		case "kind":
			k, _ := p.str(v, "kind")
			s.Kind = Kind(k)
			if err := checkKind(k); err != nil {
				p.wrap(v, err)
			}
		case "hosts":
			var nodes []*yaml.Node
			s.Hosts, nodes = p.strList(v, "hosts")
			p.patterns(nodes, s.Hosts, "host", func(h string) (string, error) {
				hp, err := parseHostPattern(h)
				return hp.String(), err
			})
		case "paths":
			var nodes []*yaml.Node
			s.Paths, nodes = p.strList(v, "paths")
			p.patterns(nodes, s.Paths, "path", func(x string) (string, error) {
				pp, err := parsePathPattern(x)
				return pp.text, err
			})
		case "source":
			s.Source, _ = p.str(v, "source")
		}
	})
	for _, req := range []string{"name", "category", "kind", "hosts"} {
		if seen[req] != nil {
			continue
		}
		if s.Name == "" {
			p.errorf(n.Line, "service without %s", req)
		} else {
			p.errorf(n.Line, "service %q has no %s", s.Name, req)
		}
	}
	if seen["hosts"] != nil && len(s.Hosts) == 0 && len(p.errs) == before {
		p.errorf(seen["hosts"].Line, "service %q has an empty hosts list", s.Name)
	}
	return s, len(p.errs) == before
}

// patterns validates each pattern at its own line and rejects repeats.
func (p *parser) patterns(nodes []*yaml.Node, values []string, what string, check func(string) (string, error)) {
	seen := map[string]int{}
	for i, v := range values {
		key, err := check(v)
		if err != nil {
			p.wrap(nodes[i], err)
			continue
		}
		if line, dup := seen[key]; dup {
			p.errorf(nodes[i].Line, "%s %q is listed twice (first at line %d)", what, v, line)
			continue
		}
		seen[key] = nodes[i].Line
	}
}

func checkKind(k string) error {
	if isKind(k) {
		return nil
	}
	return fmt.Errorf("unknown kind %q%s; kinds: %s", k, didYouMean(k, kindNames()), oneOf(kindNames()))
}

func (p *parser) cookieRule(n *yaml.Node) (CookieRuleSpec, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "a cookie rule is a mapping with names and category")
		return CookieRuleSpec{}, false
	}
	c := CookieRuleSpec{Origin: p.origin(n)}
	before := len(p.errs)
	seen := p.mapping(n, "cookie rule", cookieKeys(), func(key string, k, v *yaml.Node) {
		switch key {
		case "names":
			var nodes []*yaml.Node
			c.Names, nodes = p.strList(v, "names")
			p.patterns(nodes, c.Names, "cookie name", func(x string) (string, error) {
				cp, err := parseCookiePattern(x)
				return cp.text, err
			})
		case "category":
			s, _ := p.str(v, "category")
			c.Category = Category(s)
			if err := checkID("category", s); err != nil {
				p.wrap(v, err)
			}
		case "vendor":
			c.Vendor, _ = p.str(v, "vendor")
			if err := checkID("vendor id", c.Vendor); err != nil {
				p.wrap(v, err)
			}
		case "domains":
			var nodes []*yaml.Node
			c.Domains, nodes = p.strList(v, "domains")
			p.patterns(nodes, c.Domains, "domain", func(h string) (string, error) {
				hp, err := parseHostPattern(h)
				return hp.String(), err
			})
		case "source":
			c.Source, _ = p.str(v, "source")
		}
	})
	if seen["names"] == nil {
		p.errorf(n.Line, "cookie rule without names")
	} else if len(c.Names) == 0 && len(p.errs) == before {
		p.errorf(seen["names"].Line, "cookie rule with an empty names list")
	}
	if seen["category"] == nil {
		p.errorf(n.Line, "cookie rule without a category")
	}
	return c, len(p.errs) == before
}

func (p *parser) profile(n *yaml.Node) (ProfileSpec, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "a profile is a mapping with name, allow, vendors, unknown_cookies, on_denied, gpc, dnt, consent_state")
		return ProfileSpec{}, false
	}
	ps := ProfileSpec{Origin: p.origin(n)}
	before := len(p.errs)
	seen := p.mapping(n, "profile", profileKeys(), func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			ps.Name, _ = p.str(v, "name")
			if err := checkProfileName(ps.Name); err != nil {
				p.wrap(v, err)
			}
		case "description":
			ps.Description, _ = p.str(v, "description")
		case "allow":
			var nodes []*yaml.Node
			ps.Allow, nodes = p.strList(v, "allow")
			p.patterns(nodes, ps.Allow, "category", func(c string) (string, error) {
				return c, checkID("category", c)
			})
		case "vendors":
			if !p.resolve(v) || isNull(v) {
				return
			}
			if v.Kind != yaml.MappingNode {
				p.errorf(v.Line, "vendors must be a mapping of vendor id to allow or deny: {criteo: deny}")
				return
			}
			ps.Vendors = map[string]string{}
			ps.VendorOrigins = map[string]Origin{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				kn, vn := v.Content[i], v.Content[i+1]
				id, ok := p.str(kn, "vendor id")
				if !ok {
					continue
				}
				if err := checkID("vendor id", id); err != nil {
					p.wrap(kn, err)
					continue
				}
				if prev, dup := ps.VendorOrigins[id]; dup {
					p.errorf(kn.Line, "vendor %q is listed twice in profile vendors (first at line %d)", id, prev.Line)
					continue
				}
				val, ok := p.str(vn, "vendor override")
				if !ok {
					continue
				}
				if err := checkOverride(val); err != nil {
					p.wrap(vn, err)
					continue
				}
				ps.Vendors[id] = val
				ps.VendorOrigins[id] = p.origin(kn)
			}
		case "unknown_cookies":
			ps.UnknownCookies, _ = p.str(v, "unknown_cookies")
			if err := checkUnknownCookies(ps.UnknownCookies); err != nil {
				p.wrap(v, err)
			}
		case "on_denied":
			ps.OnDenied, _ = p.str(v, "on_denied")
			if err := checkOnDenied(ps.OnDenied); err != nil {
				p.wrap(v, err)
			}
		case "gpc":
			ps.GPC = p.boolean(v, "gpc")
		case "dnt":
			ps.DNT = p.boolean(v, "dnt")
		case "consent_state":
			ps.ConsentState = p.consentState(v)
		}
	})
	if seen["name"] == nil {
		p.errorf(n.Line, "profile without a name")
	}
	return ps, len(p.errs) == before
}

func checkUnknownCookies(s string) error {
	if _, ok := parseCookiePolicy(s); !ok {
		return fmt.Errorf("unknown_cookies %q must be allow or strip%s", s, didYouMean(s, []string{"allow", "strip"}))
	}
	return nil
}

func checkOnDenied(s string) error {
	if _, ok := parseDeniedPolicy(s); !ok {
		return fmt.Errorf("on_denied %q must be block or strip%s", s, didYouMean(s, []string{"block", "strip"}))
	}
	return nil
}

func checkOverride(s string) error {
	if s != OverrideAllow && s != OverrideDeny {
		return fmt.Errorf("vendor override %q must be allow or deny%s", s, didYouMean(s, []string{OverrideAllow, OverrideDeny}))
	}
	return nil
}

// duplicates reports ids defined twice within this file. Compile repeats
// the check per layer (a layer may be several files, or built by hand).
// Items with errors of their own are part of f here (the File is thrown
// away when there are errors), so a repeat of a broken item is reported too.
func (p *parser) duplicates(f *File) {
	for _, err := range layerDuplicates(f) {
		p.errs = append(p.errs, err)
	}
}
