package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/consentproxy/consentproxy/config"
)

// recorder keeps what hooks saw, for the seam test.
type recorder struct {
	mu    sync.Mutex
	conns map[string][]*ConnInfo // by request path
}

func (r *recorder) add(path string, c *ConnInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns[path] = append(r.conns[path], c)
}

func (r *recorder) get(path string) []*ConnInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[path]
}

// The seam enforcement plugs into: hooks run in option order for every
// exchange (plain, MITM HTTP/1, MITM HTTP/2), a request hook's answer
// skips the upstream and the later request hooks but not the response
// hooks, and ConnInfo is per connection and shared by its requests.
func TestHooksOrderAndConnInfo(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream-Saw", r.Header.Get("X-Hooks"))
		io.WriteString(w, "from upstream")
	})
	up := newUpstream(t, upCA, echo, upstreamOpts{h2: true})
	plain := httptest.NewServer(echo)
	t.Cleanup(plain.Close)

	rec := &recorder{conns: map[string][]*ConnInfo{}}
	appendHeader := func(h http.Header, v string) {
		if old := h.Get("X-Hooks"); old != "" {
			v = old + "," + v
		}
		h.Set("X-Hooks", v)
	}
	reqA := RequestHookFunc(func(x *Exchange) *http.Response {
		rec.add(x.Request.URL.Path, x.Conn)
		if !x.Request.URL.IsAbs() {
			panic("request URL not absolute: " + x.Request.URL.String())
		}
		appendHeader(x.Request.Header, "A")
		if strings.HasSuffix(x.Request.URL.Path, "/blocked") {
			return &http.Response{StatusCode: http.StatusNoContent, Header: http.Header{}, Body: http.NoBody,
				Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		}
		return nil
	})
	reqB := RequestHookFunc(func(x *Exchange) *http.Response {
		appendHeader(x.Request.Header, "B")
		return nil
	})
	respC := ResponseHookFunc(func(x *Exchange, resp *http.Response) {
		resp.Header.Set("X-Resp-Hooks", "C")
		resp.Header.Set("X-Synthetic", fmt.Sprint(x.Synthetic))
	})
	respD := ResponseHookFunc(func(x *Exchange, resp *http.Response) {
		resp.Header.Set("X-Resp-Hooks", resp.Header.Get("X-Resp-Hooks")+",D")
	})

	cfg := testConfig(t, upCA)
	cfg.Resolve = []string{resolveTo("shop.test", up), "plain.test=" + plain.Listener.Addr().String()}
	e := startProxy(t, cfg, WithRequestHooks(reqA), WithRequestHooks(reqB), WithResponseHooks(respC, respD))

	tests := []struct {
		name        string
		base        string
		h2          bool
		wantTarget  string
		intercepted bool
	}{
		{"plain", "http://plain.test", false, "", false},
		{"mitm h1", "https://shop.test", false, "shop.test:443", true},
		{"mitm h2", "https://shop.test", true, "shop.test:443", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client(t, clientOpts{h2: tt.h2})
			prefix := "/" + strings.ReplaceAll(tt.name, " ", "-")
			for i := range 2 {
				path := fmt.Sprintf("%s/ok%d", prefix, i)
				status, body, resp := get(t, c, tt.base+path)
				if status != 200 || body != "from upstream" {
					t.Fatalf("got %d %q", status, body)
				}
				if got := resp.Header.Get("X-Upstream-Saw"); got != "A,B" {
					t.Errorf("upstream saw X-Hooks %q, want %q", got, "A,B")
				}
				if got := resp.Header.Get("X-Resp-Hooks"); got != "C,D" {
					t.Errorf("response hooks %q, want %q", got, "C,D")
				}
				if got := resp.Header.Get("X-Synthetic"); got != "false" {
					t.Errorf("Synthetic %q, want false", got)
				}
			}
			status, body, resp := get(t, c, tt.base+prefix+"/blocked")
			if status != http.StatusNoContent || body != "" {
				t.Fatalf("blocked: got %d %q, want 204", status, body)
			}
			if got, want := resp.Header.Get("X-Resp-Hooks")+" "+resp.Header.Get("X-Synthetic"), "C,D true"; got != want {
				t.Errorf("blocked: response hooks and Synthetic %q, want %q", got, want)
			}

			first, second := rec.get(prefix+"/ok0"), rec.get(prefix+"/ok1")
			if len(first) != 1 || len(second) != 1 {
				t.Fatalf("hook calls: %d and %d, want 1 each", len(first), len(second))
			}
			ci := first[0]
			if second[0] != ci {
				t.Errorf("two requests on one connection saw different ConnInfo values")
			}
			if ci.Listener != e.proxyURL.Host || !ci.Client.Addr().IsLoopback() || ci.Client.Port() == 0 ||
				ci.Target != tt.wantTarget || ci.Intercepted != tt.intercepted {
				t.Errorf("ConnInfo %+v, want listener %q, a loopback client, target %q, intercepted %v",
					*ci, e.proxyURL.Host, tt.wantTarget, tt.intercepted)
			}
		})
	}
}

// A request through the proxy must never reach the admin API or loop into
// the proxy itself, whatever name it uses for them.
func TestProxyRefusesItsOwnListeners(t *testing.T) {
	e := startProxy(t, testConfig(t, nil))
	adminPort := e.srv.AdminAddr().(*net.TCPAddr).Port
	proxyPort := e.srv.Addr().(*net.TCPAddr).Port
	c := e.client(t, clientOpts{})
	for _, u := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/healthz", adminPort),
		fmt.Sprintf("http://localhost:%d/healthz", adminPort),
		fmt.Sprintf("http://127.0.0.1:%d/", proxyPort),
	} {
		status, body, _ := get(t, c, u)
		if status != http.StatusForbidden || !strings.Contains(body, "own listener") {
			t.Errorf("GET %s through the proxy: got %d %q, want 403", u, status, body)
		}
	}
	conn, err := net.Dial("tcp", e.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n", adminPort)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("CONNECT to the admin port: got %d, want 403", resp.StatusCode)
	}
}

func TestAdminEndpoints(t *testing.T) {
	e := startProxy(t, testConfig(t, nil))
	base := "http://" + e.srv.AdminAddr().String()
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.Transport.(*http.Transport).CloseIdleConnections)

	tests := []struct {
		path, wantType string
		wantBody       []byte
	}{
		{"/healthz", "application/json", nil},
		{"/ca.pem", "application/x-pem-file", e.ca.CertPEM()},
		{"/ca.der", "application/x-x509-ca-cert", e.ca.CertDER()},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := c.Get(base + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.wantType {
				t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, resp.Header.Get("Content-Type"), tt.wantType)
			}
			if tt.wantBody != nil && string(body) != string(tt.wantBody) {
				t.Errorf("body differs from the CA certificate")
			}
			if strings.Contains(string(body), "PRIVATE") {
				t.Errorf("body contains a private key")
			}
			if tt.path == "/healthz" {
				var got map[string]string
				if err := json.Unmarshal(body, &got); err != nil || got["status"] != "ok" || len(got) != 1 {
					t.Errorf("healthz: %s (%v), want {\"status\":\"ok\"}", body, err)
				}
			}
		})
	}
}

func TestAdminOff(t *testing.T) {
	cfg := testConfig(t, nil)
	cfg.Admin = config.AdminOff
	e := startProxy(t, cfg)
	if e.srv.AdminAddr() != nil || e.srv.Admin() != nil {
		t.Fatalf("admin is off but AdminAddr = %v", e.srv.AdminAddr())
	}
}
