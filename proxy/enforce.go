package proxy

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/consentproxy/consentproxy/rules"
)

// Consent is what enforcement decided for one exchange, for the hooks that
// run after it (Exchange.Consent) and for the exchange's event.
type Consent struct {
	// Decided is false when the exchange was answered before a decision
	// (an unknown profile, a failure); the other fields are then unset.
	Decided bool
	// Profile is the consent profile applied and ProfileSource how it was
	// chosen.
	Profile       *rules.Profile
	ProfileSource ProfileSource
	// Facts are the request facts the decision used: host, path,
	// destination, context.
	Facts rules.Request
	// Decision is the rules' verdict on the request.
	Decision rules.Decision
	// Rules is the rule set that decided: the snapshot current when the
	// request arrived, kept for the whole exchange even if a reload swaps
	// in another.
	Rules *rules.Set

	snap         *snapshot
	reqStripped  []rules.CookieVerdict
	respStripped []rules.CookieVerdict
	failed       bool // failed closed
	recorded     bool // metrics and event done
}

// HeaderProfile is the request header that picks the consent profile of
// one request (or, on a CONNECT, of its tunnel). It never reaches the
// upstream.
const HeaderProfile = "X-Consent-Profile"

// transparentGIF is the smallest well-formed transparent 1x1 GIF (43
// bytes): a blocked pixel still fires <img onload>, so pages waiting for
// it do not break. A string constant, so nothing can change it.
const transparentGIF = "GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x21\xf9\x04\x01\x00\x00\x00\x00" +
	"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00" +
	"\x02\x02\x44\x01\x00\x3b"

// enforceRequest is the request side of enforcement (SPEC §4 steps 1-5):
// resolve the profile, classify, decide, and then block, strip or filter
// cookies and add the profile's signals. A non-nil response answers the
// client without contacting the upstream.
func (s *Server) enforceRequest(x *Exchange) *http.Response {
	req := x.Request
	snap := s.snap.Load()
	c := &x.Consent
	c.snap, c.Rules = snap, snap.set
	// Never forwarded, whatever the listener (goproxy drops it too, but
	// only after the hooks ran).
	req.Header.Del("Proxy-Authorization")

	p, src, refusal := s.resolveProfile(snap, x)
	if refusal != nil {
		return refusal
	}
	c.Profile, c.ProfileSource = p, src
	c.Facts = requestFacts(req)
	d := snap.decider.Decide(p, c.Facts)
	c.Decision, c.Decided = d, true

	if d.Action.Blocked() {
		// Nothing goes upstream; the cookies it carried are judged for the
		// event only.
		if lines := req.Header["Cookie"]; len(lines) > 0 {
			_, c.reqStripped = snap.decider.FilterCookieHeader(p, c.Facts, d, lines)
		}
		return blockResponse(req, d.Action)
	}
	if lines := req.Header["Cookie"]; len(lines) > 0 {
		// A Strip decision removes every cookie; Allow removes the refused
		// ones and keeps the others byte for byte, in order.
		out, stripped := snap.decider.FilterCookieHeader(p, c.Facts, d, lines)
		if len(stripped) > 0 {
			if len(out) == 0 {
				delete(req.Header, "Cookie")
			} else {
				req.Header["Cookie"] = out
			}
			c.reqStripped = stripped
		}
	}
	// Signals are only ever added: W3C GPC forbids intermediaries to remove
	// a browser's own Sec-GPC, and a client's DNT is its own business too.
	if p.GPC {
		req.Header.Set("Sec-GPC", "1")
	}
	if p.DNT {
		req.Header.Set("DNT", "1")
	}
	return nil
}

// enforceResponse is the response side: Set-Cookie fields of refused
// categories are dropped (all of them after a Strip decision). The
// response's body and other headers are not touched.
func (s *Server) enforceResponse(x *Exchange, resp *http.Response) {
	c := &x.Consent
	if !c.Decided || x.Synthetic {
		return
	}
	fields := resp.Header["Set-Cookie"]
	if len(fields) == 0 {
		return
	}
	kept, stripped := c.snap.decider.FilterSetCookie(c.Profile, c.Facts, c.Decision, fields)
	if len(stripped) == 0 {
		return
	}
	if len(kept) == 0 {
		delete(resp.Header, "Set-Cookie")
	} else {
		resp.Header["Set-Cookie"] = kept
	}
	c.respStripped = stripped
}

// resolveProfile picks the request's profile, first match wins (SPEC §4):
// the request's X-Consent-Profile; the profile its connection fixed (a
// tunnel's CONNECT header or credentials, or the listener's own); the
// active default, looked up now, so that a switch applies to the next
// request even on a connection that is already open. It removes
// X-Consent-Profile from the request. An unknown name is answered 400,
// never replaced by another profile: a test that asked for a profile must
// not silently run under a different one.
func (s *Server) resolveProfile(snap *snapshot, x *Exchange) (*rules.Profile, ProfileSource, *http.Response) {
	req := x.Request
	if vals := req.Header.Values(HeaderProfile); len(vals) > 0 {
		req.Header.Del(HeaderProfile)
		name, msg := headerProfileName(vals)
		if msg == "" {
			if p := snap.profile(name); p != nil {
				return p, SourceHeader, nil
			}
			msg = "unknown consent profile " + strconv.Quote(name) + " in " + HeaderProfile
		}
		s.metrics.profileErrors.Inc()
		return nil, 0, profileErrorResponse(req, msg+"; profiles: "+snap.profileNames(), false)
	}
	if ci := x.Conn; ci != nil && ci.Profile != "" {
		if p := snap.profile(ci.Profile); p != nil {
			return p, ci.ProfileSource, nil
		}
		// A reload removed the profile this connection was opened with.
		// Closing makes the client reconnect and choose again (a new
		// CONNECT is checked against the new profiles).
		s.metrics.profileErrors.Inc()
		return nil, 0, profileErrorResponse(req, "consent profile "+strconv.Quote(ci.Profile)+" (chosen by "+
			ci.ProfileSource.String()+" for this connection) no longer exists after a reload; reconnect with one of: "+
			snap.profileNames(), true)
	}
	return s.activeProfile(snap), SourceDefault, nil
}

// headerProfileName reads X-Consent-Profile's values: one name, or the
// same name repeated. The message says what is wrong otherwise.
func headerProfileName(vals []string) (name, msg string) {
	name = strings.TrimSpace(vals[0])
	for _, v := range vals[1:] {
		if strings.TrimSpace(v) != name {
			return "", HeaderProfile + " given more than once with different names"
		}
	}
	if name == "" {
		return "", HeaderProfile + " is empty"
	}
	return name, ""
}

// activeProfile is the active default profile in snap. The name may be
// missing from snap for the instant between a reload's swap of the
// snapshot and of the active name; the snapshot's configured default
// answers then.
func (s *Server) activeProfile(snap *snapshot) *rules.Profile {
	if a := s.active.Load(); a != nil {
		if p := snap.profile(a.name); p != nil {
			return p
		}
	}
	return snap.defaultP
}

// requestFacts computes the facts a decision depends on (ARCHITECTURE.md,
// "The decision").
//
// Context: a top-level navigation is Sec-Fetch-Mode: navigate with
// Sec-Fetch-Dest: document. Otherwise Sec-Fetch-Site decides when present
// (same-origin, same-site and none are first-party). Without fetch
// metadata, an Origin (or else a Referer) on the same registrable domain
// makes the request first-party. Anything else is third-party, including a
// request with no such header at all (curl, apps): the safe default, since
// nothing vouches that the user meant to talk to that site.
//
// A client that sends no fetch metadata, no Referer and Accept: text/html
// (curl fetching a page, an app's web view) is not treated as a
// navigation: it stays third-party, so its cookies are filtered as a
// tracker's would be. Its destination is guessed as document from Accept,
// though, and the rules never block a document: the page loads, with
// refused cookies removed.
func requestFacts(req *http.Request) rules.Request {
	h := req.Header
	r := rules.Request{Host: hostOf(req.URL), Path: req.URL.Path}
	if r.Path == "" {
		r.Path = "/"
	}
	if d := h.Get("Sec-Fetch-Dest"); d != "" {
		r.Dest = rules.ParseDest(d)
	} else {
		r.Dest = guessDest(h.Get("Accept"))
	}
	r.Context = requestContext(h, r.Host, r.Dest)
	return r
}

func requestContext(h http.Header, host string, dest rules.Dest) rules.Context {
	if dest == rules.DestDocument && h.Get("Sec-Fetch-Mode") == "navigate" {
		return rules.TopLevel
	}
	switch h.Get("Sec-Fetch-Site") {
	case "same-origin", "same-site", "none":
		return rules.FirstParty
	case "":
	default: // cross-site, or a value newer than this code: not vouched for
		return rules.ThirdParty
	}
	ref := h.Get("Origin")
	if ref == "" || ref == "null" {
		ref = h.Get("Referer")
	}
	if ref != "" {
		if u, err := url.Parse(ref); err == nil && u.Host != "" && rules.SameSite(u.Hostname(), host) {
			return rules.FirstParty
		}
	}
	return rules.ThirdParty
}

// guessDest reads a destination from Accept when Sec-Fetch-Dest is
// missing. Browsers send image types first for images, text/html first
// for documents; anything unclear stays unknown (the rules then use the
// service's kind).
func guessDest(accept string) rules.Dest {
	a := strings.TrimSpace(accept)
	switch {
	case a == "":
		return rules.DestUnknown
	case strings.HasPrefix(a, "image/"):
		return rules.DestImage
	case strings.HasPrefix(a, "text/html"), strings.HasPrefix(a, "application/xhtml+xml"):
		return rules.DestDocument
	case strings.HasPrefix(a, "text/css"):
		return rules.DestStyle
	case strings.Contains(a, "javascript"), strings.Contains(a, "ecmascript"):
		return rules.DestScript
	}
	return rules.DestUnknown
}

// hostOf is the URL's host, lower-case, without port or trailing dot.
func hostOf(u *url.URL) string {
	h := u.Hostname()
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			h = strings.ToLower(h)
			break
		}
	}
	return strings.TrimSuffix(h, ".")
}

// blockResponse answers a blocked request: the transparent GIF for images
// and pixels, 204 for the rest; never cached, so that a later profile
// switch is not defeated by the browser's cache.
func blockResponse(req *http.Request, a rules.Action) *http.Response {
	h := make(http.Header, 3)
	h.Set("Cache-Control", "no-store")
	allowCORS(req, h)
	resp := &http.Response{
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Request:    req,
	}
	if a == rules.BlockImage {
		resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
		h.Set("Content-Type", "image/gif")
		h.Set("Content-Length", strconv.Itoa(len(transparentGIF)))
		resp.ContentLength = int64(len(transparentGIF))
		resp.Body = readCloser{strings.NewReader(transparentGIF)}
		return resp
	}
	resp.StatusCode, resp.Status = http.StatusNoContent, "204 No Content"
	resp.Body = http.NoBody
	return resp
}

// allowCORS lets a cross-origin fetch() see the block answer as an empty
// success instead of failing with a CORS error in the page's console: a
// blocked tracker must not break the page or look like a proxy fault. It
// echoes the request's Origin (credentialed requests may not use "*") and,
// for a preflight, the method and headers asked for. Nothing is exposed by
// it: the answer is the proxy's own empty body or GIF, never upstream data.
func allowCORS(req *http.Request, h http.Header) {
	origin := req.Header.Get("Origin")
	if origin == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Vary", "Origin")
	if req.Method != http.MethodOptions {
		return
	}
	if m := req.Header.Get("Access-Control-Request-Method"); m != "" {
		h.Set("Access-Control-Allow-Methods", m)
	}
	if hs := req.Header.Get("Access-Control-Request-Headers"); hs != "" {
		h.Set("Access-Control-Allow-Headers", hs)
	}
}

// readCloser is a body over a reader that needs no closing.
type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// profileErrorResponse answers a request that named a profile that does
// not exist. closeConn ends the connection after it (a connection whose
// own profile vanished must be reopened).
func profileErrorResponse(req *http.Request, msg string, closeConn bool) *http.Response {
	resp := errorResponse(req, http.StatusBadRequest, "consentproxy: "+msg+"\n")
	resp.Close = closeConn
	return resp
}
