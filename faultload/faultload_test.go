package faultload

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/consentproxy/consentproxy/certs"
	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/proxy"
)

// soak turns the fixed rounds into a run of the given length, for manual
// runs: go test ./faultload -soak=10m (or CONSENTPROXY_SOAK=10m).
var soak = flag.Duration("soak", 0, "run rounds for this long instead of a fixed number (also CONSENTPROXY_SOAK)")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The shape of the load.
const (
	clients   = 16 // concurrent clients, a third each plain, HTTP/1 MITM, HTTP/2 MITM
	perClient = 30 // requests per client per round
	rounds    = 6  // rounds of a normal run; memory is compared between rounds 2 and 5
)

// secret is planted in every cookie value and query string: no log line
// and no answer of the proxy's own may contain it.
const secret = "FAULTLOADSECRET"

// kind is what a request exercises, and decides what its answer must be.
type kind int

const (
	kAllowed  kind = iota // a shop page: 200 from the upstream, refused cookies stripped both ways
	kBlocked              // a tracking pixel: the proxy's GIF, nothing upstream
	kStripped             // a tracker under on_denied: strip: forwarded with no cookie, no Set-Cookie back
	kReset                // the upstream resets mid-body: a short body or an error, never a hang
	kHang                 // the upstream never answers: 504
	k5xx                  // the upstream fails: its 500 passes through
	kSlow                 // the upstream trickles its body: all of it arrives
	kDead                 // nobody listens upstream: 502
)

func (k kind) String() string {
	return [...]string{"allowed", "blocked", "stripped", "reset", "hang", "5xx", "slow", "dead"}[k]
}

// mix is how often each kind comes up, in percent.
var mix = [...]int{kAllowed: 45, kBlocked: 15, kStripped: 15, kReset: 5, k5xx: 5, kSlow: 10, kDead: 5}

// A hang costs its client limits.response_header_timeout: every other
// client has exactly one per round, at a place that moves from round to
// round, so that a round takes about that long and no longer.
func hangsAt(round, client int) int {
	if client%2 == 1 {
		return -1
	}
	return (round*7 + client) % perClient
}

func pick(r *rand.Rand) kind {
	n := r.IntN(100)
	for k, w := range mix {
		if n < w {
			return kind(k)
		}
		n -= w
	}
	return kAllowed
}

// refusedCookies are the cookies every request sends that the reject-all
// profile refuses (analytics and marketing); essential and unknown ones
// are kept.
func refusedCookies() map[string]bool {
	return map[string]bool{"_ga": true, "_gid": true, "_fbp": true}
}

const cookieHeader = "_ga=GA1.2." + secret + "; _gid=" + secret + "; _fbp=fb.1." + secret + "; JSESSIONID=" + secret + "; shopprefs=" + secret

// transparentGIFSize is the size of the proxy's blocked-pixel answer.
const transparentGIFSize = 43

// suite is one proxy in front of the fake web.
type suite struct {
	t        *testing.T
	srv      *proxy.Server
	web      *fakeWeb
	proxyURL *url.URL
	roots    *x509.CertPool
	logLeaks *atomic.Int64
	limits   config.Limits
}

func newSuite(t *testing.T) *suite {
	upCA := newTestCA(t)
	web := newFakeWeb(t, upCA, refusedCookies())
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	cfg := config.Default()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.FillPaths()
	cfg.UpstreamCA = []string{upCA.file}
	for _, h := range []string{shopHost, pixelHost, analyticsHost} {
		cfg.Resolve = append(cfg.Resolve, h+"="+web.addr)
	}
	cfg.Resolve = append(cfg.Resolve, deadHost+"="+deadAddr)
	cfg.Profiles = []config.Profile{{Name: "strip-trackers", Description: "refused trackers forwarded without cookies", OnDenied: "strip"}}
	// Long enough for any real answer on a loaded machine under -race;
	// each round waits it out once (see hangsAt).
	cfg.Limits.ResponseHeaderTimeout = time.Second
	cfg.Limits.ReadHeaderTimeout = 500 * time.Millisecond
	cfg.Limits.HandshakeTimeout = 5 * time.Second
	cfg.Limits.EventRingSize = 256 // full after the first round: a ring filling up is not a leak
	cfg.Limits.ShutdownTimeout = 5 * time.Second

	ca, _, err := certs.LoadOrCreate(cfg.CACert, cfg.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	leaks := &atomic.Int64{}
	srv, err := proxy.New(cfg, ca, zap.New(newSecretScanner(leaks)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	return &suite{t: t, srv: srv, web: web, proxyURL: &url.URL{Scheme: "http", Host: srv.Addr().String()},
		roots: roots, logLeaks: leaks, limits: cfg.Limits}
}

// shutdown stops the proxy and the fake web; nothing of either may be left
// running afterwards.
func (s *suite) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.t.Errorf("proxy Shutdown: %v", err)
	}
	s.web.close()
}

// clientMode is how a client reaches the upstreams.
type clientMode int

const (
	plainHTTP clientMode = iota
	mitmHTTP1
	mitmHTTP2
)

func (m clientMode) String() string { return [...]string{"plain", "mitm-h1", "mitm-h2"}[m] }

func (s *suite) transport(mode clientMode) *http.Transport {
	tr := &http.Transport{
		Proxy:               http.ProxyURL(s.proxyURL),
		TLSClientConfig:     &tls.Config{RootCAs: s.roots},
		DisableCompression:  true,
		ForceAttemptHTTP2:   mode == mitmHTTP2,
		MaxIdleConnsPerHost: 4,
	}
	if mode != mitmHTTP2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return tr
}

// outcome tallies one round.
type outcome struct {
	mu       sync.Mutex
	failures []string
	byKind   [8]int
}

func (o *outcome) fail(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures = append(o.failures, fmt.Sprintf(format, args...))
}

func (o *outcome) count(k kind) {
	o.mu.Lock()
	o.byKind[k]++
	o.mu.Unlock()
}

// round runs the clients and the hostile clients once.
func (s *suite) round(n int) *outcome {
	s.web.forRound()
	out := &outcome{}
	var wg sync.WaitGroup
	var transports []*http.Transport
	for c := range clients {
		mode := clientMode(c % 3)
		tr := s.transport(mode)
		transports = append(transports, tr)
		client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
		rng := rand.New(rand.NewPCG(uint64(n), uint64(c)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				k := pick(rng)
				if i == hangsAt(n, c) {
					k = kHang
				}
				id := fmt.Sprintf("r%d-c%d-%d", n, c, i)
				s.request(client, mode, k, id, out)
				out.count(k)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.hostile(out)
	}()
	wg.Wait()
	for _, tr := range transports {
		tr.CloseIdleConnections()
	}
	return out
}

// request sends one request of kind k and checks its answer.
func (s *suite) request(c *http.Client, mode clientMode, k kind, id string, out *outcome) {
	scheme := "https"
	if mode == plainHTTP {
		scheme = "http"
	}
	q := "?id=" + id + "&q=" + secret
	method, host, path, body := http.MethodGet, shopHost, "/page", ""
	hdr := http.Header{"Cookie": {cookieHeader}}
	switch k {
	case kBlocked:
		host, path = pixelHost, "/tr"
		hdr.Set("Sec-Fetch-Dest", "image")
		hdr.Set("Sec-Fetch-Site", "cross-site")
	case kStripped:
		method, host, path, body = http.MethodPost, analyticsHost, "/g/collect", "en=page_view&q="+secret
		hdr.Set(proxy.HeaderProfile, "strip-trackers")
	case kReset:
		path = "/fault/reset"
	case kHang:
		path = "/fault/hang"
	case k5xx:
		path = "/fault/500"
	case kSlow:
		path = "/fault/slow"
	case kDead:
		host = deadHost
	}
	req, err := http.NewRequest(method, scheme+"://"+host+path+q, strings.NewReader(body))
	if err != nil {
		out.fail("%s %s: %v", k, id, err)
		return
	}
	req.Header = hdr
	resp, err := c.Do(req)
	var got []byte
	var readErr error
	if err == nil {
		got, readErr = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	where := fmt.Sprintf("%s %s (%s)", k, id, mode)
	if isTimeout(err) || isTimeout(readErr) {
		out.fail("%s: hung (no answer within 20s)", where)
		return
	}
	if k == kReset {
		if err == nil && readErr == nil && len(got) == resetDeclared {
			out.fail("%s: got the whole body of a reset response", where)
		}
		return
	}
	if err != nil || readErr != nil {
		out.fail("%s: %v %v", where, err, readErr)
		return
	}
	if strings.Contains(string(got), secret) {
		out.fail("%s: the answer quotes a secret: %q", where, got)
	}
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if name, _, _ := strings.Cut(sc, "="); refusedCookies()[name] {
			out.fail("%s: refused Set-Cookie %s delivered", where, name)
		}
	}
	upCookies, reached := s.web.cookiesOf(id)
	check := func(ok bool, want string) {
		if !ok {
			out.fail("%s: got %d %q (Set-Cookie %q, reached upstream %v with cookies %v); want %s",
				where, resp.StatusCode, clip(got), resp.Header.Values("Set-Cookie"), reached, upCookies, want)
		}
	}
	switch k {
	case kAllowed:
		check(resp.StatusCode == 200 && string(got) == "page "+id, "200 page "+id)
		check(slices.Contains(setCookieNames(resp), "JSESSIONID"), "the essential Set-Cookie delivered")
		check(reached && slices.Equal(upCookies, []string{"JSESSIONID", "shopprefs"}), "the upstream to see JSESSIONID and shopprefs only")
	case kBlocked:
		check(resp.StatusCode == 200 && resp.Header.Get("Content-Type") == "image/gif" && len(got) == transparentGIFSize, "the proxy's GIF")
		check(!reached, "nothing upstream")
	case kStripped:
		check(resp.StatusCode == 200 && string(got) == "tracker "+id && len(resp.Header.Values("Set-Cookie")) == 0, "200 tracker "+id+" without Set-Cookie")
		check(reached && len(upCookies) == 0, "the upstream to see no cookie")
	case kHang:
		check(resp.StatusCode == http.StatusGatewayTimeout && strings.Contains(string(got), "limits.response_header_timeout"), "504")
	case k5xx:
		check(resp.StatusCode == 500 && string(got) == "boom "+id, "the upstream's 500")
	case kSlow:
		check(resp.StatusCode == 200 && string(got) == slowBody(id), "the whole slow body")
	case kDead:
		check(resp.StatusCode == http.StatusBadGateway && strings.Contains(string(got), "cannot reach upstream "+deadHost), "502 naming "+deadHost)
		check(!reached, "nothing upstream")
	}
}

// hostile sends what a broken or malicious client would, while the load
// runs, and checks each gets its refusal without disturbing anyone.
func (s *suite) hostile(out *outcome) {
	addr := s.srv.Addr().String()
	tests := []struct {
		name       string
		tunnel     bool
		first      string
		trickle    bool
		wantStatus int
	}{
		{"garbage on the proxy port", false, "\x16\x03\x01\x00\x00 not http\r\n\r\n", false, 400},
		{"oversized header in a tunnel", true, "GET /page HTTP/1.1\r\nHost: shop.test\r\nX-Big: " + strings.Repeat("b", s.limits.MaxHeaderBytes) + "\r\n\r\n", false, 431},
		{"slowloris in a tunnel", true, "GET /page HTTP/1.1\r\nHost: shop.test\r\n", true, 408},
	}
	var wg sync.WaitGroup
	for _, tt := range tests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, err := hostileClient(addr, s.roots, tt.tunnel, tt.first, tt.trickle)
			if err != nil || status != tt.wantStatus {
				out.fail("hostile %s: got %d (%v), want %d", tt.name, status, err, tt.wantStatus)
			}
		}()
	}
	wg.Wait()
}

// hostileClient sends first (inside an intercepted tunnel if asked), then
// a header line every 50 ms if trickle, and returns the status of the
// answer.
func hostileClient(addr string, roots *x509.CertPool, tunnel bool, first string, trickle bool) (int, error) {
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	var conn net.Conn = raw
	if tunnel {
		fmt.Fprintf(raw, "CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n", shopHost, shopHost)
		br := bufio.NewReader(raw)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil || resp.StatusCode != 200 {
			return 0, fmt.Errorf("CONNECT: %v %v", resp, err)
		}
		tc := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: shopHost, NextProtos: []string{"http/1.1"}})
		if err := tc.Handshake(); err != nil {
			return 0, err
		}
		conn = tc
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := io.WriteString(conn, first); err != nil || !trickle {
			return
		}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(conn, "X-Slow: x\r\n"); err != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestFaultLoad is the suite: rounds of load with faults and hostile
// clients; nothing leaked, nothing lost, memory flat, no goroutine left.
func TestFaultLoad(t *testing.T) {
	soakFor := *soak
	if v := os.Getenv("CONSENTPROXY_SOAK"); v != "" && soakFor == 0 {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CONSENTPROXY_SOAK=%q: %v (want a duration such as 10m)", v, err)
		}
		soakFor = d
	}
	if dl, ok := t.Deadline(); ok && soakFor > 0 && time.Until(dl) < soakFor+time.Minute {
		// go test kills a test at -timeout (10m by default): stop in time to
		// report rather than be killed.
		soakFor = max(time.Until(dl)-time.Minute, 0)
		t.Logf("soak shortened to %s by go test -timeout; pass -timeout=0 for a longer one", soakFor.Round(time.Second))
	}
	s := newSuite(t)
	start := time.Now()
	var heapAfter2 uint64
	total := 0
	for n := 1; ; n++ {
		if soakFor == 0 && n > rounds || soakFor > 0 && n > rounds && time.Since(start) > soakFor {
			break
		}
		out := s.round(n)
		for _, c := range out.byKind {
			total += c
		}
		for i, f := range out.failures {
			if i == 10 {
				t.Errorf("round %d: ... %d failures in all", n, len(out.failures))
				break
			}
			t.Errorf("round %d: %s", n, f)
		}
		h := heapInUse()
		if n == 2 {
			heapAfter2 = h
		}
		t.Logf("round %d: %d requests %v, heap in use %.1f MiB, %d goroutines", n, clients*perClient, out.byKind,
			float64(h)/(1<<20), runtime.NumGoroutine())
		if n >= 5 {
			// Generous: the bound catches growth per request, not noise.
			if limit := heapAfter2 + max(heapAfter2/2, 8<<20); h > limit {
				t.Errorf("round %d: heap in use %d bytes, more than %d (round 2: %d): memory grows with the load", n, h, limit, heapAfter2)
			}
		}
		if t.Failed() {
			break
		}
	}
	if leaks := s.web.leaked(); len(leaks) > 0 {
		t.Errorf("refused cookies reached an upstream: %v", leaks[:min(10, len(leaks))])
	}
	if n := s.logLeaks.Load(); n > 0 {
		t.Errorf("%d log entries hold a cookie value or query string", n)
	}
	s.checkMetrics()
	s.shutdown()
	// Everything the proxy and the fake web started must be gone.
	goleak.VerifyNone(t)
	t.Logf("%d requests in %s", total, time.Since(start).Round(time.Millisecond))
}

// checkMetrics reads the proxy's own account of the run: no enforcement
// failure, every hostile client refused, the loads' blocks counted.
func (s *suite) checkMetrics() {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://" + s.srv.AdminAddr().String() + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	values := map[string]float64{}
	for _, line := range strings.Split(string(text), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v float64
		fmt.Sscan(line[i+1:], &v)
		values[line[:i]] = v
	}
	for series, want := range map[string]func(float64) bool{
		`consentproxy_enforcement_failures_total{stage="request"}`:               func(v float64) bool { return v == 0 },
		`consentproxy_enforcement_failures_total{stage="response"}`:              func(v float64) bool { return v == 0 },
		`consentproxy_client_errors_total{reason="malformed"}`:                   func(v float64) bool { return v >= 1 },
		`consentproxy_client_errors_total{reason="header-too-large"}`:            func(v float64) bool { return v >= 1 },
		`consentproxy_client_errors_total{reason="header-timeout"}`:              func(v float64) bool { return v >= 1 },
		`consentproxy_requests_total{action="block-image",category="marketing"}`: func(v float64) bool { return v >= 1 },
		`consentproxy_requests_total{action="strip",category="analytics"}`:       func(v float64) bool { return v >= 1 },
		`consentproxy_upstream_errors_total{reason="timeout"}`:                   func(v float64) bool { return v >= 1 },
		`consentproxy_upstream_errors_total{reason="connect"}`:                   func(v float64) bool { return v >= 1 },
	} {
		if v, ok := values[series]; !ok || !want(v) {
			s.t.Errorf("metric %s = %v (present %v)", series, v, ok)
		}
	}
}

// heapInUse is the heap in use after collecting twice (the second
// collection frees what the first one's finalizers released).
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && (errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded))
}

func setCookieNames(resp *http.Response) []string {
	var names []string
	for _, c := range resp.Cookies() {
		names = append(names, c.Name)
	}
	return names
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// secretScanner is a zap core that logs nothing and counts the entries
// that hold the secret: the suite's logs are checked as they are written,
// without keeping them (kept, they would grow the heap it measures).
type secretScanner struct {
	leaks  *atomic.Int64
	enc    zapcore.Encoder
	fields []zapcore.Field
}

func newSecretScanner(leaks *atomic.Int64) zapcore.Core {
	return &secretScanner{leaks: leaks, enc: zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())}
}

func (s *secretScanner) Enabled(zapcore.Level) bool { return true }

func (s *secretScanner) With(fields []zapcore.Field) zapcore.Core {
	return &secretScanner{leaks: s.leaks, enc: s.enc, fields: append(slices.Clone(s.fields), fields...)}
}

func (s *secretScanner) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, s)
}

func (s *secretScanner) Write(e zapcore.Entry, fields []zapcore.Field) error {
	buf, err := s.enc.EncodeEntry(e, append(slices.Clone(s.fields), fields...))
	if err != nil {
		return err
	}
	if strings.Contains(buf.String(), secret) {
		s.leaks.Add(1)
	}
	buf.Free()
	return nil
}

func (s *secretScanner) Sync() error { return nil }
