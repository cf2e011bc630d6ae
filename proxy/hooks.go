package proxy

import (
	"net/http"
	"net/netip"
	"sync"

	"github.com/consentproxy/consentproxy/config"
)

// ConnInfo is what the proxy knows about a client connection, and for a
// CONNECT tunnel about the tunnel. It is created when the connection is
// accepted (and copied with the tunnel fields at CONNECT), then never
// changed: every request of a keep-alive connection and every stream of an
// HTTP/2 tunnel share the same value concurrently.
type ConnInfo struct {
	// Listener is the bound address of the listener that accepted the
	// connection (the real port even when the config said port 0).
	Listener string
	// Client is the client's address.
	Client netip.AddrPort
	// Target is the CONNECT authority (host:port) for a tunnel; "" for a
	// plain HTTP connection.
	Target string
	// Intercepted reports a MITM tunnel (false: blind tunnel or plain HTTP).
	Intercepted bool
	// Profile is the consent profile fixed for this connection, "" when
	// none is: the listener's own profile (recorded at accept), or for a
	// tunnel the profile its CONNECT chose by X-Consent-Profile or proxy
	// credentials. A request's own X-Consent-Profile beats it; without
	// either, the active default applies, looked up per request.
	Profile string
	// ProfileSource says what fixed Profile (SourceDefault when "").
	ProfileSource ProfileSource

	// client is Client as text, formatted once per connection rather
	// than once per event ("" when not formatted yet: clientString).
	client string
}

// clientString is Client as text ("" when unknown).
func (ci *ConnInfo) clientString() string {
	switch {
	case ci.client != "":
		return ci.client
	case ci.Client.IsValid():
		return ci.Client.String()
	}
	return ""
}

// Exchange is one request on its way through the proxy, as hooks see it.
type Exchange struct {
	// Conn is the connection the request arrived on (shared, read-only).
	Conn *ConnInfo
	// Request is the request that will be sent upstream. Its URL is always
	// absolute (scheme and host set), inside tunnels too. Hooks may change
	// its headers.
	Request *http.Request
	// Synthetic is set once the response was made by the proxy (a hook's
	// answer or an upstream error page) instead of coming from the upstream.
	Synthetic bool
	// Consent is what consent enforcement decided for this exchange. The
	// enforcement stage fills it before any RequestHook runs, so hooks can
	// read the profile, the request facts and the decision (see
	// Consent.Decided for exchanges it answered before deciding).
	Consent Consent

	state exchangeState
	once  sync.Once
}

// RequestHook looks at or changes a request before it goes upstream.
// Returning a non-nil response answers the client with it instead: the
// upstream is not contacted, later request hooks are skipped, and the
// response hooks still run.
type RequestHook interface {
	HandleRequest(x *Exchange) *http.Response
}

// ResponseHook looks at or changes a response's status and headers before
// it goes to the client. It is called for every exchange, including
// synthetic responses; resp is never nil. The body streams: a hook must not
// read it whole, nor replace it (goproxy would re-frame a replaced body as
// chunked, and the proxy tracks the original to know when the exchange is
// over).
type ResponseHook interface {
	HandleResponse(x *Exchange, resp *http.Response)
}

// RequestHookFunc adapts a function to RequestHook.
type RequestHookFunc func(x *Exchange) *http.Response

func (f RequestHookFunc) HandleRequest(x *Exchange) *http.Response { return f(x) }

// ResponseHookFunc adapts a function to ResponseHook.
type ResponseHookFunc func(x *Exchange, resp *http.Response)

func (f ResponseHookFunc) HandleResponse(x *Exchange, resp *http.Response) { f(x, resp) }

// Order of work for one exchange (see also exchange.go):
//
//  1. Enforcement, request side (enforce.go): profile resolution,
//     classification, the check of a vendor hit's consent signals
//     (consentstate.go), blocking, cookie filtering, the consent cookies
//     of the profile's consent_state on first-party requests, consent
//     signals. A block or a refused profile answers here, and no
//     RequestHook runs.
//  2. RequestHooks, in option order; the first answer wins.
//  3. The upstream (unless answered).
//  4. Enforcement, response side: Set-Cookie filtering (forwarded
//     responses only), then the consent cookies' Set-Cookie on the HTML
//     page of a first-party top-level navigation.
//  5. ResponseHooks, in option order, for every exchange, synthetic ones
//     included. A hook that adds a Set-Cookie here (e.g. consent-platform
//     cookies) is therefore not filtered.
//  6. The event and metrics of the exchange, once its response is final.
//
// A panic in any stage fails closed: the request is answered 502 and never
// forwarded (or its response replaced by a 502), and the proxy keeps
// running.

// Option configures a Server at New.
type Option func(*options)

type options struct {
	requestHooks  []RequestHook
	responseHooks []ResponseHook
	reload        ReloadFunc
}

// ReloadFunc produces the configuration a reload applies. The command
// passes one that resolves the configuration exactly as at start (file,
// environment, flags); without one, a reload re-reads the rules files of
// the running configuration.
type ReloadFunc func() (config.Config, error)

// WithReload sets how Reload (POST /api/reload, SIGHUP) obtains the new
// configuration.
func WithReload(f ReloadFunc) Option {
	return func(o *options) { o.reload = f }
}

// WithRequestHooks appends request hooks. They run in the order given, and
// after those of earlier options.
func WithRequestHooks(h ...RequestHook) Option {
	return func(o *options) { o.requestHooks = append(o.requestHooks, h...) }
}

// WithResponseHooks appends response hooks. They run in the order given, and
// after those of earlier options.
func WithResponseHooks(h ...ResponseHook) Option {
	return func(o *options) { o.responseHooks = append(o.responseHooks, h...) }
}
