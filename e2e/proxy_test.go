package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proxyProc is one running consentproxy binary.
type proxyProc struct {
	// addr and admin are the bound host:port of the proxy and admin
	// listeners, and listeners those of the extra ports (config
	// listeners, in order), read from the "proxy listening" log line.
	addr, admin string
	listeners   []string
	cmd         *exec.Cmd
	stderr      *lockedBuffer
}

// proxyURL is what browsers are given as --proxy-server.
func (p *proxyProc) proxyURL() string { return "http://" + p.addr }

// startProxy runs `consentproxy run` on loopback ports chosen by the
// kernel, in front of w, with the suite's CA and extra arguments (a
// --config, --profile, ...). It stops the proxy when t ends, and fails t
// if the proxy reported a data race.
func startProxy(t *testing.T, w *web, extra ...string) *proxyProc {
	t.Helper()
	args := []string{"run",
		"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--data-dir", t.TempDir(),
		"--ca-cert", env.caCert, "--ca-key", env.caKey,
		"--upstream-ca", w.caFile,
		"--log-format", "json",
	}
	for _, h := range webHosts {
		args = append(args, "--resolve", h+"="+w.addr())
	}
	// Everything else (Chromium's own background requests to Google) is
	// refused at once instead of looked up in DNS: the suite stays
	// hermetic and quick on machines without network.
	args = append(args, "--resolve", "*=127.0.0.1:1")
	args = append(args, extra...)
	cmd := exec.Command(env.binary, args...)
	// A clean environment: no CONSENTPROXY_* of the developer's shell, no
	// config in the real HOME.
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	p := &proxyProc{cmd: cmd, stderr: &lockedBuffer{}}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start consentproxy: %v", err)
	}
	ready := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Bytes()
			p.stderr.Write(line)
			p.stderr.Write([]byte{'\n'})
			var entry map[string]any
			if !sent && json.Unmarshal(line, &entry) == nil && entry["msg"] == "proxy listening" {
				ready <- entry
				sent = true
			}
		}
		io.Copy(io.Discard, pr)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()

	select {
	case entry := <-ready:
		p.addr, _ = entry["listen"].(string)
		p.admin, _ = entry["admin"].(string)
		extra, _ := entry["listeners"].([]any)
		for _, l := range extra {
			s, _ := l.(string)
			p.listeners = append(p.listeners, s)
		}
	case err := <-exited:
		t.Fatalf("consentproxy %s exited before listening: %v\n%s", strings.Join(args, " "), err, p.stderr)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("consentproxy did not log \"proxy listening\" within 30s:\n%s", p.stderr)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("consentproxy did not stop within 15s of SIGTERM")
		}
		logs := p.stderr.String()
		if strings.Contains(logs, "WARNING: DATA RACE") {
			t.Errorf("the proxy reported a data race:\n%s", logs)
		} else if t.Failed() {
			t.Logf("proxy log:\n%s", logs)
		}
	})
	return p
}

// adminDo sends a request to the admin API and decodes a JSON answer into
// out (when not nil). It returns the status.
func (p *proxyProc) adminDo(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+p.admin+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("admin %s %s: %v", method, path, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("admin %s %s: %v in %q", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// writeConfig writes a config file for --config into t's temp dir.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "consentproxy.yaml")
	if err := os.WriteFile(name, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// lockedBuffer is a bytes.Buffer safe for one writer and many readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
