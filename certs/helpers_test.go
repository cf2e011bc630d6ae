package certs

import (
	"crypto/x509"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// newTestAuthority creates a fresh CA in a temporary directory.
func newTestAuthority(t testing.TB) *Authority {
	t.Helper()
	dir := t.TempDir()
	a, created, err := LoadOrCreate(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	if !created {
		t.Fatalf("LoadOrCreate in an empty dir: created = false, want true")
	}
	return a
}

// authorityValidUntil builds an Authority whose CA is valid from now-1h
// until notAfter, for expiry tests.
func authorityValidUntil(t testing.TB, now, notAfter time.Time) *Authority {
	t.Helper()
	der, key, err := newCA(now, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAuthority(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func caPool(a *Authority) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.Certificate())
	return p
}

// fakeClock is a settable clock for Authority.now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// copyFixture copies testdata/name to dst with mode (git does not keep a
// key file's 0600).
func copyFixture(t testing.TB, name, dst string, mode fs.FileMode) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, mode); err != nil {
		t.Fatal(err)
	}
}

func perm(t testing.TB, name string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}
