// Command baregoproxy is the load harness's same-library baseline: goproxy
// v1.9.4 set up for MITM the way its documentation shows, with nothing of
// consentproxy's on the request path. It uses the installation's kind of
// CA (made by the certs package; never goproxy's built-in one, whose key
// is public), the same leaf cache, an upstream transport that trusts the
// given roots and pools connections like consentproxy's, and keeps
// Accept-Encoding as consentproxy does. With --resolve it reaches test
// host names on loopback (same syntax as consentproxy's flag).
//
// It prints one JSON line, {"msg":"listening","listen":ADDR,"admin":ADDR},
// once it listens, and serves net/http/pprof on --admin.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/consentproxy/consentproxy/certs"
	"github.com/consentproxy/consentproxy/config"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "baregoproxy:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("baregoproxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "proxy address")
	admin := fs.String("admin", "", "address serving /debug/pprof/ (empty: none)")
	caCert := fs.String("ca-cert", "", "CA certificate PEM (created with its key when both are missing)")
	caKey := fs.String("ca-key", "", "CA private key PEM")
	var upstreamCA, resolve listFlag
	fs.Var(&upstreamCA, "upstream-ca", "extra PEM roots for upstream TLS (repeatable)")
	fs.Var(&resolve, "resolve", "PATTERN=IP[:PORT]: connect to IP for hosts matching PATTERN (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *caCert == "" || *caKey == "" {
		return errors.New("--ca-cert and --ca-key are required")
	}
	authority, _, err := certs.LoadOrCreate(*caCert, *caKey)
	if err != nil {
		return err
	}
	caPair, err := tls.LoadX509KeyPair(*caCert, *caKey)
	if err != nil {
		return fmt.Errorf("load CA key pair: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	for _, f := range upstreamCA {
		pem, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--upstream-ca: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--upstream-ca %s: no PEM certificate", f)
		}
	}
	var rules []config.ResolveRule
	for _, s := range resolve {
		r, err := config.ParseResolve(s)
		if err != nil {
			return fmt.Errorf("--resolve: %w", err)
		}
		rules = append(rules, r)
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil {
			if r, ok := config.MatchResolve(rules, host); ok {
				addr = r.DialAddr(port)
			}
		}
		return d.DialContext(ctx, network, addr)
	}

	gp := goproxy.NewProxyHttpServer()
	gp.Logger = log.New(io.Discard, "", 0)
	gp.KeepAcceptEncoding = true
	// The pool sizes are consentproxy's, so that the comparison measures
	// the request path and not how often each proxy reconnects upstream.
	gp.Tr = &http.Transport{
		DialContext:         dial,
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     2 * time.Minute,
		DisableCompression:  true,
	}
	gp.ConnectDial = nil
	gp.ConnectDialWithReq = func(req *http.Request, network, addr string) (net.Conn, error) {
		return dial(req.Context(), network, addr)
	}
	// goproxy's signer with a leaf cache in front, as its documentation
	// recommends; without one it signs on every CONNECT.
	gp.CertStore = certs.NewCache(authority, certs.DefaultCacheSize)
	mitm := &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: goproxy.TLSConfigFromCA(&caPair)}
	gp.OnRequest().HandleConnectFunc(func(host string, _ *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return mitm, host
	})

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: gp, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(ln) }()
	ready := map[string]string{"msg": "listening", "listen": ln.Addr().String()}
	if *admin != "" {
		aln, err := net.Listen("tcp", *admin)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		go func() { _ = http.Serve(aln, mux) }()
		ready["admin"] = aln.Addr().String()
	}
	if err := json.NewEncoder(stdout).Encode(ready); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}
