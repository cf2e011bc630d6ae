package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLoadOrCreateWritesPrivateFiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "nested", "consentproxy")
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")

	a, created, err := LoadOrCreate(certFile, keyFile)
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	if !created {
		t.Errorf("created = false on first call, want true")
	}
	if runtime.GOOS != "windows" {
		for _, c := range []struct {
			name string
			want fs.FileMode
		}{
			{keyFile, 0o600},
			{certFile, 0o644},
			{dir, 0o700},
			{filepath.Join(root, "nested"), 0o700},
		} {
			if got := perm(t, c.name); got != c.want {
				t.Errorf("mode of %s = %04o, want %04o", c.name, got, c.want)
			}
		}
	}

	// Atomic write: only the two published files remain, no temporaries.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, ","), "ca-key.pem,ca.pem"; got != want {
		t.Errorf("files in data dir = %s, want %s", got, want)
	}

	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("key file is not exactly one PKCS#8 PRIVATE KEY block: %q", keyPEM)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	ek, ok := key.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		t.Fatalf("CA key is %T, want ECDSA P-256", key)
	}
	if !ek.PublicKey.Equal(a.Certificate().PublicKey) {
		t.Errorf("key file does not match the CA certificate")
	}

	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(certPEM, a.CertPEM()) {
		t.Errorf("cert file differs from CertPEM()")
	}
	if bytes.Contains(certPEM, []byte("PRIVATE")) {
		t.Errorf("cert file contains a private key")
	}
}

func TestCACertificate(t *testing.T) {
	before := time.Now()
	a := newTestAuthority(t)
	c := a.Certificate()

	if !c.IsCA || !c.BasicConstraintsValid {
		t.Errorf("IsCA=%v BasicConstraintsValid=%v, want both true", c.IsCA, c.BasicConstraintsValid)
	}
	if c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("MaxPathLen=%d MaxPathLenZero=%v, want 0 and true", c.MaxPathLen, c.MaxPathLenZero)
	}
	if got, want := c.KeyUsage, x509.KeyUsageCertSign|x509.KeyUsageCRLSign; got != want {
		t.Errorf("KeyUsage = %b, want %b", got, want)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA public key is %T, want ECDSA P-256", c.PublicKey)
	}
	if c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("SignatureAlgorithm = %v, want ECDSA-SHA256", c.SignatureAlgorithm)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}
	if len(c.SubjectKeyId) == 0 {
		t.Errorf("CA has no SubjectKeyId")
	}
	if n := c.SerialNumber.BitLen(); n > 128 || c.SerialNumber.Sign() <= 0 {
		t.Errorf("serial has %d bits (sign %d), want positive and at most 128", n, c.SerialNumber.Sign())
	}
	// Backdated by an hour, valid for ten years.
	if lo, hi := before.Add(-backdate-time.Second), before.Add(-backdate+time.Minute); c.NotBefore.Before(lo) || c.NotBefore.After(hi) {
		t.Errorf("NotBefore = %v, want about an hour before %v", c.NotBefore, before)
	}
	if got, want := c.NotAfter.Sub(c.NotBefore).Hours()/24/365.25, 10.0; got < want-0.01 || got > want+0.01 {
		t.Errorf("validity = %.3f years, want %.0f", got, want)
	}
	if got, want := c.Subject.Organization, []string{"consentproxy local CA"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("O = %q, want %q", got, want)
	}
	if len(c.Subject.OrganizationalUnit) != 1 || !strings.Contains(c.Subject.OrganizationalUnit[0], "@") {
		t.Errorf("OU = %q, want one user@host", c.Subject.OrganizationalUnit)
	}
	if !strings.HasPrefix(c.Subject.CommonName, "consentproxy CA ") || len(c.Subject.CommonName) > maxNameLen {
		t.Errorf("CN = %q, want \"consentproxy CA user@host\" of at most %d bytes", c.Subject.CommonName, maxNameLen)
	}
	if !bytes.Equal(a.CertDER(), c.Raw) {
		t.Errorf("CertDER() differs from Certificate().Raw")
	}
	// The returned slices are copies: scribbling on them changes nothing.
	der := a.CertDER()
	der[0] ^= 0xff
	p := a.CertPEM()
	p[0] ^= 0xff
	if !bytes.Equal(a.CertDER(), c.Raw) || a.CertPEM()[0] != '-' {
		t.Errorf("CertDER/CertPEM return the Authority's own storage")
	}
}

func TestLoadOrCreateIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	first, created, err := LoadOrCreate(certFile, keyFile)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created=%v err=%v", created, err)
	}
	keyBefore, _ := os.ReadFile(keyFile)

	second, created, err := LoadOrCreate(certFile, keyFile)
	if err != nil {
		t.Fatalf("second LoadOrCreate: %v", err)
	}
	if created {
		t.Errorf("second LoadOrCreate: created = true, want false")
	}
	if !bytes.Equal(first.CertDER(), second.CertDER()) {
		t.Errorf("second LoadOrCreate returned a different CA")
	}
	if keyAfter, _ := os.ReadFile(keyFile); !bytes.Equal(keyBefore, keyAfter) {
		t.Errorf("second LoadOrCreate rewrote the key file")
	}
	// Leaves of the reloaded CA verify against the first one.
	leaf, err := second.Issue("reload.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "reload.example", Roots: caPool(first)}); err != nil {
		t.Errorf("leaf of reloaded CA does not verify against the original: %v", err)
	}
}

func TestLoadOrCreateConcurrentCreatorsAgree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	const n = 8
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results [n]*Authority
		created [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], created[i], errs[i] = LoadOrCreate(certFile, keyFile)
		})
	}
	close(start)
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LoadOrCreate #%d: %v", i, errs[i])
		}
		if created[i] {
			creators++
		}
		if !bytes.Equal(results[i].CertDER(), results[0].CertDER()) {
			t.Errorf("LoadOrCreate #%d returned a different CA than #0", i)
		}
	}
	if creators != 1 {
		t.Errorf("%d callers report creating the CA, want 1", creators)
	}
	if _, err := Load(certFile, keyFile); err != nil {
		t.Errorf("files on disk after the race do not load: %v", err)
	}
}

func TestLoadOrCreateHalfPair(t *testing.T) {
	tests := []struct {
		name     string
		keep     string // which file survives: "cert" or "key"
		wantSubs []string
	}{
		{"key missing", "cert", []string{"ca key", "ca-key.pem is missing", "restore the key"}},
		{"cert missing", "key", []string{"ca certificate", "ca.pem is missing", "restore the certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
			if _, _, err := LoadOrCreate(certFile, keyFile); err != nil {
				t.Fatal(err)
			}
			gone := keyFile
			if tt.keep == "key" {
				gone = certFile
			}
			if err := os.Remove(gone); err != nil {
				t.Fatal(err)
			}
			a, created, err := LoadOrCreate(certFile, keyFile)
			if err == nil || a != nil || created {
				t.Fatalf("LoadOrCreate with one file = (%v, %v, %v), want an error", a, created, err)
			}
			for _, s := range tt.wantSubs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			// Nothing was created in place of the missing file.
			if ok, _ := fileExists(gone); ok {
				t.Errorf("%s was recreated", gone)
			}
		})
	}
}

// writePair writes a certificate PEM and a key PEM (0600) to dir.
func writePair(t *testing.T, dir string, certPEM, keyPEM []byte) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func keyPEMOf(t *testing.T, a *Authority) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(a.signer)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestLoadRejects(t *testing.T) {
	caA := newTestAuthority(t)
	caB := newTestAuthority(t)
	now := time.Now()
	expired := authorityValidUntil(t, now.Add(-48*time.Hour), now.Add(-time.Hour))
	notYet := authorityValidUntil(t, now.Add(48*time.Hour), now.Add(96*time.Hour))
	leafPEM, _ := os.ReadFile(filepath.Join("testdata", "openssl-ec-leaf.pem"))
	ecKeyPEM, _ := os.ReadFile(filepath.Join("testdata", "openssl-ec-ca-key.pem"))
	encKeyPEM, _ := os.ReadFile(filepath.Join("testdata", "openssl-ec-ca-key-encrypted.pem"))

	tests := []struct {
		name     string
		certPEM  []byte
		keyPEM   []byte
		keyMode  fs.FileMode
		wantSubs []string
		wantIs   error
	}{
		{"mismatched key", caA.CertPEM(), keyPEMOf(t, caB), 0o600,
			[]string{"does not belong to certificate", "different CAs"}, nil},
		{"not a CA", leafPEM, ecKeyPEM, 0o600,
			[]string{"is not a CA certificate", "CN=not a ca"}, nil},
		{"garbage certificate", []byte("hello\n"), keyPEMOf(t, caA), 0o600,
			[]string{"no PEM CERTIFICATE block"}, nil},
		{"no key block", caA.CertPEM(), caA.CertPEM(), 0o600,
			[]string{"no PEM private key block"}, nil},
		{"encrypted key", caA.CertPEM(), encKeyPEM, 0o600,
			[]string{"is encrypted", "openssl pkcs8"}, nil},
		{"expired CA", expired.CertPEM(), keyPEMOf(t, expired), 0o600,
			[]string{"expired on", "ca init"}, nil},
		{"CA not yet valid", notYet.CertPEM(), keyPEMOf(t, notYet), 0o600,
			[]string{"not valid before", "system clock"}, nil},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests,
			struct {
				name     string
				certPEM  []byte
				keyPEM   []byte
				keyMode  fs.FileMode
				wantSubs []string
				wantIs   error
			}{"world-readable key", caA.CertPEM(), keyPEMOf(t, caA), 0o644,
				[]string{"accessible to other users", "mode 0644", "chmod 600"}, nil},
			struct {
				name     string
				certPEM  []byte
				keyPEM   []byte
				keyMode  fs.FileMode
				wantSubs []string
				wantIs   error
			}{"group-readable key", caA.CertPEM(), keyPEMOf(t, caA), 0o640,
				[]string{"accessible to other users", "chmod 600"}, nil},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certFile, keyFile := writePair(t, t.TempDir(), tt.certPEM, tt.keyPEM)
			if err := os.Chmod(keyFile, tt.keyMode); err != nil {
				t.Fatal(err)
			}
			a, err := Load(certFile, keyFile)
			if err == nil || a != nil {
				t.Fatalf("Load = (%v, %v), want an error", a, err)
			}
			for _, s := range tt.wantSubs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			// LoadOrCreate must fail the same way, never replace the files.
			if _, created, err2 := LoadOrCreate(certFile, keyFile); err2 == nil || created {
				t.Errorf("LoadOrCreate on a bad pair: created=%v err=%v, want an error", created, err2)
			}
		})
	}
}

func TestLoadKeyPermissionErrorType(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("mode bits do not reflect Windows ACLs")
	}
	a := newTestAuthority(t)
	certFile, keyFile := writePair(t, t.TempDir(), a.CertPEM(), keyPEMOf(t, a))
	os.Chmod(keyFile, 0o604)
	_, err := Load(certFile, keyFile)
	var pe *KeyPermissionError
	if !errors.As(err, &pe) {
		t.Fatalf("Load error = %v, want a *KeyPermissionError", err)
	}
	if pe.Path != keyFile || pe.Mode.Perm() != 0o604 {
		t.Errorf("KeyPermissionError = %+v, want path %s mode 0604", pe, keyFile)
	}
	// After the advised chmod it loads.
	os.Chmod(keyFile, 0o600)
	if _, err := Load(certFile, keyFile); err != nil {
		t.Errorf("Load after chmod 600: %v", err)
	}
}

func TestLoadMissingFiles(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of missing files: %v, want fs.ErrNotExist", err)
	}
}

func TestLoadCertificateRejectsNonSigningCA(t *testing.T) {
	// A CA whose key usage lacks keyCertSign cannot issue leaves that
	// browsers accept.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := randomSerial()
	tmpl := &x509.Certificate{
		SerialNumber: serial, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	if _, err := LoadCertificate(name); err == nil || !strings.Contains(err.Error(), "keyCertSign") {
		t.Errorf("LoadCertificate of a CA without keyCertSign: %v, want an error naming keyCertSign", err)
	}
}

// Existing CAs made by other tools load, whatever their key encoding, and
// still issue P-256 leaves that verify.
func TestLoadForeignCAs(t *testing.T) {
	tests := []struct{ cert, key string }{
		{"openssl-ec-ca.pem", "openssl-ec-ca-key.pem"},   // SEC1 "EC PRIVATE KEY"
		{"openssl-rsa-ca.pem", "openssl-rsa-ca-key.pem"}, // PKCS#1 "RSA PRIVATE KEY"
	}
	for _, tt := range tests {
		t.Run(tt.cert, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
			copyFixture(t, tt.cert, certFile, 0o644)
			copyFixture(t, tt.key, keyFile, 0o600)
			a, created, err := LoadOrCreate(certFile, keyFile)
			if err != nil || created {
				t.Fatalf("LoadOrCreate = created %v, err %v; want the existing CA loaded", created, err)
			}
			leaf, err := a.Issue("foreign.example")
			if err != nil {
				t.Fatal(err)
			}
			if pub, ok := leaf.Leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
				t.Errorf("leaf key is %T, want ECDSA P-256", leaf.Leaf.PublicKey)
			}
			if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "foreign.example", Roots: caPool(a)}); err != nil {
				t.Errorf("leaf does not verify: %v", err)
			}
		})
	}
}

// The fingerprints match what openssl prints for the same certificates:
//
//	openssl x509 -noout -fingerprint -sha256
//	openssl x509 -noout -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64
func TestFingerprintsMatchOpenSSL(t *testing.T) {
	tests := []struct{ file, sha256, spki string }{
		{"openssl-ec-ca.pem",
			"6C:CA:22:16:53:2E:F3:30:1B:86:3D:E9:86:AA:9B:42:36:04:9B:34:2D:64:DB:7E:DE:89:DE:24:45:55:C5:37",
			"jdos3aLzLV8cBZGc9WbN341A6l+elCyWy+30N1D8rjM="},
		{"openssl-rsa-ca.pem",
			"48:12:2C:14:A0:44:8C:F0:FA:D9:D1:30:DF:32:D8:FD:59:08:A4:20:E4:3E:5F:03:93:B1:27:86:44:A4:71:B4",
			"pkGTUjjVOKLdTX3fQ2a1WFi8sB+PKDX+NovmsQC0h+g="},
	}
	for _, tt := range tests {
		c, err := LoadCertificate(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := Fingerprint(c); got != tt.sha256 {
			t.Errorf("Fingerprint(%s) = %s, want %s", tt.file, got, tt.sha256)
		}
		if got := SPKIFingerprint(c); got != tt.spki {
			t.Errorf("SPKIFingerprint(%s) = %s, want %s", tt.file, got, tt.spki)
		}
	}
}

func TestIssue(t *testing.T) {
	a := newTestAuthority(t)
	tests := []struct {
		host    string
		wantDNS string // exactly this DNS SAN, or
		wantIP  string // exactly this IP SAN
		verify  string // the name a client would verify
	}{
		{host: "example.com", wantDNS: "example.com", verify: "example.com"},
		{host: "WWW.Example.COM", wantDNS: "www.example.com", verify: "www.example.com"},
		{host: "shop.example.", wantDNS: "shop.example", verify: "shop.example"},
		{host: "localhost", wantDNS: "localhost", verify: "localhost"},
		{host: "xn--bcher-kva.example", wantDNS: "xn--bcher-kva.example", verify: "xn--bcher-kva.example"},
		{host: "cdn_1.example.net", wantDNS: "cdn_1.example.net", verify: "cdn_1.example.net"},
		{host: "127.0.0.1", wantIP: "127.0.0.1", verify: "127.0.0.1"},
		{host: "::1", wantIP: "::1", verify: "::1"},
		{host: "[2001:db8::1]", wantIP: "2001:db8::1", verify: "2001:db8::1"},
		{host: "2001:DB8:0:0:0:0:0:2", wantIP: "2001:db8::2", verify: "2001:db8::2"},
		{host: "fe80::1%eth0", wantIP: "fe80::1", verify: "fe80::1"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			tc, err := a.Issue(tt.host)
			if err != nil {
				t.Fatalf("Issue(%q): %v", tt.host, err)
			}
			leaf := tc.Leaf
			if leaf == nil {
				t.Fatal("Leaf is nil")
			}
			if !bytes.Equal(leaf.Raw, tc.Certificate[0]) {
				t.Errorf("Leaf is not Certificate[0]")
			}
			if len(tc.Certificate) != 2 || !bytes.Equal(tc.Certificate[1], a.CertDER()) {
				t.Errorf("chain has %d certificates, want leaf + CA", len(tc.Certificate))
			}
			var gotDNS, gotIP []string
			gotDNS = leaf.DNSNames
			for _, ip := range leaf.IPAddresses {
				gotIP = append(gotIP, ip.String())
			}
			if tt.wantDNS != "" && (len(gotDNS) != 1 || gotDNS[0] != tt.wantDNS || len(gotIP) != 0) {
				t.Errorf("SANs = DNS %q IP %q, want DNS [%s] only", gotDNS, gotIP, tt.wantDNS)
			}
			if tt.wantIP != "" && (len(gotIP) != 1 || gotIP[0] != tt.wantIP || len(gotDNS) != 0) {
				t.Errorf("SANs = DNS %q IP %q, want IP [%s] only", gotDNS, gotIP, tt.wantIP)
			}
			chains, err := leaf.Verify(x509.VerifyOptions{
				DNSName:   tt.verify,
				Roots:     caPool(a),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				t.Fatalf("Verify(%s) against the CA: %v", tt.verify, err)
			}
			if got := chains[0][len(chains[0])-1]; !got.Equal(a.Certificate()) {
				t.Errorf("chain root is %s, want the CA", got.Subject)
			}
			// The certificate is for that name only.
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: caPool(a)}); err == nil {
				t.Errorf("leaf for %s also verifies for other.example", tt.host)
			}
			if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
				t.Errorf("leaf key is %T, want ECDSA P-256", leaf.PublicKey)
			}
			if priv, ok := tc.PrivateKey.(*ecdsa.PrivateKey); !ok || !priv.PublicKey.Equal(leaf.PublicKey) {
				t.Errorf("PrivateKey does not match the leaf's public key")
			}
			if leaf.IsCA {
				t.Errorf("leaf is a CA")
			}
			if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
				t.Errorf("ExtKeyUsage = %v, want [ServerAuth]", leaf.ExtKeyUsage)
			}
			if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("KeyUsage = %b, want DigitalSignature", leaf.KeyUsage)
			}
			if !bytes.Equal(leaf.AuthorityKeyId, a.Certificate().SubjectKeyId) {
				t.Errorf("AuthorityKeyId does not name the CA's SubjectKeyId")
			}
		})
	}
}

func TestIssueRejectsInvalidHosts(t *testing.T) {
	a := newTestAuthority(t)
	tests := []struct{ host, wantSub string }{
		{"", "empty host"},
		{"*.example.com", "wildcard"},
		{"*", "wildcard"},
		{"example.com:443", "port"},
		{"127.0.0.1:443", "port"},
		{"[::1]:443", "port"},
		{"[example.com]", "brackets"},
		{"[127.0.0.1]", "brackets"},
		{"exa mple.com", "not allowed"},
		{"a/b.example", "not allowed"},
		{"bücher.example", "punycode"},
		{"a..b.example", "empty label"},
		{".example.com", "empty label"},
		{"example.com..", "empty label"},
		{".", "empty label"},
		{"256.1.1.1", "not a valid IP address or host name"},
		{"127.000.000.001", "not a valid IP address or host name"},
		{"1.2.3", "not a valid IP address or host name"},
		{strings.Repeat("a", 64) + ".example", "label longer than 63"},
		{strings.Repeat("abcdefghi.", 26) + "com", "longer than 253"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			tc, err := a.Issue(tt.host)
			if err == nil {
				t.Fatalf("Issue(%q) = %v, want an error", tt.host, tc.Leaf.DNSNames)
			}
			if !strings.Contains(err.Error(), tt.wantSub) {
				t.Errorf("Issue(%q) error %q does not mention %q", tt.host, err, tt.wantSub)
			}
		})
	}
}

func TestIssueValidity(t *testing.T) {
	a := newTestAuthority(t)
	ca := a.Certificate()
	// Whole seconds: certificates carry no sub-second precision.
	mid := ca.NotBefore.Add(365 * 24 * time.Hour).Truncate(time.Second)
	tests := []struct {
		name          string
		now           time.Time
		wantNotBefore time.Time
		wantNotAfter  time.Time
	}{
		{"middle of the CA's life", mid, mid.Add(-time.Hour), mid.Add(90 * 24 * time.Hour)},
		{"just after the CA was made: not before the CA", ca.NotBefore.Add(10 * time.Minute), ca.NotBefore, ca.NotBefore.Add(10*time.Minute + 90*24*time.Hour)},
		{"near the CA's end: capped at the CA's NotAfter", ca.NotAfter.Add(-10 * 24 * time.Hour), ca.NotAfter.Add(-10*24*time.Hour - time.Hour), ca.NotAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.now = func() time.Time { return tt.now }
			tc, err := a.Issue("validity.example")
			if err != nil {
				t.Fatal(err)
			}
			leaf := tc.Leaf
			if !leaf.NotBefore.Equal(tt.wantNotBefore) {
				t.Errorf("NotBefore = %v, want %v", leaf.NotBefore, tt.wantNotBefore)
			}
			if !leaf.NotAfter.Equal(tt.wantNotAfter) {
				t.Errorf("NotAfter = %v, want %v", leaf.NotAfter, tt.wantNotAfter)
			}
			if d := leaf.NotAfter.Sub(leaf.NotBefore); d > 397*24*time.Hour {
				t.Errorf("validity %v exceeds 397 days", d)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "validity.example", Roots: caPool(a), CurrentTime: tt.now}); err != nil {
				t.Errorf("leaf does not verify at issue time: %v", err)
			}
		})
	}

	a.now = func() time.Time { return ca.NotAfter.Add(time.Second) }
	if _, err := a.Issue("late.example"); err == nil || !strings.Contains(err.Error(), "CA expired") {
		t.Errorf("Issue after the CA expired: %v, want an error saying the CA expired", err)
	}
}

func TestIssueSerials(t *testing.T) {
	a := newTestAuthority(t)
	seen := map[string]bool{a.Certificate().SerialNumber.String(): true}
	longest := 0
	for range 200 {
		tc, err := a.Issue("serial.example")
		if err != nil {
			t.Fatal(err)
		}
		s := tc.Leaf.SerialNumber
		if s.Sign() <= 0 || s.BitLen() > 128 {
			t.Fatalf("serial %x: want positive, at most 128 bits", s)
		}
		longest = max(longest, s.BitLen())
		if seen[s.String()] {
			t.Fatalf("serial %x issued twice", s)
		}
		seen[s.String()] = true
	}
	// 200 random 128-bit serials all below 2^120 would be a 2^-1600 event:
	// the serials are not really 128 bits wide.
	if longest < 120 {
		t.Errorf("longest of 200 serials has %d bits, want about 128", longest)
	}
}

func TestLeafKeyIsSharedPerAuthority(t *testing.T) {
	a, b := newTestAuthority(t), newTestAuthority(t)
	x, _ := a.Issue("one.example")
	y, _ := a.Issue("two.example")
	z, _ := b.Issue("one.example")
	kx, ky, kz := x.PrivateKey.(*ecdsa.PrivateKey), y.PrivateKey.(*ecdsa.PrivateKey), z.PrivateKey.(*ecdsa.PrivateKey)
	if !kx.Equal(ky) {
		t.Errorf("two leaves of one Authority have different keys; want one process-wide key")
	}
	if kx.Equal(kz) {
		t.Errorf("two Authorities share a leaf key")
	}
	if kx.PublicKey.Equal(a.Certificate().PublicKey) {
		t.Errorf("leaf key is the CA key")
	}
}

func TestIssueIPv4MappedAndZoneNormalised(t *testing.T) {
	// The cache key is canonical, so equivalent spellings share one leaf.
	for _, tt := range []struct{ in, want string }{
		{"::FFFF:10.0.0.1", "::ffff:10.0.0.1"},
		{"[::1]", "::1"},
		{"0:0:0:0:0:0:0:1", "::1"},
		{"fe80::1%eth0", "fe80::1"},
		{"Example.COM.", "example.com"},
	} {
		n, err := normalizeHost(tt.in)
		if err != nil || n.key != tt.want {
			t.Errorf("normalizeHost(%q) = %q, %v; want %q", tt.in, n.key, err, tt.want)
		}
	}
}

func TestClipKeepsUTF8Whole(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 64, "short"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"}, // é is two bytes; cutting it in half would be invalid UTF-8
		{"aéb", 3, "aé"},
	} {
		if got := clip(tt.in, tt.n); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestLoadOrCreateRejectsOneFileForBoth(t *testing.T) {
	name := filepath.Join(t.TempDir(), "ca.pem")
	if _, _, err := LoadOrCreate(name, name); err == nil || !strings.Contains(err.Error(), "same file") {
		t.Errorf("LoadOrCreate(same, same): %v, want an error saying they are the same file", err)
	}
	if _, _, err := LoadOrCreate("", name); err == nil {
		t.Errorf("LoadOrCreate with an empty certificate name succeeded")
	}
	if ok, _ := fileExists(name); ok {
		t.Errorf("a file was written")
	}
}
