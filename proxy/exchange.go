package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/elazarl/goproxy"
	"go.uber.org/zap"
)

// How per-connection and per-request state travel through goproxy:
//
//   - At CONNECT, handleConnect sets the CONNECT context's UserData to a
//     *tunnel (the tunnel's ConnInfo and its client connection). goproxy
//     copies UserData into the context of every request read from the tunnel
//     (HTTP/1 keep-alive loop and each HTTP/2 stream alike), so the tunnel
//     value is shared and must never change.
//   - Each request gets its own goproxy context. handleRequest replaces
//     that context's UserData by a fresh *Exchange pointing at the shared
//     ConnInfo; the RoundTripper and handleResponse find it there.
//
// The order of work for one exchange is fixed: request hooks (in option
// order; the first answer wins), then the upstream (or the answer), then
// response hooks (in option order), then the response streams to the
// client.

// tunnel is the UserData of a CONNECT context.
type tunnel struct {
	info *ConnInfo
	conn *clientConn // nil only if the listener is not ours (tests of goproxy alone)
}

// exchangeState is the Exchange's bookkeeping the hooks do not see.
type exchangeState struct {
	conn    *clientConn
	tunnel  bool
	started time.Time
}

// connOf returns the client connection behind a goproxy context.
func connOf(ctx *goproxy.ProxyCtx) *clientConn {
	switch ud := ctx.UserData.(type) {
	case *Exchange:
		return ud.state.conn
	case *tunnel:
		return ud.conn
	}
	if ctx.Req != nil {
		return clientConnFrom(ctx.Req.Context())
	}
	return nil
}

func (s *Server) handleConnect(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	cc := clientConnFrom(ctx.Req.Context())
	info := &ConnInfo{Target: host}
	if cc != nil {
		info.Listener, info.Client, info.client = cc.info.Listener, cc.info.Client, cc.info.client
		info.Profile, info.ProfileSource = cc.info.Profile, cc.info.ProfileSource
		cc.hijacked.Store(true) // goproxy hijacks it for every action we return
	}
	if ch, ok := choiceFrom(ctx.Req.Context()); ok {
		// The gate checked the CONNECT's credentials or X-Consent-Profile:
		// the choice holds for every request of the tunnel.
		info.Profile, info.ProfileSource = ch.name, ch.source
	}
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = host, ""
	}
	info.Intercepted = s.intercept[port] && !s.isPassthrough(name)
	ctx.UserData = &tunnel{info: info, conn: cc}
	ctx.RoundTripper = s.up
	if ce := s.log.Check(zap.DebugLevel, "connect"); ce != nil {
		ce.Write(zap.String("target", host), zap.Bool("intercepted", info.Intercepted),
			zap.Stringer("client", info.Client))
	}
	if info.Intercepted {
		return s.mitm, host
	}
	return s.blind, host
}

func (s *Server) isPassthrough(host string) bool {
	for _, p := range s.passthrough {
		if p.Matches(host) {
			return true
		}
	}
	return false
}

// mintError marks a failure to issue the leaf for an intercepted host.
type mintError struct{ err error }

func (e *mintError) Error() string { return "cannot issue a certificate: " + e.err.Error() }
func (e *mintError) Unwrap() error { return e.err }

// clientTLS is the TLS server configuration for an intercepted tunnel: the
// leaf for the CONNECT host (an IP host gets an IP SAN), from the cache.
// It also starts the handshake bound, since goproxy runs the handshake
// without a deadline.
func (s *Server) clientTLS(host string, ctx *goproxy.ProxyCtx) (*tls.Config, error) {
	name, _, err := net.SplitHostPort(host)
	if err != nil {
		name = host
	}
	leaf, err := s.leaves.Get(name)
	if err != nil {
		return nil, &mintError{err: err}
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return leaf, nil },
	}
	if cc := connOf(ctx); cc != nil {
		done := cc.startHandshake(s.cfg.Limits.HandshakeTimeout)
		// VerifyConnection runs on the server side of every handshake, with
		// or without client certificates, once the client has proven itself:
		// the point from which the idle timeout alone bounds the tunnel.
		cfg.VerifyConnection = func(tls.ConnectionState) error { done(); return nil }
	}
	return cfg, nil
}

// connectFailed answers a CONNECT whose upstream could not be dialled
// (blind tunnels), or whose leaf could not be issued. goproxy closes the
// connection after.
func (s *Server) connectFailed(w io.Writer, ctx *goproxy.ProxyCtx, err error) {
	target := ctx.Req.URL.Host
	var me *mintError
	if errors.As(err, &me) {
		// The client is waiting for a TLS handshake: an HTTP answer would be
		// noise, so only the log says why.
		s.log.Error("cannot issue certificate", zap.String("host", target), zap.Error(me.err))
		return
	}
	f := classifyUpstreamError(err, s.up.lim)
	s.metrics.upstreamErrors.WithLabelValues(f.kind).Inc()
	s.log.Info("connect failed", zap.String("upstream", target), zap.Int("status", f.status), zap.String("reason", f.reason))
	_, _ = io.WriteString(w, rawErrorResponse(f.status, errorBody(target, f)))
}

func (s *Server) handleRequest(req *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	x := &Exchange{Request: req, state: exchangeState{started: time.Now()}}
	switch ud := ctx.UserData.(type) {
	case *tunnel:
		x.Conn, x.state.conn, x.state.tunnel = ud.info, ud.conn, true
	default:
		if cc := clientConnFrom(req.Context()); cc != nil {
			x.Conn, x.state.conn = cc.info, cc
		} else {
			x.Conn = &ConnInfo{Client: addrPortString(req.RemoteAddr)}
		}
		if ch, ok := choiceFrom(req.Context()); ok {
			// Plain HTTP through a listener asking for credentials: each
			// request carries its own, so the choice is the request's.
			ci := *x.Conn
			ci.Profile, ci.ProfileSource = ch.name, ch.source
			x.Conn = &ci
		}
	}
	ctx.UserData = x
	if ctx.RoundTripper == nil {
		ctx.RoundTripper = s.up // plain HTTP: tunnels inherit theirs from CONNECT
	}
	if x.state.tunnel && x.state.conn != nil {
		// Shutdown waits for this count to drop before closing the tunnel.
		x.state.conn.inflight.Add(1)
	}
	if resp := s.requestStage(x); resp != nil {
		x.Synthetic = true
		if resp.Request == nil {
			resp.Request = x.Request
		}
		return x.Request, x.track(resp)
	}
	return x.Request, nil
}

// requestStage runs enforcement, then the request hooks. It fails closed:
// a panic in any of them answers 502, and the request, whose cookies may
// not have been filtered yet, is never forwarded.
func (s *Server) requestStage(x *Exchange) (resp *http.Response) {
	defer func() {
		if v := recover(); v != nil {
			resp = s.failClosed(x, stageRequest, v)
		}
	}()
	if resp := s.enforceRequest(x); resp != nil {
		return resp
	}
	for _, h := range s.reqHooks {
		if resp := h.HandleRequest(x); resp != nil {
			return resp
		}
	}
	return nil
}

// responseStage runs enforcement's Set-Cookie filtering, then the response
// hooks. A panic replaces the response by a 502: its Set-Cookie fields may
// not have been filtered, so it must not reach the client.
func (s *Server) responseStage(x *Exchange, resp *http.Response) (out *http.Response) {
	defer func() {
		if v := recover(); v != nil {
			if resp.Body != nil {
				_ = resp.Body.Close() // also ends the exchange for Shutdown
			}
			out = x.track(s.failClosed(x, stageResponse, v))
		}
	}()
	s.enforceResponse(x, resp)
	for _, h := range s.respHooks {
		h.HandleResponse(x, resp)
	}
	return resp
}

// failClosed logs and counts a panic in enforcement or a hook and returns
// the 502 that replaces the exchange. The panic value is logged only when
// it is a runtime error (whose text holds no request data); other values
// could quote headers, so only their type is.
func (s *Server) failClosed(x *Exchange, stage string, v any) *http.Response {
	x.Consent.failed = true
	x.Synthetic = true
	s.metrics.failures.WithLabelValues(stage).Inc()
	fields := []zap.Field{zap.String("stage", stage), zap.String("host", hostOf(x.Request.URL)),
		zap.String("path", x.Request.URL.Path), zap.String("panic_type", fmt.Sprintf("%T", v))}
	if re, ok := v.(runtime.Error); ok {
		fields = append(fields, zap.String("panic", re.Error()))
	}
	fields = append(fields, zap.ByteString("stack", debug.Stack()))
	s.log.Error("enforcement failed; request not forwarded (fail closed)", fields...)
	return errorResponse(x.Request, http.StatusBadGateway,
		"consentproxy: internal error while applying the consent profile; the request was not forwarded\n")
}

func (s *Server) handleResponse(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	x, ok := ctx.UserData.(*Exchange)
	if !ok {
		return resp
	}
	if resp == nil {
		s.record(x, 0)
		return resp
	}
	resp = s.responseStage(x, resp)
	s.record(x, resp.StatusCode)
	if s.draining.Load() && x.state.tunnel {
		// Ends goproxy's keep-alive loop after this response, so Shutdown
		// can close the tunnel without cutting a request.
		resp.Close = true
	}
	if resp.StatusCode == http.StatusSwitchingProtocols && x.state.conn != nil {
		// An upgraded connection is raw bytes from now on: net/http lets go
		// of it (plain HTTP), and Shutdown must close it itself.
		x.state.conn.hijacked.Store(true)
	}
	if ce := s.log.Check(zap.DebugLevel, "exchange"); ce != nil {
		ce.Write(zap.String("method", x.Request.Method), zap.String("host", x.Request.URL.Host),
			zap.String("path", x.Request.URL.Path), zap.Int("status", resp.StatusCode),
			zap.Bool("synthetic", x.Synthetic), zap.Bool("tunnel", x.state.tunnel),
			zap.Duration("headers_after", time.Since(x.state.started)))
	}
	return resp
}

// track arranges for the exchange to count as finished once resp's body
// was written to the client (goproxy closes it then, or when the client
// left). It must run before goproxy sees the response: goproxy compares the
// body before and after the response handlers, and a body replaced there
// loses its Content-Length and goes out chunked.
func (x *Exchange) track(resp *http.Response) *http.Response {
	switch {
	case !x.state.tunnel:
		// net/http tracks plain exchanges for Shutdown.
	case resp.StatusCode == http.StatusSwitchingProtocols, resp.Body == nil, resp.Body == http.NoBody:
		// A 101's body is the upgraded connection, which goproxy needs as
		// the io.ReadWriter it is; the other two have nothing to stream.
		x.release()
	default:
		resp.Body = &releasingBody{ReadCloser: resp.Body, x: x}
	}
	return resp
}

// release marks the exchange finished for Shutdown's accounting.
func (x *Exchange) release() {
	x.once.Do(func() {
		if x.state.tunnel && x.state.conn != nil {
			x.state.conn.inflight.Add(-1)
		}
	})
}

// releasingBody ends the exchange when goproxy closes the body, which it
// does once the body was written to the client (or the client left).
type releasingBody struct {
	io.ReadCloser
	x *Exchange
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.x.release()
	return err
}
