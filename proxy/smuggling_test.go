package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Refused cookies sent in every odd shape a page or a client could use to
// slip them past the filter (several Cookie lines, a lower-case name,
// nameless pairs that servers read as name=value, stray blanks and
// quotes, folded or malformed header lines) never reach the upstream, on
// plain requests and inside HTTP/1 and HTTP/2 tunnels; the essential
// cookie sent alongside still does.
func TestCookieSmugglingNeverReachesTheUpstream(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	var mu sync.Mutex
	var lines []string // every Cookie line that reached an upstream
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lines = append(lines, r.Header.Values("Cookie")...)
		mu.Unlock()
		io.WriteString(w, "ok")
	})
	up := newUpstream(t, upCA, record, upstreamOpts{h2: true})
	plain := httptest.NewServer(record)
	t.Cleanup(plain.Close)
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up), "plain.test=" + plain.Listener.Addr().String()}
	e := startProxy(t, cfg)

	refused := []string{"_ga", "_gid", "_fbp"}
	smuggled := []string{
		"Cookie: JSESSIONID=keep\r\nCookie: _ga=GA1.2.SMUGGLED\r\n",
		"cookie: _gid=SMUGGLED; JSESSIONID=keep\r\n",
		"Cookie: =_ga=SMUGGLED; JSESSIONID=keep\r\n",
		"Cookie:    _ga =SMUGGLED ;JSESSIONID=keep;  _fbp\t=\"SMUGGLED\"\r\n",
		"Cookie: JSESSIONID=keep;;; ; _gid; _ga=\r\n",
		"Cookie: JSESSIONID=keep\r\n _ga=SMUGGLED\r\n",         // folded: refused outright
		"Cookie : _ga=SMUGGLED\r\nCookie: JSESSIONID=keep\r\n", // space before the colon: refused outright
	}
	send := func(conn net.Conn, target, host, cookies string) {
		got := sendRaw(t, conn, "GET "+target+" HTTP/1.1\r\nHost: "+host+"\r\n"+cookies+"Connection: close\r\n\r\n")
		if got.status != 200 && got.status != 400 {
			t.Errorf("%q: status %d %q", cookies, got.status, got.body)
		}
	}
	for _, cookies := range smuggled {
		c, err := net.Dial("tcp", e.srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		send(c, "http://plain.test/", "plain.test", cookies)
		send(dialMITM(t, e, "shop.test:443"), "/", "shop.test", cookies)
	}
	// HTTP/2 sends each pair as its own cookie field.
	h2 := e.client(t, clientOpts{h2: true})
	for _, cookies := range []string{"JSESSIONID=keep; _ga=GA1.2.SMUGGLED; _gid=SMUGGLED", "=_fbp=SMUGGLED; JSESSIONID=keep"} {
		if status, _, resp := get(t, h2, "https://shop.test/h2", "Cookie", cookies); status != 200 || resp.ProtoMajor != 2 {
			t.Errorf("HTTP/2 %q: %d over HTTP/%d", cookies, status, resp.ProtoMajor)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	kept := 0
	for _, line := range lines {
		for _, name := range refused {
			if strings.Contains(line, name) || strings.Contains(line, "SMUGGLED") {
				t.Errorf("a refused cookie reached the upstream: Cookie: %s", line)
			}
		}
		if strings.Contains(line, "JSESSIONID=keep") {
			kept++
		}
	}
	// 5 of the 7 raw shapes are forwarded (the folded and malformed ones
	// are refused), on two paths, and 2 over HTTP/2.
	if want := 5*2 + 2; kept != want {
		t.Errorf("the essential cookie reached the upstream %d times, want %d", kept, want)
	}
}
