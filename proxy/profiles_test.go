package proxy

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/consentproxy/consentproxy/config"
)

// testProfiles are config-file profiles exercising each policy.
func testProfiles() []config.Profile {
	all := []string{"analytics", "advertising", "marketing", "social", "functional"}
	return []config.Profile{
		{Name: "strip-all", Description: "refused trackers forwarded without cookies", OnDenied: "strip"},
		{Name: "fb-only", Allow: []string{"analytics"}, Vendors: map[string]string{"facebook": "allow", "google-analytics": "deny"}},
		{Name: "strict", Allow: all, UnknownCookies: "strip"},
		{Name: "signals", GPC: true, DNT: true},
	}
}

// on_denied: strip, vendor overrides and unknown_cookies: strip, each
// selected per request by X-Consent-Profile, against the request set.
func TestProfilePolicies(t *testing.T) {
	want := map[string]map[string]outcome{
		"strip-all": {
			"pixel":      {upstream: 1, status: 200, ctype: "image/gif"},
			"script":     {upstream: 1, status: 200, ctype: "text/javascript"},
			"beacon":     {upstream: 1, status: 204},
			"navigation": {upstream: 1, sawCookies: "sitepref", status: 200, ctype: "text/html", setCookies: "sitepref"},
			"page":       {upstream: 1, sawCookies: "JSESSIONID,shopprefs", status: 200, ctype: "text/html", setCookies: "JSESSIONID,shopprefs"},
		},
		"fb-only": {
			"pixel":      {upstream: 1, sawCookies: "_fbp,fr", status: 200, ctype: "image/gif", setCookies: "fr"},
			"script":     {status: 204},
			"beacon":     {status: 204},
			"navigation": {upstream: 1, sawCookies: "_fbp,fr,sitepref", status: 200, ctype: "text/html", setCookies: "fr,sitepref"},
			"page":       {upstream: 1, sawCookies: "JSESSIONID,shopprefs", status: 200, ctype: "text/html", setCookies: "JSESSIONID,shopprefs"},
		},
		"strict": {
			"pixel":      {upstream: 1, sawCookies: "_fbp,fr", status: 200, ctype: "image/gif", setCookies: "fr"},
			"script":     {upstream: 1, sawCookies: "_ga,_gcl_au,_gid", status: 200, ctype: "text/javascript", setCookies: "_ga,_gcl_au"},
			"beacon":     {upstream: 1, sawCookies: "_ga,_gid", status: 204, setCookies: "_gid"},
			"navigation": {upstream: 1, sawCookies: "_fbp,fr", status: 200, ctype: "text/html", setCookies: "fr"},
			"page":       {upstream: 1, sawCookies: "JSESSIONID,_ga", status: 200, ctype: "text/html", setCookies: "JSESSIONID,_ga"},
		},
	}
	upCA := newTestCA(t, "upstream test CA")
	for _, profile := range []string{"strip-all", "fb-only", "strict"} {
		t.Run(profile, func(t *testing.T) {
			web := newFakeWeb(t, upCA)
			cfg := webConfig(t, upCA, web)
			cfg.Profiles = testProfiles()
			e := startProxy(t, cfg)
			c := e.client(t, clientOpts{})
			for _, p := range requestSet() {
				resp, body := p.do(t, c, HeaderProfile, profile)
				got := outcome{
					upstream:   web.count(p.key),
					status:     resp.StatusCode,
					ctype:      resp.Header.Get("Content-Type"),
					proxyGIF:   string(body) == transparentGIF,
					setCookies: setCookieNames(resp),
				}
				if got.upstream > 0 {
					h := web.last(t, p.key)
					got.sawCookies = strings.Join(h.cookies, ",")
					if v := h.header.Values(HeaderProfile); len(v) > 0 {
						t.Errorf("%s: %s reached the upstream: %q", p.name, HeaderProfile, v)
					}
				}
				if w := want[profile][p.name]; got != w {
					t.Errorf("%s:\n got %+v\nwant %+v", p.name, got, w)
				}
			}
			if profile == "strip-all" {
				// Each stripped tracker is a strip event listing the cookies
				// of both directions.
				evs := eventsOf(t, e.admin(t), "?action=strip")
				var got []string
				for _, ev := range evs.Events {
					got = append(got, fmt.Sprintf("%s%s %v", ev.Host, ev.Path, summarize(ev.Cookies)))
				}
				want := []string{
					"www.google-analytics.com/g/collect [{_ga request analytics} {_gid request analytics} {_gid response analytics}]",
					"www.googletagmanager.com/gtag/js [{_ga request analytics} {_gid request analytics} {_gcl_au request advertising} {_ga response analytics} {_gcl_au response advertising}]",
					"www.facebook.com/tr [{fr request marketing} {_fbp request marketing} {fr response marketing}]",
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("strip events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
		})
	}
}

// Sec-GPC and DNT are added by profiles that ask for them; a browser's own
// Sec-GPC is kept whatever the profile; nothing is added otherwise.
func TestConsentSignals(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newFakeWeb(t, upCA)
	cfg := webConfig(t, upCA, web)
	cfg.Profiles = testProfiles()
	e := startProxy(t, cfg)
	c := e.client(t, clientOpts{})
	page := requestSet()[4]
	tests := []struct {
		name             string
		hdr              []string
		wantGPC, wantDNT string
	}{
		{"profile with gpc and dnt", []string{HeaderProfile, "signals"}, "1", "1"},
		{"profile without signals", []string{HeaderProfile, "reject-all"}, "", ""},
		{"browser's own Sec-GPC under a profile without gpc", []string{HeaderProfile, "accept-all", "Sec-GPC", "1"}, "1", ""},
		{"browser's own DNT kept", []string{"DNT", "1"}, "", "1"},
		{"browser's Sec-GPC and the profile's", []string{HeaderProfile, "signals", "Sec-GPC", "1"}, "1", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page.do(t, c, tt.hdr...)
			h := web.last(t, page.key).header
			if got := strings.Join(h.Values("Sec-GPC"), ","); got != tt.wantGPC {
				t.Errorf("upstream saw Sec-GPC %q, want %q", got, tt.wantGPC)
			}
			if got := strings.Join(h.Values("DNT"), ","); got != tt.wantDNT {
				t.Errorf("upstream saw DNT %q, want %q", got, tt.wantDNT)
			}
		})
	}
}

// proxyAt is the URL of a proxy listener, with credentials when user is
// not empty.
func proxyAt(addr net.Addr, user, pass string) *url.URL {
	u := &url.URL{Scheme: "http", Host: addr.String()}
	if user != "" {
		u.User = url.UserPassword(user, pass)
	}
	return u
}

// rawProxy sends one request line and headers to a proxy listener and
// returns its response (body read).
func rawProxy(t *testing.T, addr net.Addr, method, target string, hdr ...string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	host := target
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		host = u.Host
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, host)
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodConnect && resp.StatusCode/100 == 2 {
		return resp, "" // the body is the tunnel
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// Profile resolution in SPEC §4 order: header, proxy credentials (407
// flow, on plain HTTP and CONNECT), the listener's profile, the active
// default; and unknown names are refused, never replaced.
func TestProfileSelection(t *testing.T) {
	upCA := newTestCA(t, "upstream test CA")
	web := newFakeWeb(t, upCA)
	plain := newPlainRecorder(t)
	cfg := webConfig(t, upCA, web)
	cfg.Resolve = append(cfg.Resolve, resolveTo("plain.test", plain.srv))
	cfg.Profiles = testProfiles()
	cfg.Listeners = []config.Listener{
		{Listen: "127.0.0.1:0", Profile: "accept-all"},
		{Listen: "127.0.0.1:0", Auth: true},
	}
	cfg.ProxyPassword = "pw"
	e := startProxy(t, cfg)
	addrs := e.srv.ListenerAddrs()
	if len(addrs) != 3 {
		t.Fatalf("%d listeners, want 3", len(addrs))
	}
	main, fixed, auth := addrs[0], addrs[1], addrs[2]
	script := requestSet()[1] // analytics: 204 under reject-all, 200 under analytics-only and accept-all

	t.Run("requests", func(t *testing.T) {
		tests := []struct {
			name       string
			proxy      *url.URL
			hdr        []string
			connectHdr http.Header
			want       int
		}{
			{"default", proxyAt(main, "", ""), nil, nil, 204},
			{"header beats default", proxyAt(main, "", ""), []string{HeaderProfile, "accept-all"}, nil, 200},
			{"listener profile", proxyAt(fixed, "", ""), nil, nil, 200},
			{"header beats listener", proxyAt(fixed, "", ""), []string{HeaderProfile, "reject-all"}, nil, 204},
			{"credentials", proxyAt(auth, "analytics-only", "pw"), nil, nil, 200},
			{"credentials of another profile", proxyAt(auth, "reject-all", "pw"), nil, nil, 204},
			{"header beats credentials", proxyAt(auth, "analytics-only", "pw"), []string{HeaderProfile, "reject-all"}, nil, 204},
			{"CONNECT header fixes the tunnel", proxyAt(main, "", ""), nil, http.Header{HeaderProfile: {"accept-all"}}, 200},
			{"request header beats the CONNECT header", proxyAt(main, "", ""), []string{HeaderProfile, "reject-all"}, http.Header{HeaderProfile: {"accept-all"}}, 204},
			{"unknown profile in the header", proxyAt(main, "", ""), []string{HeaderProfile, "nope"}, nil, 400},
			{"empty header", proxyAt(main, "", ""), []string{HeaderProfile, ""}, nil, 400},
			{"conflicting headers", proxyAt(main, "", ""), []string{HeaderProfile, "accept-all", HeaderProfile, "reject-all"}, nil, 400},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := web.count(script.key)
				c := e.client(t, clientOpts{proxy: tt.proxy, connectHeader: tt.connectHdr})
				resp, body := script.do(t, c, tt.hdr...)
				if resp.StatusCode != tt.want {
					t.Fatalf("got %d %q, want %d", resp.StatusCode, body, tt.want)
				}
				reached := web.count(script.key) - before
				if wantReached := map[bool]int{true: 1, false: 0}[tt.want == 200]; reached != wantReached {
					t.Errorf("%d requests reached the upstream, want %d", reached, wantReached)
				}
				if tt.want == 400 {
					for _, p := range []string{"accept-all", "analytics-only", "reject-all", "strict"} {
						if !strings.Contains(string(body), p) {
							t.Errorf("400 body %q does not list profile %q", body, p)
						}
					}
				}
				if tt.want == 200 {
					h := web.last(t, script.key).header
					if h.Get(HeaderProfile) != "" || h.Get("Proxy-Authorization") != "" {
						t.Errorf("upstream saw %s %q / Proxy-Authorization %q", HeaderProfile, h.Get(HeaderProfile), h.Get("Proxy-Authorization"))
					}
				}
			})
		}
	})

	t.Run("407 flow", func(t *testing.T) {
		tests := []struct {
			name, method, target string
			hdr                  []string
			wantStatus           int
			wantBody             string
		}{
			{"CONNECT without credentials", "CONNECT", "www.googletagmanager.com:443", nil, 407, "proxy credentials required"},
			{"plain without credentials", "GET", "http://plain.test/x", nil, 407, "proxy credentials required"},
			{"unknown profile", "CONNECT", "shop.test:443", []string{"Proxy-Authorization", basic("nope", "pw")}, 407, `unknown consent profile "nope"`},
			{"wrong password", "CONNECT", "shop.test:443", []string{"Proxy-Authorization", basic("accept-all", "wrong")}, 407, "wrong proxy password"},
			{"not Basic", "GET", "http://plain.test/x", []string{"Proxy-Authorization", "Bearer abc"}, 407, "must be Basic"},
			{"good credentials, plain", "GET", "http://plain.test/x", []string{"Proxy-Authorization", basic("accept-all", "pw")}, 200, "plain /x"},
			{"good credentials, CONNECT", "CONNECT", "shop.test:443", []string{"Proxy-Authorization", basic("accept-all", "pw")}, 200, ""},
			{"unknown profile on CONNECT header", "CONNECT", "shop.test:443", []string{"Proxy-Authorization", basic("accept-all", "pw"), HeaderProfile, "nope"}, 400, `unknown consent profile "nope"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := rawProxy(t, auth, tt.method, tt.target, tt.hdr...)
				if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
					t.Fatalf("got %d %q, want %d containing %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
				}
				if tt.wantStatus == 407 {
					if got := resp.Header.Get("Proxy-Authenticate"); got != `Basic realm="consentproxy"` {
						t.Errorf("Proxy-Authenticate %q", got)
					}
					if !strings.Contains(tt.wantBody, "password") && !strings.Contains(body, "profiles: accept-all, analytics-only") {
						t.Errorf("407 body %q does not list the profiles", body)
					}
				}
			})
		}
		// The 407 keeps the connection open: a client retries on it.
		conn, err := net.Dial("tcp", auth.String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		for i, hdr := range []string{"", "Proxy-Authorization: " + basic("accept-all", "pw") + "\r\n"} {
			fmt.Fprintf(conn, "GET http://plain.test/retry HTTP/1.1\r\nHost: plain.test\r\n%s\r\n", hdr)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d on the same connection: %v", i, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if want := []int{407, 200}[i]; resp.StatusCode != want {
				t.Fatalf("request %d: got %d, want %d", i, resp.StatusCode, want)
			}
		}
		if got := plain.last(t).Header.Get("Proxy-Authorization"); got != "" {
			t.Errorf("the upstream saw Proxy-Authorization %q", got)
		}
	})

	t.Run("credentials carry into the tunnel", func(t *testing.T) {
		c := e.client(t, clientOpts{proxy: proxyAt(auth, "analytics-only", "pw")})
		if resp, _ := script.do(t, c); resp.StatusCode != 200 {
			t.Fatalf("script under analytics-only: %d", resp.StatusCode)
		}
		pixel := requestSet()[0]
		if resp, body := pixel.do(t, c); string(body) != transparentGIF {
			t.Fatalf("pixel under analytics-only: %d %q, want the proxy's GIF", resp.StatusCode, body)
		}
	})

	t.Run("a runtime switch leaves fixed profiles alone", func(t *testing.T) {
		a := e.admin(t)
		if status, body := a.do(t, "PUT", "/api/profile", map[string]string{"name": "strip-all"}); status != 200 {
			t.Fatalf("PUT: %d %s", status, body)
		}
		defer a.do(t, "PUT", "/api/profile", map[string]string{"name": "reject-all"})
		c := e.client(t, clientOpts{proxy: proxyAt(fixed, "", "")})
		resp, _ := script.do(t, c)
		if got := strings.Join(web.last(t, script.key).cookies, ","); resp.StatusCode != 200 || got != "_ga,_gcl_au,_gid" {
			t.Errorf("listener with accept-all: got %d, upstream saw cookies %q, want 200 with all three", resp.StatusCode, got)
		}
		// The main listener follows the switch (strip: forwarded bare).
		before := web.count(script.key)
		mc := e.client(t, clientOpts{})
		if resp, _ := script.do(t, mc); resp.StatusCode != 200 || web.count(script.key) != before+1 || len(web.last(t, script.key).cookies) != 0 {
			t.Errorf("main listener after switching to strip-all: %d, cookies %v", resp.StatusCode, web.last(t, script.key).cookies)
		}
	})
}
