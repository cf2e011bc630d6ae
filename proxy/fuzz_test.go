package proxy

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/consentproxy/consentproxy/certs"
	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/rules"
)

// adminMethods are the methods FuzzAdminAPI picks from.
var adminMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodHead, http.MethodOptions, "PATCH"}

// FuzzAdminAPI sends arbitrary requests to the admin API (method, path and
// query, content type, Origin, body): it never panics, answers only with
// the statuses the API documents, in JSON (except the metrics and the CA),
// and the active profile is only ever one that exists, switched only by a
// well-formed JSON PUT naming it.
func FuzzAdminAPI(f *testing.F) {
	dir := f.TempDir()
	cfg := config.Default()
	cfg.Listen, cfg.Admin, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dir
	cfg.FillPaths()
	cfg.Profiles = testProfiles()
	ca, _, err := certs.LoadOrCreate(cfg.CACert, cfg.CAKey)
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(cfg, ca, zap.NewNop())
	if err != nil {
		f.Fatal(err)
	}
	profiles := map[string]bool{}
	for _, p := range srv.snap.Load().set.Profiles() {
		profiles[p.Name] = true
	}
	for _, s := range []struct {
		method     uint8
		target, ct string
		origin     string
		body       string
	}{
		{0, "/api/profiles", "", "", ""},
		{0, "/api/profiles/strict", "", "", ""},
		{1, "/api/profile", "application/json", "", `{"name": "accept-all"}`},
		{1, "/api/profile", "application/json; charset=utf-8", "", `{"name": "nope"}`},
		{1, "/api/profile", "application/json", "", `{"name": "strict", "extra": 1}`},
		{1, "/api/profile", "application/json", "", `{"name": "strict"} {}`},
		{1, "/api/profile", "text/plain", "", `{"name": "accept-all"}`},
		{1, "/api/profile", "application/json", "https://evil.example", `{"name": "accept-all"}`},
		{2, "/api/reload", "application/json", "", `{}`},
		{2, "/api/reload", "application/json", "", `[`},
		{0, "/api/events?limit=5&host=facebook.com&action=block-image&category=marketing&profile=reject-all", "", "", ""},
		{0, "/api/events?limit=-1&bogus=1", "", "", ""},
		{0, "/metrics", "", "", ""},
		{0, "/ca.pem", "", "", ""},
		{3, "/api/profile", "", "", ""},
	} {
		f.Add(s.method, s.target, s.ct, s.origin, []byte(s.body))
	}
	statuses := map[int]bool{200: true, 400: true, 403: true, 404: true, 405: true, 413: true, 415: true}
	f.Fuzz(func(t *testing.T, method uint8, target, contentType, origin string, body []byte) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") {
			return
		}
		req := httptest.NewRequest(adminMethods[int(method)%len(adminMethods)], "http://127.0.0.1:8081/", bytes.NewReader(body))
		req.URL, req.RequestURI = u, target
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		before := srv.ActiveProfile()
		rec := httptest.NewRecorder()
		srv.Admin().ServeHTTP(rec, req)

		if rec.Code/100 == 3 && path.Clean(u.Path) != u.Path {
			return // net/http's redirect to the clean path
		}
		if !statuses[rec.Code] {
			t.Fatalf("%s %s: status %d", req.Method, target, rec.Code)
		}
		ct := rec.Header().Get("Content-Type")
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" && u.Path != "/metrics" && !strings.HasPrefix(u.Path, "/ca.") {
			t.Fatalf("%s %s: %d with Content-Type %q", req.Method, target, rec.Code, ct)
		}
		after := srv.ActiveProfile()
		if !profiles[after] {
			t.Fatalf("active profile %q does not exist", after)
		}
		if after != before {
			mt, _, _ := mime.ParseMediaType(contentType)
			sameOrigin := origin == ""
			if ou, err := url.Parse(origin); err == nil && strings.EqualFold(ou.Host, "127.0.0.1:8081") {
				sameOrigin = true
			}
			if req.Method != http.MethodPut || u.Path != "/api/profile" || mt != "application/json" || !sameOrigin || rec.Code != 200 {
				t.Fatalf("%s %s (%q, Origin %q) switched the profile from %s to %s", req.Method, target, contentType, origin, before, after)
			}
			if !bytes.Contains(body, []byte(after)) && !bytes.Contains(body, []byte(`\u`)) {
				t.Fatalf("switched to %s, which the body %q does not name", after, body)
			}
		}
	})
}

// FuzzRequestFacts reads the facts of requests with arbitrary URLs and
// fetch metadata: never a panic, a host in canonical form, a path without
// its query, and a top-level context only for a document.
func FuzzRequestFacts(f *testing.F) {
	for _, s := range [][7]string{
		{"https://www.facebook.com/tr?id=1", "image", "no-cors", "cross-site", "", "https://shop.test/", ""},
		{"https://Shop.Test./a/b?q=1#f", "document", "navigate", "none", "", "", "text/html"},
		{"http://[::1]:8080/x", "", "", "", "https://[::1]/", "", "image/webp,*/*"},
		{"https://a.example/", "", "", "", "null", "https://b.a.example/page", "application/javascript"},
		{"https://xn--bcher-kva.example/", "empty", "cors", "same-site", "https://xn--bcher-kva.example", "", "*/*"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], s[6])
	}
	f.Fuzz(func(t *testing.T, rawURL, dest, mode, site, origin, referer, accept string) {
		u, err := url.Parse(rawURL)
		if err != nil || u.Host == "" {
			return
		}
		h := http.Header{}
		for k, v := range map[string]string{"Sec-Fetch-Dest": dest, "Sec-Fetch-Mode": mode, "Sec-Fetch-Site": site,
			"Origin": origin, "Referer": referer, "Accept": accept} {
			if v != "" {
				h.Set(k, v)
			}
		}
		r := requestFacts(&http.Request{Method: http.MethodGet, URL: u, Header: h})
		if strings.ContainsAny(r.Host, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") || strings.HasSuffix(r.Host, ".") {
			t.Fatalf("host %q is not canonical (from %q)", r.Host, rawURL)
		}
		if want := u.Path; r.Path != want && !(want == "" && r.Path == "/") {
			t.Fatalf("path %q, want %q (from %q)", r.Path, want, rawURL)
		}
		switch r.Context {
		case rules.TopLevel:
			if r.Dest != rules.DestDocument || mode != "navigate" {
				t.Fatalf("top-level context for dest %v, mode %q", r.Dest, mode)
			}
		case rules.FirstParty, rules.ThirdParty:
		default:
			t.Fatalf("context %v", r.Context)
		}
		if site == "cross-site" && r.Context == rules.FirstParty {
			t.Fatalf("Sec-Fetch-Site: cross-site read as first-party")
		}
	})
}

// FuzzProxyCredentials checks proxy credentials and X-Consent-Profile as
// clients send them: never a panic; a profile is chosen only when it
// exists, by a well-formed Basic header carrying the right password; and
// the 407 text never quotes the password.
func FuzzProxyCredentials(f *testing.F) {
	open := testSnapshot(f, nil)
	locked := testSnapshot(f, func(c *config.Config) { c.ProxyPassword = "s3cret-pw" })
	for _, s := range []string{
		"", "Basic " + base64.StdEncoding.EncodeToString([]byte("strict:s3cret-pw")),
		"basic " + base64.StdEncoding.EncodeToString([]byte("reject-all:")),
		"Basic !!!", "Bearer x", "Basic " + base64.StdEncoding.EncodeToString([]byte("nope:s3cret-pw")),
		"Basic  " + base64.StdEncoding.EncodeToString([]byte("accept-all:s3cret-pw:")),
	} {
		f.Add(s, "strict", "")
	}
	f.Add("", " accept-all ", "accept-all")
	f.Add("", "a", "b")
	f.Fuzz(func(t *testing.T, header, profile1, profile2 string) {
		for _, snap := range []*snapshot{open, locked} {
			name, reason, msg := checkCredentials(snap, header)
			switch reason {
			case "":
				if snap.profile(name) == nil || msg != "" {
					t.Fatalf("chose %q (msg %q) from %q", name, msg, header)
				}
				scheme, cred, _ := strings.Cut(header, " ")
				raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
				user, pass, ok := strings.Cut(string(raw), ":")
				if !strings.EqualFold(scheme, "basic") || err != nil || !ok || user != name ||
					snap.password != "" && pass != snap.password {
					t.Fatalf("accepted %q as %q", header, name)
				}
			case "missing", "malformed", "unknown-profile", "wrong-password":
				if name != "" || msg == "" {
					t.Fatalf("refused (%s) with name %q, msg %q", reason, name, msg)
				}
				// The 407 text does not depend on the password sent.
				scheme, cred, _ := strings.Cut(header, " ")
				if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred)); err == nil {
					if user, pass, ok := strings.Cut(string(raw), ":"); ok {
						other := scheme + " " + base64.StdEncoding.EncodeToString([]byte(user+":other-"+pass))
						if _, reason2, msg2 := checkCredentials(snap, other); reason2 == reason && msg2 != msg {
							t.Fatalf("the 407 text depends on the password: %q vs %q", msg, msg2)
						}
					}
				}
			default:
				t.Fatalf("reason %q", reason)
			}
		}
		vals := []string{profile1}
		if profile2 != "" {
			vals = append(vals, profile2)
		}
		name, msg := headerProfileName(vals)
		if (name == "") == (msg == "") || name != strings.TrimSpace(name) {
			t.Fatalf("headerProfileName(%q) = %q, %q", vals, name, msg)
		}
	})
}

// FuzzRedactURLs feeds free text to the log redaction: no URL left in its
// output has a query string, a fragment or credentials.
func FuzzRedactURLs(f *testing.F) {
	for _, s := range []string{
		"Get \"https://shop.test/cart?session=SECRET\": EOF",
		"WARN: Cannot read request https://user:pw@a.test/#frag and http://b.test/?q=1",
		"wss://x.test/sock?token=1 HTTP://Y.TEST/p?q",
		"http://[::1:8080/?bad",
		"https://a.test/%zz?x=1",
		"no urls here ?q=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := redactURLs(s)
		for _, m := range urlInText.FindAllString(out, -1) {
			if strings.ContainsAny(m, "?#") {
				t.Fatalf("redactURLs(%q) = %q: %q keeps a query or fragment", s, out, m)
			}
			if u, err := url.Parse(m); err == nil && u.User != nil {
				t.Fatalf("redactURLs(%q) = %q: %q keeps credentials", s, out, m)
			}
		}
	})
}

// FuzzUpstreamRoots reads arbitrary bytes as an --upstream-ca file: never
// a panic, an error always names the file, and success means certificates.
func FuzzUpstreamRoots(f *testing.F) {
	ca := newTestCA(f, "fuzz CA")
	f.Add(ca.pem)
	f.Add(append(append([]byte("junk\n"), ca.pem...), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")...))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "/etc/fuzz/roots.pem"
		pool := x509.NewCertPool()
		err := appendRoots(pool, name, data)
		if err != nil && !strings.Contains(err.Error(), name) {
			t.Fatalf("error does not name the file: %v", err)
		}
		if err == nil && !bytes.Contains(data, []byte("-----BEGIN CERTIFICATE-----")) {
			t.Fatalf("no error for data without a certificate block")
		}
	})
}
