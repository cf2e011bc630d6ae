package certs

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadCA reads arbitrary bytes as the CA certificate and key files
// (--ca-cert, --ca-key): never a panic, every error names the file at
// fault, and a pair it accepts issues leaves that verify against it, while
// the certificate it would serve never holds a private key.
func FuzzLoadCA(f *testing.F) {
	dir := f.TempDir()
	if _, _, err := LoadOrCreate(filepath.Join(dir, "a.pem"), filepath.Join(dir, "a-key.pem")); err != nil {
		f.Fatal(err)
	}
	if _, _, err := LoadOrCreate(filepath.Join(dir, "b.pem"), filepath.Join(dir, "b-key.pem")); err != nil {
		f.Fatal(err)
	}
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		return data
	}
	certA, keyA, keyB := read("a.pem"), read("a-key.pem"), read("b-key.pem")
	f.Add(certA, keyA)
	f.Add(certA, keyB)
	f.Add(keyA, certA)
	f.Add(append(append([]byte{}, keyA...), certA...), append(append([]byte{}, certA...), keyA...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		d := t.TempDir()
		certFile, keyFile := filepath.Join(d, "ca.pem"), filepath.Join(d, "ca-key.pem")
		if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := Load(certFile, keyFile)
		if err != nil {
			if msg := err.Error(); !strings.Contains(msg, certFile) && !strings.Contains(msg, keyFile) && !strings.HasPrefix(msg, "ca ") {
				t.Fatalf("error names neither file: %v", err)
			}
			return
		}
		if bytes.Contains(a.CertPEM(), []byte("PRIVATE KEY")) {
			t.Fatalf("the certificate to serve holds a private key")
		}
		leaf, err := a.Issue("example.com")
		if err != nil {
			t.Fatalf("Issue with an accepted CA: %v", err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(a.Certificate())
		if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: pool}); err != nil {
			t.Fatalf("the leaf does not verify against the CA it came from: %v", err)
		}
	})
}
