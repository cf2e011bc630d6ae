package proxy

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// goproxyLogger bridges goproxy's printf Logger to zap. goproxy embeds full
// URLs (query strings included) and raw errors in its messages, so every
// line is redacted before it is logged. Lines tagged "WARN:" go out at Warn,
// everything else at Debug; a few warnings that only describe a connection
// ending the ordinary way (the client left, or we closed it on purpose) are
// demoted to Debug, or every idle browser tab would warn every two minutes.
type goproxyLogger struct{ log *zap.Logger }

// sessionPrefix matches goproxy's "[%03d] " line prefix.
var sessionPrefix = regexp.MustCompile(`^\[(\d+)\] `)

func (g goproxyLogger) Printf(format string, v ...any) {
	msg := strings.TrimRight(fmt.Sprintf(format, v...), "\n")
	var fields []zap.Field
	if m := sessionPrefix.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.ParseInt(m[1], 10, 64); err == nil {
			fields = append(fields, zap.Int64("session", n))
		}
		msg = msg[len(m[0]):]
	}
	level := zapcore.DebugLevel
	if rest, ok := strings.CutPrefix(msg, "WARN: "); ok {
		msg = rest
		if !benignClose(msg) {
			level = zapcore.WarnLevel
		}
	} else {
		msg = strings.TrimPrefix(msg, "INFO: ")
	}
	if ce := g.log.Check(level, "goproxy"); ce != nil {
		ce.Write(append(fields, zap.String("detail", redactURLs(msg)))...)
	}
}

// benignClose reports goproxy warnings that describe a connection ending
// normally rather than a fault.
func benignClose(msg string) bool {
	for _, s := range []string{
		"closed by consentproxy",
		"use of closed network connection",
		"connection reset by peer",
		"broken pipe",
		": EOF",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// urlInText finds absolute URLs in free text, up to whitespace or a quote.
var urlInText = regexp.MustCompile(`(?i)\b(?:https?|wss?)://[^\s"'<>]+`)

// redactURLs removes query strings, fragments and userinfo from every URL
// in s: they carry session ids, e-mail addresses and tokens that must never
// reach a log.
func redactURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, redactURL)
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Unparseable: keep only what comes before any query or fragment.
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			return raw[:i]
		}
		return raw
	}
	return safeURL(u)
}

// safeURL renders u without userinfo, query string or fragment.
func safeURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, Opaque: u.Opaque}
	return c.String()
}

// stdlibLogWriter receives net/http.Server's ErrorLog lines (accept
// errors, panics in handlers, protocol violations by clients): redacted,
// at Warn.
type stdlibLogWriter struct{ log *zap.Logger }

func (w stdlibLogWriter) Write(p []byte) (int, error) {
	w.log.Warn("http server", zap.String("detail", redactURLs(strings.TrimRight(string(p), "\n"))))
	return len(p), nil
}
