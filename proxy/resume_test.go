package proxy

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptrace"
	"testing"
)

// A client that reconnects to an intercepted host resumes its TLS session
// instead of paying a full handshake: the tunnels share session ticket
// keys although each CONNECT builds its own tls.Config.
func TestInterceptedTLSSessionsResume(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	up := newUpstream(t, upCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), upstreamOpts{})
	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up)}
	e := startProxy(t, cfg)

	c := e.client(t, clientOpts{})
	tr := c.Transport.(*http.Transport)
	tr.TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	// A new connection, and so a new CONNECT, for every request.
	tr.DisableKeepAlives = true

	var resumed []bool
	for range 3 {
		req, err := http.NewRequest("GET", "https://shop.test/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			TLSHandshakeDone: func(cs tls.ConnectionState, err error) {
				if err == nil {
					resumed = append(resumed, cs.DidResume)
				}
			},
		}))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if len(resumed) != 3 || resumed[0] || !resumed[1] || !resumed[2] {
		t.Errorf("handshakes resumed: %v, want [false true true] (a full handshake, then resumptions)", resumed)
	}
}
