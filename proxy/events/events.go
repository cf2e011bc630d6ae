// Package events is the record of what consent enforcement did: the event
// vocabulary (actions, cookie directions), the Event a block or a strip
// produces, and Ring, the bounded in-memory buffer /api/events reads.
//
// An event never holds a cookie value, a query string or proxy
// credentials: the proxy fills it from names, the decoded URL path and the
// decision only, and Path is cut to MaxPathBytes.
package events

import (
	"strings"
	"time"

	"github.com/consentproxy/consentproxy/rules"
)

// Action is what an event records. The first three are the rules package's
// refusing actions under the same names (rules.Action.String), so the CLI,
// the admin API, the logs and the metrics speak one vocabulary.
type Action string

// The event actions.
const (
	// BlockImage: a refused tracker request answered with the 43-byte GIF;
	// nothing was sent upstream.
	BlockImage Action = "block-image"
	// BlockEmpty: a refused tracker request answered 204; nothing was sent
	// upstream.
	BlockEmpty Action = "block-empty"
	// Strip: a refused tracker request forwarded without any Cookie, every
	// Set-Cookie of its response dropped (on_denied: strip).
	Strip Action = "strip"
	// CookiesStripped: an allowed request or its response lost one or more
	// cookies of refused categories (or unknown ones under
	// unknown_cookies: strip).
	CookiesStripped Action = "cookies-stripped"
	// FailClosed: deciding or rewriting failed; the request was answered
	// 502 and never forwarded.
	FailClosed Action = "fail-closed"
)

// Actions returns every event action, in documentation order.
func Actions() []Action {
	return []Action{BlockImage, BlockEmpty, Strip, CookiesStripped, FailClosed}
}

// ParseAction reports the action named s.
func ParseAction(s string) (Action, bool) {
	for _, a := range Actions() {
		if string(a) == s {
			return a, true
		}
	}
	return "", false
}

// ForDecision is the event action of a request decided a, before any
// cookie is looked at: "" for rules.Allow (an allowed request is an event
// only when cookies were stripped).
func ForDecision(a rules.Action) Action {
	switch a {
	case rules.BlockImage:
		return BlockImage
	case rules.BlockEmpty:
		return BlockEmpty
	case rules.Strip:
		return Strip
	}
	return ""
}

// Direction says which way a stripped cookie was travelling.
type Direction string

// Directions.
const (
	// Request: a pair of the request's Cookie header.
	Request Direction = "request"
	// Response: a Set-Cookie field of the response.
	Response Direction = "response"
)

// Cookie is one cookie an event removed, by name only.
type Cookie struct {
	Name      string    `json:"name"`
	Direction Direction `json:"direction"`
	// Category is the cookie rule's category, or for an unknown name on a
	// tracker request the tracker's; "" for an unknown cookie.
	Category string `json:"category"`
	Vendor   string `json:"vendor"`
	// Origin is the file:line of the rule that judged it ("" when none did).
	Origin string `json:"origin"`
	Reason string `json:"reason"`
}

// Event is one block or strip. Once added to a Ring it is never changed,
// so readers may share its Cookies slice.
type Event struct {
	// ID numbers events from 1 in the order the ring received them.
	ID   uint64    `json:"id"`
	Time time.Time `json:"time"`
	// Client is the client's address (ip:port); Listener the proxy address
	// it connected to, as configured.
	Client   string `json:"client"`
	Listener string `json:"listener"`
	// Profile is the consent profile applied; ProfileSource how it was
	// chosen: header, credentials, listener or default.
	Profile       string `json:"profile"`
	ProfileSource string `json:"profile_source"`
	Method        string `json:"method"`
	Scheme        string `json:"scheme"`
	// Host is lower-case, without port. Path is the decoded URL path: never
	// the query string.
	Host string `json:"host"`
	Path string `json:"path"`
	// Dest and Context are the request facts the decision used.
	Dest    string `json:"dest"`
	Context string `json:"context"`
	Action  Action `json:"action"`
	// Category, Vendor, Service and Origin (file:line) name the tracker
	// service that matched; "" when none did.
	Category string `json:"category"`
	Vendor   string `json:"vendor"`
	Service  string `json:"service"`
	Origin   string `json:"origin"`
	Reason   string `json:"reason"`
	// Status is what the client got (0 when it left before an answer).
	Status  int      `json:"status"`
	Cookies []Cookie `json:"cookies"`
	// CookiesOmitted counts stripped cookies beyond MaxCookies, which the
	// event does not list.
	CookiesOmitted int `json:"cookies_omitted,omitempty"`
}

// Bounds on one event, so that a ring of N events holds a bounded amount
// of memory whatever the clients send.
const (
	MaxPathBytes       = 512
	MaxCookies         = 32
	MaxCookieNameBytes = 128
)

// TruncatePath cuts a path to MaxPathBytes (on a UTF-8 boundary), marking
// the cut with "...".
func TruncatePath(p string) string { return truncate(p, MaxPathBytes) }

// TruncateName cuts a cookie name to MaxCookieNameBytes.
func TruncateName(n string) string { return truncate(n, MaxCookieNameBytes) }

func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len("...")
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

// Filter selects events; an empty field matches everything.
type Filter struct {
	// Host matches the event's host or any subdomain of it.
	Host     string
	Action   Action
	Category string
	Profile  string
}

// Match reports whether ev passes the filter. Category matches the
// tracker's category or that of any cookie the event lists.
func (f *Filter) Match(ev *Event) bool {
	if f.Action != "" && ev.Action != f.Action {
		return false
	}
	if f.Profile != "" && ev.Profile != f.Profile {
		return false
	}
	if f.Host != "" && ev.Host != f.Host && !(strings.HasSuffix(ev.Host, f.Host) &&
		ev.Host[len(ev.Host)-len(f.Host)-1] == '.') {
		return false
	}
	if f.Category != "" && ev.Category != f.Category {
		found := false
		for i := range ev.Cookies {
			if ev.Cookies[i].Category == f.Category {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
