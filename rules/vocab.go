package rules

import (
	"fmt"
	"strings"
)

// This file is the vocabulary: every name a rules file, the CLI, the admin
// API and the documentation may use for categories, kinds, actions,
// destinations, contexts and profile policies. The parser validates against
// these tables and the docs list them from here, so a new word is added in
// exactly one place.

// Category is a consent category. The six built-in ones always exist; a
// rules file may declare more under `categories:`.
type Category string

// The built-in categories. Essential is always allowed and cannot be refused.
const (
	Essential   Category = "essential"
	Analytics   Category = "analytics"
	Advertising Category = "advertising"
	Marketing   Category = "marketing"
	Social      Category = "social"
	// Functional holds preference and convenience cookies; imported data
	// (the Open Cookie Database) uses it.
	Functional Category = "functional"
)

// CategoryInfo describes one category of a compiled Set.
type CategoryInfo struct {
	Name        Category
	Description string
	// Builtin is true for the six categories defined in this package.
	Builtin bool
	// Origin is where a rules file declared (or re-described) it; zero for
	// a built-in category no file mentions.
	Origin Origin
}

// BuiltinCategories returns the built-in categories with their descriptions,
// in the order the documentation lists them.
func BuiltinCategories() []CategoryInfo {
	return []CategoryInfo{
		{Name: Essential, Builtin: true, Description: "Strictly necessary for the site to work (sessions, security, load balancing, consent storage); always allowed"},
		{Name: Analytics, Builtin: true, Description: "Measurement of visits and behaviour: statistics, session replay, heat maps"},
		{Name: Advertising, Builtin: true, Description: "Ad serving, header bidding, real-time bidding and cookie or ID syncing (the notice's Personalization/Advertising)"},
		{Name: Marketing, Builtin: true, Description: "Advertiser conversion and retargeting pixels of platforms"},
		{Name: Social, Builtin: true, Description: "Social-network embeds, plugins and share buttons"},
		{Name: Functional, Builtin: true, Description: "Preferences and convenience features that are not strictly necessary"},
	}
}

func isBuiltinCategory(c Category) bool {
	switch c {
	case Essential, Analytics, Advertising, Marketing, Social, Functional:
		return true
	}
	return false
}

// Kind is what a tracker service's requests are.
type Kind string

// Kinds of service.
const (
	KindPixel  Kind = "pixel"  // an image GET that reports an event
	KindScript Kind = "script" // a tracker's JavaScript
	KindBeacon Kind = "beacon" // sendBeacon, fetch or XHR POST of events
	KindFrame  Kind = "frame"  // an iframe (embeds, social plugins, sync frames)
	KindSync   Kind = "sync"   // cookie or ID matching redirects
	KindAPI    Kind = "api"    // JSON/XHR endpoints (bidding, server APIs)
)

// Kinds returns every kind, in documentation order.
func Kinds() []Kind {
	return []Kind{KindPixel, KindScript, KindBeacon, KindFrame, KindSync, KindAPI}
}

func kindNames() []string {
	ks := Kinds()
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

func isKind(s string) bool {
	for _, k := range Kinds() {
		if string(k) == s {
			return true
		}
	}
	return false
}

// Action is what the proxy does with a request.
type Action uint8

// Actions. Allow forwards the request (its cookies are still judged one by
// one); Strip forwards it without any Cookie and drops every Set-Cookie;
// BlockImage answers 200 with a 43-byte transparent GIF; BlockEmpty answers
// 204. Nothing is sent upstream for the two block actions.
const (
	Allow Action = iota
	Strip
	BlockImage
	BlockEmpty
)

func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Strip:
		return "strip"
	case BlockImage:
		return "block-image"
	case BlockEmpty:
		return "block-empty"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Actions returns every action, from the least to the most restrictive.
func Actions() []Action { return []Action{Allow, Strip, BlockImage, BlockEmpty} }

// Blocked reports whether nothing is sent upstream.
func (a Action) Blocked() bool { return a == BlockImage || a == BlockEmpty }

// severity orders actions from least to most restrictive, for ties that
// must count as the most restrictive.
func (a Action) severity() int {
	switch a {
	case Allow:
		return 0
	case Strip:
		return 1
	}
	return 2
}

// Dest is a request's fetch destination, from Sec-Fetch-Dest (or guessed
// from Accept by the proxy).
type Dest uint8

// Destinations. The Fetch standard's values are folded into what changes a
// decision: whether a blocked request gets an image or an empty answer, and
// whether it is a document.
const (
	DestUnknown  Dest = iota // no Sec-Fetch-Dest and nothing to guess from
	DestDocument             // a navigation
	DestFrame                // iframe, frame, embed, object
	DestImage
	DestScript // script and every worker or worklet script
	DestStyle
	DestFont
	DestMedia // audio, video, track
	DestEmpty // fetch, XHR, sendBeacon
	DestOther // manifest, report and anything else
)

// destFromName maps a Sec-Fetch-Dest value to a Dest. A switch rather than
// a map keeps the table immutable.
func destFromName(s string) (Dest, bool) {
	switch s {
	case "document":
		return DestDocument, true
	case "iframe", "frame", "embed", "object", "fencedframe":
		return DestFrame, true
	case "image":
		return DestImage, true
	case "script", "worker", "sharedworker", "serviceworker", "audioworklet", "paintworklet", "xslt":
		return DestScript, true
	case "style":
		return DestStyle, true
	case "font":
		return DestFont, true
	case "audio", "video", "track":
		return DestMedia, true
	case "empty":
		return DestEmpty, true
	case "manifest", "report", "json", "webidentity":
		return DestOther, true
	}
	return DestUnknown, false
}

// DestValues returns the Sec-Fetch-Dest values LookupDest knows.
func DestValues() []string {
	return []string{
		"document", "iframe", "frame", "embed", "object", "fencedframe", "image",
		"script", "worker", "sharedworker", "serviceworker", "audioworklet", "paintworklet", "xslt",
		"style", "font", "audio", "video", "track", "empty", "manifest", "report", "json", "webidentity",
	}
}

// ParseDest maps a Sec-Fetch-Dest value to a Dest: "" is DestUnknown and an
// unrecognised value DestOther (a browser newer than this table).
func ParseDest(secFetchDest string) Dest {
	if secFetchDest == "" {
		return DestUnknown
	}
	if d, ok := destFromName(secFetchDest); ok {
		return d
	}
	if d, ok := destFromName(strings.ToLower(strings.TrimSpace(secFetchDest))); ok {
		return d
	}
	return DestOther
}

// LookupDest is ParseDest for user input: it reports whether s is a known
// Sec-Fetch-Dest value.
func LookupDest(s string) (Dest, bool) {
	return destFromName(strings.ToLower(strings.TrimSpace(s)))
}

func (d Dest) String() string {
	switch d {
	case DestUnknown:
		return "unknown"
	case DestDocument:
		return "document"
	case DestFrame:
		return "frame"
	case DestImage:
		return "image"
	case DestScript:
		return "script"
	case DestStyle:
		return "style"
	case DestFont:
		return "font"
	case DestMedia:
		return "media"
	case DestEmpty:
		return "empty"
	case DestOther:
		return "other"
	}
	return fmt.Sprintf("dest(%d)", uint8(d))
}

// Context is where a request comes from relative to the page.
type Context uint8

// Contexts. ThirdParty is the zero value on purpose: a request the proxy
// knows nothing about (curl, apps, no Sec-Fetch-* headers) is judged as
// third-party, the safe default.
const (
	ThirdParty Context = iota
	FirstParty
	TopLevel
)

func (c Context) String() string {
	switch c {
	case ThirdParty:
		return "third-party"
	case FirstParty:
		return "first-party"
	case TopLevel:
		return "top-level"
	}
	return fmt.Sprintf("context(%d)", uint8(c))
}

// CookiePolicy is what a profile does with cookies no rule knows.
type CookiePolicy uint8

// Cookie policies; CookieAllow is the default.
const (
	CookieAllow CookiePolicy = iota
	CookieStrip
)

func (c CookiePolicy) String() string {
	if c == CookieStrip {
		return "strip"
	}
	return "allow"
}

// DeniedPolicy is what a profile does with a refused tracker request in
// third-party context.
type DeniedPolicy uint8

// Denied policies; DeniedBlock is the default.
const (
	DeniedBlock DeniedPolicy = iota
	DeniedStrip
)

func (d DeniedPolicy) String() string {
	if d == DeniedStrip {
		return "strip"
	}
	return "block"
}

func parseCookiePolicy(s string) (CookiePolicy, bool) {
	switch s {
	case "", "allow":
		return CookieAllow, true
	case "strip":
		return CookieStrip, true
	}
	return 0, false
}

func parseDeniedPolicy(s string) (DeniedPolicy, bool) {
	switch s {
	case "", "block":
		return DeniedBlock, true
	case "strip":
		return DeniedStrip, true
	}
	return 0, false
}

// Vendor override values in a profile's `vendors:` map.
const (
	OverrideAllow = "allow"
	OverrideDeny  = "deny"
)

// FormatVersion is the only rules-file format version this package reads.
const FormatVersion = 1

// The keys each YAML mapping of a rules file may hold. The parser rejects
// anything else with a suggestion.
func topKeys() []string      { return []string{"version", "categories", "vendors", "cookies", "profiles"} }
func categoryKeys() []string { return []string{"name", "description"} }
func vendorKeys() []string   { return []string{"id", "name", "gvl_id", "sources", "services"} }
func serviceKeys() []string {
	return []string{"name", "category", "kind", "hosts", "paths", "source"}
}
func cookieKeys() []string { return []string{"names", "category", "vendor", "domains", "source"} }
func profileKeys() []string {
	return []string{"name", "description", "allow", "vendors", "unknown_cookies", "on_denied", "gpc", "dnt", "consent_state"}
}
