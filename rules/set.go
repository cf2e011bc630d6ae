package rules

// Profile returns the profile with that name.
func (s *Set) Profile(name string) (*Profile, bool) {
	p, ok := s.profiles[name]
	return p, ok
}

// Profiles returns every profile, sorted by name.
func (s *Set) Profiles() []*Profile {
	return append([]*Profile(nil), s.profList...)
}

// ProfileNames returns the profile names, sorted.
func (s *Set) ProfileNames() []string {
	out := make([]string, len(s.profList))
	for i, p := range s.profList {
		out[i] = p.Name
	}
	return out
}

// Layers returns the names of the layers, lowest priority first.
func (s *Set) Layers() []string { return append([]string(nil), s.layers...) }

// Categories returns every category: the built-in ones first, then the
// declared ones in declaration order.
func (s *Set) Categories() []CategoryInfo { return append([]CategoryInfo(nil), s.categories...) }

// VendorInfo describes a merged vendor.
type VendorInfo struct {
	ID, Name string
	GVLID    int
	Sources  []string
	Services []ServiceInfo
	Origin   Origin
}

// ServiceInfo describes one service of a vendor.
type ServiceInfo struct {
	Name         string
	Category     Category
	Kind         Kind
	Hosts, Paths []string
	Source       string
	Origin       Origin
}

// Vendor returns the merged vendor with that id.
func (s *Set) Vendor(id string) (VendorInfo, bool) {
	v, ok := s.vendors[id]
	if !ok {
		return VendorInfo{}, false
	}
	vi := VendorInfo{ID: v.id, Name: v.name, GVLID: v.gvlID, Sources: append([]string(nil), v.sources...), Origin: v.origin}
	for _, svc := range v.services {
		si := ServiceInfo{Name: svc.name, Category: svc.category, Kind: svc.kind, Source: svc.source, Origin: svc.origin}
		for _, h := range svc.hosts {
			si.Hosts = append(si.Hosts, h.String())
		}
		for _, p := range svc.paths {
			si.Paths = append(si.Paths, p.text)
		}
		vi.Services = append(vi.Services, si)
	}
	return vi, true
}

// VendorIDs returns every vendor id, sorted.
func (s *Set) VendorIDs() []string { return append([]string(nil), s.vendorIDs...) }

// Counts sums up a Set, for `rules check` and logs.
type Counts struct {
	Layers, Categories, Vendors, Services, HostPatterns, CookiePatterns, Profiles int
}

// Counts returns the size of the Set.
func (s *Set) Counts() Counts {
	c := Counts{
		Layers:         len(s.layers),
		Categories:     len(s.categories),
		Vendors:        len(s.vendors),
		Services:       s.services,
		CookiePatterns: s.cookies.n,
		Profiles:       len(s.profList),
	}
	for _, b := range s.hosts {
		c.HostPatterns += len(b.entries)
	}
	return c
}
