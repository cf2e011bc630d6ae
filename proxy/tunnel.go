package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Why the proxy terminates intercepted TLS itself: goproxy's MITM reads
// the requests of a tunnel from a *tls.Conn it creates and never shows,
// with http.ReadRequest and no deadline, so neither a header limit nor a
// header timeout can be put between the client and that parser, nor can a
// refusal be written into the tunnel. So the CONNECT's hijacked connection
// that goproxy gets is a tunnelConn: it writes goproxy's "200" in clear,
// runs the TLS handshake with the host's leaf itself (bounded by
// limits.handshake_timeout), and from then on hands goproxy the plaintext,
// which goproxy takes for a cleartext tunnel (HTTP/1, or HTTP/2 by its
// preface). On the way, a requestFramer bounds each HTTP/1 request (414,
// 431, 400, and 408 after limits.read_header_timeout) and an h2Watch bounds
// how long an HTTP/2 header block may take. Requests read this way carry an
// http URL; handleRequest restores https.

// lingerTime and lingerBytes bound how long a refused connection is
// drained after the refusal was written, so that the client reads the
// answer instead of a reset (closing a socket with unread input sends RST,
// which discards what the client has not read yet). net/http waits 500 ms
// for the same reason.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

// connectPlan travels in the context of a CONNECT from the gate to
// handleConnect, which says whether the tunnel is intercepted, and on to
// the Hijack that builds the tunnelConn.
type connectPlan struct {
	tun *tunnel // set by handleConnect for an intercepted tunnel
}

type planKey struct{}

func planFrom(ctx context.Context) *connectPlan {
	p, _ := ctx.Value(planKey{}).(*connectPlan)
	return p
}

// connectWriter is the ResponseWriter goproxy gets for a CONNECT.
type connectWriter struct {
	http.ResponseWriter
	s    *Server
	plan *connectPlan
}

// emptyReader stands for the hijacked connection's buffered bytes, which
// the tunnelConn reads itself.
type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, io.EOF }

func (w *connectWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("proxy: the connection cannot be hijacked")
	}
	conn, rw, err := h.Hijack()
	if err != nil || w.plan.tun == nil {
		return conn, rw, err
	}
	cc, _ := conn.(*clientConn)
	if cc == nil {
		return conn, rw, err // not our listener: goproxy alone
	}
	tc := w.s.newTunnelConn(cc, rw.Reader, w.plan.tun.info.Target)
	w.plan.tun.tc = tc
	return tc, bufio.NewReadWriter(bufio.NewReaderSize(emptyReader{}, 16), bufio.NewWriterSize(tc, 16)), nil
}

// bufferedConn reads first what net/http had buffered past the CONNECT (a
// ClientHello sent in the same packet), then the connection.
type bufferedConn struct {
	*clientConn
	r io.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// tunnelConn is an intercepted tunnel as goproxy sees it: plaintext.
type tunnelConn struct {
	s      *Server
	cc     *clientConn
	raw    net.Conn // cc, after the bytes net/http had buffered
	target string   // the CONNECT authority

	hsOnce sync.Once
	hsErr  error
	tls    atomic.Pointer[tls.Conn]
	h1     *requestFramer // HTTP/1 after the handshake, else nil
	h2     *h2Watch       // HTTP/2 after the handshake, else nil

	// requests counts the requests goproxy read; refused marks a
	// violation answered (or the tunnel closed for one).
	requests atomic.Uint64
	refused  atomic.Bool
	// ending: an answer closed the connection on purpose (Connection:
	// close, shutdown); requests read ahead behind it are not malformed.
	ending atomic.Bool

	timerMu sync.Mutex
	timer   *time.Timer // bounds an open header block
	closed  bool

	closeOnce sync.Once
	closeErr  error
}

func (s *Server) newTunnelConn(cc *clientConn, buffered *bufio.Reader, target string) *tunnelConn {
	var raw net.Conn = cc
	if n := buffered.Buffered(); n > 0 {
		b, _ := buffered.Peek(n)
		raw = bufferedConn{clientConn: cc, r: io.MultiReader(bytesReader(b), cc)}
	}
	return &tunnelConn{s: s, cc: cc, raw: raw, target: target}
}

func bytesReader(b []byte) io.Reader {
	c := make([]byte, len(b))
	copy(c, b)
	return &sliceReader{b: c}
}

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// handshake runs the client TLS handshake with the target's leaf.
func (t *tunnelConn) handshake() {
	name, _, err := net.SplitHostPort(t.target)
	if err != nil {
		name = t.target
	}
	cfg, err := t.s.leafConfig(name)
	if err != nil {
		t.s.log.Error("cannot issue certificate", zap.String("host", t.target), zap.Error(err))
		t.hsErr = &closedByProxy{reason: "no certificate for " + name}
		return
	}
	cfg.NextProtos = []string{"h2", "http/1.1"}
	tc := tls.Server(t.raw, cfg)
	done := t.cc.startHandshake(t.s.cfg.Limits.HandshakeTimeout)
	err = tc.Handshake()
	done()
	if err != nil {
		// A client that leaves or is closed (idle, handshake bound) is
		// ordinary; one that rejects the leaf is worth a warning (pitfall:
		// a client that does not trust the CA).
		level := zap.WarnLevel
		if errors.Is(err, io.EOF) || benignClose(err.Error()) {
			level = zap.DebugLevel
		}
		if ce := t.s.log.Check(level, "client TLS handshake failed"); ce != nil {
			ce.Write(zap.String("host", t.target), zap.Stringer("client", t.cc.info.Client), zap.Error(err))
		}
		t.hsErr = &closedByProxy{reason: "client TLS handshake failed: " + err.Error()}
		return
	}
	lim := t.s.cfg.Limits
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		t.h2 = &h2Watch{preface: len(h2Preface)}
	} else {
		t.h1 = newRequestFramer(lim.MaxRequestLine, lim.MaxHeaderBytes, true)
	}
	t.tls.Store(tc)
}

func (t *tunnelConn) Read(p []byte) (int, error) {
	t.hsOnce.Do(t.handshake)
	if t.hsErr != nil {
		return 0, t.hsErr
	}
	tc := t.tls.Load()
	n, err := tc.Read(p)
	if t.refused.Load() {
		// A refusal was written (by the header timer, or by Close): read
		// on only to drain, then end.
		t.linger()
		return 0, &closedByProxy{reason: "request refused"}
	}
	if n > 0 {
		var open bool
		switch {
		case t.h1 != nil:
			if v := t.h1.feed(p[:n]); v != nil {
				t.refuse(v, true)
				return 0, &closedByProxy{reason: v.reason}
			}
			open = t.h1.headerOpen()
		case t.h2 != nil:
			open = t.h2.feed(p[:n])
		}
		t.headerTimer(open)
	}
	return n, err
}

func (t *tunnelConn) Write(p []byte) (int, error) {
	if tc := t.tls.Load(); tc != nil {
		return tc.Write(p)
	}
	// Before the handshake: goproxy's "200" to the CONNECT, in clear.
	return t.cc.Write(p)
}

// headerTimer arms the header timeout when a header block is open and
// stops it when none is. The clock starts at the block's first byte.
func (t *tunnelConn) headerTimer(open bool) {
	t.timerMu.Lock()
	defer t.timerMu.Unlock()
	switch {
	case open && t.timer == nil && !t.closed:
		d := t.s.cfg.Limits.ReadHeaderTimeout
		t.timer = time.AfterFunc(d, func() { t.headerTimeout(d) })
	case !open && t.timer != nil:
		t.timer.Stop()
		t.timer = nil
	}
}

// headerTimeout ends a tunnel whose request headers did not arrive in
// time. While an earlier exchange is still being answered, the next
// request's first bytes (pipelined, read ahead) are not late: the clock
// starts again.
func (t *tunnelConn) headerTimeout(d time.Duration) {
	if t.h1 != nil && t.cc.inflight.Load() > 0 {
		t.timerMu.Lock()
		if t.timer != nil && !t.closed {
			t.timer.Reset(d)
		}
		t.timerMu.Unlock()
		return
	}
	t.refuse(&violation{status: http.StatusRequestTimeout,
		reason: fmt.Sprintf("request headers not received within %s (limits.read_header_timeout)", d)}, false)
}

// refuse answers a violation inside the tunnel, unless an exchange is
// still being answered on it (a pipelined request: the answer would land
// inside the other response), and ends the tunnel. inRead: called from
// Read, which drains before returning; otherwise the reader is woken by a
// read deadline and drains then.
func (t *tunnelConn) refuse(v *violation, inRead bool) {
	if !t.refused.CompareAndSwap(false, true) {
		return
	}
	t.s.clientRefused(v, t.cc.info, t.target)
	tc := t.tls.Load()
	if t.h1 != nil && t.cc.inflight.Load() <= 0 {
		_ = tc.SetWriteDeadline(time.Now().Add(lingerTime))
		_, _ = io.WriteString(tc, violationResponse(v))
		_ = tc.CloseWrite()
	}
	_ = t.cc.CloseWrite()
	if inRead {
		t.linger()
		return
	}
	// Wake the reader blocked in Read: it sees refused, drains, returns.
	_ = t.cc.SetReadDeadline(time.Now().Add(lingerTime))
}

// linger drains the client's input for a moment after a refusal.
func (t *tunnelConn) linger() {
	_ = t.cc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, t.cc, lingerBytes)
}

// sawRequest tells the tunnel that goproxy read a request (handleRequest).
func (t *tunnelConn) sawRequest() { t.requests.Add(1) }

func (t *tunnelConn) Close() error {
	t.closeOnce.Do(func() {
		t.timerMu.Lock()
		t.closed = true
		if t.timer != nil {
			t.timer.Stop()
		}
		t.timerMu.Unlock()
		tc := t.tls.Load()
		if tc != nil && t.h1 != nil && !t.refused.Load() && !t.ending.Load() &&
			t.h1.headerBlocks() > t.requests.Load() && t.cc.inflight.Load() <= 0 {
			// goproxy ends a tunnel silently when http.ReadRequest fails
			// on a request the framer saw whole: say why.
			t.refuse(&violation{status: http.StatusBadRequest, reason: "malformed request"}, true)
		}
		if tc != nil {
			_ = tc.SetWriteDeadline(time.Now().Add(lingerTime))
			t.closeErr = tc.Close()
		} else {
			t.closeErr = t.cc.Close()
		}
	})
	return t.closeErr
}

func (t *tunnelConn) LocalAddr() net.Addr  { return t.cc.LocalAddr() }
func (t *tunnelConn) RemoteAddr() net.Addr { return t.cc.RemoteAddr() }

func (t *tunnelConn) SetDeadline(d time.Time) error {
	if tc := t.tls.Load(); tc != nil {
		return tc.SetDeadline(d)
	}
	return t.cc.SetDeadline(d)
}

func (t *tunnelConn) SetReadDeadline(d time.Time) error { return t.cc.SetReadDeadline(d) }

func (t *tunnelConn) SetWriteDeadline(d time.Time) error { return t.cc.SetWriteDeadline(d) }

// ConnectionState lets the HTTP/2 server see the TLS state, as it would
// on a *tls.Conn.
func (t *tunnelConn) ConnectionState() tls.ConnectionState {
	if tc := t.tls.Load(); tc != nil {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

// h2Preface is the HTTP/2 client connection preface.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// HTTP/2 frame types and flags that delimit a header block.
const (
	h2FrameHeaders      = 0x1
	h2FramePushPromise  = 0x5
	h2FrameContinuation = 0x9
	h2FlagEndHeaders    = 0x4
)

// h2Watch follows the frame boundaries of an HTTP/2 connection to know
// when a header block (HEADERS and its CONTINUATIONs) is open: the HTTP/2
// server bounds its size (431) but not the time a client takes to send it,
// so a client trickling one could hold the connection forever while the
// idle timeout never fires. It reads frame headers only.
type h2Watch struct {
	preface int // preface bytes still to skip
	hdr     [9]byte
	hdrN    int    // bytes of a frame header received so far
	skip    uint32 // payload bytes of the current frame still to come
	// inHeaderFrame: the current frame carries a header block fragment;
	// inBlock: the block has not seen END_HEADERS yet.
	inHeaderFrame, inBlock bool
}

// feed follows p and reports whether a header block is open after it: a
// frame header or a header block fragment half received, or a block
// awaiting its CONTINUATION.
func (w *h2Watch) feed(p []byte) bool {
	for len(p) > 0 {
		switch {
		case w.preface > 0:
			n := min(w.preface, len(p))
			w.preface -= n
			p = p[n:]
		case w.skip > 0:
			n := uint32(len(p))
			if n > w.skip {
				n = w.skip
			}
			w.skip -= n
			p = p[n:]
		default:
			n := copy(w.hdr[w.hdrN:], p)
			w.hdrN += n
			p = p[n:]
			if w.hdrN < len(w.hdr) {
				continue
			}
			w.hdrN = 0
			w.skip = uint32(w.hdr[0])<<16 | uint32(binary.BigEndian.Uint16(w.hdr[1:3]))
			switch typ, flags := w.hdr[3], w.hdr[4]; typ {
			case h2FrameHeaders, h2FramePushPromise, h2FrameContinuation:
				w.inHeaderFrame = true
				w.inBlock = flags&h2FlagEndHeaders == 0
			default:
				// A block interrupted by another frame is a protocol error
				// the HTTP/2 server ends the connection for.
				w.inHeaderFrame = false
			}
		}
	}
	return w.inBlock || w.hdrN > 0 || w.skip > 0 && w.inHeaderFrame
}

// violationResponse is the answer to a refused request; it closes the
// connection.
func violationResponse(v *violation) string {
	body := "consentproxy: " + v.reason + "\n"
	return "HTTP/1.1 " + strconv.Itoa(v.status) + " " + http.StatusText(v.status) + "\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body
}

// Reasons of consentproxy_client_errors_total, by status.
var clientErrorReasons = map[int]string{
	http.StatusBadRequest:                  "malformed",
	http.StatusRequestTimeout:              "header-timeout",
	http.StatusRequestURITooLong:           "request-line-too-long",
	http.StatusRequestHeaderFieldsTooLarge: "header-too-large",
	http.StatusNotImplemented:              "unsupported-transfer-encoding",
}

func newClientErrorCounter(reg *prometheus.Registry) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "consentproxy_client_errors_total",
		Help: "Requests refused before parsing because they broke the syntax or a limit (answered 400, 408, 414, 431 or 501 and the connection closed), by reason.",
	}, []string{"reason"})
	reg.MustRegister(c)
	for _, r := range clientErrorReasons {
		c.WithLabelValues(r)
	}
	return c
}

// clientRefused logs and counts a refused request. target is the tunnel's
// CONNECT authority ("" on a plain connection); nothing of the request
// itself is logged.
func (s *Server) clientRefused(v *violation, ci *ConnInfo, target string) {
	s.clientErrors.WithLabelValues(clientErrorReasons[v.status]).Inc()
	if ce := s.log.Check(zap.InfoLevel, "request refused"); ce != nil {
		ce.Write(zap.Int("status", v.status), zap.String("reason", v.reason), zap.Stringer("client", ci.Client),
			zap.String("listener", ci.Listener), zap.String("tunnel", target))
	}
}
