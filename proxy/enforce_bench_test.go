package proxy

import (
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/consentproxy/consentproxy/certs"
	"github.com/consentproxy/consentproxy/rules"
)

// benchServer is a Server that is never started: enforcement runs on
// in-memory exchanges, without sockets.
func benchServer(b *testing.B) *Server {
	b.Helper()
	cfg := testConfig(b, nil)
	ca, _, err := certs.LoadOrCreate(cfg.CACert, cfg.CAKey)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(cfg, ca, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// tenCookies is a first-party Cookie header of 10 pairs: essential,
// analytics, advertising, marketing and unknown names.
const tenCookies = "JSESSIONID=" + secretValue + "; _ga=GA1.2.1; _gid=GA1.2.2; _fbp=fb.1.2; _gcl_au=1.1; " +
	"cto_bundle=x; shopprefs=dark; cart=3; xman_t=a; lang=en"

func benchExchange(method, rawURL string, hdr http.Header) (*http.Request, *ConnInfo) {
	req, _ := http.NewRequest(method, rawURL, nil)
	req.Header = hdr
	return req, &ConnInfo{Listener: "127.0.0.1:8080", Client: netip.MustParseAddrPort("127.0.0.1:50000")}
}

// BenchmarkEnforceRequest is the whole request stage (profile resolution,
// facts, cached decision, cookie filtering or the block answer) on an
// in-memory exchange.
func BenchmarkEnforceRequest(b *testing.B) {
	s := benchServer(b)
	cases := []struct {
		name       string
		method     string
		url        string
		hdr        http.Header
		wantAction rules.Action
		wantBlock  bool
	}{
		{"allowed-10-cookies", "GET", "https://shop.test/products/42?q=1", http.Header{
			"Sec-Fetch-Site": {"same-origin"}, "Sec-Fetch-Mode": {"cors"}, "Sec-Fetch-Dest": {"empty"},
			"Accept": {"application/json"}, "Cookie": {tenCookies},
		}, rules.Allow, false},
		{"blocked-pixel", "GET", "https://www.facebook.com/tr?id=1&ev=PageView", http.Header{
			"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"no-cors"}, "Sec-Fetch-Dest": {"image"},
			"Referer": {"https://shop.test/"}, "Cookie": {"fr=1; _fbp=2"},
		}, rules.BlockImage, true},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			req, ci := benchExchange(bc.method, bc.url, bc.hdr)
			cookies := bc.hdr["Cookie"]
			b.ReportAllocs()
			for b.Loop() {
				req.Header["Cookie"] = cookies
				x := &Exchange{Request: req, Conn: ci}
				resp := s.requestStage(x)
				if (resp != nil) != bc.wantBlock || x.Consent.Decision.Action != bc.wantAction {
					b.Fatalf("got %v %s", resp != nil, x.Consent.Decision.Action)
				}
			}
			if got := req.Header.Get("Cookie"); !bc.wantBlock && (strings.Contains(got, "_ga") || !strings.Contains(got, "JSESSIONID")) {
				b.Fatalf("cookies after filtering: %q", got)
			}
		})
	}
}

// BenchmarkEnforceExchange is enforcement's whole share of one forwarded
// exchange: request stage, Set-Cookie filtering of a response setting 4
// cookies, and the metrics and event of the exchange.
func BenchmarkEnforceExchange(b *testing.B) {
	s := benchServer(b)
	req, ci := benchExchange("GET", "https://shop.test/", http.Header{
		"Sec-Fetch-Site": {"none"}, "Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Dest": {"document"}, "Cookie": {tenCookies},
	})
	cookies := req.Header["Cookie"]
	setCookies := []string{"_ga=GA1.2.3; Path=/; Max-Age=63072000", "JSESSIONID=abc; Path=/; HttpOnly",
		"shopprefs=dark; Path=/", "_fbp=fb.1.2; Path=/"}
	resp := &http.Response{StatusCode: 200, Header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		req.Header["Cookie"] = cookies
		resp.Header["Set-Cookie"] = setCookies
		x := &Exchange{Request: req, Conn: ci, state: exchangeState{started: time.Now()}}
		if s.requestStage(x) != nil {
			b.Fatal("blocked")
		}
		s.record(x, s.responseStage(x, resp).StatusCode)
	}
}

// BenchmarkEventEmission is the recording of a blocked exchange: metrics,
// the event built and added to the ring, and its log entry (JSON to
// io.Discard through the events sampler), serially and from every core.
func BenchmarkEventEmission(b *testing.B) {
	cfg := testConfig(b, nil)
	ca, _, err := certs.LoadOrCreate(cfg.CACert, cfg.CAKey)
	if err != nil {
		b.Fatal(err)
	}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel)
	s, err := New(cfg, ca, zap.New(core))
	if err != nil {
		b.Fatal(err)
	}
	req, ci := benchExchange("GET", "https://www.facebook.com/tr?id=1", http.Header{
		"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Dest": {"image"}, "Cookie": {"fr=1; _fbp=2"},
	})
	decided := &Exchange{Request: req, Conn: ci}
	if s.requestStage(decided) == nil {
		b.Fatal("not blocked")
	}
	consent := decided.Consent
	emit := func() {
		x := &Exchange{Request: req, Conn: ci, Consent: consent, state: exchangeState{started: time.Now()}}
		s.record(x, 200)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			emit()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8) // at least 16 goroutines
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				emit()
			}
		})
	})
}
