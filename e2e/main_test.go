package e2e

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireEnv turns the suite's skip into a failure (CI sets it: a skipped
// browser suite would hide a broken product).
const requireEnv = "CONSENTPROXY_REQUIRE_CHROMIUM"

// suite is what TestMain prepares once for every test: the proxy binary,
// the browser, and the CA Chromium trusts. TestMain writes it before any
// test runs; tests only read it.
type suite struct {
	// skip is what the suite lacks here ("" when it can run).
	skip string
	// root is the module root (the directory holding go.mod).
	root string
	// binary is the consentproxy binary built for this run.
	binary string
	// chromium and certutil are the executables found on PATH.
	chromium string
	certutil string
	// caCert and caKey are the proxy CA every proxy of the suite uses, so
	// one NSS database serves every browser.
	caCert, caKey string
	// caName is the CA's subject common name (the issuer Chromium reports
	// for intercepted sites); caSPKI its base64 SHA-256 SPKI hash.
	caName, caSPKI string
	// home is a HOME whose .pki/nssdb trusts caCert.
	home string
	// untrustedHome is a HOME with an empty NSS database (the control).
	untrustedHome string
}

var env suite

func TestMain(m *testing.M) {
	code, err := setUp(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setUp(m *testing.M) (int, error) {
	tmp, err := os.MkdirTemp("", "consentproxy-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)

	env.chromium, env.certutil, env.skip = findTools()
	if env.skip == "" {
		if err := prepare(tmp); err != nil {
			return 0, err
		}
	}
	return m.Run(), nil
}

// findTools looks for the browser and certutil; skip says what is missing
// and how to install it.
func findTools() (chromium, certutil, skip string) {
	var missing []string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		missing = append(missing, "chromium")
	}
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		missing = append(missing, "certutil (package libnss3-tools)")
	}
	if len(missing) > 0 {
		skip = strings.Join(missing, " and ") + " not found on PATH (Debian: apt-get install chromium libnss3-tools)"
	}
	return chromium, certutil, skip
}

// prepare builds the binary, creates the proxy CA with it, and the NSS
// databases.
func prepare(tmp string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	env.root = root
	env.binary = filepath.Join(tmp, "consentproxy")
	args := []string{"build", "-o", env.binary}
	if raceEnabled {
		// The proxy under a real browser's load is worth race-checking too;
		// its stderr is scanned for race reports.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/consentproxy")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/consentproxy: %w\n%s", err, out)
	}

	caDir := filepath.Join(tmp, "ca")
	init := exec.Command(env.binary, "ca", "init", "--data-dir", caDir)
	init.Env = []string{"HOME=" + tmp, "PATH=" + os.Getenv("PATH")}
	if out, err := init.CombinedOutput(); err != nil {
		return fmt.Errorf("consentproxy ca init: %w\n%s", err, out)
	}
	env.caCert, env.caKey = filepath.Join(caDir, "ca.pem"), filepath.Join(caDir, "ca-key.pem")
	data, err := os.ReadFile(env.caCert)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return fmt.Errorf("%s: no PEM certificate", env.caCert)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("%s: %w", env.caCert, err)
	}
	sum := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
	env.caName, env.caSPKI = ca.Subject.CommonName, base64.StdEncoding.EncodeToString(sum[:])

	env.home = filepath.Join(tmp, "home")
	if err := newNSSHome(env.home, env.caCert); err != nil {
		return err
	}
	env.untrustedHome = filepath.Join(tmp, "home-untrusted")
	return newNSSHome(env.untrustedHome, "")
}

// newNSSHome creates home/.pki/nssdb, the database Chromium on Linux reads
// its extra roots from, trusting caCert for TLS servers when it is set.
// The database is always new: certutil -N on an existing one prompts for
// the old password forever.
func newNSSHome(home, caCert string) error {
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		return err
	}
	cmds := [][]string{{"-d", "sql:" + db, "-N", "--empty-password"}}
	if caCert != "" {
		cmds = append(cmds, []string{"-d", "sql:" + db, "-A", "-t", "C,,", "-n", "consentproxy-e2e", "-i", caCert})
	}
	for _, args := range cmds {
		c := exec.Command(env.certutil, args...)
		c.Stdin = strings.NewReader("")
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("certutil %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// moduleRoot walks up from the working directory to the one holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// need skips t (or fails it when the suite is required) when the browser
// suite cannot run on this machine.
func need(t *testing.T) {
	t.Helper()
	if env.skip == "" {
		return
	}
	if os.Getenv(requireEnv) == "1" {
		t.Fatalf("the browser suite must run (%s=1), but %s", requireEnv, env.skip)
	}
	t.Skipf("browser suite skipped: %s; set %s=1 to make this a failure", env.skip, requireEnv)
}
