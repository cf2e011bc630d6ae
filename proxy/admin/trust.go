package admin

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
)

// TrustInfo is what the trust instructions are filled in with: this
// installation's CA and where its proxy listens.
type TrustInfo struct {
	// CertFile is the CA certificate's absolute path.
	CertFile string
	// SHA256 is the certificate's fingerprint (colon-separated hex) and
	// SPKI the base64 SHA-256 of its public key, as Chromium's
	// --ignore-certificate-errors-spki-list takes it.
	SHA256, SPKI string
	// Proxy is the main listener (host:port) and ProxyAuth whether it asks
	// for credentials (username = profile name).
	Proxy     string
	ProxyAuth bool
	// Listeners are the extra proxy ports with their own profile.
	Listeners []TrustListener
	// Admin is the admin listener (host:port), "" when it is off.
	Admin string
	// PasswordSet says a proxy_password is configured; the password itself
	// is never printed.
	PasswordSet bool
}

// TrustListener is an extra proxy port.
type TrustListener struct {
	Addr    string
	Profile string // "" = the active default profile
	Auth    bool
}

// TrustSection is one client's instructions.
type TrustSection struct {
	ID, Title string
	// Notes are paragraphs of plain text.
	Notes []string
	// Snippets are what to paste, each whole.
	Snippets []TrustSnippet
}

// TrustSnippet is a block to paste as it is.
type TrustSnippet struct {
	Label string // what it is for, "" when the section says it
	Code  string
}

// The throwaway directories the snippets use. Fixed names keep the
// snippets copy-paste exact; /tmp is what every Linux and macOS has.
const (
	nssHome       = "/tmp/consentproxy-home"
	chromeProfile = "/tmp/consentproxy-chromium"
)

// TrustSections are the instructions for every client, filled in with
// info. `consentproxy ca trust-help` prints them and the admin listener's
// page at / shows them, so the two never disagree.
func TrustSections(info TrustInfo) []TrustSection {
	proxyURL := "http://" + info.Proxy
	cert := info.CertFile
	qcert := shellQuote(cert)
	user, pass := authExample(info)
	authNote := "Profiles per client: set proxy_auth: true (or add a listener with auth: true); " +
		"the proxy then answers 407 and the username of the credentials names the consent profile."
	if info.ProxyAuth {
		authNote = "This proxy asks for credentials (407): the username names the consent profile" + passwordNote(info) + "."
	}

	var admin string
	if info.Admin != "" {
		admin = "http://" + info.Admin
	}
	certNotes := []string{
		"File: " + cert,
		"SHA-256 fingerprint: " + info.SHA256,
		"SPKI hash (base64 SHA-256 of the public key): " + info.SPKI,
		"Trust it only in the clients you test with: whoever holds the CA's key can read the HTTPS traffic of every client that trusts it. Remove it from each place below when you are done.",
	}
	if admin != "" {
		certNotes = append(certNotes, "Download: "+admin+"/ca.pem (PEM) or "+admin+"/ca.der (DER, for Windows and Android).")
	}

	sections := []TrustSection{
		{ID: "ca", Title: "The CA certificate", Notes: certNotes,
			Snippets: []TrustSnippet{{Label: "Write a copy (PEM, or DER with --der); never the key", Code: "consentproxy ca export -o consentproxy-ca.pem"}}},
		{ID: "curl", Title: "curl",
			Snippets: []TrustSnippet{{Code: "curl --proxy " + proxyURL + " --cacert " + qcert + " https://example.com/"}}},
		{ID: "chromium-nss", Title: "Chromium on Linux (NSS database)",
			Notes: []string{
				"Chromium on Linux takes extra roots from the NSS database in $HOME/.pki/nssdb (certutil is in the package libnss3-tools), not from the system store.",
				"A throwaway HOME, as in CI (certutil -N creates the database; never run it on an existing one, it then asks for the old password forever):",
			},
			Snippets: []TrustSnippet{
				{Code: strings.Join([]string{
					"mkdir -p " + nssHome + "/.pki/nssdb",
					"certutil -d sql:" + nssHome + "/.pki/nssdb -N --empty-password",
					"certutil -d sql:" + nssHome + "/.pki/nssdb -A -t C,, -n consentproxy -i " + qcert,
					"HOME=" + nssHome + " chromium --proxy-server=" + proxyURL + " --user-data-dir=" + chromeProfile,
				}, "\n")},
				{Label: "Your own profile (Chromium created $HOME/.pki/nssdb on its first run; restart Chromium afterwards)",
					Code: "certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n consentproxy -i " + qcert + "\nchromium --proxy-server=" + proxyURL},
				{Label: "Remove it again", Code: "certutil -d sql:$HOME/.pki/nssdb -D -n consentproxy"},
			}},
		{ID: "chromium-spki", Title: "Chromium or Chrome, any OS (SPKI flag)",
			Notes:    []string{"Trusts this CA's key for one browser run, without touching any store. Chromium honours the flag only together with --user-data-dir."},
			Snippets: []TrustSnippet{{Code: "chromium --proxy-server=" + proxyURL + " --user-data-dir=" + chromeProfile + " \\\n  --ignore-certificate-errors-spki-list=" + info.SPKI}}},
		{ID: "firefox", Title: "Firefox",
			Notes: []string{
				"Firefox has its own certificate store. An enterprise policy installs the CA and sets the proxy: save this as policies.json in /etc/firefox/policies/ (Linux), in the distribution/ folder of the installation (Windows: C:\\Program Files\\Mozilla Firefox\\distribution\\; macOS: Firefox.app/Contents/Resources/distribution/), then restart Firefox.",
				"Or by hand: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import, and Settings > Network Settings > Manual proxy configuration.",
			},
			Snippets: []TrustSnippet{{Code: firefoxPolicy(cert, info.Proxy)}}},
		{ID: "playwright", Title: "Playwright",
			Notes: []string{
				"Chromium trusts the CA through the SPKI flag (Playwright always passes --user-data-dir). Firefox and WebKit under Playwright do not read a CA file: use ignoreHTTPSErrors: true there, or the system store below (WebKit on macOS).",
				authNote,
				"An X-Consent-Profile header (extraHTTPHeaders) selects a profile too, but makes the browser send CORS preflights for cross-origin requests that would not have had one: prefer credentials or a port per profile for browsers.",
			},
			Snippets: []TrustSnippet{
				{Label: "Node.js", Code: strings.Join([]string{
					"const { chromium } = require('playwright');",
					"",
					"(async () => {",
					"  const browser = await chromium.launch({",
					"    proxy: { server: '" + proxyURL + "'" + jsCreds(info, user, pass) + " },",
					"    args: ['--ignore-certificate-errors-spki-list=" + info.SPKI + "'],",
					"  });",
					"  const page = await browser.newPage();",
					"  await page.goto('https://example.com/');",
					"  await browser.close();",
					"})();",
				}, "\n")},
				{Label: "Python", Code: strings.Join([]string{
					"from playwright.sync_api import sync_playwright",
					"",
					"with sync_playwright() as p:",
					"    browser = p.chromium.launch(",
					"        proxy={\"server\": \"" + proxyURL + "\"" + pyCreds(info, user, pass) + "},",
					"        args=[\"--ignore-certificate-errors-spki-list=" + info.SPKI + "\"],",
					"    )",
					"    page = browser.new_page()",
					"    page.goto(\"https://example.com/\")",
					"    browser.close()",
				}, "\n")},
				{Label: "One context per consent profile (credentials per context; needs proxy_auth)", Code: strings.Join([]string{
					"const context = await browser.newContext({",
					"  proxy: { server: '" + proxyURL + "', username: 'accept-all', password: '" + pass + "' },",
					"});",
				}, "\n")},
			}},
		{ID: "selenium", Title: "Selenium",
			Notes: []string{
				"Chrome takes no proxy credentials on its command line: to give each driver its own consent profile, give each its own proxy port (listeners in the config file, each with a profile) instead of proxy_auth.",
			},
			Snippets: []TrustSnippet{
				{Label: "Python (Chrome/Chromium)", Code: strings.Join([]string{
					"from selenium import webdriver",
					"",
					"options = webdriver.ChromeOptions()",
					"options.add_argument(\"--proxy-server=" + proxyURL + "\")",
					"options.add_argument(\"--ignore-certificate-errors-spki-list=" + info.SPKI + "\")",
					"options.add_argument(\"--user-data-dir=" + chromeProfile + "\")",
					"driver = webdriver.Chrome(options=options)",
					"driver.get(\"https://example.com/\")",
				}, "\n")},
				{Label: "Python (Firefox; accepts any certificate, or use the policy above)", Code: strings.Join([]string{
					"from selenium import webdriver",
					"from selenium.webdriver.common.proxy import Proxy, ProxyType",
					"",
					"options = webdriver.FirefoxOptions()",
					"options.proxy = Proxy({\"proxyType\": ProxyType.MANUAL, \"httpProxy\": \"" + info.Proxy + "\", \"sslProxy\": \"" + info.Proxy + "\"})",
					"options.accept_insecure_certs = True",
					"driver = webdriver.Firefox(options=options)",
				}, "\n")},
				{Label: "JavaScript (selenium-webdriver)", Code: strings.Join([]string{
					"const { Builder } = require('selenium-webdriver');",
					"const chrome = require('selenium-webdriver/chrome');",
					"",
					"(async () => {",
					"  const options = new chrome.Options().addArguments(",
					"    '--proxy-server=" + proxyURL + "',",
					"    '--ignore-certificate-errors-spki-list=" + info.SPKI + "',",
					"    '--user-data-dir=" + chromeProfile + "');",
					"  const driver = await new Builder().forBrowser('chrome').setChromeOptions(options).build();",
					"  await driver.get('https://example.com/');",
					"  await driver.quit();",
					"})();",
				}, "\n")},
				{Label: "Java", Code: strings.Join([]string{
					"ChromeOptions options = new ChromeOptions();",
					"options.addArguments(",
					"    \"--proxy-server=" + proxyURL + "\",",
					"    \"--ignore-certificate-errors-spki-list=" + info.SPKI + "\",",
					"    \"--user-data-dir=" + chromeProfile + "\");",
					"WebDriver driver = new ChromeDriver(options);",
					"driver.get(\"https://example.com/\");",
				}, "\n")},
			}},
		{ID: "env", Title: "Command-line tools and libraries (environment variables)",
			Notes: []string{
				"NODE_EXTRA_CA_CERTS adds the CA to Node's built-in roots. REQUESTS_CA_BUNDLE (Python requests) and SSL_CERT_FILE (OpenSSL, Python's ssl, Go, Ruby) replace the default roots with the file: fine while everything goes through the proxy. HTTPS_PROXY routes curl, Python requests, Go and most tools (not Node's own https or fetch).",
			},
			Snippets: []TrustSnippet{{Code: strings.Join([]string{
				"export HTTPS_PROXY=" + proxyURL + " HTTP_PROXY=" + proxyURL,
				"export NODE_EXTRA_CA_CERTS=" + qcert,
				"export REQUESTS_CA_BUNDLE=" + qcert,
				"export SSL_CERT_FILE=" + qcert,
			}, "\n")}}},
		{ID: "system", Title: "System stores (every client that uses them)",
			Notes: []string{
				"Chrome on macOS and Windows, Edge, Safari, WebKit, and most tools read the system store; Chromium on Linux and Firefox do not (see above).",
			},
			Snippets: []TrustSnippet{
				{Label: "Debian, Ubuntu (the file name must end in .crt)", Code: "sudo cp " + qcert + " /usr/local/share/ca-certificates/consentproxy.crt\nsudo update-ca-certificates"},
				{Label: "Fedora, RHEL", Code: "sudo cp " + qcert + " /etc/pki/ca-trust/source/anchors/consentproxy.pem\nsudo update-ca-trust"},
				{Label: "macOS", Code: "sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain " + qcert},
				{Label: "Windows (current user; PowerShell, with the DER file from above)", Code: "Import-Certificate -FilePath consentproxy-ca.der -CertStoreLocation Cert:\\CurrentUser\\Root"},
			}},
	}
	if len(info.Listeners) > 0 {
		var lines []string
		for _, l := range info.Listeners {
			s := "http://" + l.Addr
			switch {
			case l.Auth:
				s += "  (asks for credentials; the username names the profile)"
			case l.Profile != "":
				s += "  (profile " + l.Profile + ")"
			default:
				s += "  (the active profile)"
			}
			lines = append(lines, s)
		}
		sections[0].Notes = append(sections[0].Notes, "Other proxy ports of this installation: "+strings.Join(lines, "; ")+".")
	}
	return sections
}

// authExample is the username and password the snippets show.
func authExample(info TrustInfo) (user, pass string) {
	pass = "any"
	if info.PasswordSet {
		pass = "<proxy_password>"
	}
	return "reject-all", pass
}

func passwordNote(info TrustInfo) string {
	if info.PasswordSet {
		return " and the password is the configured proxy_password"
	}
	return " (any password)"
}

func jsCreds(info TrustInfo, user, pass string) string {
	if !info.ProxyAuth {
		return ""
	}
	return ", username: '" + user + "', password: '" + pass + "'"
}

func pyCreds(info TrustInfo, user, pass string) string {
	if !info.ProxyAuth {
		return ""
	}
	return ", \"username\": \"" + user + "\", \"password\": \"" + pass + "\""
}

// firefoxPolicy is a policies.json installing the CA and setting the
// proxy. Values are JSON-encoded, so a Windows path stays valid JSON.
func firefoxPolicy(cert, proxy string) string {
	policy := map[string]any{"policies": map[string]any{
		"Certificates": map[string]any{"Install": []string{cert}},
		"Proxy": map[string]any{
			"Mode":                        "manual",
			"HTTPProxy":                   proxy,
			"UseHTTPProxyForAllProtocols": true,
		},
	}}
	b, err := json.MarshalIndent(policy, "", "  ")
	if err != nil {
		// Strings, booleans and maps always encode.
		panic(err)
	}
	return string(b)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@,=%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// WriteTrustText writes the sections as plain text for a terminal: titles,
// notes, and each snippet unindented between blank lines, so that it pastes
// exactly.
func WriteTrustText(w io.Writer, sections []TrustSection) error {
	var b strings.Builder
	for i, s := range sections {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "== %s ==\n", s.Title)
		for _, n := range s.Notes {
			b.WriteString(n + "\n")
		}
		for _, sn := range s.Snippets {
			b.WriteString("\n")
			if sn.Label != "" {
				b.WriteString(sn.Label + ":\n")
			}
			b.WriteString(sn.Code + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// TrustPage serves the instructions as a plain HTML page, like mitmproxy's
// mitm.it: no script, no external resource, links to /ca.pem and /ca.der.
// info is called per request, so the page shows the addresses the
// listeners actually bound (a configured port 0 included).
func TrustPage(info func() TrustInfo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		in := info()
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Nothing but the page's own inline style may load or run.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; frame-ancestors 'none'")
		_ = trustPageTemplate.Execute(w, struct {
			Info     TrustInfo
			Sections []TrustSection
		}{in, TrustSections(in)})
	})
}

var trustPageTemplate = template.Must(template.New("trust").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>consentproxy: trust the CA</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
pre { background: #f4f4f4; padding: .75rem; overflow-x: auto; }
code, pre { font: 14px/1.4 ui-monospace, monospace; }
.label { margin-bottom: 0; font-weight: 600; }
nav a { margin-right: 1rem; }
</style>
</head>
<body>
<h1>consentproxy: trust the CA</h1>
<p>This proxy intercepts HTTPS with its own certificate authority. A client must trust it first.</p>
<p><a href="/ca.pem" download="consentproxy-ca.pem">Download ca.pem</a> (PEM) &middot; <a href="/ca.der" download="consentproxy-ca.der">Download ca.der</a> (DER)</p>
<p>Proxy: <code>http://{{.Info.Proxy}}</code></p>
<nav>{{range .Sections}}<a href="#{{.ID}}">{{.Title}}</a> {{end}}</nav>
{{range .Sections}}
<h2 id="{{.ID}}">{{.Title}}</h2>
{{range .Notes}}<p>{{.}}</p>
{{end}}{{range .Snippets}}{{if .Label}}<p class="label">{{.Label}}:</p>
{{end}}<pre><code>{{.Code}}</code></pre>
{{end}}{{end}}
</body>
</html>
`))
