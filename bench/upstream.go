package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// The upstream is the origin every target reaches: plain HTTP and HTTPS
// listeners on loopback, both serving the same three resources. Its TLS
// certificate comes from a test CA of its own (not any proxy's), with one
// leaf naming shop.test, every *.shop.test and 127.0.0.1, so a request for
// a new host name costs the upstream nothing extra: the "new host" scenario
// then measures the proxy's own first-handshake cost.

// pixelGIF is the 43-byte transparent 1x1 GIF trackers serve.
const pixelGIF = "GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"

const largeBodySize = 1 << 20

// pageBody is a small HTML page, about the size of a server-rendered
// fragment or an API answer.
const pageBody = "<!doctype html><html><head><title>shop.test</title></head><body>" +
	pageParagraph + pageParagraph + pageParagraph + pageParagraph + pageParagraph + pageParagraph +
	pageParagraph + pageParagraph + pageParagraph + pageParagraph + pageParagraph + pageParagraph +
	"</body></html>\n"

const pageParagraph = "<p>consentproxy load harness: a small page that sets cookies, about the size of a server-rendered fragment.</p>\n"

// pageSetCookies are the cookies /page sets: essential, analytics,
// advertising and unknown names, as a shop's landing page would.
func pageSetCookies() []string {
	return []string{
		"session=eyJ1c2VyIjoxMjM0NX0.Zx9v3kQmW8pL2rN7; Path=/; HttpOnly; SameSite=Lax",
		"_ga=GA1.1.1459326719.1736335952; Path=/; Max-Age=63072000; SameSite=Lax",
		"_fbp=fb.1.1736335952411.872615923; Path=/; Max-Age=7776000; SameSite=Lax",
		"xman_t=Qm9vbGVhbkFuZFN0cmluZw; Path=/; Max-Age=31536000",
		"prefs=lang%3Den-GB; Path=/; Max-Age=31536000",
	}
}

// upstreamCookieHeader reports how many Cookie pairs the upstream received,
// so the harness can show that a proxy filtered them.
const upstreamCookieHeader = "X-Bench-Cookie-Pairs"

// upstream is the running origin.
type upstream struct {
	httpAddr  string // 127.0.0.1:port of the plain listener
	httpsAddr string // 127.0.0.1:port of the TLS listener
	caFile    string // PEM of the upstream test CA
	roots     *x509.CertPool
	servers   []*http.Server
}

func startUpstream(dir string) (*upstream, error) {
	caPEM, leaf, err := upstreamCertificates()
	if err != nil {
		return nil, err
	}
	u := &upstream{caFile: dir + "/upstream-ca.pem", roots: x509.NewCertPool()}
	if !u.roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("upstream: test CA does not parse")
	}
	if err := os.WriteFile(u.caFile, caPEM, 0o644); err != nil {
		return nil, fmt.Errorf("upstream: write test CA: %w", err)
	}
	mux := http.NewServeMux()
	setCookies := pageSetCookies()
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		commonHeaders(w, r, "text/html; charset=utf-8", len(pageBody))
		w.Header()["Set-Cookie"] = setCookies
		_, _ = io.WriteString(w, pageBody)
	})
	mux.HandleFunc("/pixel.gif", func(w http.ResponseWriter, r *http.Request) {
		commonHeaders(w, r, "image/gif", len(pixelGIF))
		_, _ = io.WriteString(w, pixelGIF)
	})
	// One chunk written repeatedly: a 1 MiB answer allocates nothing.
	chunk := bytes.Repeat([]byte("consentproxy-bench-1MiB-body.\n"), 1100)[:32<<10]
	mux.HandleFunc("/large", func(w http.ResponseWriter, r *http.Request) {
		commonHeaders(w, r, "application/octet-stream", largeBodySize)
		for sent := 0; sent < largeBodySize; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})

	for _, useTLS := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			u.close()
			return nil, fmt.Errorf("upstream: listen: %w", err)
		}
		srv := &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       5 * time.Minute,
			ErrorLog:          log.New(io.Discard, "", 0),
			// HTTP/1.1 only: every target then talks to the upstream the
			// same way (a proxy that multiplexes its upstream over HTTP/2
			// while another opens a pool would measure the upstream).
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		}
		u.servers = append(u.servers, srv)
		if useTLS {
			u.httpsAddr = ln.Addr().String()
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}
			go func() { _ = srv.ServeTLS(ln, "", "") }()
		} else {
			u.httpAddr = ln.Addr().String()
			go func() { _ = srv.Serve(ln) }()
		}
	}
	return u, nil
}

func (u *upstream) close() {
	for _, s := range u.servers {
		_ = s.Close()
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func countCookiePairs(r *http.Request) int {
	n := 0
	for _, line := range r.Header.Values("Cookie") {
		for pair := range strings.SplitSeq(line, ";") {
			if strings.TrimSpace(pair) != "" {
				n++
			}
		}
	}
	return n
}

func commonHeaders(w http.ResponseWriter, r *http.Request, contentType string, size int) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(size))
	// No proxy may answer from a cache: every request must reach here.
	h.Set("Cache-Control", "no-store")
	h.Set(upstreamCookieHeader, strconv.Itoa(countCookiePairs(r)))
}

// upstreamCertificates makes the upstream's test CA (returned as PEM) and
// its one leaf.
func upstreamCertificates() (caPEM []byte, leaf tls.Certificate, err error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, leaf, fmt.Errorf("upstream CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "consentproxy bench upstream test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, leaf, fmt.Errorf("upstream CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, leaf, fmt.Errorf("upstream CA: %w", err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, leaf, fmt.Errorf("upstream leaf key: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "shop.test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{benchHost, "*." + benchHost, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, leaf, fmt.Errorf("upstream leaf: %w", err)
	}
	leaf = tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), leaf, nil
}
