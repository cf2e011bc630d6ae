package proxy

import (
	"crypto/rand"
	"errors"
	"math/bits"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/consentproxy/consentproxy/proxy/events"
	"github.com/consentproxy/consentproxy/rules"
	"github.com/consentproxy/consentproxy/rules/consent"
)

// Consent state: the proxy makes sites see a profile's choice and checks
// the consent signals vendor hits carry (rules/consent does the encoding,
// decoding and comparing; this file applies it to exchanges).
//
//   - Writing (write_consent: true, the default; profiles with a
//     consent_state). On a first-party request (top-level navigations
//     included) the plan of consent.State.Plan is put into the forwarded
//     Cookie header, so that the site's server renders with the choice;
//     on the HTML response of a first-party top-level navigation the same
//     cookies are set with Set-Cookie (Domain = the registrable domain,
//     readable by the page's script), so that the page's CMP finds a
//     choice and shows no banner. Third-party requests never get them.
//   - Checking (always, whatever write_consent says). On a request that
//     matched a vendor service, blocked or forwarded, the consent
//     parameters of its query are compared with the profile's choice; each
//     disagreement is a signal_mismatch event, a count and a sampled log
//     line.
//
// Costs. Plan builds every cookie afresh (a UUID, two TC strings: about
// 30 µs and 150 allocations) and decodes what the browser holds, so it
// never runs per request. The cookie values are built once per profile,
// site and UTC day (siteEntry), and the plan of an ordinary request is
// read off them: a missing cookie is written, a cookie holding our value
// is the same choice. Only a jar holding other values (the site's CMP
// rewrote a cookie, a choice made in the banner, yesterday's values) goes
// through Plan, and its outcome is cached by the exact values
// (snapshotConsent.plans). Signal checks are cached likewise by the exact
// parameters, since a page sends the same gdpr_consent with every ad call.
//
// Every cache belongs to its snapshot and dies with it, so a reload never
// writes or checks with an old profile.

// Limits of the consent-state caches. Each is per snapshot (the hosts one
// per profile); a full cache is emptied, or evicts its oldest entry.
const (
	// consentHostsMax bounds the hosts (and sites) whose cookie values a
	// profile keeps.
	consentHostsMax = 4096
	// consentPlanCacheSize bounds the plans of unusual cookie jars.
	consentPlanCacheSize = 1024
	// signalCheckCacheSize bounds the cached signal checks.
	signalCheckCacheSize = 1024
	// maxConsentKeyBytes skips the caches for keys longer than this (huge
	// cookies or consent parameters), so that the caches' memory stays
	// bounded: such requests are planned or checked every time.
	maxConsentKeyBytes = 8 << 10
	// maxConsentCookies is the most cookies a consent_state writes on one
	// site (onetrust 2, cookiebot 1, tcf 1, gpp 2); writes are a bit mask.
	maxConsentCookies = 8
)

// snapshotConsent is a snapshot's consent state: each profile's State and
// Choice, built once when the snapshot is, and the caches.
type snapshotConsent struct {
	// write is cfg.WriteConsent: whether consent cookies are written.
	write    bool
	profiles map[*rules.Profile]*profileConsent
	// gvl maps vendor ids to their IAB Global Vendor List ids.
	gvl    map[string]int
	plans  *lru.Cache[string, uint64]
	checks *lru.Cache[checkKey, []consent.Mismatch]
}

// profileConsent is one profile's consent state in a snapshot.
type profileConsent struct {
	name string
	// state is nil when the profile has no consent_state: nothing is
	// written for it, but its choice still checks the signals.
	state  *consent.State
	choice consent.Choice
	// hosts maps a request host to its site's entry, sites a registrable
	// domain to it: rules.Site costs more than the rest of a request's
	// consent work. count bounds them (consentHostsMax).
	hosts sync.Map
	sites sync.Map
	count atomic.Int64
}

// siteEntry holds a site's consent cookies of the current day.
type siteEntry struct {
	site string
	day  atomic.Pointer[consentDay]
}

// consentDay is what a profile writes on a site during one UTC day: the
// cookies (their values carry the day, and a consent id that stays the
// same all day, so that a browser that got them sends back exactly these),
// grouped by format, and their Set-Cookie values.
type consentDay struct {
	day     int64
	site    string
	cookies []consent.Cookie
	// starts[g] is the index of format g's first cookie (the one that
	// holds the choice; the others are its companions); the last element
	// is len(cookies).
	starts []int
	// setCookie[secure][i] is the Set-Cookie value of cookies[i] for an
	// http (0) or https (1) page.
	setCookie [2][]string
}

// consentExchange is the consent-state work of one exchange.
type consentExchange struct {
	// day and writes: the cookies put into the request (bit i for
	// day.cookies[i]), to be set on its response when it is the HTML page
	// of a top-level navigation.
	day    *consentDay
	writes uint64
	// mismatches are the disagreements of the hit's consent signals with
	// the profile; shared with the check cache, never modified.
	mismatches []consent.Mismatch
}

// checkKey identifies a signal check: the profile, the vendor's GVL id and
// the raw signal parameters.
type checkKey struct {
	profile *profileConsent
	gvl     int
	params  string
}

// newSnapshotConsent builds the consent state of every profile of set.
func newSnapshotConsent(set *rules.Set, write bool) *snapshotConsent {
	sc := &snapshotConsent{write: write, profiles: map[*rules.Profile]*profileConsent{}, gvl: map[string]int{}}
	for _, p := range set.Profiles() {
		pc := &profileConsent{name: p.Name}
		if st, ok := consent.NewState(set, p); ok {
			pc.state, pc.choice = st, st.Choice()
		} else {
			pc.choice = consent.NewChoice(set, p)
		}
		sc.profiles[p] = pc
	}
	for _, id := range set.VendorIDs() {
		if v, _ := set.Vendor(id); v.GVLID > 0 {
			sc.gvl[id] = v.GVLID
		}
	}
	// lru.New fails only for a size below 1.
	sc.plans, _ = lru.New[string, uint64](consentPlanCacheSize)
	sc.checks, _ = lru.New[checkKey, []consent.Mismatch](signalCheckCacheSize)
	return sc
}

// writeConsentRequest puts the consent cookies the profile's consent_state
// plans for a first-party request into its Cookie header (after cookie
// filtering, so they are never judged), and remembers them for the
// response.
func (s *Server) writeConsentRequest(x *Exchange) {
	c := &x.Consent
	sc := c.snap.consent
	if !sc.write || (c.Facts.Context != rules.FirstParty && c.Facts.Context != rules.TopLevel) {
		return
	}
	pc := sc.profiles[c.Profile]
	if pc == nil || pc.state == nil {
		return
	}
	now := x.state.started
	if now.IsZero() {
		now = time.Now()
	}
	d := pc.today(c.Facts.Host, now, s.log)
	if len(d.cookies) == 0 {
		return
	}
	lines := x.Request.Header["Cookie"]
	jar := d.read(lines)
	w := sc.plan(pc, d, &jar, now, s.log)
	if w == 0 {
		return
	}
	x.Request.Header["Cookie"] = []string{d.rewrite(lines, w)}
	c.cmp.day, c.cmp.writes = d, w
}

// writeConsentResponse sets the request's consent cookies on the response
// of a first-party top-level navigation that is an HTML page, so that the
// page's script reads them from document.cookie. It runs after Set-Cookie
// filtering.
func (s *Server) writeConsentResponse(x *Exchange, resp *http.Response) {
	ce := &x.Consent.cmp
	if ce.writes == 0 || x.Synthetic || x.Consent.Facts.Context != rules.TopLevel || !isHTML(resp.Header.Get("Content-Type")) {
		return
	}
	secure := 0
	if x.Request.URL.Scheme == "https" {
		secure = 1
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	for i, sc := range ce.day.setCookie[secure] {
		if ce.writes&(1<<i) != 0 {
			resp.Header.Add("Set-Cookie", sc)
		}
	}
}

// isHTML reports whether a Content-Type is text/html (any parameters).
func isHTML(ct string) bool {
	const html = "text/html"
	ct = strings.TrimLeft(ct, " \t")
	if len(ct) < len(html) || !strings.EqualFold(ct[:len(html)], html) {
		return false
	}
	rest := ct[len(html):]
	return rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t'
}

// today returns the profile's cookies for the site of host on the day of
// now, building them on the first request of the day.
func (pc *profileConsent) today(host string, now time.Time, log *zap.Logger) *consentDay {
	e := pc.entry(host)
	day := now.Unix() / 86400 // UTC days: TC strings carry the UTC day
	cur := e.day.Load()
	if cur != nil && cur.day >= day {
		// A request that started just before midnight UTC uses the new
		// day's values rather than swapping the old ones back.
		return cur
	}
	nd, err := newConsentDay(pc.state, e.site, day, now)
	if e.day.CompareAndSwap(cur, nd) {
		if err != nil {
			// Logged once a day per site: the day keeps the failure.
			log.Warn("cannot build the consent cookies; none are written on this site today",
				zap.String("profile", pc.name), zap.String("site", e.site), zap.Error(err))
		}
		return nd
	}
	if w := e.day.Load(); w != nil && w.day == day {
		return w // a concurrent request built them first: use the same values
	}
	return nd
}

// entry returns the site entry of a host.
func (pc *profileConsent) entry(host string) *siteEntry {
	if v, ok := pc.hosts.Load(host); ok {
		return v.(*siteEntry)
	}
	site := rules.Site(host)
	v, ok := pc.sites.Load(site)
	if !ok {
		v, _ = pc.sites.LoadOrStore(site, &siteEntry{site: site})
	}
	if pc.count.Add(1) > consentHostsMax {
		// Bounded by forgetting everything: a forgotten site only costs
		// building its cookies again (with a new consent id).
		pc.hosts.Clear()
		pc.sites.Clear()
		pc.count.Store(0)
	}
	pc.hosts.Store(host, v)
	return v.(*siteEntry)
}

// newConsentDay builds a site's cookies of a day. On error the day holds
// no cookie: nothing is written until the next day (or a reload).
func newConsentDay(st *consent.State, site string, day int64, now time.Time) (*consentDay, error) {
	d := &consentDay{day: day, site: site}
	cs, err := st.Cookies(site, consent.Env{Now: now, Rand: rand.Reader})
	if err != nil {
		return d, err
	}
	if len(cs) > maxConsentCookies {
		return d, errors.New("consent_state writes " + strconv.Itoa(len(cs)) + " cookies, more than " + strconv.Itoa(maxConsentCookies))
	}
	d.cookies = cs
	for i, c := range cs {
		if i == 0 || c.Format != cs[i-1].Format {
			d.starts = append(d.starts, i)
		}
		d.setCookie[0] = append(d.setCookie[0], c.SetCookie(site, false))
		d.setCookie[1] = append(d.setCookie[1], c.SetCookie(site, true))
	}
	d.starts = append(d.starts, len(cs))
	return d, nil
}

// index is the position of the cookie named name, -1 when none.
func (d *consentDay) index(name string) int {
	for i := range d.cookies {
		if d.cookies[i].Name == name {
			return i
		}
	}
	return -1
}

// consentJar is what a request's Cookie header holds of a day's cookies:
// bit i of present for cookies[i], with its value (the first pair of that
// name, as servers read it).
type consentJar struct {
	present uint64
	values  [maxConsentCookies]string
}

// read finds the day's cookies in Cookie header lines.
func (d *consentDay) read(lines []string) consentJar {
	var j consentJar
	for _, line := range lines {
		for rest := line; rest != ""; {
			var pair string
			pair, rest, _ = strings.Cut(rest, ";")
			name, value, ok := strings.Cut(pair, "=")
			if !ok {
				continue
			}
			if i := d.index(trimWSP(name)); i >= 0 && j.present&(1<<i) == 0 {
				j.present |= 1 << i
				j.values[i] = trimWSP(value)
			}
		}
	}
	return j
}

// trimWSP trims the SP and HTAB around a cookie pair, name or value
// (RFC 6265 §5.2), without strings.Trim's per-call cutset set-up.
func trimWSP(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// lookup is the jar as consent.State.Plan reads it.
func (j *consentJar) lookup(d *consentDay) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if i := d.index(name); i >= 0 && j.present&(1<<i) != 0 {
			return j.values[i], true
		}
		return "", false
	}
}

// plan returns the cookies to write (bit i for d.cookies[i]): what
// consent.State.Plan decides, without running it for the usual jars.
// Per format: its first cookie missing means no choice (write them all);
// holding the day's own value means the same choice (write only missing
// companions). Any other value needs Plan's judgement of the choice it
// holds, cached by the exact values.
func (sc *snapshotConsent) plan(pc *profileConsent, d *consentDay, j *consentJar, now time.Time, log *zap.Logger) uint64 {
	var w uint64
	for g := 0; g+1 < len(d.starts); g++ {
		first, end := d.starts[g], d.starts[g+1]
		same := false
		if j.present&(1<<first) != 0 {
			if j.values[first] != d.cookies[first].Value {
				return sc.planSlow(pc, d, j, now, log)
			}
			same = true
		}
		for i := first; i < end; i++ {
			if same && (i == first || j.present&(1<<i) != 0) {
				continue
			}
			w |= 1 << i
		}
	}
	return w
}

// planSlow runs Plan for a jar holding values other than the day's, and
// caches its outcome. The written values are the day's (Plan's own fresh
// ones are dropped), so that the browser ends up with the values the next
// requests compare against.
func (sc *snapshotConsent) planSlow(pc *profileConsent, d *consentDay, j *consentJar, now time.Time, log *zap.Logger) uint64 {
	n := len(pc.name) + len(d.site) + 24
	for i := range d.cookies {
		n += len(j.values[i]) + 8
	}
	key := make([]byte, 0, n)
	key = append(key, pc.name...)
	key = append(key, 0)
	key = append(key, d.site...)
	key = append(key, 0)
	key = strconv.AppendInt(key, d.day, 10)
	for i := range d.cookies {
		if j.present&(1<<i) == 0 {
			key = append(key, "|-"...)
			continue
		}
		// Length-prefixed: no value can fake a boundary.
		key = append(key, '|')
		key = strconv.AppendInt(key, int64(len(j.values[i])), 10)
		key = append(key, ':')
		key = append(key, j.values[i]...)
	}
	cacheable := len(key) <= maxConsentKeyBytes
	if cacheable {
		// string(key) in a lookup does not copy.
		if w, ok := sc.plans.Get(string(key)); ok {
			return w
		}
	}
	writes, err := pc.state.Plan(d.site, j.lookup(d), consent.Env{Now: now, Rand: rand.Reader})
	if err != nil {
		// The day's cookies were built with the same settings, so this
		// does not happen; writing nothing is the safe answer if it does.
		log.Warn("cannot plan the consent cookies; none written", zap.String("profile", pc.name),
			zap.String("site", d.site), zap.Error(err))
		return 0
	}
	var w uint64
	for _, wr := range writes {
		if i := d.index(wr.Name); i >= 0 {
			w |= 1 << i
		}
	}
	if cacheable {
		sc.plans.Add(string(key), w)
	}
	return w
}

// rewrite returns the Cookie header with the written cookies: a pair of a
// written name is replaced (its first occurrence by our pair, the others
// dropped, so the server reads one value), the others are added at the
// end; every other pair is kept byte for byte, in order. Several header
// lines become one, as HTTP/2 intermediaries join them (RFC 9113 §8.2.3).
func (d *consentDay) rewrite(lines []string, w uint64) string {
	n := 0
	for _, l := range lines {
		n += len(l) + 2
	}
	for i := range d.cookies {
		if w&(1<<i) != 0 {
			n += len(d.cookies[i].Name) + len(d.cookies[i].Value) + 3
		}
	}
	var b strings.Builder
	b.Grow(n)
	add := func(name, value string) {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(value)
	}
	var done uint64
	for _, line := range lines {
		for rest := line; rest != ""; {
			var pair string
			pair, rest, _ = strings.Cut(rest, ";")
			pair = trimWSP(pair)
			if pair == "" {
				continue
			}
			if name, _, ok := strings.Cut(pair, "="); ok {
				if i := d.index(trimWSP(name)); i >= 0 && w&(1<<i) != 0 {
					if done&(1<<i) == 0 {
						add(d.cookies[i].Name, d.cookies[i].Value)
						done |= 1 << i
					}
					continue
				}
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(pair)
		}
	}
	for left := w &^ done; left != 0; left &= left - 1 {
		i := bits.TrailingZeros64(left)
		add(d.cookies[i].Name, d.cookies[i].Value)
	}
	return b.String()
}

// signalParams are the query parameters Choice.Check reads, in the order
// of signalValues' array.
var signalParams = [...]string{"gcs", "gcd", "npa", "gdpr", "gdpr_consent", "gpp", "gpp_sid"}

// signalIndex is a parameter's index in signalParams, -1 for others.
func signalIndex(key string) int {
	switch key {
	case "gcs":
		return 0
	case "gcd":
		return 1
	case "npa":
		return 2
	case "gdpr":
		return 3
	case "gdpr_consent":
		return 4
	case "gpp":
		return 5
	case "gpp_sid":
		return 6
	}
	return -1
}

// signalValues finds the consent parameters of a raw query: the first raw
// (still escaped) value of each, as url.Values.Get would read it, and a
// bit per parameter found. One pass and no allocation for a query without
// them; no other parameter is ever decoded or kept.
func signalValues(raw string) (vals [len(signalParams)]string, found uint8) {
	for raw != "" {
		pair := raw
		if amp := strings.IndexByte(raw, '&'); amp >= 0 {
			pair, raw = raw[:amp], raw[amp+1:]
		} else {
			raw = ""
		}
		// Every signal name starts with g or n; '%' may escape it.
		if pair == "" || pair[0] != 'g' && pair[0] != 'n' && pair[0] != '%' {
			continue
		}
		key, val, _ := strings.Cut(pair, "=")
		i := signalIndex(key)
		if i < 0 && strings.IndexByte(key, '%') >= 0 {
			if k, err := url.QueryUnescape(key); err == nil {
				i = signalIndex(k)
			}
		}
		if i >= 0 && found&(1<<i) == 0 {
			vals[i] = val
			found |= 1 << i
		}
	}
	return vals, found
}

// checkSignals compares the consent signals of a vendor hit with the
// profile's choice and keeps the mismatches for the exchange's record. It
// runs on every decided request that matched a vendor service, blocked or
// not, whatever write_consent says.
func (s *Server) checkSignals(x *Exchange) {
	c := &x.Consent
	if !c.Decision.Matched || x.Request.URL.RawQuery == "" {
		return
	}
	vals, found := signalValues(x.Request.URL.RawQuery)
	if found == 0 {
		return
	}
	sc := c.snap.consent
	pc := sc.profiles[c.Profile]
	if pc == nil {
		return
	}
	c.cmp.mismatches = sc.check(pc, sc.gvl[c.Decision.Vendor], &vals)
}

// check runs Choice.Check on the signal parameters, cached by their exact
// raw values.
func (sc *snapshotConsent) check(pc *profileConsent, gvl int, vals *[len(signalParams)]string) []consent.Mismatch {
	n := 0
	for _, v := range vals {
		n += len(v) + 1
	}
	var key checkKey
	cacheable := n <= maxConsentKeyBytes
	if cacheable {
		var b strings.Builder
		b.Grow(n)
		for _, v := range vals {
			b.WriteString(v)
			b.WriteByte('&') // never inside a raw query value
		}
		key = checkKey{profile: pc, gvl: gvl, params: b.String()}
		if m, ok := sc.checks.Get(key); ok {
			return m
		}
	}
	q := make(url.Values, len(vals))
	for i, v := range vals {
		if v == "" {
			continue
		}
		// A value that does not unescape is one url.ParseQuery would drop.
		if u, err := url.QueryUnescape(v); err == nil {
			q[signalParams[i]] = []string{u}
		}
	}
	m := pc.choice.Check(q, gvl)
	if cacheable {
		sc.checks.Add(key, m)
	}
	return m
}

// msgSignalMismatch is the events logger's message for a mismatch.
const msgSignalMismatch = "consent signal mismatch"

// recordSignals adds one signal_mismatch event per mismatch of the
// exchange, counts it by parameter and logs it (info, sampled).
func (s *Server) recordSignals(x *Exchange, status int) {
	c := &x.Consent
	ms := c.cmp.mismatches
	if len(ms) == 0 {
		return
	}
	blocked := c.Decision.Action.Blocked() || c.failed
	for i := range ms {
		m := &ms[i]
		ev := s.newEvent(x, events.SignalMismatch, status)
		ev.Cookies, ev.CookiesOmitted = []events.Cookie{}, 0
		ev.Reason = events.TruncateSignal("the hit's " + m.Param + " disagrees with profile " + c.Profile.Name +
			": it claims " + m.Claimed + ", the profile implies " + m.Expected)
		ev.Signal = &events.Signal{
			Param:     m.Param,
			Claimed:   events.TruncateSignal(m.Claimed),
			Expected:  events.TruncateSignal(m.Expected),
			Overclaim: m.Overclaim,
			Blocked:   blocked,
		}
		s.ring.Add(ev)
		s.metrics.signals.WithLabelValues(m.Param).Inc()
		if ce := s.evlog.Check(zap.InfoLevel, msgSignalMismatch); ce != nil {
			fields := s.logFields(x, string(events.SignalMismatch), status, nil)
			ce.Write(append(fields, zap.String("param", m.Param), zap.String("claimed", ev.Signal.Claimed),
				zap.String("expected", ev.Signal.Expected), zap.Bool("overclaim", m.Overclaim), zap.Bool("blocked", blocked))...)
		}
	}
}

// newSignalCounter registers consentproxy_signal_mismatches_total. Its
// label is one of the fixed parameter names, so it stays bounded.
func (m *metrics) newSignalCounter() *prometheus.CounterVec {
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "consentproxy_signal_mismatches_total",
		Help: "Consent signals of vendor hits that disagree with the profile (signal_mismatch events), by parameter (gcs, gcd, npa, gdpr, gdpr_consent, gpp, gpp_sid).",
	}, []string{"param"})
	m.reg.MustRegister(cv)
	for _, p := range signalParams {
		cv.WithLabelValues(p)
	}
	return cv
}

// ConsentStateJSON is a profile's consent_state as the admin API shows
// it: the settings with every default applied, and those of each site it
// overrides.
type ConsentStateJSON struct {
	consent.Settings
	// Sites are the per-site settings, by registrable domain (the
	// profile's settings with the site's overrides applied).
	Sites map[string]consent.Settings `json:"sites"`
	// Origin is where the consent_state is written (file:line).
	Origin string `json:"origin"`
	// Written is false when write_consent is off: no consent cookie is
	// written, whatever the profile says; the signal checks still use the
	// profile's choice.
	Written bool `json:"written"`
}

// stateJSON is a profile's consent_state for the admin API, nil when it
// has none.
func (sc *snapshotConsent) stateJSON(p *rules.Profile) *ConsentStateJSON {
	pc := sc.profiles[p]
	spec, ok := p.ConsentState()
	if pc == nil || pc.state == nil || !ok {
		return nil
	}
	settings := func(site string) consent.Settings {
		s := pc.state.Settings(site)
		if s.Formats == nil {
			s.Formats = []consent.Format{}
		}
		return s
	}
	out := &ConsentStateJSON{Settings: settings(""), Sites: map[string]consent.Settings{}, Origin: spec.Origin.String(), Written: sc.write}
	for _, site := range spec.Sites {
		out.Sites[site.Site] = settings(site.Site)
	}
	return out
}

// consentCookieLayer is a rules layer that makes essential every cookie a
// consent_state writes and the rules do not already keep as essential: a
// custom tcf.cookie, gpp.cookie or gpp.sid_cookie (site overrides scoped
// to their site), or a built-in name a rules file filed elsewhere. The
// proxy must never strip the consent records it writes itself, nor those
// of the browser's own choice. nil when every name is essential already
// (the built-in names are, in rules/builtin/cmp.yaml).
func consentCookieLayer(set *rules.Set) *rules.File {
	var f *rules.File
	seen := map[string]bool{}
	for _, p := range set.Profiles() {
		st, ok := consent.NewState(set, p)
		if !ok {
			continue
		}
		spec, _ := p.ConsentState()
		sites := []string{""}
		for _, s := range spec.Sites {
			sites = append(sites, s.Site)
		}
		for _, site := range sites {
			for _, name := range consentCookieNames(st.Settings(site)) {
				key := name + "\x00" + site
				if seen[key] {
					continue
				}
				seen[key] = true
				r := rules.Request{Host: site, Path: "/", Context: rules.FirstParty}
				if v := set.JudgeCookie(p, r, rules.Decision{Action: rules.Allow}, name); v.Known && v.Category == rules.Essential {
					continue
				}
				if f == nil {
					f = &rules.File{Name: "consent_state"}
				}
				cr := rules.CookieRuleSpec{
					Names:    []string{name},
					Category: rules.Essential,
					Source:   "consent_state of profile " + p.Name + " writes this consent record; the proxy never strips it",
					Origin:   spec.Origin,
				}
				if site != "" {
					cr.Domains = []string{site}
				}
				f.Cookies = append(f.Cookies, cr)
			}
		}
	}
	return f
}

// consentCookieNames are the cookie names settings write.
func consentCookieNames(s consent.Settings) []string {
	var out []string
	for _, f := range s.Formats {
		switch f {
		case consent.OneTrust:
			out = append(out, consent.OptanonConsentCookie, consent.OptanonAlertBoxClosedCookie)
		case consent.Cookiebot:
			out = append(out, consent.CookieConsentCookie)
		case consent.TCF:
			out = append(out, s.TCF.Cookie)
		case consent.GPP:
			out = append(out, s.GPP.Cookie, s.GPP.SIDCookie)
		}
	}
	return out
}
