// Package admin is consentproxy's admin HTTP API: a router with the
// guards every endpoint shares (no cross-origin browser requests, no DNS
// rebinding, JSON bodies on every write, an optional bearer token) and the endpoints that need nothing
// but the CA: /healthz, /ca.pem, /ca.der. The proxy registers its own
// endpoints (profiles, events, metrics, reload) on the same Router.
package admin

import (
	"crypto/subtle"
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"

	"go.uber.org/zap"
)

// CA is what the admin API serves of the certificate authority: the
// certificate only, never the key.
type CA interface {
	CertPEM() []byte
	CertDER() []byte
}

// Options configure a Router.
type Options struct {
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every endpoint registered with Handle (not HandlePublic).
	Token string
	// Pprof serves net/http/pprof under /debug/pprof/ (token-protected).
	Pprof bool
}

// Router is the admin API's handler. Register endpoints before serving.
type Router struct {
	mux   *http.ServeMux
	token string
	log   *zap.Logger
}

// New returns a Router serving /healthz, /ca.pem and /ca.der (public:
// health checks and users fetching the CA to trust it have no token), and
// /debug/pprof/ when asked.
func New(ca CA, opts Options, log *zap.Logger) *Router {
	r := &Router{mux: http.NewServeMux(), token: opts.Token, log: log}
	r.HandlePublic("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	r.HandlePublic("GET /ca.pem", certHandler(ca.CertPEM(), "application/x-pem-file", "consentproxy-ca.pem"))
	r.HandlePublic("GET /ca.der", certHandler(ca.CertDER(), "application/x-x509-ca-cert", "consentproxy-ca.der"))
	if opts.Pprof {
		r.Handle("GET /debug/pprof/", http.HandlerFunc(pprof.Index))
		r.Handle("GET /debug/pprof/cmdline", http.HandlerFunc(pprof.Cmdline))
		r.Handle("GET /debug/pprof/profile", http.HandlerFunc(pprof.Profile))
		r.Handle("GET /debug/pprof/symbol", http.HandlerFunc(pprof.Symbol))
		r.Handle("GET /debug/pprof/trace", http.HandlerFunc(pprof.Trace))
	}
	return r
}

func certHandler(body []byte, contentType, filename string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
	})
}

// Handle registers h for pattern (net/http.ServeMux syntax, e.g.
// "PUT /api/profile"); it requires the admin token when one is configured,
// then (for writes) a Content-Type of application/json.
func (r *Router) Handle(pattern string, h http.Handler) {
	r.mux.Handle(pattern, r.requireToken(r.requireJSON(h)))
}

// HandlePublic registers h for pattern without the token requirement. Use
// it only for endpoints that reveal and change nothing.
func (r *Router) HandlePublic(pattern string, h http.Handler) {
	r.mux.Handle(pattern, r.requireJSON(h))
}

// ServeHTTP refuses what a web page could send before routing: a page the
// user visits must not be able to read the API or switch the profile, by
// cross-origin requests or by DNS rebinding a name of its own to loopback.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if msg := crossOrigin(req); msg != "" {
		r.log.Warn("admin request refused", zap.String("reason", msg),
			zap.String("method", req.Method), zap.String("path", req.URL.Path))
		WriteError(w, http.StatusForbidden, msg)
		return
	}
	h, pattern := r.mux.Handler(req)
	if pattern == "" {
		// No route: the mux would answer 404 or 405 (with Allow) in plain
		// text; keep its status and headers, answer in JSON like the rest.
		probe := &statusProbe{header: http.Header{}}
		h.ServeHTTP(probe, req)
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		msg := "no such admin endpoint: " + req.URL.Path
		if probe.status == http.StatusMethodNotAllowed {
			msg = req.Method + " not allowed on " + req.URL.Path
		}
		WriteError(w, probe.status, msg)
		return
	}
	r.mux.ServeHTTP(w, req)
}

// requireJSON refuses writes whose body is not declared as JSON (415).
func (r *Router) requireJSON(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if msg := notJSON(req); msg != "" {
			r.log.Warn("admin request refused", zap.String("reason", msg),
				zap.String("method", req.Method), zap.String("path", req.URL.Path))
			WriteError(w, http.StatusUnsupportedMediaType, msg)
			return
		}
		h.ServeHTTP(w, req)
	})
}

// notJSON returns why a write request is refused for its content type, or
// "". Every write must declare Content-Type: application/json: an HTML form
// or a "simple" cross-origin fetch can only send text/plain, urlencoded or
// multipart bodies without a CORS preflight, and this API never answers a
// preflight, so a page cannot get a write through even where the Origin
// check cannot see it (a browser that omits Origin).
func notJSON(req *http.Request) string {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return ""
	}
	ct := req.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return ""
	}
	if ct == "" {
		ct = "none"
	}
	return req.Method + " " + req.URL.Path + " needs Content-Type: application/json (got " + ct + ")"
}

// statusProbe records the status a handler chose and discards its body.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
func (p *statusProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}

// crossOrigin returns why req looks like it came from a web page of
// another origin, or "".
func crossOrigin(req *http.Request) string {
	host := req.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if !strings.EqualFold(host, "localhost") && net.ParseIP(host) == nil {
		return "admin API answers only to an IP address or localhost in Host (DNS rebinding guard), got " + req.Host
	}
	switch req.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return "cross-origin browser requests are refused"
	}
	if origin := req.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, req.Host) {
			return "cross-origin browser requests are refused"
		}
	}
	return ""
}

func (r *Router) requireToken(h http.Handler) http.Handler {
	if r.token == "" {
		return h
	}
	want := []byte("Bearer " + r.token)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got := []byte(req.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="consentproxy admin"`)
			WriteError(w, http.StatusUnauthorized, "admin token required: send Authorization: Bearer <admin_token>")
			return
		}
		h.ServeHTTP(w, req)
	})
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// WriteError writes {"error": msg} with status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}
