package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/consentproxy/consentproxy/rules"
)

// `rules explain --config` sees what run would: the config file's rules
// files and profiles (with their file:line), and its default profile.
func TestRulesExplainWithConfig(t *testing.T) {
	dir := t.TempDir()
	writeRulesTestFile(t, dir, "acme.yaml", acmeRulesYAML)
	cfgFile := writeRulesTestFile(t, dir, "config.yaml", "profile: acme-fan\nrules: [acme.yaml]\nprofiles:\n"+
		"  - name: acme-fan\n    vendors:\n      acme-ads: allow\n")
	url := "https://px.acme-ads.example/t?uid=1"
	tests := []struct {
		name                 string
		args                 []string
		environ              []string
		wantProfile, wantAct string
		wantOrigin           string
	}{
		{"--config", []string{"--config", cfgFile}, nil, "acme-fan", "allow", cfgFile + ":4"},
		{"environment", nil, []string{"CONSENTPROXY_CONFIG=" + cfgFile}, "acme-fan", "allow", cfgFile + ":4"},
		{"--profile beats the file's profile", []string{"--config", cfgFile, "--profile", "reject-all"}, nil, "reject-all", "block-image", "builtin/profiles.yaml:14"},
		{"--config= disables the environment's", []string{"--config=", "--rules", filepath.Join(dir, "acme.yaml")}, []string{"CONSENTPROXY_CONFIG=" + cfgFile}, "reject-all", "block-image", "builtin/profiles.yaml:14"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, environ: tt.environ}
			args := append(append([]string{"rules", "explain", "--json"}, tt.args...), url)
			code := report(&errb, run(context.Background(), e, args))
			var ex rules.Explanation
			if code != 0 || json.Unmarshal(out.Bytes(), &ex) != nil {
				t.Fatalf("code %d, stdout %q, stderr %q", code, out.String(), errb.String())
			}
			if ex.Profile != tt.wantProfile || ex.Action != tt.wantAct || ex.ProfileOrigin != tt.wantOrigin {
				t.Errorf("got %s %s %s, want %s %s %s", ex.Profile, ex.Action, ex.ProfileOrigin, tt.wantProfile, tt.wantAct, tt.wantOrigin)
			}
		})
	}

	bad := writeRulesTestFile(t, dir, "bad.yaml", "profiles:\n  - name: x\n    vendors:\n      no-such-vendor: allow\n")
	_, errOut, code := runRulesCLI(t, "rules", "explain", "--config", bad, url)
	if code != 2 || !strings.Contains(errOut, bad+":4:") {
		t.Errorf("a config naming an unknown vendor: code %d, stderr %q, want 2 citing %s:4", code, errOut, bad)
	}
	_, errOut, code = runRulesCLI(t, "rules", "explain", "--config", filepath.Join(dir, "missing.yaml"), url)
	if code != 2 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("a missing config: code %d, stderr %q", code, errOut)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logAddr finds the first JSON log line with message msg and returns its
// field key.
func logAddr(logs, msg, key string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			if s, ok := m[key].(string); ok {
				return s
			}
		}
	}
	return ""
}

// `consentproxy run` in-process: SIGHUP re-reads the config file and the
// rules (a broken file is logged and the running rules stay), and the
// profile the file adds becomes available without a restart.
func TestRunReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	rulesFile := writeRulesTestFile(t, dir, "acme.yaml", acmeRulesYAML)
	base := "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\nrules: [acme.yaml]\n"
	cfgFile := writeRulesTestFile(t, dir, "config.yaml", base)
	var stderr syncBuffer
	e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr,
		environ: []string{"HOME=" + dir, "XDG_DATA_HOME=" + filepath.Join(dir, "data")}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, e, []string{"run", "--config", cfgFile, "--log-format", "json", "--log-level", "debug"})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("run did not return after cancel")
		}
	})
	var admin string
	waitFor(t, "the proxy to listen", func() bool {
		admin = logAddr(stderr.String(), "proxy listening", "admin")
		return admin != ""
	})
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.Transport.(*http.Transport).CloseIdleConnections)
	profileStatus := func(name string) int {
		resp, err := client.Get("http://" + admin + "/api/profiles/" + name)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := profileStatus("acme-ok"); got != 200 {
		t.Fatalf("profile acme-ok of the rules file: %d", got)
	}

	// A broken rules file: logged, and the running rules stay.
	writeRulesTestFile(t, dir, "acme.yaml", "version: 1\nvendors: [\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed reload", func() bool { return strings.Contains(stderr.String(), "reload failed") })
	if !strings.Contains(stderr.String(), rulesFile+":") || profileStatus("acme-ok") != 200 {
		t.Errorf("after a broken rules file: the error lacks file:line or the running rules were lost")
	}

	// Fixed, and the config file gains a profile.
	writeRulesTestFile(t, dir, "acme.yaml", acmeRulesYAML)
	writeRulesTestFile(t, dir, "config.yaml", base+"profiles:\n  - name: late\n    allow: [analytics]\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new profile", func() bool { return profileStatus("late") == 200 })
}

// A rules file that does not compile stops `run` at start with exit
// status 2 and file:line.
func TestRunRejectsBadRulesAtStart(t *testing.T) {
	dir := t.TempDir()
	bad := writeRulesTestFile(t, dir, "bad.yaml", "version: 1\nvendors:\n  - id: x\n    naem: X\n")
	var stderr bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, environ: []string{"HOME=" + dir}}
	err := run(context.Background(), e, []string{"run", "--listen", "127.0.0.1:0", "--admin", "off", "--rules", bad})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), bad+":4:") {
		t.Fatalf("run with a broken rules file: %v, want exit 2 citing %s:4", err, bad)
	}
	err = run(context.Background(), e, []string{"run", "--listen", "127.0.0.1:0", "--admin", "off", "--profile", "nope"})
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), `--profile: no consent profile named "nope"`) {
		t.Fatalf("run with an unknown profile: %v", err)
	}
}

// With watch: true, changing the config file or a rules file reloads the
// proxy, including rules files the reloaded config file newly names.
func TestRunWatchesFiles(t *testing.T) {
	dir := t.TempDir()
	writeRulesTestFile(t, dir, "acme.yaml", acmeRulesYAML)
	base := "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\nwatch: true\n"
	cfgFile := writeRulesTestFile(t, dir, "config.yaml", base)
	var stderr syncBuffer
	e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr,
		environ: []string{"HOME=" + dir, "XDG_DATA_HOME=" + filepath.Join(dir, "data")}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, e, []string{"run", "--config", cfgFile, "--log-format", "json"}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("run did not return after cancel")
		}
	})
	var admin string
	waitFor(t, "the proxy to listen", func() bool {
		admin = logAddr(stderr.String(), "proxy listening", "admin")
		return admin != ""
	})
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.Transport.(*http.Transport).CloseIdleConnections)
	profileStatus := func(name string) int {
		resp, err := client.Get("http://" + admin + "/api/profiles/" + name)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := profileStatus("acme-ok"); got != 404 {
		t.Fatalf("acme-ok before the config names acme.yaml: %d", got)
	}
	// The config file now names the rules file: reloaded by the watcher.
	writeRulesTestFile(t, dir, "config.yaml", base+"rules: [acme.yaml]\n")
	waitFor(t, "the rules file's profile", func() bool { return profileStatus("acme-ok") == 200 })
	// The rules file itself is now watched too.
	writeRulesTestFile(t, dir, "acme.yaml", strings.Replace(acmeRulesYAML, "name: acme-ok", "name: acme-fine", 1))
	waitFor(t, "the renamed profile", func() bool { return profileStatus("acme-fine") == 200 && profileStatus("acme-ok") == 404 })
}
