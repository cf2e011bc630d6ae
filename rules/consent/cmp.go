package consent

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consentproxy/consentproxy/rules"
)

// OneTrust: the OptanonConsent cookie, a URL-encoded form whose groups
// field holds "GROUP:1" (consent) or "GROUP:0" per cookie group, and
// OptanonAlertBoxClosed, the ISO-8601 time the banner was closed. OneTrust's
// default groups: C0001 strictly necessary, C0002 performance, C0003
// functional, C0004 targeting, C0005 social media.

// DefaultOneTrustGroups maps categories to OneTrust's default groups.
// analytics is "performance" (C0002); advertising and marketing are both
// "targeting" (C0004), granted only when both are allowed.
func DefaultOneTrustGroups() map[rules.Category]string {
	return map[rules.Category]string{
		rules.Essential:   "C0001",
		rules.Analytics:   "C0002",
		rules.Functional:  "C0003",
		rules.Advertising: "C0004",
		rules.Marketing:   "C0004",
		rules.Social:      "C0005",
	}
}

// Names of the cookies the formats write (besides the configurable TCF and
// GPP ones).
const (
	OptanonConsentCookie        = "OptanonConsent"
	OptanonAlertBoxClosedCookie = "OptanonAlertBoxClosed"
	CookieConsentCookie         = "CookieConsent"
)

// OneTrustGroups returns each group id with its consent: a group is
// granted when the choice allows every category mapped to it. Sorted by id.
// A group no category maps to (C0002 once a site maps analytics to C0007)
// is not written: the site's script keeps its own default for it.
func OneTrustGroups(c Choice, groups map[rules.Category]string) []GroupConsent {
	cats := map[string][]rules.Category{}
	for cat, g := range groups {
		cats[g] = append(cats[g], cat)
	}
	out := make([]GroupConsent, 0, len(cats))
	for g, cs := range cats {
		out = append(out, GroupConsent{ID: g, Granted: c.allowsAll(cs)})
	}
	slices.SortFunc(out, func(a, b GroupConsent) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// GroupConsent is one OneTrust group and whether it is granted.
type GroupConsent struct {
	ID      string `json:"id"`
	Granted bool   `json:"granted"`
}

// OptanonConsent builds the OptanonConsent value OneTrust's script writes
// after a choice in the banner, field for field as observed in OneTrust
// 2023-2026 cookies: isGpcEnabled=0, datestamp (JavaScript's
// Date.toString() in UTC), version, browserGpcFlag=0 (the page's script
// sees no GPC: the proxy sets the header, not navigator), isIABGlobal=false,
// hosts= (empty: host-level consent is not used), consentId (a random
// UUID), interactionCount=1 (one choice made), isAnonUser=1,
// landingPath=NotLandingPage (the banner was answered), groups,
// AwaitingReconsent=false. Values are escaped as encodeURIComponent does,
// with "+" for spaces.
func OptanonConsent(groups []GroupConsent, version string, now time.Time, rand io.Reader) (string, error) {
	id, err := uuid(rand)
	if err != nil {
		return "", err
	}
	var g strings.Builder
	for i, gc := range groups {
		if i > 0 {
			g.WriteByte(',')
		}
		g.WriteString(gc.ID)
		g.WriteString(":")
		if gc.Granted {
			g.WriteByte('1')
		} else {
			g.WriteByte('0')
		}
	}
	fields := [][2]string{
		{"isGpcEnabled", "0"},
		{"datestamp", now.UTC().Format("Mon Jan 02 2006 15:04:05") + " GMT+0000 (Coordinated Universal Time)"},
		{"version", version},
		{"browserGpcFlag", "0"},
		{"isIABGlobal", "false"},
		{"hosts", ""},
		{"consentId", id},
		{"interactionCount", "1"},
		{"isAnonUser", "1"},
		{"landingPath", "NotLandingPage"},
		{"groups", g.String()},
		{"AwaitingReconsent", "false"},
	}
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(f[0])
		b.WriteByte('=')
		b.WriteString(uriComponent(f[1], true))
	}
	return b.String(), nil
}

// OptanonAlertBoxClosed is the value OneTrust writes when the banner
// closes: JavaScript's toISOString().
func OptanonAlertBoxClosed(now time.Time) string {
	return now.UTC().Format("2006-01-02T15:04:05.000Z")
}

// OneTrustState is what an OptanonConsent value says.
type OneTrustState struct {
	Groups           []GroupConsent `json:"groups"`
	InteractionCount int            `json:"interaction_count"`
	Version          string         `json:"version"`
	Datestamp        string         `json:"datestamp"`
	// Fields lists the field names in order, so a breakdown can show them.
	Fields []string `json:"fields"`
}

// ParseOptanonConsent reads an OptanonConsent value.
func ParseOptanonConsent(v string) (OneTrustState, error) {
	q, err := url.ParseQuery(v)
	if err != nil {
		return OneTrustState{}, errors.New("OptanonConsent: not a URL-encoded form")
	}
	if !q.Has("groups") {
		return OneTrustState{}, errors.New("OptanonConsent: no groups field")
	}
	var st OneTrustState
	for _, pair := range strings.Split(v, "&") {
		k, _, _ := strings.Cut(pair, "=")
		st.Fields = append(st.Fields, k)
	}
	st.Version = q.Get("version")
	st.Datestamp = q.Get("datestamp")
	st.InteractionCount, _ = strconv.Atoi(q.Get("interactionCount"))
	for _, g := range strings.Split(q.Get("groups"), ",") {
		if g == "" {
			continue
		}
		id, val, ok := strings.Cut(g, ":")
		if !ok || (val != "0" && val != "1") {
			return OneTrustState{}, fmt.Errorf("OptanonConsent: group %q is not ID:0 or ID:1", short(g))
		}
		st.Groups = append(st.Groups, GroupConsent{ID: id, Granted: val == "1"})
	}
	return st, nil
}

// uriComponent escapes as JavaScript's encodeURIComponent (everything but
// A-Z a-z 0-9 - _ . ! ~ * ' ( )), with "+" for spaces when plus is set.
func uriComponent(s string, plus bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-_.!~*'()", c) >= 0:
			b.WriteByte(c)
		case c == ' ' && plus:
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// uuid returns a random version 4 UUID.
func uuid(rand io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("consent id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// Cookiebot: the CookieConsent cookie, a JavaScript object literal with
// "'" escaped as %27 and "," as %2C (the rest left as is, so the stamp's
// base64 "+", "/" and "=" appear raw), exactly as Cookiebot's script writes
// it:
//
//	{stamp:'…',necessary:true,preferences:false,statistics:true,marketing:false,method:'explicit',ver:1,utc:1700000000000,region:'de'}
//
// preferences is the functional category, statistics analytics, marketing
// advertising, marketing and social together (Cookiebot files social
// embeds under marketing), granted only when all three are allowed.

// CookiebotState is what a CookieConsent value says.
type CookiebotState struct {
	Stamp       string `json:"stamp"`
	Necessary   bool   `json:"necessary"`
	Preferences bool   `json:"preferences"`
	Statistics  bool   `json:"statistics"`
	Marketing   bool   `json:"marketing"`
	Method      string `json:"method"`
	Version     string `json:"ver"`
	UTC         int64  `json:"utc"`
	Region      string `json:"region"`
}

// CookiebotFor is the state a choice gives.
func CookiebotFor(c Choice) CookiebotState {
	return CookiebotState{
		Necessary:   true,
		Preferences: c.Allows(rules.Functional),
		Statistics:  c.Allows(rules.Analytics),
		Marketing:   c.allowsAll([]rules.Category{rules.Advertising, rules.Marketing, rules.Social}),
	}
}

// CookieConsent builds the CookieConsent value. Cookiebot's stamp is a
// consent id its server issues; a random 40-byte base64 value of the same
// shape stands in for it (the script keeps a stamp it finds; "-1" and "0"
// would mark the consent as implied or missing).
func CookieConsent(st CookiebotState, region string, now time.Time, rand io.Reader) (string, error) {
	var b [40]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("cookiebot stamp: %w", err)
	}
	stamp := base64.StdEncoding.EncodeToString(b[:])
	v := fmt.Sprintf("{stamp:'%s',necessary:true,preferences:%t,statistics:%t,marketing:%t,method:'explicit',ver:1,utc:%d,region:'%s'}",
		stamp, st.Preferences, st.Statistics, st.Marketing, now.UnixMilli(), region)
	return strings.NewReplacer("'", "%27", ",", "%2C").Replace(v), nil
}

// ParseCookieConsent reads a CookieConsent value.
func ParseCookieConsent(v string) (CookiebotState, error) {
	raw, err := url.PathUnescape(v)
	if err != nil {
		return CookiebotState{}, errors.New("CookieConsent: bad %-escape")
	}
	raw = strings.TrimSpace(raw)
	if !strings.HasPrefix(raw, "{") || !strings.HasSuffix(raw, "}") {
		return CookiebotState{}, errors.New("CookieConsent: not a {key:value,...} object")
	}
	var st CookiebotState
	seen := map[string]bool{}
	for _, f := range strings.Split(raw[1:len(raw)-1], ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(f), ":")
		if !ok {
			return CookiebotState{}, fmt.Errorf("CookieConsent: field %q is not key:value", short(f))
		}
		val = strings.Trim(strings.TrimSpace(val), "'")
		seen[k] = true
		switch k {
		case "stamp":
			st.Stamp = val
		case "necessary":
			st.Necessary = val == "true"
		case "preferences":
			st.Preferences = val == "true"
		case "statistics":
			st.Statistics = val == "true"
		case "marketing":
			st.Marketing = val == "true"
		case "method":
			st.Method = val
		case "ver":
			st.Version = val
		case "utc":
			st.UTC, _ = strconv.ParseInt(val, 10, 64)
		case "region":
			st.Region = val
		}
	}
	for _, k := range []string{"stamp", "necessary", "preferences", "statistics", "marketing"} {
		if !seen[k] {
			return CookiebotState{}, fmt.Errorf("CookieConsent: no %s field", k)
		}
	}
	return st, nil
}

// explicit reports whether the state records a choice the user made: a
// server stamp and not an implied consent.
func (st CookiebotState) explicit() bool {
	return st.Method != "implied" && st.Stamp != "-1" && st.Stamp != "0" && st.Stamp != ""
}
