package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/consentproxy/consentproxy/certs"
)

// benchHost is the site the scenarios visit. Targets that can map a name
// to an address (consentproxy's --resolve, the baseline's and the direct
// client's dialers) reach the upstream as shop.test and *.shop.test; the
// others as 127.0.0.1.
const benchHost = "shop.test"

// Target names, in table order.
const (
	tDirect       = "direct"
	tBareGoproxy  = "bare-goproxy"
	tConsentproxy = "consentproxy"
	// tNoConsentWrite is consentproxy with --write-consent=false: the same
	// enforcement without writing the consent platforms' cookies, so the
	// requests its clients send are the same as through the baseline.
	tNoConsentWrite = "consentproxy-nowrite"
	tMitmdump       = "mitmdump"
	tPrivoxy        = "privoxy"
	tSquid          = "squid"
)

// target is one way of reaching the upstream: directly, or through one
// proxy process.
type target struct {
	name string
	// mitm: the target intercepts HTTPS (else HTTPS goes through a blind
	// CONNECT tunnel, or directly).
	mitm bool
	// byIP: URLs name the upstream by IP, for proxies that resolve names
	// themselves and cannot be told where shop.test is.
	byIP bool
	// proxy is nil for direct.
	proxy *url.URL
	// roots is what the client trusts for HTTPS through this target: the
	// proxy's CA when it intercepts, the upstream's CA otherwise.
	roots *x509.CertPool
	// admin serves /debug/pprof/ ("" when the target has none).
	admin   string
	version string
	proc    *process
	// start starts the target's process again (nil for direct).
	start func() (*target, error)
}

// restart replaces the target's process by a new one.
func (t *target) restart() error {
	if t.start == nil {
		return nil
	}
	t.stop()
	n, err := t.start()
	if err != nil {
		return err
	}
	n.start = t.start
	*t = *n
	return nil
}

// settle waits until the target's processes are idle (at most one 10 ms
// clock tick of CPU in 200 ms, for at most 5 s): a proxy still draining
// the connections of its window would otherwise take CPU from the next
// target's.
func (t *target) settle() {
	pid := t.pid()
	if pid == 0 {
		return
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		c0 := cpuSeconds(pid)
		time.Sleep(200 * time.Millisecond)
		if cpuSeconds(pid)-c0 <= 1.0/clockTicks {
			return
		}
	}
}

// kind is how the target handles HTTPS, for the table.
func (t *target) kind() string {
	switch {
	case t.proxy == nil:
		return "no proxy"
	case t.mitm:
		return "MITM"
	}
	return "tunnel (no MITM)"
}

func (t *target) pid() int {
	if t.proc == nil {
		return 0
	}
	return t.proc.cmd.Process.Pid
}

func (t *target) stop() {
	if t.proc != nil {
		t.proc.stop()
	}
}

// transport is one client's transport for scenario sc.
func (t *target) transport(sc scenario) *http.Transport {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: t.roots, MinVersion: tls.VersionTLS12},
		// HTTP/1.1: the scenarios compare keep-alive against a new
		// connection per request.
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{},
		DisableKeepAlives:     !sc.keepAlive,
		DisableCompression:    true, // the request says what it accepts; bodies are counted as sent
		MaxIdleConnsPerHost:   4,
		TLSHandshakeTimeout:   20 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	if t.proxy != nil {
		tr.Proxy = http.ProxyURL(t.proxy)
		tr.DialContext = d.DialContext
	} else {
		// Direct: shop.test and its subdomains are this machine.
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, p, err := net.SplitHostPort(addr); err == nil && (host == benchHost || strings.HasSuffix(host, "."+benchHost)) {
				addr = net.JoinHostPort("127.0.0.1", p)
			}
			return d.DialContext(ctx, network, addr)
		}
	}
	return tr
}

// process is a target's running process, its output going to a log file.
type process struct {
	name   string
	cmd    *exec.Cmd
	logf   *os.File
	exited chan struct{}
	err    error
	mu     sync.Mutex
	tail   []string // last lines of output, for error messages
}

// spawn starts argv with its output logged to logPath; onLine sees every
// line of output (stdout and stderr).
func spawn(name, logPath string, argv, env []string, onLine func(string)) (*process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: pipe: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = pw, pw
	// A harness killed mid-run must not leave proxies behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		logf.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, argv[0], err)
	}
	pw.Close()
	p := &process{name: name, cmd: cmd, logf: logf, exited: make(chan struct{})}
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			p.mu.Lock()
			p.tail = append(p.tail, line)
			if len(p.tail) > 8 {
				p.tail = p.tail[1:]
			}
			p.mu.Unlock()
			if onLine != nil {
				onLine(line)
			}
		}
		pr.Close()
	}()
	go func() {
		p.err = cmd.Wait()
		<-outDone
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// failed describes an early exit or a start that timed out.
func (p *process) failed(what string) error {
	p.mu.Lock()
	tail := strings.Join(p.tail, "\n  ")
	p.mu.Unlock()
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited before it was ready (%v); last output:\n  %s", p.name, p.err, tail)
	default:
		return fmt.Errorf("%s: %s; last output:\n  %s", p.name, what, tail)
	}
}

// stop asks the process to end (SIGTERM) and kills it if it has not
// within a few seconds.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// readyLine is the JSON log line in which consentproxy (and the baseline,
// which prints the same) reports its bound addresses.
type readyLine struct {
	Msg    string `json:"msg"`
	Listen string `json:"listen"`
	Admin  string `json:"admin"`
}

// spawnReporting starts a process that prints a readyLine with msg and
// waits for it.
func spawnReporting(name, logPath string, argv, env []string, msg string) (*process, readyLine, error) {
	ready := make(chan readyLine, 1)
	p, err := spawn(name, logPath, argv, env, func(line string) {
		var r readyLine
		if json.Unmarshal([]byte(line), &r) == nil && r.Msg == msg && r.Listen != "" {
			select {
			case ready <- r:
			default:
			}
		}
	})
	if err != nil {
		return nil, readyLine{}, err
	}
	select {
	case r := <-ready:
		return p, r, nil
	case <-p.exited:
		return nil, readyLine{}, p.failed("")
	case <-time.After(startTimeout):
		err := p.failed(fmt.Sprintf("no %q line within %s", msg, startTimeout))
		p.stop()
		return nil, readyLine{}, err
	}
}

const startTimeout = 30 * time.Second

// waitListening waits until addr accepts connections (and every file in
// files exists).
func waitListening(p *process, addr string, files ...string) error {
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			missing := false
			for _, f := range files {
				if _, err := os.Stat(f); err != nil {
					missing = true
				}
			}
			if !missing {
				return nil
			}
		}
		select {
		case <-p.exited:
			return p.failed("")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			err := p.failed(fmt.Sprintf("not listening on %s within %s", addr, startTimeout))
			p.stop()
			return err
		}
	}
}

// freeAddr finds a free loopback port for tools that cannot report the
// port they bound.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// childEnv is the environment of the proxies: the harness's, without
// proxy settings and consentproxy's own variables, with HOME in the work
// directory so nothing is read from or written to the user's.
func childEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		up := strings.ToUpper(name)
		if up == "HOME" || strings.HasSuffix(up, "_PROXY") || strings.HasPrefix(up, "CONSENTPROXY_") ||
			strings.HasPrefix(up, "XDG_") || up == "GODEBUG" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home)
}

// poolFromFile reads a CA certificate for the client to trust.
func poolFromFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}

func proxyURL(addr string) *url.URL { return &url.URL{Scheme: "http", Host: addr} }

// resolveFlags map the bench host and its subdomains to loopback; the port
// stays the one in the URL.
func resolveFlags() []string {
	return []string{"--resolve", benchHost + "=127.0.0.1", "--resolve", "*." + benchHost + "=127.0.0.1"}
}

// newCA makes a CA with the certs package (the proxy's own; never
// goproxy's built-in one) in dir.
func newCA(dir string) (certFile, keyFile string, pool *x509.CertPool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", nil, err
	}
	certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	a, _, err := certs.LoadOrCreate(certFile, keyFile)
	if err != nil {
		return "", "", nil, err
	}
	pool = x509.NewCertPool()
	pool.AddCert(a.Certificate())
	return certFile, keyFile, pool, nil
}

func startConsentproxy(bin string, pl places, up *upstream) (*target, error) {
	return startConsentproxyAs(tConsentproxy, bin, pl, up)
}

func startNoConsentWrite(bin string, pl places, up *upstream) (*target, error) {
	return startConsentproxyAs(tNoConsentWrite, bin, pl, up, "--write-consent=false")
}

// startConsentproxyAs starts a consentproxy binary as the target name
// (another build, for --also), with extra flags.
func startConsentproxyAs(name, bin string, pl places, up *upstream, extra ...string) (*target, error) {
	dir := filepath.Join(pl.work, name)
	certFile, keyFile, pool, err := newCA(dir)
	if err != nil {
		return nil, fmt.Errorf("%s CA: %w", name, err)
	}
	argv := []string{bin, "run",
		"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--pprof",
		"--log-format", "json", "--data-dir", dir, "--ca-cert", certFile, "--ca-key", keyFile,
		"--profile", "reject-all", "--upstream-ca", up.caFile, "--intercept-port", port(up.httpsAddr),
	}
	argv = append(argv, resolveFlags()...)
	argv = append(argv, extra...)
	p, r, err := spawnReporting(name, filepath.Join(pl.logs, name+".log"), argv, childEnv(dir), "proxy listening")
	if err != nil {
		return nil, err
	}
	ver, _ := exec.Command(bin, "version").Output()
	return &target{name: name, mitm: true, proxy: proxyURL(r.Listen), roots: pool, admin: r.Admin,
		version: strings.TrimSpace(string(ver)), proc: p}, nil
}

func startBareGoproxy(bin string, pl places, up *upstream) (*target, error) {
	dir := filepath.Join(pl.work, "bare-goproxy")
	certFile, keyFile, pool, err := newCA(dir)
	if err != nil {
		return nil, fmt.Errorf("bare goproxy CA: %w", err)
	}
	argv := []string{bin, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--ca-cert", certFile, "--ca-key", keyFile, "--upstream-ca", up.caFile}
	argv = append(argv, resolveFlags()...)
	p, r, err := spawnReporting(tBareGoproxy, filepath.Join(pl.logs, "bare-goproxy.log"), argv, childEnv(dir), "listening")
	if err != nil {
		return nil, err
	}
	return &target{name: tBareGoproxy, mitm: true, proxy: proxyURL(r.Listen), roots: pool, admin: r.Admin,
		version: "goproxy v1.9.4", proc: p}, nil
}

func startMitmdump(bin string, pl places, up *upstream) (*target, error) {
	dir := filepath.Join(pl.work, "mitmdump")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, p, _ := net.SplitHostPort(addr)
	argv := []string{bin, "--quiet", "--listen-host", host, "--listen-port", p,
		"--set", "confdir=" + dir, "--set", "ssl_verify_upstream_trusted_ca=" + up.caFile}
	proc, err := spawn(tMitmdump, filepath.Join(pl.logs, "mitmdump.log"), argv, childEnv(dir), nil)
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "mitmproxy-ca-cert.pem")
	if err := waitListening(proc, addr, caFile); err != nil {
		return nil, err
	}
	pool, err := poolFromFile(caFile)
	if err != nil {
		proc.stop()
		return nil, fmt.Errorf("mitmdump CA: %w", err)
	}
	return &target{name: tMitmdump, mitm: true, byIP: true, proxy: proxyURL(addr), roots: pool,
		version: toolVersion(bin, "--version"), proc: proc}, nil
}

// startPrivoxy runs Privoxy with Debian's default configuration (actions
// and filters included), on a free port and without a log file.
func startPrivoxy(bin string, pl places, up *upstream) (*target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	base, err := os.ReadFile("/etc/privoxy/config")
	if err != nil {
		return nil, fmt.Errorf("privoxy: read /etc/privoxy/config (Debian's package provides it): %w", err)
	}
	var conf []string
	for line := range strings.SplitSeq(string(base), "\n") {
		key := strings.Fields(line + " #")[0]
		switch key {
		case "listen-address", "logdir", "logfile", "debug":
			continue // replaced below
		}
		conf = append(conf, line)
	}
	conf = append(conf, "listen-address "+addr, "max-client-connections 1024")
	confFile := filepath.Join(pl.work, "privoxy.conf")
	if err := os.WriteFile(confFile, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	proc, err := spawn(tPrivoxy, filepath.Join(pl.logs, "privoxy.log"), []string{bin, "--no-daemon", confFile}, childEnv(pl.work), nil)
	if err != nil {
		return nil, err
	}
	if err := waitListening(proc, addr); err != nil {
		return nil, err
	}
	return &target{name: tPrivoxy, byIP: true, proxy: proxyURL(addr), roots: up.roots,
		version: toolVersion(bin, "--version"), proc: proc}, nil
}

// startSquid runs Squid as a forwarding proxy: no caching (every request
// must reach the upstream), no access log, a single process (-N).
func startSquid(bin string, pl places, up *upstream) (*target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(pl.work, "squid")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	// Squid started as root runs as its cache_effective_user, which must
	// be able to write its pid file and its log. The log goes with the
	// results; where that user cannot reach it, Squid writes to stderr,
	// which is squid.log.
	_ = os.Chmod(dir, 0o777)
	_ = os.Chmod(pl.work, 0o711)
	cacheLog := filepath.Join(pl.logs, "squid-cache.log")
	if f, err := os.OpenFile(cacheLog, os.O_CREATE|os.O_WRONLY, 0o666); err == nil {
		f.Close()
		_ = os.Chmod(cacheLog, 0o666)
	}
	conf := []string{
		"http_port " + addr,
		"http_access allow all", // the port is loopback-only
		"cache deny all",
		"access_log none",
		"cache_store_log none",
		"cache_log " + cacheLog,
		"pid_filename " + filepath.Join(dir, "squid.pid"),
		"coredump_dir " + dir,
		"visible_hostname consentproxy-bench",
		"shutdown_lifetime 0 seconds",
		"max_filedescriptors 8192",
	}
	confFile := filepath.Join(dir, "squid.conf")
	if err := os.WriteFile(confFile, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	proc, err := spawn(tSquid, filepath.Join(pl.logs, "squid.log"), []string{bin, "-N", "-f", confFile}, childEnv(dir), nil)
	if err != nil {
		return nil, err
	}
	if err := waitListening(proc, addr); err != nil {
		return nil, err
	}
	return &target{name: tSquid, byIP: true, proxy: proxyURL(addr), roots: up.roots,
		version: toolVersion(bin, "-v"), proc: proc}, nil
}

func toolVersion(bin string, args ...string) string {
	out, _ := exec.Command(bin, args...).CombinedOutput()
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	first, _, _ = strings.Cut(first, " (http") // Privoxy adds its home page
	return strings.TrimSpace(first)
}

// places are where a target keeps its files: work for its CA and
// configuration (deleted after the run), logs for its output (kept with
// the results).
type places struct{ work, logs string }

type externalTool struct {
	name, binary string
	start        func(bin string, pl places, up *upstream) (*target, error)
}

// externalTools are the optional comparison proxies and how to start them.
func externalTools() []externalTool {
	return []externalTool{
		{tMitmdump, "mitmdump", startMitmdump},
		{tPrivoxy, "privoxy", startPrivoxy},
		{tSquid, "squid", startSquid},
	}
}

// findTool looks in PATH and in the sbin directories Debian installs
// daemons to (not always in a user's PATH).
func findTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New(name + " not found")
}
