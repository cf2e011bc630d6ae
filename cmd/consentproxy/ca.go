package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/consentproxy/consentproxy/certs"
	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/proxy"
	"github.com/consentproxy/consentproxy/proxy/admin"
)

const caUsage = `usage: consentproxy ca <subcommand> [flags]

subcommands:
  init        create the CA if there is none; print where it is and its fingerprint
  show        print the CA certificate's subject, serial, validity and fingerprints
  export      write the CA certificate (never the key) as PEM, or DER with --der
  trust-help  how to make browsers, test runners, tools and systems trust the
              CA and use the proxy, filled in with this installation's paths,
              fingerprints and proxy address (--listen, --config apply)

flags of every subcommand (the same as for run, so --config works too):
  --config FILE    config file whose data_dir/ca_cert/ca_key apply (env CONSENTPROXY_CONFIG)
  --data-dir DIR   where ca.pem and ca-key.pem live (env CONSENTPROXY_DATA_DIR;
                   default $XDG_DATA_HOME/consentproxy, else ~/.local/share/consentproxy)
  --ca-cert FILE   CA certificate, instead of DIR/ca.pem (env CONSENTPROXY_CA_CERT)
  --ca-key FILE    CA private key, instead of DIR/ca-key.pem (env CONSENTPROXY_CA_KEY)

export flags:
  --der            DER instead of PEM
  -o FILE          write to FILE instead of standard output
`

// runCA is `consentproxy ca`.
func runCA(_ context.Context, e env, args []string) error {
	if len(args) == 0 {
		io.WriteString(e.stderr, caUsage)
		return usageError("ca: missing subcommand (init, show, export or trust-help)")
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "-h", "--help", "help":
		io.WriteString(e.stdout, caUsage)
		return nil
	case "init":
		return caInit(e, rest)
	case "show":
		return caShow(e, rest)
	case "export":
		return caExport(e, rest)
	case "trust-help":
		return caTrustHelp(e, rest)
	}
	return usageError("ca: unknown subcommand %q (want init, show, export or trust-help)", sub)
}

// caPaths is where the CA lives after flags, environment, config file and
// defaults: exactly the files `run` would use with the same settings.
type caPaths struct {
	cert, key string
}

// caCommand parses a ca subcommand's flags (every run setting, so that
// --config, --data-dir and friends mean what they mean for run; extra adds
// the subcommand's own) and resolves where the CA lives.
func caCommand(e env, name string, args []string, extra func(fs *flag.FlagSet)) (p caPaths, help bool, err error) {
	p, _, help, err = caCommandConfig(e, name, args, extra)
	return p, help, err
}

// caCommandConfig is caCommand that also returns the whole configuration
// (trust-help needs the proxy's addresses).
func caCommandConfig(e env, name string, args []string, extra func(fs *flag.FlagSet)) (p caPaths, cfg config.Config, help bool, err error) {
	fs := newFlagSet(e, "ca "+name, caUsage)
	// The run flags are accepted but not listed: only the CA's matter here.
	fs.Usage = func() { io.WriteString(e.stdout, caUsage) }
	flags := config.RegisterFlags(fs)
	if extra != nil {
		extra(fs)
	}
	if help, err := parseFlags(fs, args); help || err != nil {
		return caPaths{}, cfg, help, err
	}
	if fs.NArg() > 0 {
		return caPaths{}, cfg, false, usageError("ca %s: unexpected argument %q (see consentproxy ca -h)", name, fs.Arg(0))
	}
	cfg, err = resolveConfig(e, flags)
	if err != nil {
		return caPaths{}, cfg, false, err
	}
	p = caPaths{cert: cfg.CACert, key: cfg.CAKey}
	// Absolute paths in everything printed: the user is told where the
	// files are, whatever the working directory.
	for _, s := range []*string{&p.cert, &p.key} {
		if abs, err := filepath.Abs(*s); err == nil {
			*s = abs
		}
	}
	return p, cfg, false, nil
}

// lookupEnv returns the last value of name in environ ("" when unset),
// the way a shell's later assignment wins.
func lookupEnv(environ []string, name string) string {
	value := ""
	for _, kv := range environ {
		if n, v, ok := strings.Cut(kv, "="); ok && n == name {
			value = v
		}
	}
	return value
}

func caInit(e env, args []string) error {
	p, help, err := caCommand(e, "init", args, nil)
	if help || err != nil {
		return err
	}
	a, created, err := certs.LoadOrCreate(p.cert, p.key)
	if err != nil {
		return fmt.Errorf("ca init: %w", err)
	}
	c := a.Certificate()
	if created {
		fmt.Fprintf(e.stdout, "created a new CA\n  certificate: %s\n  key:         %s (private: whoever has it can read the HTTPS traffic of clients that trust the CA)\n  sha256:      %s\n\nNext: make your clients trust the certificate; see 'consentproxy ca trust-help'.\n",
			p.cert, p.key, certs.Fingerprint(c))
		return nil
	}
	fmt.Fprintf(e.stdout, "a CA already exists; nothing changed\n  certificate: %s\n  key:         %s\n  sha256:      %s\n",
		p.cert, p.key, certs.Fingerprint(c))
	return nil
}

func caShow(e env, args []string) error {
	p, help, err := caCommand(e, "show", args, nil)
	if help || err != nil {
		return err
	}
	c, err := readCACertificate("ca show", p)
	if err != nil {
		return err
	}
	const layout = "2006-01-02 15:04:05 MST"
	spki := certs.SPKIFingerprint(c)
	fmt.Fprintf(e.stdout, `certificate:  %s
key:          %s
subject:      %s
serial:       %X
not before:   %s
not after:    %s
sha256:       %s
spki sha256:  %s
chromium:     --ignore-certificate-errors-spki-list=%s
`, p.cert, p.key, c.Subject, c.SerialNumber, c.NotBefore.UTC().Format(layout), c.NotAfter.UTC().Format(layout),
		certs.Fingerprint(c), spki, spki)
	// The details above are printed even when the pair is unusable, so the
	// user can see which CA is there; the status line says whether the
	// proxy can use it.
	if _, err := certs.Load(p.cert, p.key); err != nil {
		fmt.Fprintf(e.stdout, "status:       not usable\n")
		return fmt.Errorf("ca show: %w", err)
	}
	left := time.Until(c.NotAfter).Round(24 * time.Hour)
	fmt.Fprintf(e.stdout, "status:       ok (expires in %d days)\n", int(left.Hours()/24))
	return nil
}

func caExport(e env, args []string) error {
	var (
		der bool
		out string
	)
	p, help, err := caCommand(e, "export", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&der, "der", false, "write DER instead of PEM")
		fs.StringVar(&out, "o", "", "output file (default standard output)")
	})
	if help || err != nil {
		return err
	}
	c, err := readCACertificate("ca export", p)
	if err != nil {
		return err
	}
	// Encoded from the parsed certificate, never copied from the file: the
	// file could hold more than the certificate (a key pasted into it), and
	// none of that may leave through export.
	data := c.Raw
	if !der {
		data = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	if out == "" || out == "-" {
		_, err := e.stdout.Write(data)
		return err
	}
	for _, own := range []string{p.key, p.cert} {
		if sameFile(out, own) {
			return usageError("ca export: -o %s would overwrite the CA's own file %s; choose another output file", out, own)
		}
	}
	// 0644: a CA certificate is public, and whoever installs it (another
	// user, a container build) must be able to read it.
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return fmt.Errorf("ca export: %w", err)
	}
	format := "PEM"
	if der {
		format = "DER"
	}
	fmt.Fprintf(e.stderr, "wrote the CA certificate (%s) to %s\n", format, out)
	return nil
}

// readCACertificate reads the certificate alone (export needs nothing
// else, and show wants to describe even a CA whose key is unusable), with a
// hint when there is none yet.
func readCACertificate(op string, p caPaths) (*x509.Certificate, error) {
	c, err := certs.LoadCertificate(p.cert)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no CA certificate at %s: run 'consentproxy ca init' to create one (or pass --data-dir / --ca-cert)", op, p.cert)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return c, nil
}

// sameFile reports whether a and b name the same existing file, or the
// same path when either does not exist yet.
func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	absA, err1 := filepath.Abs(a)
	absB, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && absA == absB
}

func caTrustHelp(e env, args []string) error {
	p, cfg, help, err := caCommandConfig(e, "trust-help", args, nil)
	if help || err != nil {
		return err
	}
	c, err := readCACertificate("ca trust-help", p)
	if err != nil {
		return err
	}
	// The configured addresses (not the defaults): the instructions must
	// point at this installation's proxy.
	info := trustInfo(cfg, p.cert, c, cfg.Listen, cfg.Admin)
	io.WriteString(e.stdout, "How to make clients trust this installation's CA and use its proxy.\n"+
		"The same help is served by the admin listener at /.\n\n")
	return admin.WriteTrustText(e.stdout, admin.TrustSections(info))
}

// trustInfo fills the trust instructions in: the CA, and the proxy and
// admin addresses (configured ones for the CLI, bound ones for the page).
func trustInfo(cfg config.Config, certFile string, c *x509.Certificate, proxyAddr, adminAddr string) admin.TrustInfo {
	info := admin.TrustInfo{
		CertFile:    certFile,
		SHA256:      certs.Fingerprint(c),
		SPKI:        certs.SPKIFingerprint(c),
		Proxy:       clientAddr(proxyAddr),
		ProxyAuth:   cfg.ProxyAuth,
		PasswordSet: cfg.ProxyPassword != "",
	}
	if adminAddr != "" && adminAddr != config.AdminOff {
		info.Admin = clientAddr(adminAddr)
	}
	for _, l := range cfg.Listeners {
		info.Listeners = append(info.Listeners, admin.TrustListener{Addr: clientAddr(l.Listen), Profile: l.Profile, Auth: l.Auth})
	}
	return info
}

// clientAddr is how a client on this machine reaches a listener: a
// wildcard bind (":8080", "0.0.0.0:8080", "[::]:8080") is reached on
// loopback.
func clientAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// serveTrustPage puts the trust instructions on the admin listener at /
// (public, like /ca.pem: it holds nothing secret), with the addresses the
// listeners actually bound.
func serveTrustPage(srv *proxy.Server, cfg config.Config, ca *certs.Authority) {
	r := srv.Admin()
	if r == nil {
		return
	}
	certFile := cfg.CACert
	if abs, err := filepath.Abs(certFile); err == nil {
		certFile = abs
	}
	r.HandlePublic("GET /{$}", admin.TrustPage(func() admin.TrustInfo {
		proxyAddr, adminAddr := cfg.Listen, cfg.Admin
		if a := srv.Addr(); a != nil {
			proxyAddr = a.String()
		}
		if a := srv.AdminAddr(); a != nil {
			adminAddr = a.String()
		}
		return trustInfo(cfg, certFile, ca.Certificate(), proxyAddr, adminAddr)
	}))
}
