package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runningProxy is `consentproxy run` in-process with a config file.
type runningProxy struct {
	dir, cfgFile, admin string
	stderr              *syncBuffer
	client              *http.Client
}

func startRun(t *testing.T, base string) *runningProxy {
	t.Helper()
	dir := t.TempDir()
	writeRulesTestFile(t, dir, "acme.yaml", acmeRulesYAML)
	p := &runningProxy{dir: dir, cfgFile: writeRulesTestFile(t, dir, "config.yaml", base), stderr: &syncBuffer{}}
	e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: p.stderr,
		environ: []string{"HOME=" + dir, "XDG_DATA_HOME=" + filepath.Join(dir, "data")}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, e, []string{"run", "--config", p.cfgFile, "--log-format", "json"}) }()
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
	waitFor(t, "the proxy to listen", func() bool {
		p.admin = logAddr(p.stderr.String(), "proxy listening", "admin")
		return p.admin != ""
	})
	p.client = &http.Client{Transport: &http.Transport{}}
	t.Cleanup(p.client.Transport.(*http.Transport).CloseIdleConnections)
	return p
}

func (p *runningProxy) profileStatus(t *testing.T, name string) int {
	t.Helper()
	resp, err := p.client.Get("http://" + p.admin + "/api/profiles/" + name)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// reloads counts successful reloads so far.
func (p *runningProxy) reloads() int {
	return strings.Count(p.stderr.String(), `"msg":"reloaded"`)
}

// failedReloads counts "reload failed" log lines so far.
func (p *runningProxy) failedReloads() int {
	return strings.Count(p.stderr.String(), "reload failed")
}

// A config or rules file that does not parse, or does not validate, never
// replaces the running configuration, whether the reload comes from SIGHUP
// or from the file watcher: the error is logged with file:line and the
// proxy keeps its rules and profiles until a good file arrives.
func TestReloadKeepsTheRunningConfigOnBadFiles(t *testing.T) {
	const base = "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\nrules: [acme.yaml]\n"
	bad := []struct {
		name, file, content, wantInLog string
	}{
		{"rules file that does not parse", "acme.yaml", "version: 1\nvendors: [\n", "acme.yaml:"},
		{"rules file that does not validate", "acme.yaml", "version: 1\nvendors:\n  - id: acme-ads\n    naem: x\n", "acme.yaml:4"},
		{"config file that does not parse", "config.yaml", base + "listn: 127.0.0.1:1\n", "config.yaml:%d: unknown key"},
		{"config file that does not validate", "config.yaml", base + "limits:\n  max_connections: -1\n", "config.yaml:%d: limits.max_connections"},
		{"config file naming a missing profile", "config.yaml", base + "profile: nope\n", `config.yaml:%d: profile: no consent profile named`},
	}
	for _, trigger := range []string{"SIGHUP", "watch"} {
		t.Run(trigger, func(t *testing.T) {
			cfgBase := base
			if trigger == "watch" {
				cfgBase += "watch: true\n"
			}
			p := startRun(t, cfgBase)
			if got := p.profileStatus(t, "acme-ok"); got != 200 {
				t.Fatalf("profile acme-ok of the rules file: %d", got)
			}
			for _, tt := range bad {
				before := p.failedReloads()
				content := tt.content
				if tt.file == "config.yaml" && trigger == "watch" {
					content = strings.Replace(content, base, cfgBase, 1)
				}
				writeRulesTestFile(t, p.dir, tt.file, content)
				if trigger == "SIGHUP" {
					if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
						t.Fatal(err)
					}
				}
				waitFor(t, "the failed reload of a "+tt.name, func() bool { return p.failedReloads() > before })
				want := tt.wantInLog
				if strings.Contains(want, "%d") {
					// The bad line follows the base config's lines.
					line := strings.Count(cfgBase, "\n") + 1
					if strings.Contains(tt.content, "limits:") {
						line++
					}
					want = fmt.Sprintf(want, line)
				}
				if !strings.Contains(p.stderr.String(), filepath.Join(p.dir, want)) {
					t.Errorf("%s: the log does not cite %s", tt.name, want)
				}
				if got := p.profileStatus(t, "acme-ok"); got != 200 {
					t.Errorf("%s: profile acme-ok after the failed reload: %d, want 200 (the running rules stay)", tt.name, got)
				}
				// Put the good file back, quietly: no reload needed for the
				// next case, the running configuration never changed.
				good := acmeRulesYAML
				if tt.file == "config.yaml" {
					good = cfgBase
				}
				ok := p.reloads()
				writeRulesTestFile(t, p.dir, tt.file, good)
				if trigger == "watch" {
					// Let the watcher's reload of the good file happen before
					// the next bad one, or the two would merge.
					waitFor(t, "the good file reloaded", func() bool { return p.reloads() > ok })
				}
			}
			// A good change still applies.
			writeRulesTestFile(t, p.dir, "config.yaml", cfgBase+"profiles:\n  - name: late\n    allow: [analytics]\n")
			if trigger == "SIGHUP" {
				if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "the good reload", func() bool { return p.profileStatus(t, "late") == 200 })
		})
	}
}
