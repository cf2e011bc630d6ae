package certs

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// serveTLS runs a TLS echo server on a loopback listener whose leaf comes
// from c: for the SNI name, or for fallbackHost when the client sends none
// (clients never send an IP address as SNI).
func serveTLS(t *testing.T, network, addr string, c *Cache, fallbackHost string) string {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	cfg := &tls.Config{
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			host := hello.ServerName
			if host == "" {
				host = fallbackHost
			}
			return c.Get(host)
		},
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				tc := tls.Server(conn, cfg)
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(tc).ReadString('\n')
				if err != nil {
					return
				}
				io.WriteString(tc, "echo "+line)
			}()
		}
	}()
	return ln.Addr().String()
}

// dialTLS connects, verifies as a client trusting roots only, and
// round-trips one line.
func dialTLS(addr, serverName string, roots *x509.CertPool, version uint16) (*tls.ConnectionState, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{
		ServerName: serverName,
		RootCAs:    roots,
		MinVersion: version,
		MaxVersion: version,
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "ping\n"); err != nil {
		return nil, err
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return nil, err
	}
	if got != "echo ping\n" {
		return nil, errors.New("unexpected reply " + got)
	}
	st := conn.ConnectionState()
	return &st, nil
}

func TestTLSHandshakeWithCachedLeaf(t *testing.T) {
	a := newTestAuthority(t)
	c := NewCache(a, 16)
	v4 := serveTLS(t, "tcp4", "127.0.0.1:0", c, "127.0.0.1")

	tests := []struct {
		name       string
		addr       func(t *testing.T) string
		serverName string
		version    uint16
	}{
		{"DNS name over TLS 1.3", func(*testing.T) string { return v4 }, "shop.example", tls.VersionTLS13},
		{"DNS name over TLS 1.2", func(*testing.T) string { return v4 }, "shop.example", tls.VersionTLS12},
		{"IPv4 literal", func(*testing.T) string { return v4 }, "127.0.0.1", tls.VersionTLS13},
		{"IPv6 literal", func(t *testing.T) string { return serveTLS(t, "tcp6", "[::1]:0", c, "::1") }, "::1", tls.VersionTLS13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := dialTLS(tt.addr(t), tt.serverName, caPool(a), tt.version)
			if err != nil {
				t.Fatalf("handshake trusting only the CA: %v", err)
			}
			if st.Version != tt.version {
				t.Errorf("negotiated version %x, want %x", st.Version, tt.version)
			}
			if len(st.PeerCertificates) != 2 || !st.PeerCertificates[1].Equal(a.Certificate()) {
				t.Errorf("server sent %d certificates, want leaf + CA", len(st.PeerCertificates))
			}
			chain := st.VerifiedChains[0]
			if !chain[len(chain)-1].Equal(a.Certificate()) {
				t.Errorf("verified chain ends at %s, want the CA", chain[len(chain)-1].Subject)
			}
		})
	}
	// The second handshake per name was served from the cache.
	if hits, misses := c.Stats(); misses != 3 || hits != 1 {
		t.Errorf("cache Stats = %d hits, %d misses; want 1 hit (shop.example again), 3 misses", hits, misses)
	}
}

// The handshake test could pass for the wrong reason (a client that
// trusts anything); these must fail.
func TestTLSHandshakeRejections(t *testing.T) {
	a := newTestAuthority(t)
	c := NewCache(a, 16)
	addr := serveTLS(t, "tcp4", "127.0.0.1:0", c, "127.0.0.1")

	t.Run("client without the CA", func(t *testing.T) {
		_, err := dialTLS(addr, "shop.example", x509.NewCertPool(), tls.VersionTLS13)
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Errorf("handshake error = %v, want x509.UnknownAuthorityError", err)
		}
	})
	t.Run("client trusting another consentproxy CA", func(t *testing.T) {
		_, err := dialTLS(addr, "shop.example", caPool(newTestAuthority(t)), tls.VersionTLS13)
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Errorf("handshake error = %v, want x509.UnknownAuthorityError", err)
		}
	})
	t.Run("leaf for another name", func(t *testing.T) {
		// No SNI is sent for an IP, so the server mints for 127.0.0.1; a
		// client that expects ::1 must refuse it.
		_, err := dialTLS(addr, "::1", caPool(a), tls.VersionTLS13)
		var he x509.HostnameError
		if !errors.As(err, &he) {
			t.Errorf("handshake error = %v, want x509.HostnameError", err)
		}
	})
	t.Run("invalid SNI gets no certificate", func(t *testing.T) {
		_, err := dialTLS(addr, "bad_name..example", caPool(a), tls.VersionTLS13)
		if err == nil || !strings.Contains(err.Error(), "internal error") {
			t.Errorf("handshake error = %v, want the server's alert", err)
		}
	})
}
