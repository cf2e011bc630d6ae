package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentproxy/consentproxy/certs"
)

// waitClosed reads from conn until the proxy closes it. guard only keeps a
// broken proxy from hanging the test; hitting it is the failure.
func waitClosed(t *testing.T, conn net.Conn, r io.Reader, guard time.Duration) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(guard))
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s: the proxy did not close it", guard)
	}
}

// silentServer accepts connections, never writes, and closes each when
// the client closed its side.
func silentServer(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	return ln
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), upstreamOpts{})
	silent := silentServer(t)
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up)}
	cfg.Limits.IdleTimeout = 300 * time.Millisecond
	cfg.Limits.ReadHeaderTimeout = 300 * time.Millisecond
	e := startProxy(t, cfg)

	tests := []struct {
		name string
		open func(t *testing.T) (net.Conn, io.Reader)
	}{
		{"silent before CONNECT", func(t *testing.T) (net.Conn, io.Reader) {
			c, err := net.Dial("tcp", e.srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c, c
		}},
		{"silent after CONNECT to an intercepted port", func(t *testing.T) (net.Conn, io.Reader) {
			return dialTunnel(t, e, "shop.test:443")
		}},
		{"blind tunnel to a silent server", func(t *testing.T) (net.Conn, io.Reader) {
			return dialTunnel(t, e, silent.Addr().String())
		}},
		{"MITM tunnel idle after a request", func(t *testing.T) (net.Conn, io.Reader) {
			conn, _ := dialTunnel(t, e, "shop.test:443")
			tc := tls.Client(conn, &tls.Config{RootCAs: e.proxyPool, ServerName: "shop.test", NextProtos: []string{"http/1.1"}})
			io.WriteString(tc, "GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n")
			br := bufio.NewReader(tc)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if body, _ := io.ReadAll(resp.Body); string(body) != "ok" {
				t.Fatalf("body %q", body)
			}
			return conn, br
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, r := tt.open(t)
			waitClosed(t, conn, r, 20*time.Second)
		})
	}
}

// 200 CONNECTs that never send a byte must not hold goroutines forever
// (goproxy alone keeps every one of them).
func TestSilentConnectsReleaseGoroutines(t *testing.T) {
	cfg := testConfig(t, nil)
	cfg.Limits.IdleTimeout = 300 * time.Millisecond
	e := startProxy(t, cfg)
	before := runtime.NumGoroutine()

	const n = 200
	conns := make([]net.Conn, 0, n)
	readers := make([]io.Reader, 0, n)
	for range n {
		c, r := dialTunnel(t, e, "shop.test:443")
		conns = append(conns, c)
		readers = append(readers, r)
	}
	if got := e.srv.servers[0].ln.open(); got != n {
		t.Fatalf("open connections after %d CONNECTs: got %d", n, got)
	}
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitClosed(t, conns[i], readers[i], 20*time.Second)
		}()
	}
	wg.Wait()
	// The proxy's bookkeeping and goroutines wind down right after the
	// sockets closed; poll.
	deadline := time.Now().Add(10 * time.Second)
	for (e.srv.servers[0].ln.open() > 0 || runtime.NumGoroutine() > before+10) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := e.srv.servers[0].ln.open(); got != 0 {
		t.Errorf("open connections after the idle timeout: got %d, want 0", got)
	}
	if got := runtime.NumGoroutine(); got > before+10 {
		t.Errorf("goroutines: %d before, %d after the tunnels were closed", before, got)
	}
}

// A client that starts a TLS handshake and trickles bytes keeps the idle
// timer happy; the handshake bound must close it anyway.
func TestSlowClientHandshakeIsBounded(t *testing.T) {
	cfg := testConfig(t, nil)
	cfg.Limits.IdleTimeout = time.Minute
	cfg.Limits.HandshakeTimeout = 300 * time.Millisecond
	e := startProxy(t, cfg)
	conn, br := dialTunnel(t, e, "shop.test:443")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A TLS handshake record header, then one byte at a time.
		if _, err := conn.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00}); err != nil {
			return
		}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte{0x01}); err != nil {
					return
				}
			}
		}
	}()
	waitClosed(t, conn, br, 20*time.Second)
	close(stop)
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for e.logs.FilterMessage("goproxy").FilterFieldKey("detail").Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(e.logText(), "client TLS handshake not done within 300ms") {
		t.Errorf("logs do not say the handshake bound closed the connection:\n%s", e.logText())
	}
}

func TestMaxConnectionsCap(t *testing.T) {
	cfg := testConfig(t, nil)
	cfg.Limits.MaxConnections = 2
	e := startProxy(t, cfg)
	silent := silentServer(t)
	a, _ := dialTunnel(t, e, silent.Addr().String())
	dialTunnel(t, e, silent.Addr().String())

	// The third connection is accepted by the kernel but not served while
	// two are open.
	third, err := net.Dial("tcp", e.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { third.Close() })
	fmt.Fprintf(third, "CONNECT %s HTTP/1.1\r\nHost: x\r\n\r\n", silent.Addr())
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := third.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("third connection served while at the cap (read %d, %v)", n, err)
	}
	a.Close()
	third.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("third connection after one closed: %v %v", resp, err)
	}
}

func TestShutdownIsGraceful(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	release := make(chan struct{})
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			io.WriteString(w, "part one;")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, "part two")
			return
		}
		io.WriteString(w, "ok")
	}), upstreamOpts{})
	silent := silentServer(t)
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up)}
	e := startProxy(t, cfg)

	// An idle MITM tunnel, a blind tunnel, and a request in flight.
	idle := e.client(t, clientOpts{})
	if status, _, _ := get(t, idle, "https://shop.test/"); status != 200 {
		t.Fatal(status)
	}
	blind, blindR := dialTunnel(t, e, silent.Addr().String())
	busy := e.client(t, clientOpts{})
	resp, err := busy.Get("https://shop.test/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if s, err := br.ReadString(';'); err != nil || s != "part one;" {
		t.Fatalf("first part: %q %v", s, err)
	}

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	waitClosed(t, blind, blindR, 20*time.Second) // closed at once
	// New connections are refused.
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", e.srv.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("proxy still accepts connections during shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "part two" {
		t.Fatalf("request in flight during shutdown: got %q (%v), want %q", rest, err, "part two")
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := e.srv.servers[0].ln.open(); got != 0 {
		t.Errorf("connections open after Shutdown: %d", got)
	}
}

func TestShutdownCutsWhatOutlivesTheContext(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	release := make(chan struct{})
	canceled := make(chan string, 2)
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "start;")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			canceled <- r.URL.Path
		}
	}), upstreamOpts{h2: true})
	t.Cleanup(func() { close(release) })
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up)}
	e := startProxy(t, cfg)
	for _, h2 := range []bool{false, true} {
		resp, err := e.client(t, clientOpts{h2: h2}).Get(fmt.Sprintf("https://shop.test/stuck-h2=%v", h2))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: got %v, want context.DeadlineExceeded", err)
	}
	if got := e.srv.servers[0].ln.open(); got != 0 {
		t.Errorf("connections open after Shutdown: %d", got)
	}
	// Cutting the client connection must cancel the upstream exchange too,
	// or the proxy would keep reading from the upstream for nobody.
	got := map[string]bool{}
	guard := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case p := <-canceled:
			got[p] = true
		case <-guard:
			t.Fatalf("upstream requests canceled: %v, want both /stuck-h2=false and /stuck-h2=true", got)
		}
	}
}

func TestCurlThroughProxy(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not found in PATH; install curl to run this test")
	}
	upCA := newTestCA(t, "upstream test CA")
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "curl ok %s", r.URL.Path)
	}), upstreamOpts{h2: true})
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up)}
	e := startProxy(t, cfg)

	version, _ := exec.Command(curl, "--version").Output()
	tests := []struct {
		name      string
		args      []string
		want      string
		needHTTP2 bool
	}{
		{"http/1.1, two URLs on one connection", []string{"--http1.1", "-w", " %{http_code} %{http_version} %{num_connects}\n",
			"https://shop.test/a", "https://shop.test/b"},
			"curl ok /a 200 1.1 1\ncurl ok /b 200 1.1 0\n", false},
		{"http/2", []string{"--http2", "-w", " %{http_code} %{http_version}\n", "https://shop.test/h2"},
			"curl ok /h2 200 2\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needHTTP2 && !strings.Contains(string(version), "HTTP2") {
				t.Skip("this curl has no HTTP/2 support")
			}
			args := append([]string{"-sS", "--fail", "--noproxy", "", "-x", e.proxyURL.String(), "--cacert", e.caFile}, tt.args...)
			cmd := exec.Command(curl, args...)
			cmd.Env = append(os.Environ(), "ALL_PROXY=", "HTTPS_PROXY=", "https_proxy=", "NO_PROXY=", "no_proxy=")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			if string(out) != tt.want {
				t.Fatalf("curl output:\n%s\nwant:\n%s", out, tt.want)
			}
		})
	}
}

func TestRunServesUntilCanceled(t *testing.T) {
	cfg := testConfig(t, nil)
	ca, _, err := certs.LoadOrCreate(cfg.CACert, cfg.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); srv.AdminAddr() == nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Run did not start the listeners")
		}
	}
	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Get("http://" + srv.AdminAddr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tr.CloseIdleConnections()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c, err := net.Dial("tcp", srv.Addr().String()); err == nil {
		c.Close()
		t.Fatal("proxy still accepts connections after Run returned")
	}
	if err := srv.Start(); err == nil {
		t.Error("Start after Run: got nil, want an error")
	}
}
