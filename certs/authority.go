// Package certs is consentproxy's certificate authority: it loads or
// creates the installation's own CA (never goproxy's built-in one, whose
// private key is public) and mints leaf certificates for the hosts the proxy
// intercepts, with a bounded cache in front.
//
// It uses only the standard library, golang-lru and x/sync; it must not
// import goproxy, zap or any other package of this module (deps_test.go).
package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"
)

const (
	// caValidity is long because every client that trusts the CA has to be
	// re-configured when it is replaced; mkcert uses the same 10 years.
	caValidityYears = 10

	// backdate moves NotBefore of the CA and of every leaf into the past,
	// so that a client whose clock runs a little behind (a VM just resumed,
	// a phone without NTP) does not reject a certificate minted a moment ago.
	backdate = time.Hour

	// leafValidity is well under the 397 days browsers accept for a TLS
	// server certificate (Apple and Chrome reject longer ones even from a
	// private root on some platforms). Leaves are cheap to re-mint and live
	// in memory only, so a short life costs nothing.
	leafValidity = 90 * 24 * time.Hour

	// maxNameLen is the X.520 upper bound for CN and OU (ub-common-name,
	// ub-organizational-unit-name); strict parsers reject longer values.
	maxNameLen = 64
)

// Authority is a loaded CA plus the single key all of its leaves share.
// It is safe for concurrent use.
type Authority struct {
	cert    *x509.Certificate
	certPEM []byte
	signer  crypto.Signer

	// leafKey is one ECDSA P-256 key for every leaf of this process, as in
	// martian's mitm package: generating a key per host would dominate the
	// cost of minting, and the key never leaves memory, so sharing it
	// exposes nothing a per-host key would protect. P-256 rather than RSA
	// because an RSA-2048 key costs ~400x more to generate and a TLS
	// handshake with it is slower too.
	leafKey *ecdsa.PrivateKey

	// now is the clock; tests replace it.
	now func() time.Time
}

// LoadOrCreate loads the CA from certFile and keyFile, or creates both when
// neither exists (missing parent directories 0700, key 0600, certificate
// 0644). created reports that a new CA was made. One file without the other
// is an error that says which one is missing and how to recover.
//
// Two processes calling LoadOrCreate for the same new paths at once agree
// on one CA: the key is published with an exclusive link, and the process
// that loses the race loads the winner's files.
func LoadOrCreate(certFile, keyFile string) (a *Authority, created bool, err error) {
	if certFile == "" || keyFile == "" {
		return nil, false, errors.New("ca: certificate and key file names must both be set")
	}
	if filepath.Clean(certFile) == filepath.Clean(keyFile) {
		// The key must stay private and the certificate is handed out;
		// one file cannot be both.
		return nil, false, fmt.Errorf("ca certificate and key are the same file %s: give them different names", certFile)
	}
	certExists, err := fileExists(certFile)
	if err != nil {
		return nil, false, fmt.Errorf("ca certificate %s: %w", certFile, err)
	}
	keyExists, err := fileExists(keyFile)
	if err != nil {
		return nil, false, fmt.Errorf("ca key %s: %w", keyFile, err)
	}
	switch {
	case certExists && keyExists:
		a, err := Load(certFile, keyFile)
		return a, false, err
	case certExists:
		return nil, false, fmt.Errorf("ca key %s is missing but certificate %s exists: restore the key from a backup, or move the certificate away to create a new CA (every client must then trust the new one)", keyFile, certFile)
	case keyExists:
		// Another process may be between publishing its key and its
		// certificate; give it a moment before calling the pair broken.
		a, err := loadAfterRace(certFile, keyFile)
		return a, false, err
	}
	a, err = create(certFile, keyFile)
	if errors.Is(err, errLostRace) {
		a, err = loadAfterRace(certFile, keyFile)
		return a, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return a, true, nil
}

// Load reads the CA certificate and key, and checks that the certificate is
// a CA that is valid now and that the key belongs to it. The key file must
// not be accessible to other users (see KeyPermissionError). Besides the
// PKCS#8 "PRIVATE KEY" that LoadOrCreate writes, SEC1 "EC PRIVATE KEY" and
// PKCS#1 "RSA PRIVATE KEY" files are accepted, so an existing CA (mkcert's,
// a company's) can be used; leaves are ECDSA P-256 whatever the CA key.
func Load(certFile, keyFile string) (*Authority, error) {
	cert, err := LoadCertificate(certFile)
	if err != nil {
		return nil, err
	}
	signer, err := loadKey(keyFile)
	if err != nil {
		return nil, err
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(signer.Public()) {
		return nil, fmt.Errorf("ca key %s does not belong to certificate %s: the two files come from different CAs; restore the matching pair, or move both away to create a new CA", keyFile, certFile)
	}
	now := time.Now()
	if now.After(cert.NotAfter) {
		return nil, fmt.Errorf("ca certificate %s expired on %s: move it and its key away, run 'consentproxy ca init' to create a new CA, and trust the new one", certFile, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(cert.NotBefore) {
		return nil, fmt.Errorf("ca certificate %s is not valid before %s: check the system clock", certFile, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	return newAuthority(cert, signer)
}

// LoadCertificate reads a CA certificate (PEM, the first CERTIFICATE block,
// or raw DER) without its key and checks that it is a CA. It does not check
// the validity period, so that an expired CA can still be shown.
func LoadCertificate(certFile string) (*x509.Certificate, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("ca certificate: %w", err)
	}
	der := data
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			der = b.Bytes
			break
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca certificate %s: no PEM CERTIFICATE block or DER certificate found: %w", certFile, err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("ca certificate %s (%s) is not a CA certificate (basic constraints do not say CA:TRUE): point --ca-cert at a CA, or move it away to let consentproxy create one", certFile, cert.Subject)
	}
	// KeyUsage 0 means the extension is absent, which permits everything.
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("ca certificate %s (%s) may not sign certificates (key usage lacks keyCertSign): use a CA certificate made for issuing", certFile, cert.Subject)
	}
	return cert, nil
}

// loadKey reads a private key file after checking its permissions on the
// open file (so the check and the read see the same file).
func loadKey(keyFile string) (crypto.Signer, error) {
	f, err := os.Open(keyFile)
	if err != nil {
		return nil, fmt.Errorf("ca key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("ca key: %w", err)
	}
	if err := checkKeyPerm(keyFile, fi); err != nil {
		return nil, err
	}
	// A key file is tiny; the limit keeps a mistaken path (a disk image)
	// from being read whole.
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("ca key: %w", err)
	}
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		var key any
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("ca key %s is encrypted: consentproxy needs it unencrypted (decrypt with: openssl pkcs8 -in %s -out NEWFILE, then chmod 600 NEWFILE)", keyFile, keyFile)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ca key %s: %s block: %w", keyFile, b.Type, err)
		}
		switch k := key.(type) {
		case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
			return k.(crypto.Signer), nil
		default:
			return nil, fmt.Errorf("ca key %s: unsupported key type %T (want ECDSA, RSA or Ed25519)", keyFile, key)
		}
	}
	return nil, fmt.Errorf("ca key %s: no PEM private key block found (want \"PRIVATE KEY\", \"EC PRIVATE KEY\" or \"RSA PRIVATE KEY\")", keyFile)
}

func newAuthority(cert *x509.Certificate, signer crypto.Signer) (*Authority, error) {
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate leaf key: %w", err)
	}
	return &Authority{
		cert: cert,
		// Re-encoded from the parsed DER rather than copied from the file,
		// so that whatever else sat in the file (comments, another block, a
		// key someone pasted in) can never be served as "the CA".
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		signer:  signer,
		leafKey: leafKey,
		now:     time.Now,
	}, nil
}

// errLostRace says another process published a CA key first.
var errLostRace = errors.New("another process created the CA first")

// create makes a new CA and writes it: the key first, then the
// certificate, each to a temporary file that is flushed and then published
// in one step, so a crash never leaves a partial file. A crash between the
// two leaves a key without certificate, which LoadOrCreate reports; no
// client can have trusted that key, as its certificate was never written.
func create(certFile, keyFile string) (*Authority, error) {
	for _, dir := range []string{filepath.Dir(keyFile), filepath.Dir(certFile)} {
		if err := ensureDir(dir); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	der, key, err := newCA(now, now.AddDate(caValidityYears, 0, 0))
	if err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode ca key: %w", err)
	}
	keyTmp, err := writeTemp(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), keyMode)
	if err != nil {
		return nil, fmt.Errorf("write ca key: %w", err)
	}
	defer os.Remove(keyTmp)
	certTmp, err := writeTemp(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), certMode)
	if err != nil {
		return nil, fmt.Errorf("write ca certificate: %w", err)
	}
	defer os.Remove(certTmp)

	if err := publish(keyTmp, keyFile); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, errLostRace
		}
		return nil, fmt.Errorf("write ca key: %w", err)
	}
	if err := publish(certTmp, certFile); err != nil {
		// Our key is published but this certificate is not: take the key
		// back so the pair on disk stays consistent.
		os.Remove(keyFile)
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("ca certificate %s appeared while the CA was being created: another program is writing it; retry", certFile)
		}
		return nil, fmt.Errorf("write ca certificate: %w", err)
	}
	syncDir(filepath.Dir(keyFile))
	syncDir(filepath.Dir(certFile))

	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new ca certificate: %w", err)
	}
	return newAuthority(cert, key)
}

// loadAfterRace loads the CA another process is creating. Its key is
// already published and its certificate follows within microseconds; the
// wait (at most a second) is bounded so a crashed creator turns into the
// usual "certificate missing" error instead of a hang.
func loadAfterRace(certFile, keyFile string) (*Authority, error) {
	for range 100 {
		if ok, _ := fileExists(certFile); ok {
			return Load(certFile, keyFile)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, errCertMissing(certFile, keyFile)
}

func errCertMissing(certFile, keyFile string) error {
	return fmt.Errorf("ca certificate %s is missing but key %s exists: restore the certificate from a backup, or move the key away to create a new CA (if an earlier 'ca init' was interrupted, no client can trust this key yet, so removing it is safe)", certFile, keyFile)
}

func fileExists(name string) (bool, error) {
	_, err := os.Stat(name)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// newCA generates a CA key and a self-signed certificate valid from now
// (backdated) until notAfter.
func newCA(now, notAfter time.Time) (der []byte, key *ecdsa.PrivateKey, err error) {
	// P-256: universally supported by TLS clients, fast to sign with, and
	// as strong as RSA-3072 for the CA's lifetime.
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate ca key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	who := userAndHost()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// The subject is what a user sees in a browser's certificate viewer
		// or a system trust store: it says what this CA is and whose it is,
		// so a forgotten one can be recognised and removed.
		Subject: pkix.Name{
			Organization:       []string{"consentproxy local CA"},
			OrganizationalUnit: []string{clip(who, maxNameLen)},
			CommonName:         clip("consentproxy CA "+who, maxNameLen),
		},
		NotBefore: now.Add(-backdate),
		NotAfter:  notAfter,
		KeyUsage:  x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		IsCA:      true,
		// Path length zero: this CA signs leaves only. Should its key leak,
		// it cannot be used to mint an intermediate CA that clients accept.
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		// SubjectKeyId is left empty: x509.CreateCertificate derives it from
		// the public key for CA templates, and leaves then carry the
		// matching AuthorityKeyId, which chain builders use.
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create ca certificate: %w", err)
	}
	return der, key, nil
}

// userAndHost names the installation in the CA subject, falling back to
// "unknown" for parts that cannot be found (a container with no passwd
// entry for its uid, a sandbox without a hostname).
func userAndHost() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host := "unknown"
	if h, err := os.Hostname(); err == nil && h != "" {
		host = h
	}
	return name + "@" + host
}

// clip shortens s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// randomSerial returns a random serial below 2^128. Serials are random
// (RFC 5280 §4.1.2.2 allows up to 20 octets) so that no two certificates of
// this CA share one even across restarts, and so that a certificate's
// content cannot be predicted before it is signed (the defence that ended
// MD5 collision attacks on CAs).
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		// RFC 5280 requires a positive serial; zero is 2^-128 likely.
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// Certificate returns the CA certificate. The caller must not modify it.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// CertPEM returns the CA certificate PEM-encoded (never the key). The
// slice is the caller's own.
func (a *Authority) CertPEM() []byte { return bytes.Clone(a.certPEM) }

// CertDER returns the CA certificate DER-encoded. The slice is the
// caller's own.
func (a *Authority) CertDER() []byte { return bytes.Clone(a.cert.Raw) }

// Issue mints a leaf certificate for host (a DNS name or an IP literal,
// IPv6 optionally in brackets; no port, no wildcard), signed by the CA.
// The name is lower-cased and a trailing dot dropped. The result carries
// the chain leaf + CA, the shared leaf key, and Leaf.
func (a *Authority) Issue(host string) (*tls.Certificate, error) {
	name, err := normalizeHost(host)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	return a.issue(name)
}

func (a *Authority) issue(name leafName) (*tls.Certificate, error) {
	now := a.now()
	if !now.Before(a.cert.NotAfter) {
		return nil, fmt.Errorf("issue certificate for %s: the CA expired on %s; create a new CA and trust it", name.key, a.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	// A leaf never claims validity outside its CA's: clients reject a
	// chain whose CA is not valid at the time, so the extra would be a lie.
	notBefore := now.Add(-backdate)
	if notBefore.Before(a.cert.NotBefore) {
		notBefore = a.cert.NotBefore
	}
	notAfter := now.Add(leafValidity)
	if notAfter.After(a.cert.NotAfter) {
		notAfter = a.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"consentproxy interception certificate"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		// ECDSA keys only sign; KeyEncipherment is for RSA key transport.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	// Clients match the SAN only (the CN is ignored since RFC 6125), and an
	// IP literal must be an iPAddress SAN: a dNSName "::1" matches nothing.
	if name.ip.IsValid() {
		tmpl.IPAddresses = []net.IP{name.ip.AsSlice()}
	} else {
		tmpl.DNSNames = []string{name.dns}
	}
	// The CN is still set for humans reading the certificate, when it fits.
	if len(name.key) <= maxNameLen {
		tmpl.Subject.CommonName = name.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &a.leafKey.PublicKey, a.signer)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", name.key, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", name.key, err)
	}
	return &tls.Certificate{
		// The CA goes in the chain too. Clients that trust it as a root
		// just skip it, but Chromium's --ignore-certificate-errors-spki-list
		// checks the SPKI of every certificate the server sends, so with
		// the CA in the chain one value (SPKIFingerprint of the CA) covers
		// every leaf, for browsers that were not made to trust the CA.
		Certificate: [][]byte{der, a.cert.Raw},
		PrivateKey:  a.leafKey,
		Leaf:        leaf,
	}, nil
}

// Fingerprint is the SHA-256 of the certificate's DER, as colon-separated
// upper-case hex: the form browsers and `openssl x509 -fingerprint -sha256`
// display, so users can compare what they see.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// SPKIFingerprint is the base64 SHA-256 of the certificate's
// SubjectPublicKeyInfo: the value Chromium's
// --ignore-certificate-errors-spki-list and HPKP-style pins take. It stays
// the same when the certificate is re-issued with the same key.
func SPKIFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}
