package proxy

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/consentproxy/consentproxy/proxy/events"
	"github.com/consentproxy/consentproxy/rules"
)

// Log messages of the events logger: constant, so that zap's sampler
// counts each kind on its own.
const (
	msgBlocked         = "request blocked"
	msgStripped        = "request stripped"
	msgCookiesStripped = "cookies stripped"
	msgFailClosed      = "request failed closed"
	msgAllowed         = "request allowed"
)

// eventSampling: per message, the first eventSampleFirst entries of each
// second are logged, then one in eventSampleThereafter. A page full of
// blocked trackers must not flood the log; /api/events keeps them all.
const (
	eventSampleFirst      = 100
	eventSampleThereafter = 100
)

func newEventLogger(base *zap.Logger) *zap.Logger {
	return base.Named("events").WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Second, eventSampleFirst, eventSampleThereafter)
	}))
}

// record counts a finished exchange in the metrics and, when enforcement
// blocked, stripped or failed, adds its event to the ring and logs it.
// status is what the client got (0: nothing, the client left). It runs
// once per exchange, after the response hooks.
func (s *Server) record(x *Exchange, status int) {
	c := &x.Consent
	if c.recorded {
		return
	}
	c.recorded = true
	s.recordSignals(x, status)
	elapsed := time.Since(x.state.started).Seconds()
	if !c.Decided && !c.failed {
		// Refused before a decision (unknown profile): counted by
		// profile_errors_total.
		s.latency[len(s.latency)-1].Observe(elapsed)
		return
	}
	d := &c.Decision
	var action events.Action
	if c.failed {
		action = events.FailClosed
		s.latency[len(s.latency)-1].Observe(elapsed)
	} else {
		s.latency[d.Action].Observe(elapsed)
		if cc := c.snap.counters[d.Category]; cc != nil {
			cc.requests[d.Action].Inc()
		} else {
			s.metrics.requests.WithLabelValues(d.Action.String(), string(d.Category)).Inc()
		}
		action = events.ForDecision(d.Action)
	}
	s.countCookies(c.snap, c.reqStripped, 0, events.Request)
	s.countCookies(c.snap, c.respStripped, 1, events.Response)
	if action == "" && len(c.reqStripped)+len(c.respStripped) > 0 {
		action = events.CookiesStripped
	}
	if action == "" {
		if ce := s.evlog.Check(zap.DebugLevel, msgAllowed); ce != nil {
			ce.Write(s.logFields(x, "allow", status, nil)...)
		}
		return
	}
	ev := s.newEvent(x, action, status)
	s.ring.Add(ev)
	msg := msgCookiesStripped
	switch action {
	case events.BlockImage, events.BlockEmpty:
		msg = msgBlocked
	case events.Strip:
		msg = msgStripped
	case events.FailClosed:
		msg = msgFailClosed
	}
	level := zap.InfoLevel
	if action == events.FailClosed {
		level = zap.ErrorLevel
	}
	if ce := s.evlog.Check(level, msg); ce != nil {
		ce.Write(s.logFields(x, string(action), status, ev.Cookies)...)
	}
}

// countCookies adds stripped cookies to cookies_stripped_total; dir is
// the index into cookieCounters.
func (s *Server) countCookies(snap *snapshot, vs []rules.CookieVerdict, dir int, d events.Direction) {
	for i := range vs {
		cat := vs[i].Category
		if cc := snap.counters[cat]; cc != nil {
			cc.cookies[dir].Inc()
			continue
		}
		s.metrics.cookies.WithLabelValues(string(d), string(cat)).Inc()
	}
}

// newEvent builds the event of an exchange: names and the decoded path,
// never a value or a query string.
func (s *Server) newEvent(x *Exchange, action events.Action, status int) events.Event {
	c := &x.Consent
	req := x.Request
	// The ring keeps events long after their request: no string of the
	// event may share memory with the request, or the ring would keep
	// every Cookie header (values included) and URL (query included)
	// alive with it. Host and cookie names repeat, so they are interned
	// (no allocation once seen); the path is copied.
	ev := events.Event{
		Time:   time.Now().UTC(),
		Method: req.Method,
		Scheme: req.URL.Scheme,
		Host:   unique.Make(hostOf(req.URL)).Value(),
		Path:   strings.Clone(events.TruncatePath(req.URL.Path)),
		Action: action,
		Status: status,
	}
	if x.Conn != nil {
		ev.Client = x.Conn.clientString()
		ev.Listener = x.Conn.Listener
	}
	if c.Decided {
		d := &c.Decision
		ev.Profile, ev.ProfileSource = c.Profile.Name, c.ProfileSource.String()
		ev.Dest, ev.Context = c.Facts.Dest.String(), c.Facts.Context.String()
		ev.Category, ev.Vendor, ev.Service, ev.Reason = string(d.Category), d.Vendor, d.Service, d.Reason
		if d.Matched {
			ev.Origin = c.snap.originText(d.Origin)
		}
	}
	if c.failed {
		ev.Reason = "enforcement failed: the request was answered 502 and not forwarded (see the proxy log)"
	}
	ev.Cookies, ev.CookiesOmitted = c.snap.eventCookies(c.reqStripped, c.respStripped)
	return ev
}

// logFields are the fields of an event's log entry. cookies is nil for an
// allowed exchange (nothing was stripped).
func (s *Server) logFields(x *Exchange, action string, status int, cookies []events.Cookie) []zap.Field {
	c := &x.Consent
	req := x.Request
	fields := make([]zap.Field, 0, 14)
	if x.Conn != nil {
		fields = append(fields, zap.Stringer("client", x.Conn.Client), zap.String("listener", x.Conn.Listener))
	}
	if c.Profile != nil {
		fields = append(fields, zap.String("profile", c.Profile.Name), zap.Stringer("profile_source", c.ProfileSource))
	}
	fields = append(fields,
		zap.String("method", req.Method),
		zap.String("host", hostOf(req.URL)),
		zap.String("path", events.TruncatePath(req.URL.Path)),
		zap.String("action", action),
		zap.Int("status", status))
	if c.Decided && c.Decision.Matched {
		d := &c.Decision
		fields = append(fields, zap.String("category", string(d.Category)), zap.String("vendor", d.Vendor),
			zap.String("service", d.Service), zap.Stringer("rule", d.Origin))
	}
	if len(cookies) > 0 {
		fields = append(fields, zap.Array("cookies", cookieList(cookies)))
	}
	return fields
}

// cookieList logs stripped cookies as {name, direction, category}: the
// encoding happens only if the entry is written.
type cookieList []events.Cookie

func (l cookieList) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for i := range l {
		c := &l[i]
		_ = enc.AppendObject(zapcore.ObjectMarshalerFunc(func(o zapcore.ObjectEncoder) error {
			o.AddString("name", c.Name)
			o.AddString("direction", string(c.Direction))
			o.AddString("category", c.Category)
			return nil
		}))
	}
	return nil
}

// cookieLists memoises the cookie lists of events. A page sends the same
// cookies and gets the same verdicts over and over, so most events list
// the same stripped cookies; they share one immutable slice (events may,
// see events.Event). That halves what a full ring holds (about 500 of its
// 850 bytes per event were the list) and saves an allocation per event.
// Reads load an immutable map; a miss copies it with the new list, up to
// maxCookieLists lists, after which new lists are built per event.
type cookieLists struct {
	seed maphash.Seed // set by buildSnapshot; zero: no memo
	m    atomic.Pointer[map[uint64][]events.Cookie]
	mu   sync.Mutex // serialises the copies on a miss
}

const maxCookieLists = 1024

// eventCookies is an event's list of stripped cookies, request pairs
// first, at most events.MaxCookies of them (omitted counts the rest).
func (snap *snapshot) eventCookies(req, resp []rules.CookieVerdict) (list []events.Cookie, omitted int) {
	n := len(req) + len(resp)
	if n == 0 {
		return []events.Cookie{}, 0
	}
	if n > events.MaxCookies {
		omitted, n = n-events.MaxCookies, events.MaxCookies
	}
	if snap == nil || snap.lists.seed == (maphash.Seed{}) {
		return buildCookieList(snap, req, resp, n), omitted
	}
	t := &snap.lists
	var h maphash.Hash
	h.SetSeed(t.seed)
	for i := range n {
		v, dir := verdictAt(req, resp, i)
		_, _ = h.WriteString(v.Name)
		_, _ = h.WriteString(string(dir))
		_, _ = h.WriteString(string(v.Category))
		_, _ = h.WriteString(v.Origin.File)
		_ = h.WriteByte(byte(v.Origin.Line))
		_ = h.WriteByte(byte(v.Origin.Line >> 8))
	}
	key := h.Sum64()
	if m := t.m.Load(); m != nil {
		if l, ok := (*m)[key]; ok && len(l) == n && snap.sameCookies(l, req, resp) {
			return l, omitted
		}
	}
	l := buildCookieList(snap, req, resp, n)
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.m.Load()
	if m == nil || len(*m) < maxCookieLists {
		next := make(map[uint64][]events.Cookie, mapSize(m)+1)
		if m != nil {
			for k, v := range *m {
				next[k] = v
			}
		}
		if _, taken := next[key]; !taken { // a collision keeps the first list
			next[key] = l
			t.m.Store(&next)
		}
	}
	return l, omitted
}

func mapSize(m *map[uint64][]events.Cookie) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// verdictAt is the i-th stripped cookie of an exchange, request pairs
// first.
func verdictAt(req, resp []rules.CookieVerdict, i int) (*rules.CookieVerdict, events.Direction) {
	if i < len(req) {
		return &req[i], events.Request
	}
	return &resp[i-len(req)], events.Response
}

func buildCookieList(snap *snapshot, req, resp []rules.CookieVerdict, n int) []events.Cookie {
	l := make([]events.Cookie, n)
	for i := range l {
		v, dir := verdictAt(req, resp, i)
		l[i] = events.Cookie{
			Name:      unique.Make(events.TruncateName(v.Name)).Value(),
			Direction: dir,
			Category:  string(v.Category),
			Vendor:    v.Vendor,
			Origin:    snap.originText(v.Origin),
			Reason:    v.Reason,
		}
	}
	return l
}

// sameCookies reports whether l is what buildCookieList would build from
// the first len(l) verdicts.
func (snap *snapshot) sameCookies(l []events.Cookie, req, resp []rules.CookieVerdict) bool {
	for i := range l {
		v, dir := verdictAt(req, resp, i)
		c := &l[i]
		if c.Name != events.TruncateName(v.Name) || c.Direction != dir || c.Category != string(v.Category) ||
			c.Vendor != v.Vendor || c.Reason != v.Reason || c.Origin != snap.originText(v.Origin) {
			return false
		}
	}
	return true
}
