package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// trustHelp runs `consentproxy ca trust-help` for the suite's CA and the
// given proxy, as a user would after starting it.
func trustHelp(t *testing.T, p *proxyProc) string {
	t.Helper()
	cmd := exec.Command(env.binary, "ca", "trust-help", "--ca-cert", env.caCert, "--ca-key", env.caKey,
		"--listen", p.addr, "--admin", p.admin)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("consentproxy ca trust-help: %v", err)
	}
	return string(out)
}

// snippetAfter returns the snippet (lines up to the next blank line) that
// follows the line containing marker.
func snippetAfter(t *testing.T, text, marker string) string {
	t.Helper()
	i := strings.Index(text, marker)
	if i < 0 {
		t.Fatalf("trust-help has no %q:\n%s", marker, text)
	}
	rest := text[i:]
	rest = rest[strings.Index(rest, "\n")+1:]
	rest = strings.TrimLeft(rest, "\n")
	if j := strings.Index(rest, "\n\n"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// TestTrustHelpInstructionsWork pastes what `ca trust-help` prints, as a
// new user would, and checks that it works: the certutil commands make an
// NSS database Chromium trusts, the SPKI flag works on its own, the curl
// line fetches through the proxy.
func TestTrustHelpInstructionsWork(t *testing.T) {
	need(t)
	w := newWeb(t)
	p := startProxy(t, w, "--profile", "accept-all")
	help := trustHelp(t, p)

	t.Run("NSS database for a throwaway HOME", func(t *testing.T) {
		block := snippetAfter(t, help, "A throwaway HOME")
		home, profile := t.TempDir(), t.TempDir()
		block = strings.NewReplacer("/tmp/consentproxy-home", home, "/tmp/consentproxy-chromium", profile).Replace(block)
		lines := strings.Split(block, "\n")
		last := lines[len(lines)-1]
		if want := "chromium --proxy-server=" + p.proxyURL() + " --user-data-dir=" + profile; !strings.HasSuffix(last, want) {
			t.Fatalf("the launch line is %q, want it to end with %q", last, want)
		}
		setup := exec.Command("sh", "-e", "-c", strings.Join(lines[:len(lines)-1], "\n"))
		setup.Stdin = strings.NewReader("")
		if out, err := setup.CombinedOutput(); err != nil {
			t.Fatalf("the certutil lines failed: %v\n%s\n%s", err, block, out)
		}
		b := startBrowser(t, p.proxyURL(), browserOptions{home: home})
		checkNoBrowserErrors(t, "load", b.load(shopURL))
	})

	t.Run("SPKI flag", func(t *testing.T) {
		m := regexp.MustCompile(`--ignore-certificate-errors-spki-list=(\S+)`).FindStringSubmatch(help)
		if m == nil || m[1] != env.caSPKI {
			t.Fatalf("trust-help SPKI flag = %v, want %s", m, env.caSPKI)
		}
		b := startBrowser(t, p.proxyURL(), browserOptions{home: env.untrustedHome,
			flags: map[string]any{"ignore-certificate-errors-spki-list": m[1]}})
		checkNoBrowserErrors(t, "load", b.load(shopURL))
	})

	t.Run("curl", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("curl not installed")
		}
		line := snippetAfter(t, help, "== curl ==")
		line = strings.Replace(line, "https://example.com/", shopURL, 1)
		out, err := exec.Command("sh", "-c", line+" --silent --show-error").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("<title>Example Shop</title>")) {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
	})
}

// TestAdminTrustPage: the admin listener serves the help page at / with
// the proxy's bound address, and the CA at /ca.pem and /ca.der; Chromium
// shows the page without a console error (its CSP allows what it uses).
func TestAdminTrustPage(t *testing.T) {
	need(t)
	w := newWeb(t)
	p := startProxy(t, w)

	get := func(path string) (*http.Response, []byte) {
		resp, err := http.Get("http://" + p.admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	resp, page := get("/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"--proxy-server=" + p.proxyURL(), // the bound port, not the configured 0
		`href="/ca.pem"`, `href="/ca.der"`,
		strings.ReplaceAll(env.caSPKI, "+", "&#43;"),
		env.caCert,
	} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the page lacks %q", want)
		}
	}
	pemData, err := os.ReadFile(env.caCert)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemData)
	for path, want := range map[string][]byte{"/ca.pem": pemData, "/ca.der": block.Bytes} {
		resp, body := get(path)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("GET %s = %d, %d bytes; want the CA certificate", path, resp.StatusCode, len(body))
		}
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		t.Fatal(err)
	}

	b := startBrowser(t, p.proxyURL(), browserOptions{})
	ctx, cancel := context.WithTimeout(b.ctx, loadTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+p.admin+"/")); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil || title != "consentproxy: trust the CA" {
		t.Errorf("title = %q, %v", title, err)
	}
	links, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.links].map(a => a.getAttribute("href")).filter(h => !h.startsWith("#"))`))
	if err != nil || strings.Join(links, " ") != "/ca.pem /ca.der" {
		t.Errorf("page links = %v, %v; want the two downloads", links, err)
	}
	// A CSP violation is reported while the page is parsed, before the
	// load event Navigate waited for.
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.messages {
		t.Errorf("browser reported on the admin page: %s", m)
	}
}
