package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// A panic while deciding or rewriting fails closed: the request is
// answered 502 and never forwarded (a response is replaced by a 502, its
// Set-Cookie fields never delivered), the failure is an event and a
// metric, and the proxy goes on serving, inside tunnels too (a panic there
// would otherwise kill the process: goproxy does not recover).
func TestFailClosed(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newFakeWeb(t, upCA)
	boomReq := RequestHookFunc(func(x *Exchange) *http.Response {
		if strings.HasSuffix(x.Request.URL.Path, "/boom") {
			var m map[string]int
			m["x"]++ // a runtime error: assignment to entry in nil map
		}
		if x.Request.URL.Query().Get("panic") == "value" {
			panic("request header value " + secretValue)
		}
		return nil
	})
	boomResp := ResponseHookFunc(func(x *Exchange, resp *http.Response) {
		if x.Request.URL.Query().Get("panic") == "response" {
			panic("response hook failed")
		}
	})
	e := startProxy(t, webConfig(t, upCA, web), WithRequestHooks(boomReq), WithResponseHooks(boomResp))
	for _, h2 := range []bool{false, true} {
		c := e.client(t, clientOpts{h2: h2})
		tests := []struct {
			name, url, key string
			wantReached    int
		}{
			{"request hook panics", "https://shop.test/boom", "shop.test/boom", 0},
			{"request hook panics with request data", "https://shop.test/v?panic=value", "shop.test/v", 0},
			{"response hook panics", "https://shop.test/?panic=response", "shop.test/", 1},
		}
		for _, tt := range tests {
			before := web.count(tt.key)
			status, body, resp := get(t, c, tt.url, "Cookie", "_ga="+secretValue+"; JSESSIONID=x")
			if status != http.StatusBadGateway || !strings.Contains(body, "not forwarded") {
				t.Errorf("%s (h2 %v): got %d %q, want 502", tt.name, h2, status, body)
			}
			if got := web.count(tt.key) - before; got != tt.wantReached {
				t.Errorf("%s (h2 %v): %d requests reached the upstream, want %d", tt.name, h2, got, tt.wantReached)
			}
			if sc := resp.Header.Values("Set-Cookie"); len(sc) > 0 {
				t.Errorf("%s (h2 %v): Set-Cookie delivered: %q", tt.name, h2, sc)
			}
		}
		// The same tunnel still works.
		if status, _, _ := get(t, c, "https://shop.test/fine"); status != 200 {
			t.Errorf("after the failures (h2 %v): %d", h2, status)
		}
	}
	evs := eventsOf(t, e.admin(t), "?action=fail-closed")
	if evs.Count != 6 {
		t.Errorf("%d fail-closed events, want 6", evs.Count)
	}
	_, body := e.admin(t).do(t, "GET", "/metrics", nil)
	m := metricValues(t, string(body))
	if m[`consentproxy_enforcement_failures_total{stage="request"}`] != 4 || m[`consentproxy_enforcement_failures_total{stage="response"}`] != 2 {
		t.Errorf("failure metrics: request %v, response %v", m[`consentproxy_enforcement_failures_total{stage="request"}`],
			m[`consentproxy_enforcement_failures_total{stage="response"}`])
	}
	logs := e.logText()
	if !strings.Contains(logs, "assignment to entry in nil map") || !strings.Contains(logs, "panic_type=string") {
		t.Errorf("the log does not explain the failures")
	}
	if strings.Contains(logs, secretValue) {
		t.Errorf("the log quotes a panic value holding request data")
	}
}
