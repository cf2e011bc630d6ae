// Package proxy is consentproxy's forward proxy: plain HTTP forwarding and
// CONNECT, with TLS interception (MITM) on the intercepted ports using the
// installation's own CA, blind tunnels everywhere else, an upstream
// transport with bounded timeouts, upstream failures answered as 502/504
// pages (inside tunnels too), and the admin listener. It is the only
// package that imports goproxy.
//
// Consent enforcement is built in (enforce.go): every exchange, plain or
// tunnelled, HTTP/1 or HTTP/2, gets a profile (auth.go, enforce.go), a
// decision from the rules snapshot (snapshot.go), blocking or cookie
// filtering, and an event and metrics (record.go, metrics.go); the admin
// API exposes profiles, events, reload and metrics (api.go, reload.go).
// The consent state (consentstate.go) puts the profile's consent-platform
// cookies into first-party requests and the Set-Cookie of HTML
// navigations (write_consent), and checks the consent signals of vendor
// hits, each disagreement a signal_mismatch event; rules/consent encodes,
// decodes and compares them.
// Further behaviour plugs in through RequestHook and ResponseHook (see
// hooks.go for the order): they run after enforcement and read its
// verdict in Exchange.Consent.
package proxy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/consentproxy/consentproxy/certs"
	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/proxy/admin"
	"github.com/consentproxy/consentproxy/proxy/events"
	"github.com/consentproxy/consentproxy/rules"
)

// adminMaxConns caps concurrent admin connections: the admin API serves a
// person and a few scripts, never a crowd.
const adminMaxConns = 64

// drainPoll is how often Shutdown looks for tunnels that became idle.
const drainPoll = 25 * time.Millisecond

// Server is the proxy, its extra listeners and its admin listener.
type Server struct {
	cfg    config.Config // as started: addresses, CA and limits stay until a restart
	log    *zap.Logger
	evlog  *zap.Logger // events: sampled
	leaves *certs.Cache
	// ticketKeys encrypt the TLS session tickets of intercepted tunnels.
	// Every CONNECT builds its own tls.Config, which would otherwise draw
	// fresh random keys and make every ticket it issues unreadable to the
	// next connection: clients could never resume, and each reconnect
	// would pay a full handshake. They live in memory only, for the
	// process's lifetime (the CA key next to them is the bigger secret).
	ticketKeys  [][32]byte
	gp          *goproxy.ProxyHttpServer
	tr          *http.Transport
	dialer      *dialer
	up          *upstream
	intercept   map[string]bool // CONNECT ports intercepted, as strings
	passthrough []config.HostPattern
	reqHooks    []RequestHook
	respHooks   []ResponseHook
	admin       *admin.Router // nil when the admin API is off
	mitm        *goproxy.ConnectAction
	blind       *goproxy.ConnectAction
	draining    atomic.Bool

	// snap is the current rules snapshot (see snapshot.go); active is the
	// active default profile, switchable without a reload.
	snap    atomic.Pointer[snapshot]
	active  atomic.Pointer[activeChoice]
	reload  ReloadFunc
	writeMu sync.Mutex // serialises reloads and profile switches
	ring    *events.Ring
	metrics *metrics
	// clientErrors counts requests refused before parsing (tunnel.go).
	clientErrors *prometheus.CounterVec
	// latency observers by rules.Action, then one for exchanges that
	// failed or were refused before a decision.
	latency [5]prometheus.Observer

	mu       sync.Mutex
	started  bool
	stopped  bool
	servers  []*listenerServer // [0] the main proxy listener, then cfg.Listeners
	adminLn  *trackedListener
	adminSrv *http.Server
	serving  sync.WaitGroup
	errc     chan error
}

// listenerServer is one proxy listener and its HTTP server.
type listenerServer struct {
	ln  *trackedListener
	srv *http.Server
}

// activeChoice is the active default profile and how it came to be.
type activeChoice struct {
	name string
	// byAPI: chosen at run time (PUT /api/profile), as opposed to the
	// configuration's `profile`. A reload keeps a runtime choice while the
	// profile exists.
	byAPI bool
	since time.Time
}

// New builds a Server from a configuration (validated here), the CA that
// signs intercepted hosts' leaves, and a logger. It compiles the rules
// (built-in, cfg.Rules, the config's profiles) and checks that every
// profile the configuration names exists; errors cite file:line. Nothing
// listens until Start.
func New(cfg config.Config, ca *certs.Authority, logger *zap.Logger, opts ...Option) (*Server, error) {
	if ca == nil {
		return nil, errors.New("proxy: no certificate authority: load one with certs.LoadOrCreate")
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("proxy: invalid configuration:\n%w", err)
	}
	resolve, err := cfg.ResolveRules()
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	passthrough, err := cfg.PassthroughPatterns()
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	roots, err := upstreamRoots(cfg.UpstreamCA)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}

	var ticketKey [32]byte
	if _, err := rand.Read(ticketKey[:]); err != nil {
		return nil, fmt.Errorf("proxy: session ticket key: %w", err)
	}
	plog := logger.Named("proxy")
	s := &Server{
		ticketKeys:  [][32]byte{ticketKey},
		cfg:         cfg,
		log:         plog,
		evlog:       newEventLogger(logger),
		leaves:      certs.NewCache(ca, cfg.Limits.CertCacheSize),
		dialer:      newDialer(cfg.Limits.DialTimeout, resolve),
		intercept:   make(map[string]bool, len(cfg.InterceptPorts)),
		passthrough: passthrough,
		reqHooks:    o.requestHooks,
		respHooks:   o.responseHooks,
		reload:      o.reload,
		ring:        events.NewRing(cfg.Limits.EventRingSize),
		metrics:     newMetrics(),
		errc:        make(chan error, 2+len(cfg.Listeners)),
	}
	snap, err := buildSnapshot(cfg, cfg.Listeners, nil, s.metrics)
	if err != nil {
		return nil, fmt.Errorf("proxy: rules and profiles:\n%w", err)
	}
	for _, w := range snap.warnings {
		plog.Warn("configuration", zap.String("warning", w))
	}
	s.snap.Store(snap)
	s.active.Store(&activeChoice{name: cfg.Profile, since: time.Now()})
	for _, a := range rules.Actions() {
		s.latency[a] = s.metrics.latency.WithLabelValues(a.String())
	}
	s.latency[len(s.latency)-1] = s.metrics.latency.WithLabelValues(actionFailed)
	s.metrics.cacheFuncs(s.decisionCacheStats, s.leaves.Stats)
	s.metrics.eventsFunc(s.ring.Total)
	s.clientErrors = newClientErrorCounter(s.metrics.reg)

	for _, p := range cfg.InterceptPorts {
		s.intercept[strconv.Itoa(p)] = true
	}
	s.tr = newTransport(cfg, s.dialer, roots)
	s.up = &upstream{tr: s.tr, log: plog, s: s, lim: timeouts{
		dial:           cfg.Limits.DialTimeout,
		handshake:      cfg.Limits.HandshakeTimeout,
		responseHeader: cfg.Limits.ResponseHeaderTimeout,
	}}
	s.mitm = &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: s.clientTLS}
	s.blind = &goproxy.ConnectAction{Action: goproxy.ConnectAccept}
	s.gp = s.newGoproxy()
	if cfg.Admin != config.AdminOff {
		s.admin = admin.New(ca, admin.Options{Token: cfg.AdminToken, Pprof: cfg.Pprof}, plog.Named("admin"))
		s.registerAPI(s.admin)
	}
	return s, nil
}

// newGoproxy configures goproxy without any of its defaults that matter:
// not its CA, not its environment-reading dialer and transport, not its
// stderr logger.
func (s *Server) newGoproxy() *goproxy.ProxyHttpServer {
	gp := goproxy.NewProxyHttpServer()
	gp.Tr = s.tr
	gp.ConnectDial = nil
	gp.ConnectDialWithReq = func(req *http.Request, network, addr string) (net.Conn, error) {
		return s.dialer.DialContext(req.Context(), network, addr)
	}
	gp.Logger = goproxyLogger{log: s.log.Named("goproxy")}
	gp.Verbose = false
	gp.KeepHeader = false // strip Proxy-Authorization and other hop headers
	gp.KeepAcceptEncoding = true
	gp.AllowHTTP2 = true
	gp.ConnectionErrHandler = s.connectFailed
	gp.NonproxyHandler = http.HandlerFunc(s.notAProxyRequest)
	gp.OnRequest().HandleConnectFunc(s.handleConnect)
	gp.OnRequest().DoFunc(s.handleRequest)
	gp.OnResponse().DoFunc(s.handleResponse)
	return gp
}

// Admin returns the admin router (nil when the admin API is off), for
// registering more endpoints before Start.
func (s *Server) Admin() *admin.Router { return s.admin }

// CertCache returns the leaf certificate cache (for its statistics).
func (s *Server) CertCache() *certs.Cache { return s.leaves }

// Start binds the proxy listeners (listen, then each of listeners) and
// the admin listener, and serves them in the background. It returns once
// all are bound, or with the first bind error (nothing stays bound then).
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("proxy: Start called twice")
	}
	lim := s.cfg.Limits
	type bind struct {
		key, addr string
	}
	binds := []bind{{"listen", s.cfg.Listen}}
	for i, l := range s.cfg.Listeners {
		binds = append(binds, bind{fmt.Sprintf("listeners[%d].listen", i), l.Listen})
	}
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}
	for _, b := range binds {
		ln, err := net.Listen("tcp", b.addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("proxy: listen (%s: %s): %w", b.key, b.addr, err)
		}
		lns = append(lns, ln)
	}
	var aln net.Listener
	if s.admin != nil {
		var err error
		if aln, err = net.Listen("tcp", s.cfg.Admin); err != nil {
			closeAll()
			return fmt.Errorf("proxy: admin listener (admin: %s; \"off\" disables it): %w", s.cfg.Admin, err)
		}
	}
	s.started = true

	var own []netip.AddrPort
	for _, ln := range lns {
		own = append(own, addrPort(ln.Addr()))
	}
	if aln != nil {
		own = append(own, addrPort(aln.Addr()))
	}
	s.dialer.setOwn(own)

	addrs := make([]string, 0, len(lns))
	for i, ln := range lns {
		tl := newTrackedListener(ln, ln.Addr().String(), lim.MaxConnections, lim.IdleTimeout)
		tl.onAccept = s.listenerProfile(i)
		tl.maxLine, tl.maxBlock = lim.MaxRequestLine, lim.MaxHeaderBytes
		tl.onRefuse = func(v *violation, ci *ConnInfo) { s.clientRefused(v, ci, "") }
		srv := &http.Server{
			Handler:           s.gate(i, s.gp),
			ReadHeaderTimeout: lim.ReadHeaderTimeout,
			IdleTimeout:       lim.IdleTimeout,
			MaxHeaderBytes:    lim.MaxHeaderBytes,
			ConnContext:       withConn,
			ErrorLog:          log.New(stdlibLogWriter{s.log.Named("http")}, "", 0),
		}
		s.servers = append(s.servers, &listenerServer{ln: tl, srv: srv})
		s.serve(srv, tl, "proxy")
		addrs = append(addrs, ln.Addr().String())
	}

	fields := []zap.Field{
		zap.String("listen", addrs[0]),
		zap.Strings("listeners", addrs[1:]),
		zap.Ints("intercept_ports", s.cfg.InterceptPorts),
		zap.Strings("passthrough", s.cfg.Passthrough),
		zap.Strings("resolve", s.cfg.Resolve),
		zap.String("profile", s.cfg.Profile),
	}
	if aln != nil {
		s.adminLn = newTrackedListener(aln, aln.Addr().String(), adminMaxConns, lim.IdleTimeout)
		s.adminSrv = &http.Server{
			Handler:           s.admin,
			ReadHeaderTimeout: lim.ReadHeaderTimeout,
			IdleTimeout:       lim.IdleTimeout,
			MaxHeaderBytes:    lim.MaxHeaderBytes,
			ErrorLog:          log.New(stdlibLogWriter{s.log.Named("admin.http")}, "", 0),
		}
		s.serve(s.adminSrv, s.adminLn, "admin")
		fields = append(fields, zap.Stringer("admin", aln.Addr()))
	}
	s.log.Info("proxy listening", fields...)
	if s.cfg.InsecureUpstream {
		s.log.Warn("UPSTREAM CERTIFICATES ARE NOT VERIFIED (insecure_upstream): any server can impersonate any site to clients of this proxy; use --upstream-ca FILE instead")
	}
	return nil
}

// listenerProfile records, in the ConnInfo of each connection listener
// index accepts, the listener's own profile as the current snapshot has
// it: a reload changes it for new connections only.
func (s *Server) listenerProfile(index int) func(*ConnInfo) {
	return func(ci *ConnInfo) {
		if p := s.snap.Load().listeners[index].profile; p != "" {
			ci.Profile, ci.ProfileSource = p, SourceListener
		}
	}
}

func (s *Server) serve(srv *http.Server, ln net.Listener, what string) {
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errc <- fmt.Errorf("proxy: %s listener %s: %w", what, ln.Addr(), err)
		}
	}()
}

func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// Addr is the main proxy listener's bound address (nil before Start).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.servers) == 0 {
		return nil
	}
	return s.servers[0].ln.Addr()
}

// ListenerAddrs are the bound addresses of the proxy listeners: the main
// one, then those of cfg.Listeners in order (nil before Start).
func (s *Server) ListenerAddrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.servers))
	for i, ls := range s.servers {
		out[i] = ls.ln.Addr()
	}
	return out
}

// AdminAddr is the admin listener's bound address (nil before Start or
// when the admin API is off).
func (s *Server) AdminAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// Err delivers a listener's failure while serving (not a Shutdown).
func (s *Server) Err() <-chan error { return s.errc }

// Run starts the server, serves until ctx ends or a listener fails, then
// shuts down within limits.shutdown_timeout.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	var failed error
	select {
	case <-ctx.Done():
	case failed = <-s.errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Limits.ShutdownTimeout)
	defer cancel()
	return errors.Join(failed, s.Shutdown(sctx))
}

// Shutdown stops accepting connections, lets requests in flight finish
// (plain HTTP, and requests inside intercepted tunnels), closes idle
// connections and tunnels as they become idle, and closes whatever is left
// when ctx ends. Blind tunnels are opaque and closed at once. It returns
// ctx's error if it had to cut connections.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.started || s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()
	s.draining.Store(true)
	s.log.Info("proxy shutting down")

	var wg sync.WaitGroup
	errs := make([]error, len(s.servers)+1)
	for i, ls := range s.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = drain(ctx, ls.srv, ls.ln)
		}()
	}
	if s.adminSrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[len(s.servers)] = drain(ctx, s.adminSrv, s.adminLn)
		}()
	}
	wg.Wait()
	s.tr.CloseIdleConnections()

	done := make(chan struct{})
	go func() {
		s.serving.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	err := errors.Join(errs...)
	if err != nil {
		s.log.Warn("proxy shut down with connections cut", zap.Error(err))
	} else {
		s.log.Info("proxy shut down")
	}
	return err
}

// drain shuts srv down and closes the hijacked connections net/http no
// longer knows: each as soon as no request is in flight on it, all of them
// when ctx ends.
func drain(ctx context.Context, srv *http.Server, ln *trackedListener) error {
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	var shutErr error
	shutDone := false
	for {
		ln.closeIdle("proxy shutting down", shutDone)
		if shutDone && ln.open() == 0 {
			return shutErr
		}
		select {
		case shutErr = <-shut:
			shutDone = true
			if shutErr != nil {
				ln.closeAll("shutdown timeout (limits.shutdown_timeout)")
				return shutErr
			}
		case <-tick.C:
		case <-ctx.Done():
			ln.closeAll("shutdown timeout (limits.shutdown_timeout)")
			if !shutDone {
				<-shut
			}
			return ctx.Err()
		}
	}
}

// notAProxyRequest answers requests sent to the proxy as if it were the
// origin server (origin-form, "GET /"): a misconfigured client, or someone
// looking for the admin API on the wrong port.
func (s *Server) notAProxyRequest(w http.ResponseWriter, _ *http.Request) {
	msg := "consentproxy: this is a forward proxy; configure it as your HTTP and HTTPS proxy"
	if s.admin != nil {
		msg += " (the admin API listens on " + s.cfg.Admin + ")"
	}
	http.Error(w, msg, http.StatusBadRequest)
}
