package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// errOwnListener is returned by the dialer for a connection to one of the
// proxy's own listeners: a request through the proxy must never reach the
// admin API (it would let any page that can use the proxy switch profiles)
// nor loop back into the proxy.
var errOwnListener = errors.New("refusing to connect to the proxy's own listener")

// upstreamFailure is an upstream error turned into what the client is told.
type upstreamFailure struct {
	status int    // 502, 503, 504, 403
	reason string // short, no URL, no query string
	level  failureLevel
	// kind is a fixed word for the metrics label (reason is free text).
	kind string
}

// Kinds of upstream failure: the values of the reason label of
// consentproxy_upstream_errors_total.
const (
	failOwnListener = "own-listener"
	failDNS         = "dns"
	failCertificate = "certificate"
	failTLS         = "tls"
	failConnect     = "connect"
	failTimeout     = "timeout"
	failClosed      = "closed"
	failOther       = "other"
)

type failureLevel int

const (
	levelInfo failureLevel = iota
	levelWarn
)

// classifyUpstreamError maps an error from dialing or talking to an upstream
// to a status and a short reason. The reason never contains the request URL
// (the transport wraps errors in *url.Error, whose text has the full URL and
// its query string), only the error underneath.
func classifyUpstreamError(err error, lim timeouts) upstreamFailure {
	var ue *url.Error
	for errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		dnsErr   *net.DNSError
		opErr    *net.OpError
		verifErr *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		alert    tls.AlertError
		recErr   tls.RecordHeaderError
		netErr   net.Error
	)
	switch {
	case errors.Is(err, errOwnListener):
		return upstreamFailure{status: http.StatusForbidden, reason: errOwnListener.Error(), level: levelWarn, kind: failOwnListener}
	case errors.As(err, &dnsErr):
		reason := "cannot resolve host"
		switch {
		case dnsErr.IsNotFound:
			reason += ": no such host"
		case dnsErr.IsTimeout:
			reason += ": DNS lookup timed out"
		case dnsErr.Err != "":
			reason += ": " + dnsErr.Err
		}
		return upstreamFailure{status: http.StatusBadGateway, reason: reason, kind: failDNS}
	case errors.As(err, &verifErr), errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid):
		var inner error = err
		if verifErr != nil {
			inner = verifErr.Err
		}
		return upstreamFailure{status: http.StatusBadGateway, level: levelWarn, kind: failCertificate,
			reason: "upstream certificate not trusted: " + inner.Error() +
				" (add its CA with --upstream-ca FILE)"}
	case errors.As(err, &alert), errors.As(err, &recErr):
		return upstreamFailure{status: http.StatusBadGateway, level: levelWarn, kind: failTLS,
			reason: "TLS handshake with upstream failed: " + err.Error()}
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return upstreamFailure{status: http.StatusBadGateway, reason: dialReason(opErr, lim.dial), kind: failConnect}
	case isTLSHandshakeTimeout(err):
		return upstreamFailure{status: http.StatusBadGateway, kind: failTimeout,
			reason: "TLS handshake not done within " + lim.handshake.String() + " (limits.handshake_timeout)"}
	case strings.Contains(err.Error(), "timeout awaiting response headers"):
		return upstreamFailure{status: http.StatusGatewayTimeout, kind: failTimeout,
			reason: "no response headers within " + lim.responseHeader.String() + " (limits.response_header_timeout)"}
	case errors.As(err, &netErr) && netErr.Timeout():
		return upstreamFailure{status: http.StatusGatewayTimeout, reason: "timed out", kind: failTimeout}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return upstreamFailure{status: http.StatusBadGateway, reason: "connection closed before a complete response", kind: failClosed}
	}
	return upstreamFailure{status: http.StatusBadGateway, reason: redactURLs(err.Error()), kind: failOther}
}

func isTLSHandshakeTimeout(err error) bool {
	return strings.Contains(err.Error(), "TLS handshake timeout")
}

func dialReason(opErr *net.OpError, dial time.Duration) string {
	var errno syscall.Errno
	switch {
	case opErr.Timeout():
		return "connection not established within " + dial.String() + " (limits.dial_timeout)"
	case errors.Is(opErr, errOwnListener):
		return errOwnListener.Error()
	case errors.As(opErr, &errno):
		return errno.Error()
	}
	if opErr.Err != nil {
		return opErr.Err.Error()
	}
	return opErr.Error()
}

// timeouts names the limits that error messages quote.
type timeouts struct {
	dial, handshake, responseHeader time.Duration
}

// errorBody is the text a client gets for an upstream failure. hostPort is
// the upstream as host:port; never the URL, which may carry a query string.
func errorBody(hostPort string, f upstreamFailure) string {
	if f.status == http.StatusForbidden {
		return fmt.Sprintf("consentproxy: %s %s\n", f.reason, hostPort)
	}
	if f.status == http.StatusGatewayTimeout {
		return fmt.Sprintf("consentproxy: upstream %s timed out: %s\n", hostPort, f.reason)
	}
	return fmt.Sprintf("consentproxy: cannot reach upstream %s: %s\n", hostPort, f.reason)
}

// errorResponse builds the response that stands in for a failed upstream
// exchange. It keeps the connection open: inside a MITM tunnel the client
// can send its next request on it.
func errorResponse(req *http.Request, status int, body string) *http.Response {
	h := make(http.Header, 3)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// rawErrorResponse is errorResponse written straight onto a connection,
// for failures before any HTTP exchange exists (a CONNECT whose upstream
// cannot be dialled). It closes the connection after.
func rawErrorResponse(status int, body string) string {
	return fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"X-Content-Type-Options: nosniff\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}

// hostPort returns the authority of u with the scheme's default port added.
func hostPort(u *url.URL) string {
	if u == nil {
		return ""
	}
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" || u.Scheme == "wss" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}
