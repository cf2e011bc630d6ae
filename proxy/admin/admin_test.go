package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type fakeCA struct{}

func (fakeCA) CertPEM() []byte {
	return []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
}
func (fakeCA) CertDER() []byte { return []byte{0x30, 0x82, 0x01} }

func TestRouter(t *testing.T) {
	r := New(fakeCA{}, Options{Token: "s3cret", Pprof: true}, zap.NewNop())
	r.Handle("PUT /api/profile", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"profile": "changed"})
	}))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	host := srv.Listener.Addr().String()

	tests := []struct {
		name       string
		method     string
		path       string
		hdr        map[string]string
		host       string
		wantStatus int
		wantType   string
		wantBody   string
	}{
		{"healthz", "GET", "/healthz", nil, "", 200, "application/json", "{\n  \"status\": \"ok\"\n}\n"},
		{"healthz without token even when one is set", "GET", "/healthz", nil, "", 200, "application/json", ""},
		{"ca.pem", "GET", "/ca.pem", nil, "", 200, "application/x-pem-file", string(fakeCA{}.CertPEM())},
		{"ca.der", "GET", "/ca.der", nil, "", 200, "application/x-x509-ca-cert", string(fakeCA{}.CertDER())},
		{"HEAD healthz", "HEAD", "/healthz", nil, "", 200, "application/json", ""},
		{"POST healthz", "POST", "/healthz", nil, "", 405, "", ""},
		{"unknown path", "GET", "/nope", nil, "", 404, "application/json", "{\n  \"error\": \"no such admin endpoint: /nope\"\n}\n"},
		{"protected without token", "PUT", "/api/profile", nil, "", 401, "application/json", ""},
		{"protected wrong token", "PUT", "/api/profile", map[string]string{"Authorization": "Bearer nope"}, "", 401, "application/json", ""},
		{"protected with token", "PUT", "/api/profile", map[string]string{"Authorization": "Bearer s3cret", "Content-Type": "application/json"}, "", 200, "application/json", ""},
		{"write with JSON and a charset", "PUT", "/api/profile", map[string]string{"Authorization": "Bearer s3cret", "Content-Type": "application/json; charset=utf-8"}, "", 200, "application/json", ""},
		{"write without a content type", "PUT", "/api/profile", map[string]string{"Authorization": "Bearer s3cret"}, "", 415, "application/json", ""},
		{"write as a form would", "PUT", "/api/profile", map[string]string{"Authorization": "Bearer s3cret", "Content-Type": "application/x-www-form-urlencoded"}, "", 415, "application/json", ""},
		{"write as text/plain", "PUT", "/api/profile", map[string]string{"Authorization": "Bearer s3cret", "Content-Type": "text/plain"}, "", 415, "application/json", ""},
		{"pprof needs the token", "GET", "/debug/pprof/", nil, "", 401, "application/json", ""},
		{"cross-site fetch", "PUT", "/api/profile", map[string]string{"Authorization": "Bearer s3cret", "Sec-Fetch-Site": "cross-site"}, "", 403, "application/json", ""},
		{"same-site fetch (another port)", "GET", "/healthz", map[string]string{"Sec-Fetch-Site": "same-site"}, "", 403, "application/json", ""},
		{"foreign Origin", "GET", "/ca.pem", map[string]string{"Origin": "https://evil.example"}, "", 403, "application/json", ""},
		{"null Origin", "GET", "/healthz", map[string]string{"Origin": "null"}, "", 403, "application/json", ""},
		{"own Origin", "GET", "/healthz", map[string]string{"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}, "", 200, "application/json", ""},
		{"DNS rebinding Host", "GET", "/healthz", nil, "evil.example:8081", 403, "application/json", ""},
		{"localhost Host", "GET", "/healthz", nil, "localhost:8081", 200, "application/json", ""},
	}
	c := srv.Client()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantType != "" && resp.Header.Get("Content-Type") != tt.wantType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tt.wantType)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
			if resp.StatusCode >= 400 && tt.wantType == "application/json" {
				var e map[string]string
				if err := json.Unmarshal(body, &e); err != nil || e["error"] == "" {
					t.Errorf("error body %q is not {\"error\": ...}", body)
				}
			}
		})
	}
}

func TestRouterWithoutToken(t *testing.T) {
	r := New(fakeCA{}, Options{}, zap.NewNop())
	r.Handle("GET /api/x", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	for _, tt := range []struct {
		path string
		want int
	}{{"/api/x", 204}, {"/debug/pprof/", 404}} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://127.0.0.1:8081"+tt.path, nil)
		r.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("GET %s: got %d, want %d", tt.path, rec.Code, tt.want)
		}
	}
}
