package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestConnectionCloseIsHopByHop: a client that sends Connection: close
// (one request per connection) gets its connection closed after the
// response, but the proxy's connection to the upstream stays pooled, as
// for any hop-by-hop header (RFC 9110 §7.6.1): the upstream sees every
// request on one connection, plain and inside an intercepted tunnel.
func TestConnectionCloseIsHopByHop(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	var mu sync.Mutex
	conns := map[string]map[string]bool{} // scheme -> upstream-side client addresses
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		mu.Lock()
		if conns[scheme] == nil {
			conns[scheme] = map[string]bool{}
		}
		conns[scheme][r.RemoteAddr] = true
		mu.Unlock()
		if r.Close {
			t.Errorf("%s upstream got Connection: close", scheme)
		}
		_, _ = io.WriteString(w, "ok")
	})
	tlsUp := newUpstream(t, upCA, handler, upstreamOpts{})
	plainUp := httptest.NewServer(handler)
	t.Cleanup(plainUp.Close)
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", tlsUp), "plain.test=" + plainUp.Listener.Addr().String()}
	e := startProxy(t, cfg)

	for _, url := range []string{"http://plain.test/", "https://shop.test/"} {
		c := e.client(t, clientOpts{})
		c.Transport.(*http.Transport).DisableKeepAlives = true // sends Connection: close
		for i := range 4 {
			resp, err := c.Get(url)
			if err != nil {
				t.Fatalf("%s request %d: %v", url, i, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s request %d: %s", url, i, resp.Status)
			}
			if !resp.Close {
				t.Errorf("%s request %d: the proxy kept the client's connection open after Connection: close", url, i)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, scheme := range []string{"http", "https"} {
		if got := len(conns[scheme]); got != 1 {
			t.Errorf("%s: upstream saw %d connections for 4 requests, want 1 (pooled)", scheme, got)
		}
	}
}
