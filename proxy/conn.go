package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Why a listener wrapper at all: net/http clears a connection's deadlines
// when a handler hijacks it (every CONNECT does), and goproxy sets none, so
// without this a silent CONNECT client holds a goroutine and a socket
// forever. The limits here live on the connection object itself and survive
// Hijack: an activity-based idle timer, a bound on the client TLS handshake,
// and a cap on concurrent connections. The listener also remembers every
// open connection so that Shutdown can close tunnels net/http does not know.

// closedByProxy is wrapped in the errors a connection returns after the
// proxy closed it on purpose. It wraps net.ErrClosed so that goproxy's copy
// loops treat it as an ordinary close, and its text lets the log bridge tell
// an intended close from a failure.
type closedByProxy struct{ reason string }

func (e *closedByProxy) Error() string { return "closed by consentproxy: " + e.reason }
func (e *closedByProxy) Unwrap() error { return net.ErrClosed }

// trackedListener caps concurrent connections (Accept waits while the cap is
// reached) and wraps each accepted connection in a clientConn.
type trackedListener struct {
	net.Listener
	name string
	// onAccept completes the ConnInfo of each accepted connection (the
	// listener's profile); nil for the admin listener.
	onAccept func(*ConnInfo)
	// maxLine and maxBlock, when set, give each connection a requestFramer
	// (see framer.go); onRefuse logs and counts what it refuses.
	maxLine, maxBlock int
	onRefuse          func(*violation, *ConnInfo)
	idle              time.Duration
	slots             chan struct{}
	done              chan struct{}
	closeOnce         sync.Once

	mu    sync.Mutex
	conns map[*clientConn]struct{}
}

func newTrackedListener(ln net.Listener, name string, maxConns int, idle time.Duration) *trackedListener {
	return &trackedListener{
		Listener: ln,
		name:     name,
		idle:     idle,
		slots:    make(chan struct{}, maxConns),
		done:     make(chan struct{}),
		conns:    make(map[*clientConn]struct{}),
	}
}

func (l *trackedListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	cc := newClientConn(c, l)
	l.mu.Lock()
	l.conns[cc] = struct{}{}
	l.mu.Unlock()
	return cc, nil
}

func (l *trackedListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// closeAll closes every connection still open, hijacked tunnels included.
func (l *trackedListener) closeAll(reason string) {
	l.mu.Lock()
	open := make([]*clientConn, 0, len(l.conns))
	for c := range l.conns {
		open = append(open, c)
	}
	l.mu.Unlock()
	for _, c := range open {
		c.closeWith(&closedByProxy{reason: reason})
	}
}

// closeIdle closes the connections with no exchange in flight: the
// hijacked ones, or all of them once net/http has finished with the rest.
func (l *trackedListener) closeIdle(reason string, all bool) {
	l.mu.Lock()
	var idle []*clientConn
	for c := range l.conns {
		if (all || c.hijacked.Load()) && c.inflight.Load() <= 0 {
			idle = append(idle, c)
		}
	}
	l.mu.Unlock()
	for _, c := range idle {
		c.closeWith(&closedByProxy{reason: reason})
	}
}

// open reports how many connections are open.
func (l *trackedListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *trackedListener) forget(c *clientConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	<-l.slots
}

// clientConn is an accepted client connection. It closes itself when no
// byte moved in either direction for the idle timeout; tunnels included,
// because the timer is ours and not a socket deadline Hijack would clear.
type clientConn struct {
	net.Conn
	l       *trackedListener
	info    *ConnInfo
	idle    time.Duration
	last    atomic.Int64 // unix nanoseconds of the last byte moved
	timerMu sync.Mutex   // the idle timer's callback may run before newClientConn returns
	timer   *time.Timer
	ctx     context.Context // done once the connection is closed
	cancel  context.CancelFunc

	// hijacked: net/http let go of the connection (CONNECT, upgrade).
	hijacked atomic.Bool
	// inflight counts exchanges inside a tunnel whose response has not been
	// fully written yet.
	inflight atomic.Int32
	// framer follows the plain HTTP/1 requests (nil on the admin
	// listener); busy counts handlers running for them.
	framer *requestFramer
	busy   atomic.Int32

	handshake atomic.Pointer[time.Timer]
	reason    atomic.Pointer[closedByProxy]
	closeOnce sync.Once
	closeErr  error
}

func newClientConn(c net.Conn, l *trackedListener) *clientConn {
	ctx, cancel := context.WithCancel(context.Background())
	cc := &clientConn{Conn: c, l: l, idle: l.idle, ctx: ctx, cancel: cancel}
	cc.info = &ConnInfo{Listener: l.name, Client: addrPort(c.RemoteAddr())}
	if l.maxBlock > 0 {
		cc.framer = newRequestFramer(l.maxLine, l.maxBlock, false)
	}
	if cc.info.Client.IsValid() {
		cc.info.client = cc.info.Client.String()
	}
	if l.onAccept != nil {
		l.onAccept(cc.info)
	}
	cc.touch()
	cc.timerMu.Lock()
	cc.timer = time.AfterFunc(cc.idle, cc.checkIdle)
	cc.timerMu.Unlock()
	return cc
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func (c *clientConn) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *clientConn) checkIdle() {
	quiet := time.Since(time.Unix(0, c.last.Load()))
	if rest := c.idle - quiet; rest > 0 {
		c.timerMu.Lock()
		c.timer.Reset(rest)
		c.timerMu.Unlock()
		return
	}
	c.closeWith(&closedByProxy{reason: fmt.Sprintf("idle for %s (limits.idle_timeout)", c.idle)})
}

func (c *clientConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
		if c.framer != nil {
			if v := c.framer.feed(p[:n]); v != nil {
				return 0, c.refuse(v)
			}
		}
	}
	if err != nil {
		err = c.explain(err)
	}
	return n, err
}

func (c *clientConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.touch()
	}
	if err != nil {
		err = c.explain(err)
	}
	return n, err
}

// explain replaces the error of an operation cut short by our own close
// with the reason, so that logs say "idle for 2m0s" and not "use of closed
// network connection".
func (c *clientConn) explain(err error) error {
	if r := c.reason.Load(); r != nil && errors.Is(err, net.ErrClosed) {
		return r
	}
	return err
}

// CloseWrite and CloseRead make the connection half-closable, which goproxy
// needs to relay a blind tunnel's half-close (and without which it writes
// error responses into established tunnels).
func (c *clientConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.Close()
}

func (c *clientConn) CloseRead() error {
	if hc, ok := c.Conn.(interface{ CloseRead() error }); ok {
		return hc.CloseRead()
	}
	return c.Close()
}

func (c *clientConn) Close() error {
	c.closeOnce.Do(func() {
		c.timerMu.Lock()
		c.timer.Stop()
		c.timerMu.Unlock()
		if t := c.handshake.Load(); t != nil {
			t.Stop()
		}
		c.cancel()
		c.closeErr = c.Conn.Close()
		c.l.forget(c)
	})
	return c.closeErr
}

func (c *clientConn) closeWith(reason *closedByProxy) {
	c.reason.CompareAndSwap(nil, reason)
	_ = c.Close()
}

// startHandshake bounds the client TLS handshake that follows; the returned
// func marks it complete. goproxy runs that handshake without a deadline.
func (c *clientConn) startHandshake(d time.Duration) (done func()) {
	t := time.AfterFunc(d, func() {
		c.closeWith(&closedByProxy{reason: fmt.Sprintf("client TLS handshake not done within %s (limits.handshake_timeout)", d)})
	})
	if old := c.handshake.Swap(t); old != nil {
		old.Stop()
	}
	return func() { t.Stop() }
}

// refuse answers a request the framer refused, unless a handler is
// answering another one on the connection (the refused one was pipelined
// behind it: an answer now would land inside that response), drains the
// client's input for a moment so that it reads the answer rather than a
// reset, and returns the error for net/http: a read error, which it closes
// the connection on without answering again.
func (c *clientConn) refuse(v *violation) error {
	if c.l.onRefuse != nil {
		c.l.onRefuse(v, c.info)
	}
	if c.busy.Load() == 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(lingerTime))
		_, _ = io.WriteString(c.Conn, violationResponse(v))
		_ = c.CloseWrite()
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.CopyN(io.Discard, c.Conn, lingerBytes)
	}
	reason := &closedByProxy{reason: v.reason}
	c.reason.CompareAndSwap(nil, reason)
	return &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: reason}
}

// connKey carries the *clientConn in the context of every request read
// from it (http.Server.ConnContext).
type connKey struct{}

func clientConnFrom(ctx context.Context) *clientConn {
	c, _ := ctx.Value(connKey{}).(*clientConn)
	return c
}

func addrPortString(s string) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(s)
	return ap
}
