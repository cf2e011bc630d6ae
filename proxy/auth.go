package proxy

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// Why our own proxy authentication: goproxy's ext/auth is unusable (its
// CONNECT variant turns MITM off, and its plain variant asks again for
// every request inside a tunnel). The gate below runs in front of goproxy
// on each listener, for plain requests and CONNECTs alike, and answers 407
// through the ordinary ResponseWriter, so the connection stays open and
// the client (Chromium, Playwright, curl) retries on it with credentials.

// profileChoice is a profile a request chose at the gate: by proxy
// credentials, or on a CONNECT by X-Consent-Profile. It travels in the
// request's context to handleConnect and handleRequest.
type profileChoice struct {
	name   string
	source ProfileSource
}

type choiceKey struct{}

func choiceFrom(ctx context.Context) (profileChoice, bool) {
	c, ok := ctx.Value(choiceKey{}).(profileChoice)
	return c, ok
}

// authRealm is the realm of the Basic challenge.
const authRealm = `Basic realm="consentproxy"`

// gate wraps the proxy handler of listener index: it checks proxy
// credentials when the listener asks for them, removes them from the
// request, and validates a CONNECT's X-Consent-Profile, so that a tunnel
// is never opened under a profile that does not exist.
func (s *Server) gate(index int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		snap := s.snap.Load()
		var choice profileChoice
		if snap.listeners[index].auth {
			name, reason, msg := checkCredentials(snap, r.Header.Get("Proxy-Authorization"))
			if reason != "" {
				s.metrics.authFailures.WithLabelValues(reason).Inc()
				if ce := s.log.Check(zap.InfoLevel, "proxy credentials refused"); ce != nil {
					ce.Write(zap.String("reason", reason), zap.String("method", r.Method), zap.String("remote", r.RemoteAddr))
				}
				challenge(w, msg)
				return
			}
			choice = profileChoice{name: name, source: SourceCredentials}
		}
		r.Header.Del("Proxy-Authorization")
		if r.Method == http.MethodConnect {
			if vals := r.Header.Values(HeaderProfile); len(vals) > 0 {
				name, msg := headerProfileName(vals)
				if msg == "" && snap.profile(name) == nil {
					msg = "unknown consent profile " + strconv.Quote(name) + " in " + HeaderProfile
				}
				if msg != "" {
					s.metrics.profileErrors.Inc()
					writeTextError(w, http.StatusBadRequest, "consentproxy: "+msg+"; profiles: "+snap.profileNames()+"\n")
					return
				}
				choice = profileChoice{name: name, source: SourceHeader}
			}
		}
		if choice.name != "" {
			r = r.WithContext(context.WithValue(r.Context(), choiceKey{}, choice))
		}
		next.ServeHTTP(w, r)
	})
}

// checkCredentials checks a Proxy-Authorization value: Basic, the username
// naming a profile, and the shared password when one is set (compared in
// constant time; any password when none is). It returns the profile, or a
// metrics reason and the text of the 407.
func checkCredentials(snap *snapshot, header string) (name, reason, msg string) {
	profiles := "; profiles: " + snap.profileNames()
	if header == "" {
		return "", "missing", "proxy credentials required: use a consent profile name as the proxy username" + profiles
	}
	scheme, cred, _ := strings.Cut(header, " ")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	user, pass, ok := strings.Cut(string(raw), ":")
	if !strings.EqualFold(scheme, "Basic") || err != nil || !ok {
		return "", "malformed", "proxy credentials must be Basic (username = consent profile name)" + profiles
	}
	if snap.profile(user) == nil {
		return "", "unknown-profile", "unknown consent profile " + strconv.Quote(user) + " in the proxy username" + profiles
	}
	if snap.password != "" && subtle.ConstantTimeCompare([]byte(pass), []byte(snap.password)) != 1 {
		return "", "wrong-password", "wrong proxy password (proxy_password)"
	}
	return user, "", ""
}

// challenge answers 407 with the Basic challenge browsers and test
// runners need to send their credentials.
func challenge(w http.ResponseWriter, msg string) {
	w.Header().Set("Proxy-Authenticate", authRealm)
	writeTextError(w, http.StatusProxyAuthRequired, "consentproxy: "+msg+"\n")
}

func writeTextError(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
