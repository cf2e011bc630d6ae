package proxy

import (
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/elazarl/goproxy"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/consentproxy/consentproxy/certs"
)

// BenchmarkHandler is the proxy's own work on one exchange inside an
// intercepted tunnel, as goproxy drives it, minus the sockets: the request
// handler (exchange, profile, facts, cached decision, Cookie rewrite or the
// block answer), an upstream response, the response handler (Set-Cookie
// filtering, metrics, the event into the ring and its sampled log entry),
// and the body streamed and closed. The requests are those of the load
// harness (bench/): a page that sets cookies, an image on it, a tracker
// pixel. "parallel" runs them from 16 goroutines: a lock that serialises
// exchanges shows as ns/op that does not fall with -cpu 1,2,4.
//
//	go test -run '^$' -bench Handler -benchmem ./proxy
func BenchmarkHandler(b *testing.B) {
	cfg := testConfig(b, nil)
	ca, _, err := certs.LoadOrCreate(cfg.CACert, cfg.CAKey)
	if err != nil {
		b.Fatal(err)
	}
	// The events log as `run` writes it: JSON, info level, sampled.
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel)
	s, err := New(cfg, ca, zap.New(core))
	if err != nil {
		b.Fatal(err)
	}
	tun := &tunnel{info: &ConnInfo{Listener: "127.0.0.1:8080", Client: netip.MustParseAddrPort("127.0.0.1:50000"),
		Target: "shop.test:443", Intercepted: true}}

	const cookies = "JSESSIONID=0F1E2D3C4B5A69788796A5B4C3D2E1F0; _ga=GA1.2.1459326719.1736335952; " +
		"_gid=GA1.2.2046128577.1736335952; session=eyJ1c2VyIjoxMjM0NX0.Zx9v3kQmW8pL2rN7; " +
		"xman_t=Qm9vbGVhbkFuZFN0cmluZw; _fbp=fb.1.1736335952411.872615923; prefs=lang%3Den-GB"
	setCookies := []string{
		"session=eyJ1c2VyIjoxMjM0NX0.Zx9v3kQmW8pL2rN7; Path=/; HttpOnly; SameSite=Lax",
		"_ga=GA1.1.1459326719.1736335952; Path=/; Max-Age=63072000; SameSite=Lax",
		"_fbp=fb.1.1736335952411.872615923; Path=/; Max-Age=7776000; SameSite=Lax",
		"xman_t=Qm9vbGVhbkFuZFN0cmluZw; Path=/; Max-Age=31536000",
		"prefs=lang%3Den-GB; Path=/; Max-Age=31536000",
	}
	type exchange struct {
		url        string
		hdr        http.Header
		respHeader http.Header // nil: the request must be answered by the proxy
		body       string
	}
	cases := []struct {
		name string
		x    exchange
	}{
		{"page", exchange{"https://shop.test/page", http.Header{
			"Sec-Fetch-Dest": {"document"}, "Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Site": {"none"},
			"Accept": {"text/html"}, "Cookie": {cookies},
		}, http.Header{"Content-Type": {"text/html"}, "Set-Cookie": setCookies}, strings.Repeat("x", 1500)}},
		{"image", exchange{"https://shop.test/pixel.gif", http.Header{
			"Sec-Fetch-Dest": {"image"}, "Sec-Fetch-Mode": {"no-cors"}, "Sec-Fetch-Site": {"same-origin"},
			"Accept": {"image/*"}, "Cookie": {cookies},
		}, http.Header{"Content-Type": {"image/gif"}}, transparentGIF}},
		{"tracker-blocked", exchange{"https://www.facebook.com/tr?id=1&ev=PageView", http.Header{
			"Sec-Fetch-Dest": {"image"}, "Sec-Fetch-Mode": {"no-cors"}, "Sec-Fetch-Site": {"cross-site"},
			"Referer": {"https://shop.test/"}, "Cookie": {"fr=1; _fbp=2"},
		}, nil, ""}},
	}
	run := func(b *testing.B, x exchange) {
		req, err := http.NewRequest(http.MethodGet, x.url, nil)
		if err != nil {
			b.Fatal(err)
		}
		for k, v := range x.hdr {
			req.Header[k] = append([]string(nil), v...)
		}
		ctx := &goproxy.ProxyCtx{Req: req, UserData: tun, RoundTripper: s.up}
		req, resp := s.handleRequest(req, ctx)
		if (resp != nil) != (x.respHeader == nil) {
			b.Fatalf("%s: answered by the proxy: %v", x.url, resp != nil)
		}
		if resp == nil {
			h := make(http.Header, len(x.respHeader))
			for k, v := range x.respHeader {
				h[k] = append([]string(nil), v...)
			}
			resp = &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: h, Body: io.NopCloser(strings.NewReader(x.body)), ContentLength: int64(len(x.body)), Request: req}
			resp = ctx.UserData.(*Exchange).track(resp)
		}
		resp = s.handleResponse(resp, ctx)
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, c := range cases {
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				run(b, c.x)
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8) // at least 16 goroutines
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					run(b, c.x)
				}
			})
		})
	}
	if s.ring.Total() == 0 {
		b.Fatal("no event was recorded")
	}
}
