package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func testTrustInfo() TrustInfo {
	return TrustInfo{
		CertFile: "/home/qa/.local/share/consentproxy/ca.pem",
		SHA256:   "AB:CD:EF",
		SPKI:     "c3BraWhhc2g+Lz0=",
		Proxy:    "127.0.0.1:9090",
		Admin:    "127.0.0.1:9091",
	}
}

func TestTrustSectionsAreFilledIn(t *testing.T) {
	info := testTrustInfo()
	var out bytes.Buffer
	if err := WriteTrustText(&out, TrustSections(info)); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"curl --proxy http://127.0.0.1:9090 --cacert /home/qa/.local/share/consentproxy/ca.pem https://example.com/",
		"certutil -d sql:/tmp/consentproxy-home/.pki/nssdb -N --empty-password",
		"certutil -d sql:/tmp/consentproxy-home/.pki/nssdb -A -t C,, -n consentproxy -i /home/qa/.local/share/consentproxy/ca.pem",
		"HOME=/tmp/consentproxy-home chromium --proxy-server=http://127.0.0.1:9090 --user-data-dir=/tmp/consentproxy-chromium",
		"certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n consentproxy -i /home/qa/.local/share/consentproxy/ca.pem",
		"--ignore-certificate-errors-spki-list=c3BraWhhc2g+Lz0=",
		"proxy: { server: 'http://127.0.0.1:9090' },",
		`proxy={"server": "http://127.0.0.1:9090"},`,
		`options.add_argument("--proxy-server=http://127.0.0.1:9090")`,
		"export NODE_EXTRA_CA_CERTS=/home/qa/.local/share/consentproxy/ca.pem",
		"export REQUESTS_CA_BUNDLE=/home/qa/.local/share/consentproxy/ca.pem",
		"export SSL_CERT_FILE=/home/qa/.local/share/consentproxy/ca.pem",
		"sudo cp /home/qa/.local/share/consentproxy/ca.pem /usr/local/share/ca-certificates/consentproxy.crt",
		"sudo update-ca-trust",
		"sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain /home/qa/.local/share/consentproxy/ca.pem",
		`Import-Certificate -FilePath consentproxy-ca.der -CertStoreLocation Cert:\CurrentUser\Root`,
		"AB:CD:EF",
		"http://127.0.0.1:9091/ca.pem",
		"http://127.0.0.1:9091/ca.der",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("trust text lacks %q", want)
		}
	}
	// Snippets are printed unindented, so they paste as they are
	// (Python cares).
	if !strings.Contains(text, "\nfrom selenium import webdriver\n") {
		t.Errorf("the Selenium snippet is indented or missing:\n%s", text)
	}
}

func TestTrustSectionsProxyAuth(t *testing.T) {
	tests := []struct {
		name        string
		auth, pwset bool
		want, not   []string
	}{
		{name: "no auth: credentials only in the per-context example",
			want: []string{"set proxy_auth: true", "username: 'accept-all', password: 'any'"},
			not:  []string{"username: 'reject-all'"}},
		{name: "auth, any password", auth: true,
			want: []string{"This proxy asks for credentials", "(any password)", "proxy: { server: 'http://127.0.0.1:9090', username: 'reject-all', password: 'any' },",
				`"username": "reject-all", "password": "any"`}},
		{name: "auth, password set: never printed", auth: true, pwset: true,
			want: []string{"password: '<proxy_password>'", "the configured proxy_password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := testTrustInfo()
			info.ProxyAuth, info.PasswordSet = tt.auth, tt.pwset
			var out bytes.Buffer
			WriteTrustText(&out, TrustSections(info))
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("has %q", n)
				}
			}
		})
	}
}

func TestTrustListeners(t *testing.T) {
	info := testTrustInfo()
	info.Listeners = []TrustListener{{Addr: "127.0.0.1:8082", Profile: "accept-all"}, {Addr: "127.0.0.1:8083", Auth: true}, {Addr: "127.0.0.1:8084"}}
	var out bytes.Buffer
	WriteTrustText(&out, TrustSections(info))
	want := "Other proxy ports of this installation: http://127.0.0.1:8082  (profile accept-all); http://127.0.0.1:8083  (asks for credentials; the username names the profile); http://127.0.0.1:8084  (the active profile)."
	if !strings.Contains(out.String(), want) {
		t.Errorf("listeners not described as %q:\n%s", want, out.String())
	}
}

// The Firefox policy is JSON whatever the path holds (Windows
// backslashes, quotes, spaces).
func TestFirefoxPolicyIsValidJSON(t *testing.T) {
	for _, cert := range []string{
		"/home/qa/.local/share/consentproxy/ca.pem",
		`C:\Users\Q A\AppData\consentproxy\ca.pem`,
		`/tmp/we"ird/ca.pem`,
	} {
		var p struct {
			Policies struct {
				Certificates struct{ Install []string }
				Proxy        struct {
					Mode, HTTPProxy             string
					UseHTTPProxyForAllProtocols bool
				}
			}
		}
		if err := json.Unmarshal([]byte(firefoxPolicy(cert, "127.0.0.1:9090")), &p); err != nil {
			t.Fatalf("policy for %q is not JSON: %v", cert, err)
		}
		got := p.Policies
		if len(got.Certificates.Install) != 1 || got.Certificates.Install[0] != cert ||
			got.Proxy.Mode != "manual" || got.Proxy.HTTPProxy != "127.0.0.1:9090" || !got.Proxy.UseHTTPProxyForAllProtocols {
			t.Errorf("policy for %q = %+v", cert, got)
		}
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/home/qa/ca.pem", "/home/qa/ca.pem"},
		{"/home/q a/ca.pem", "'/home/q a/ca.pem'"},
		{"/tmp/it's/ca.pem", `'/tmp/it'\''s/ca.pem'`},
		{"/tmp/$HOME/ca.pem", "'/tmp/$HOME/ca.pem'"},
		{"", "''"},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	info := testTrustInfo()
	info.CertFile = "/home/q a/ca.pem"
	var out bytes.Buffer
	WriteTrustText(&out, TrustSections(info))
	if !strings.Contains(out.String(), "--cacert '/home/q a/ca.pem' ") {
		t.Errorf("a path with a space is not quoted in shell snippets:\n%s", out.String())
	}
}

func TestTrustPage(t *testing.T) {
	info := testTrustInfo()
	info.CertFile = `/tmp/<script>alert("x")</script>&/ca.pem`
	calls := 0
	r := New(fakeCA{}, Options{Token: "s3cret"}, zap.NewNop())
	r.HandlePublic("GET /{$}", TrustPage(func() TrustInfo { calls++; return info }))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / = %d %s, want 200 text/html (no token needed)", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if calls != 1 {
		t.Errorf("info called %d times, want once per request", calls)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'none'", csp)
	}
	for _, want := range []string{
		`href="/ca.pem"`, `href="/ca.der"`,
		"http://127.0.0.1:9090",
		"--ignore-certificate-errors-spki-list=c3BraWhhc2g&#43;Lz0=",
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;/ca.pem",
		`<h2 id="chromium-nss">`,
		`<a href="#firefox">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") {
		t.Errorf("page holds a script element (unescaped input, or JavaScript where none is needed)")
	}
	// No external resource: every src/href is relative or a fragment.
	for _, m := range regexp.MustCompile(`(?i)(src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[2], "/") && !strings.HasPrefix(m[2], "#") {
			t.Errorf("page refers to %s=%q; it must be self-contained", m[1], m[2])
		}
	}

	// The page is exactly /: other paths keep the API's JSON 404, and the
	// cross-origin guard still applies.
	for _, tt := range []struct {
		path   string
		hdr    string
		status int
	}{
		{"/nope", "", 404},
		{"/index.html", "", 404},
		{"/", "cross-site", 403},
	} {
		req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
		if tt.hdr != "" {
			req.Header.Set("Sec-Fetch-Site", tt.hdr)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s (Sec-Fetch-Site %q) = %d %s, want %d JSON", tt.path, tt.hdr, resp.StatusCode, resp.Header.Get("Content-Type"), tt.status)
		}
	}
}
