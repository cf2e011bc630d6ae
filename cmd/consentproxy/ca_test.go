package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/consentproxy/consentproxy/certs"
)

// runCACmd runs `consentproxy ca args...` in-process with the given
// environment.
func runCACmd(t *testing.T, environ []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, environ: environ}
	err = run(context.Background(), e, append([]string{"ca"}, args...))
	return out.String(), errOut.String(), err
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func TestCAInitCreatesThenKeepsTheCA(t *testing.T) {
	home := t.TempDir()
	environ := []string{"HOME=" + home}
	dir := filepath.Join(home, ".local", "share", "consentproxy")
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")

	out, _, err := runCACmd(t, environ, "init")
	if err != nil {
		t.Fatalf("ca init: %v", err)
	}
	c, err := certs.LoadCertificate(certFile)
	if err != nil {
		t.Fatalf("ca init did not write %s: %v", certFile, err)
	}
	for _, want := range []string{"created a new CA", certFile, keyFile, certs.Fingerprint(c), "ca trust-help"} {
		if !strings.Contains(out, want) {
			t.Errorf("ca init output lacks %q:\n%s", want, out)
		}
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key file mode: %v %v, want 0600", fi.Mode(), err)
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("data dir mode: %v %v, want 0700", fi.Mode(), err)
		}
	}
	keyBefore, _ := os.ReadFile(keyFile)

	out, _, err = runCACmd(t, environ, "init")
	if err != nil {
		t.Fatalf("second ca init: %v (want exit 0 when the CA exists)", err)
	}
	for _, want := range []string{"already exists", "nothing changed", certs.Fingerprint(c)} {
		if !strings.Contains(out, want) {
			t.Errorf("second ca init output lacks %q:\n%s", want, out)
		}
	}
	if keyAfter, _ := os.ReadFile(keyFile); !bytes.Equal(keyBefore, keyAfter) {
		t.Errorf("second ca init changed the key")
	}
}

func TestCAInitReportsABrokenPair(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runCACmd(t, nil, "init", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "ca-key.pem"))
	_, _, err := runCACmd(t, nil, "init", "--data-dir", dir)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "ca-key.pem is missing") {
		t.Errorf("ca init with the key missing: %v (exit %d), want exit 1 naming the missing key", err, exitCode(err))
	}
	if _, err := os.Stat(filepath.Join(dir, "ca-key.pem")); err == nil {
		t.Errorf("ca init replaced the missing key")
	}
}

func TestCAPathResolution(t *testing.T) {
	tests := []struct {
		name     string
		environ  []string
		args     []string
		wantCert string
		wantKey  string
		wantErr  string
	}{
		{name: "HOME default",
			environ:  []string{"HOME=/home/u"},
			wantCert: "/home/u/.local/share/consentproxy/ca.pem", wantKey: "/home/u/.local/share/consentproxy/ca-key.pem"},
		{name: "XDG_DATA_HOME beats HOME",
			environ:  []string{"HOME=/home/u", "XDG_DATA_HOME=/xdg"},
			wantCert: "/xdg/consentproxy/ca.pem", wantKey: "/xdg/consentproxy/ca-key.pem"},
		{name: "relative XDG_DATA_HOME is ignored",
			environ:  []string{"HOME=/home/u", "XDG_DATA_HOME=rel"},
			wantCert: "/home/u/.local/share/consentproxy/ca.pem", wantKey: "/home/u/.local/share/consentproxy/ca-key.pem"},
		{name: "env data dir beats the default",
			environ:  []string{"HOME=/home/u", "XDG_DATA_HOME=/xdg", "CONSENTPROXY_DATA_DIR=/env"},
			wantCert: "/env/ca.pem", wantKey: "/env/ca-key.pem"},
		{name: "flag data dir beats env",
			environ:  []string{"HOME=/home/u", "CONSENTPROXY_DATA_DIR=/env"},
			args:     []string{"--data-dir", "/flag"},
			wantCert: "/flag/ca.pem", wantKey: "/flag/ca-key.pem"},
		{name: "env file paths beat the data dir",
			environ:  []string{"HOME=/home/u", "CONSENTPROXY_CA_CERT=/e/c.pem", "CONSENTPROXY_CA_KEY=/e/k.pem"},
			args:     []string{"--data-dir", "/flag"},
			wantCert: "/e/c.pem", wantKey: "/e/k.pem"},
		{name: "flag file paths beat env",
			environ:  []string{"CONSENTPROXY_CA_CERT=/e/c.pem", "CONSENTPROXY_CA_KEY=/e/k.pem"},
			args:     []string{"--ca-cert", "/f/c.pem", "--ca-key", "/f/k.pem"},
			wantCert: "/f/c.pem", wantKey: "/f/k.pem"},
		{name: "the last of duplicate variables wins",
			environ:  []string{"CONSENTPROXY_DATA_DIR=/first", "CONSENTPROXY_DATA_DIR=/second"},
			wantCert: "/second/ca.pem", wantKey: "/second/ca-key.pem"},
		{name: "cert without key",
			environ: []string{"HOME=/home/u"},
			args:    []string{"--ca-cert", "/f/c.pem"},
			wantErr: "--ca-cert: set without ca_key"},
		{name: "key from env, cert from nowhere",
			environ: []string{"HOME=/home/u", "CONSENTPROXY_CA_KEY=/e/k.pem"},
			wantErr: "CONSENTPROXY_CA_KEY: set without ca_cert"},
		{name: "no home, no data dir",
			environ: []string{"XDG_DATA_HOME=relative"},
			wantErr: "--data-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			p, _, err := caCommand(env{environ: tt.environ, stdout: io.Discard, stderr: &stderr}, "show", tt.args, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitCode(err) != 2 {
					t.Fatalf("caCommand = %+v, %v; want a usage error (exit 2) mentioning %q", p, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.cert != filepath.FromSlash(tt.wantCert) || p.key != filepath.FromSlash(tt.wantKey) {
				t.Errorf("paths = %s, %s; want %s, %s", p.cert, p.key, tt.wantCert, tt.wantKey)
			}
		})
	}
}

// The environment reaches the files actually written, not just the
// resolver.
func TestCAInitHonoursEnvironment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "from-env")
	if _, _, err := runCACmd(t, []string{"CONSENTPROXY_DATA_DIR=" + dir}, "init"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ca.pem", "ca-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not created in CONSENTPROXY_DATA_DIR: %v", name, err)
		}
	}
}

func TestCAShow(t *testing.T) {
	dir := t.TempDir()
	environ := []string{"CONSENTPROXY_DATA_DIR=" + dir}
	if _, _, err := runCACmd(t, environ, "init"); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	c, err := certs.LoadCertificate(certFile)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := runCACmd(t, environ, "show")
	if err != nil {
		t.Fatalf("ca show: %v", err)
	}
	for _, want := range []string{
		"certificate:  " + certFile,
		"key:          " + keyFile,
		"subject:      " + c.Subject.String(),
		fmt.Sprintf("serial:       %X", c.SerialNumber),
		"not before:   " + c.NotBefore.UTC().Format("2006-01-02 15:04:05 MST"),
		"not after:    " + c.NotAfter.UTC().Format("2006-01-02 15:04:05 MST"),
		"sha256:       " + certs.Fingerprint(c),
		"spki sha256:  " + certs.SPKIFingerprint(c),
		"--ignore-certificate-errors-spki-list=" + certs.SPKIFingerprint(c),
		"status:       ok",
	} {
		if !strings.Contains(out, want+"\n") && !strings.Contains(out, want+" ") {
			t.Errorf("ca show output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "PRIVATE") {
		t.Errorf("ca show printed key material:\n%s", out)
	}

	if runtime.GOOS != "windows" {
		// An unusable pair is still described, then reported.
		os.Chmod(keyFile, 0o644)
		out, _, err = runCACmd(t, environ, "show")
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("ca show with a world-readable key: %v, want the permission error", err)
		}
		if !strings.Contains(out, certs.Fingerprint(c)) || !strings.Contains(out, "status:       not usable") {
			t.Errorf("ca show with a bad key should still describe the CA and say it is not usable:\n%s", out)
		}
	}
}

func TestCAShowAndExportWithoutCA(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"show", "export", "trust-help"} {
		_, _, err := runCACmd(t, nil, sub, "--data-dir", dir)
		if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "ca init") {
			t.Errorf("ca %s without a CA: %v (exit %d), want exit 1 pointing at 'ca init'", sub, err, exitCode(err))
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("show/export created files: %v", entries)
	}
}

func TestCAExport(t *testing.T) {
	dir := t.TempDir()
	environ := []string{"CONSENTPROXY_DATA_DIR=" + dir}
	if _, _, err := runCACmd(t, environ, "init"); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	c, err := certs.LoadCertificate(certFile)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := os.ReadFile(keyFile)
	wantPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})

	// A key pasted into the certificate file must not come out either.
	withKey := append(append([]byte{}, keyPEM...), wantPEM...)
	leaky := filepath.Join(t.TempDir(), "combined.pem")
	os.WriteFile(leaky, withKey, 0o600)

	outFile := filepath.Join(t.TempDir(), "exported.pem")
	derFile := filepath.Join(t.TempDir(), "exported.der")
	tests := []struct {
		name    string
		args    []string
		file    string // output file, "" for stdout
		want    []byte
		environ []string
	}{
		{"PEM to stdout", []string{"export"}, "", wantPEM, environ},
		{"PEM to stdout with -o -", []string{"export", "-o", "-"}, "", wantPEM, environ},
		{"DER to stdout", []string{"export", "--der"}, "", c.Raw, environ},
		{"PEM to a file", []string{"export", "-o", outFile}, outFile, wantPEM, environ},
		{"DER to a file", []string{"export", "--der", "-o", derFile}, derFile, c.Raw, environ},
		{"certificate file holding a key too", []string{"export", "--ca-cert", leaky, "--ca-key", keyFile}, "", wantPEM, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCACmd(t, tt.environ, tt.args...)
			if err != nil {
				t.Fatalf("ca %s: %v", strings.Join(tt.args, " "), err)
			}
			got := []byte(out)
			if tt.file != "" {
				if out != "" {
					t.Errorf("with -o, stdout = %q, want nothing", out)
				}
				if got, err = os.ReadFile(tt.file); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("exported %d bytes, want %d (the CA certificate)", len(got), len(tt.want))
			}
			if bytes.Contains(got, []byte("PRIVATE")) || bytes.Contains(got, keyPEM[40:80]) {
				t.Errorf("export wrote key material")
			}
			if _, err := x509.ParseCertificate(c.Raw); err != nil {
				t.Fatal(err)
			}
		})
	}

	for _, target := range []string{keyFile, certFile} {
		_, _, err := runCACmd(t, environ, "export", "--der", "-o", target)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), "would overwrite") {
			t.Errorf("export -o %s: %v, want a usage error refusing to overwrite", target, err)
		}
	}
	if after, _ := os.ReadFile(keyFile); !bytes.Equal(after, keyPEM) {
		t.Fatalf("export damaged the key file")
	}
}

func TestCATrustHelp(t *testing.T) {
	dir := t.TempDir()
	environ := []string{"CONSENTPROXY_DATA_DIR=" + dir}
	if _, _, err := runCACmd(t, environ, "init"); err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(dir, "ca.pem")
	c, err := certs.LoadCertificate(certFile)
	if err != nil {
		t.Fatal(err)
	}
	spki, sha := certs.SPKIFingerprint(c), certs.Fingerprint(c)
	config := filepath.Join(t.TempDir(), "consentproxy.yaml")
	os.WriteFile(config, []byte("listen: 127.0.0.1:9191\nadmin: 127.0.0.1:9192\nproxy_auth: true\nproxy_password: s3cret-pw\n"+
		"listeners:\n  - listen: 127.0.0.1:9193\n    profile: accept-all\n"), 0o644)

	tests := []struct {
		name    string
		environ []string
		args    []string
		want    []string
		not     []string
	}{
		{name: "defaults",
			environ: environ,
			want: []string{
				"curl --proxy http://127.0.0.1:8080 --cacert " + certFile + " https://example.com/",
				"certutil -d sql:/tmp/consentproxy-home/.pki/nssdb -A -t C,, -n consentproxy -i " + certFile,
				"chromium --proxy-server=http://127.0.0.1:8080 --user-data-dir=/tmp/consentproxy-chromium \\\n  --ignore-certificate-errors-spki-list=" + spki,
				"NODE_EXTRA_CA_CERTS=" + certFile,
				sha,
				"http://127.0.0.1:8081/ca.der",
			}},
		{name: "--listen flag",
			environ: environ,
			args:    []string{"--listen", "127.0.0.1:3128", "--admin", "off"},
			want:    []string{"--proxy-server=http://127.0.0.1:3128", "export HTTPS_PROXY=http://127.0.0.1:3128"},
			not:     []string{"127.0.0.1:8080", "/ca.der (DER"}},
		{name: "environment",
			environ: append(environ, "CONSENTPROXY_LISTEN=127.0.0.1:3129"),
			want:    []string{"--proxy-server=http://127.0.0.1:3129"},
			not:     []string{"127.0.0.1:8080"}},
		{name: "wildcard bind is reached on loopback",
			environ: environ,
			args:    []string{"--listen", "0.0.0.0:3130", "--allow-remote"},
			want:    []string{"--proxy-server=http://127.0.0.1:3130"},
			not:     []string{"0.0.0.0"}},
		{name: "config file: addresses, proxy auth, listeners; the password never printed",
			environ: environ,
			args:    []string{"--config", config},
			want: []string{
				"--proxy-server=http://127.0.0.1:9191", "http://127.0.0.1:9192/ca.pem",
				"This proxy asks for credentials", "username: 'reject-all', password: '<proxy_password>'",
				"http://127.0.0.1:9193  (profile accept-all)",
			},
			not: []string{"s3cret-pw", "127.0.0.1:8080"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCACmd(t, tt.environ, append([]string{"trust-help"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("trust-help lacks %q:\n%s", want, out)
				}
			}
			for _, not := range tt.not {
				if strings.Contains(out, not) {
					t.Errorf("trust-help has %q", not)
				}
			}
			if strings.Contains(out, "PRIVATE") {
				t.Errorf("trust-help printed key material")
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8080": "127.0.0.1:8080",
		":8080":          "127.0.0.1:8080",
		"0.0.0.0:8080":   "127.0.0.1:8080",
		"[::]:8080":      "127.0.0.1:8080",
		"[::1]:8080":     "[::1]:8080",
		"10.0.0.5:3128":  "10.0.0.5:3128",
		"localhost:8080": "localhost:8080",
	} {
		if got := clientAddr(in); got != want {
			t.Errorf("clientAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCAUsage(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
		wantOut  string
	}{
		{nil, 2, "missing subcommand", ""},
		{[]string{"frobnicate"}, 2, `unknown subcommand "frobnicate"`, ""},
		{[]string{"init", "--nope"}, 2, "flag provided but not defined: -nope", ""},
		{[]string{"show", "extra"}, 2, `unexpected argument "extra"`, ""},
		{[]string{"export", "--der=maybe"}, 2, "invalid boolean value", ""},
		{[]string{"-h"}, 0, "", "usage: consentproxy ca"},
		{[]string{"help"}, 0, "", "usage: consentproxy ca"},
		{[]string{"export", "-h"}, 0, "", "--der"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := runCACmd(t, []string{"HOME=" + t.TempDir()}, tt.args...)
			if got := exitCode(err); got != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d", got, err, tt.wantCode)
			}
			if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantOut, out)
			}
		})
	}
}
