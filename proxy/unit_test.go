package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestRedactURLs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"no url here", "no url here"},
		{`Get "https://shop.test/cart?session=abc&email=a@b.c": EOF`, `Get "https://shop.test/cart": EOF`},
		{"req https://user:pw@shop.test:8443/a/b?x=1#frag done", "req https://shop.test:8443/a/b done"},
		{"two http://a.test/?q=1 and wss://b.test/ws?token=t", "two http://a.test/ and wss://b.test/ws"},
		{"Illegal URL https://shop.test/path", "Illegal URL https://shop.test/path"},
		{"bad https://shop.test/%zz?secret=1", "bad https://shop.test/%zz"},
		{"HTTPS://SHOP.TEST/X?Y=1", "https://SHOP.TEST/X"},
	}
	for _, tt := range tests {
		if got := redactURLs(tt.in); got != tt.want {
			t.Errorf("redactURLs(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestGoproxyLoggerBridge(t *testing.T) {
	tests := []struct {
		format    string
		args      []any
		wantLevel zapcore.Level
		wantText  string
		session   int64
	}{
		{"[%03d] WARN: Cannot read response from mitm'd server %v\n", []any{7, errors.New(`Get "https://x.test/a?k=v": boom`)},
			zapcore.WarnLevel, `Cannot read response from mitm'd server Get "https://x.test/a": boom`, 7},
		{"[%03d] INFO: Sending request %v %v\n", []any{12, "GET", "https://x.test/?q=1"},
			zapcore.DebugLevel, "Sending request GET https://x.test/", 12},
		{"[%03d] WARN: Cannot handshake client %v %v\n", []any{3, "x.test:443", &closedByProxy{reason: "idle for 2m0s (limits.idle_timeout)"}},
			zapcore.DebugLevel, "Cannot handshake client x.test:443 closed by consentproxy: idle for 2m0s (limits.idle_timeout)", 3},
		{"[%03d] WARN: Cannot handshake client %v %v\n", []any{4, "x.test:443", errors.New("remote error: tls: unknown certificate")},
			zapcore.WarnLevel, "Cannot handshake client x.test:443 remote error: tls: unknown certificate", 4},
	}
	for _, tt := range tests {
		core, logs := observer.New(zapcore.DebugLevel)
		goproxyLogger{log: zap.New(core)}.Printf(tt.format, tt.args...)
		all := logs.All()
		if len(all) != 1 {
			t.Fatalf("%q: %d entries, want 1", tt.format, len(all))
		}
		got := all[0]
		ctx := got.ContextMap()
		if got.Level != tt.wantLevel || ctx["detail"] != tt.wantText || ctx["session"] != tt.session {
			t.Errorf("%q:\n got %s %q session %v\nwant %s %q session %d", tt.format, got.Level, ctx["detail"], ctx["session"],
				tt.wantLevel, tt.wantText, tt.session)
		}
	}
}

// fakeTimeout is a net.Error that timed out.
type fakeTimeout struct{}

func (fakeTimeout) Error() string   { return "i/o timeout" }
func (fakeTimeout) Timeout() bool   { return true }
func (fakeTimeout) Temporary() bool { return true }

func TestClassifyUpstreamError(t *testing.T) {
	lim := timeouts{dial: 10 * time.Second, handshake: 5 * time.Second, responseHeader: time.Minute}
	urlErr := func(err error) error {
		return &url.Error{Op: "Get", URL: "https://shop.test/cart?session=SECRET", Err: err}
	}
	dialErr := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantReason string
		wantKind   string
	}{
		{"refused", urlErr(dialErr(&net.OpError{Op: "connect", Err: syscall.ECONNREFUSED})), 502, "connection refused", failConnect},
		{"dial timeout", urlErr(dialErr(fakeTimeout{})), 502, "connection not established within 10s (limits.dial_timeout)", failConnect},
		{"no such host", urlErr(dialErr(&net.DNSError{Err: "no such host", Name: "shop.test", IsNotFound: true})), 502, "cannot resolve host: no such host", failDNS},
		{"dns timeout", urlErr(&net.DNSError{Err: "i/o timeout", Name: "shop.test", IsTimeout: true}), 502, "cannot resolve host: DNS lookup timed out", failDNS},
		{"unknown authority", urlErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), 502,
			"upstream certificate not trusted: x509: certificate signed by unknown authority (add its CA with --upstream-ca FILE)", failCertificate},
		{"wrong host", urlErr(x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"other.test"}}, Host: "shop.test"}), 502,
			"upstream certificate not trusted: x509: certificate is valid for other.test, not shop.test (add its CA with --upstream-ca FILE)", failCertificate},
		{"tls alert", urlErr(tls.AlertError(40)), 502, "TLS handshake with upstream failed: tls: handshake failure", failTLS},
		{"response headers", urlErr(errors.New("net/http: timeout awaiting response headers")), 504,
			"no response headers within 1m0s (limits.response_header_timeout)", failTimeout},
		{"h2 response headers", errors.New("http2: timeout awaiting response headers"), 504,
			"no response headers within 1m0s (limits.response_header_timeout)", failTimeout},
		{"tls handshake timeout", urlErr(errors.New("net/http: TLS handshake timeout")), 502,
			"TLS handshake not done within 5s (limits.handshake_timeout)", failTimeout},
		{"read timeout", urlErr(fakeTimeout{}), 504, "timed out", failTimeout},
		{"eof", urlErr(io.EOF), 502, "connection closed before a complete response", failClosed},
		{"own listener", urlErr(dialErr(errOwnListener)), 403, "refusing to connect to the proxy's own listener", failOwnListener},
		{"other", urlErr(fmt.Errorf("weird https://shop.test/x?token=SECRET")), 502, "weird https://shop.test/x", failOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classifyUpstreamError(tt.err, lim)
			if got.status != tt.wantStatus || got.reason != tt.wantReason || got.kind != tt.wantKind {
				t.Errorf("got %d %q %s, want %d %q %s", got.status, got.reason, got.kind, tt.wantStatus, tt.wantReason, tt.wantKind)
			}
			if strings.Contains(got.reason, "SECRET") {
				t.Errorf("reason leaks the query string: %q", got.reason)
			}
		})
	}
}

func TestErrorBody(t *testing.T) {
	tests := []struct {
		f    upstreamFailure
		want string
	}{
		{upstreamFailure{status: 502, reason: "connection refused"}, "consentproxy: cannot reach upstream shop.test:443: connection refused\n"},
		{upstreamFailure{status: 504, reason: "timed out"}, "consentproxy: upstream shop.test:443 timed out: timed out\n"},
		{upstreamFailure{status: 403, reason: "refusing to connect to the proxy's own listener"}, "consentproxy: refusing to connect to the proxy's own listener shop.test:443\n"},
	}
	for _, tt := range tests {
		if got := errorBody("shop.test:443", tt.f); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestHostPort(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://shop.test/x", "shop.test:80"},
		{"https://shop.test/x", "shop.test:443"},
		{"https://shop.test:8443/x", "shop.test:8443"},
		{"http://[::1]/x", "[::1]:80"},
		{"wss://ws.test/", "ws.test:443"},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.in)
		if got := hostPort(u); got != tt.want {
			t.Errorf("hostPort(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDialerResolveAndOwnGuard(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	target := ln.Addr().String()
	_, port, _ := net.SplitHostPort(target)

	cfg := testConfig(t, nil)
	cfg.Resolve = []string{"shop.test=" + target, "*.port.test=127.0.0.1"}
	rules, err := cfg.ResolveRules()
	if err != nil {
		t.Fatal(err)
	}
	d := newDialer(time.Second, rules)
	tests := []struct{ in, want string }{
		{"shop.test:443", target},
		{"SHOP.test.:443", target},
		{"a.port.test:8443", "127.0.0.1:8443"},
		{"port.test:8443", "port.test:8443"},
		{"other.test:80", "other.test:80"},
	}
	for _, tt := range tests {
		if got := d.mapAddr(tt.in); got != tt.want {
			t.Errorf("mapAddr(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	c, err := d.DialContext(context.Background(), "tcp", "shop.test:443")
	if err != nil {
		t.Fatalf("dial through --resolve: %v", err)
	}
	c.Close()

	d.setOwn([]netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:" + port)})
	if _, err := d.DialContext(context.Background(), "tcp", "shop.test:443"); !errors.Is(err, errOwnListener) {
		t.Errorf("dial to our own (wildcard-bound) port: got %v, want errOwnListener", err)
	}
}
