package proxy

import (
	"strings"
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
	n := len(c.reqStripped) + len(c.respStripped)
	ev.Cookies = make([]events.Cookie, 0, min(n, events.MaxCookies))
	add := func(vs []rules.CookieVerdict, dir events.Direction) {
		for i := range vs {
			if len(ev.Cookies) == events.MaxCookies {
				ev.CookiesOmitted++
				continue
			}
			v := &vs[i]
			ev.Cookies = append(ev.Cookies, events.Cookie{
				Name:      unique.Make(events.TruncateName(v.Name)).Value(),
				Direction: dir,
				Category:  string(v.Category),
				Vendor:    v.Vendor,
				Origin:    c.snap.originText(v.Origin),
				Reason:    v.Reason,
			})
		}
	}
	add(c.reqStripped, events.Request)
	add(c.respStripped, events.Response)
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
