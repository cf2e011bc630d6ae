package rules

// ExplainSchema is the version of the Explanation JSON schema.
const ExplainSchema = 1

// Explanation is a decision and the cookie verdicts of one request, in the
// stable JSON form that `consentproxy rules explain --json` prints.
//
// Schema 1 (the "schema" field). Every field is always present; a string
// that does not apply is "" and "cookies" is [] when no cookie was asked
// about. Fields are never renamed, removed or given another meaning within
// a schema version; new fields may be added.
//
//	{
//	  "schema": 1,
//	  "host": "www.facebook.com",      // lower-case, no port
//	  "path": "/tr",                   // decoded path; the query is never shown
//	  "dest": "image",                 // unknown|document|frame|image|script|style|font|media|empty|other
//	  "context": "third-party",        // third-party|first-party|top-level
//	  "site": "",                      // registrable domain of --site, "" without it
//	  "profile": "reject-all",
//	  "profile_origin": "builtin/profiles.yaml:8",
//	  "action": "block-image",         // allow|strip|block-image|block-empty
//	  "matched": true,                 // a tracker service matched
//	  "category": "marketing",         // the service's category ("" unmatched)
//	  "vendor": "facebook",            // vendor id ("" unmatched)
//	  "vendor_name": "Meta",
//	  "service": "pixel",
//	  "kind": "pixel",                 // pixel|script|beacon|frame|sync|api
//	  "origin": "builtin/meta.yaml:40",// file:line of the service ("" unmatched)
//	  "reason": "marketing is refused by profile reject-all (on_denied: block)",
//	  "cookies": [
//	    {
//	      "name": "_fbp",
//	      "verdict": "strip",          // keep|strip
//	      "known": true,               // a cookie rule matched the name
//	      "category": "marketing",     // rule's category, or the tracker's for an unknown name on it; "" otherwise
//	      "vendor": "facebook",
//	      "origin": "builtin/meta.yaml:90",
//	      "reason": "the request is blocked: no cookie reaches the server"
//	    }
//	  ]
//	}
type Explanation struct {
	Schema        int                 `json:"schema"`
	Host          string              `json:"host"`
	Path          string              `json:"path"`
	Dest          string              `json:"dest"`
	Context       string              `json:"context"`
	Site          string              `json:"site"`
	Profile       string              `json:"profile"`
	ProfileOrigin string              `json:"profile_origin"`
	Action        string              `json:"action"`
	Matched       bool                `json:"matched"`
	Category      string              `json:"category"`
	Vendor        string              `json:"vendor"`
	VendorName    string              `json:"vendor_name"`
	Service       string              `json:"service"`
	Kind          string              `json:"kind"`
	Origin        string              `json:"origin"`
	Reason        string              `json:"reason"`
	Cookies       []CookieExplanation `json:"cookies"`
}

// CookieExplanation is one cookie of an Explanation.
type CookieExplanation struct {
	Name     string `json:"name"`
	Verdict  string `json:"verdict"`
	Known    bool   `json:"known"`
	Category string `json:"category"`
	Vendor   string `json:"vendor"`
	Origin   string `json:"origin"`
	Reason   string `json:"reason"`
}

// Explain decides r for p and judges each cookie name, in the form of the
// explain command.
func (s *Set) Explain(p *Profile, r Request, cookies []string) Explanation {
	p = s.own(p)
	r.Host, r.Path = normHost(r.Host), normPath(r.Path)
	d := s.Decide(p, r)
	ex := Explanation{
		Schema:        ExplainSchema,
		Host:          r.Host,
		Path:          r.Path,
		Dest:          r.Dest.String(),
		Context:       r.Context.String(),
		Profile:       p.Name,
		ProfileOrigin: p.Origin.String(),
		Action:        d.Action.String(),
		Matched:       d.Matched,
		Category:      string(d.Category),
		Vendor:        d.Vendor,
		VendorName:    d.VendorName,
		Service:       d.Service,
		Kind:          string(d.Kind),
		Origin:        d.Origin.String(),
		Reason:        d.Reason,
		Cookies:       []CookieExplanation{},
	}
	for _, name := range cookies {
		v := s.JudgeCookie(p, r, d, name)
		verdict := "strip"
		if v.Keep {
			verdict = "keep"
		}
		ex.Cookies = append(ex.Cookies, CookieExplanation{
			Name:     v.Name,
			Verdict:  verdict,
			Known:    v.Known,
			Category: string(v.Category),
			Vendor:   v.Vendor,
			Origin:   v.Origin.String(),
			Reason:   v.Reason,
		})
	}
	return ex
}
