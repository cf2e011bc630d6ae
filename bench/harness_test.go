package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestQuickRun runs the whole harness, as `go run ./bench --quick` does,
// with windows short enough for a test, against the targets every machine
// has (no proxy, the bare goproxy baseline, consentproxy with and without
// writing consent cookies), and checks the
// figures are well-formed: every target and scenario present, every number
// positive, no errors, valid JSON lines. It asserts nothing about speed.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries and runs a few seconds of load; skipped with -short")
	}
	out := t.TempDir()
	const memClients = 24
	o, err := parseOptions([]string{"--quick", "--duration", "150ms", "--warmup", "100ms",
		"--mem-clients", "24", "--external=false", "--out", out}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := run(ctx, o, &progress)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}

	md, err := os.ReadFile(rep.mdPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(md) != rep.markdown || !strings.Contains(rep.markdown, "| scenario | target | HTTPS | req/s |") {
		t.Errorf("results.md does not hold the markdown table:\n%s", md)
	}

	metaLine, rows, derivedLines := readJSONLines(t, rep.jsonPath)
	if metaLine.Type != "meta" || metaLine.CPUs < 1 || metaLine.Rounds != 1 || metaLine.Command == "" {
		t.Errorf("meta line = %+v", metaLine)
	}

	want := []string{tDirect, tBareGoproxy, tConsentproxy, tNoConsentWrite}
	got := map[string]row{}
	for _, r := range rows {
		got[r.Scenario+"/"+r.Target] = r
	}
	cpu := map[string]float64{}
	sawPages := map[string]bool{}
	for _, sc := range scenarios(memClients) {
		for _, name := range want {
			key := sc.id + "/" + name
			r, ok := got[key]
			if !ok {
				t.Errorf("no row for %s", key)
				continue
			}
			delete(got, key)
			if r.Errors != 0 {
				t.Errorf("%s: %d errors, first: %s", key, r.Errors, r.FirstError)
			}
			if r.Requests <= 0 || r.RPS <= 0 || r.Seconds <= 0 || r.Rounds != 1 || len(r.RoundRPS) != 1 {
				t.Errorf("%s: requests %d, req/s %v, seconds %v, rounds %d %v: want all positive and 1 round",
					key, r.Requests, r.RPS, r.Seconds, r.Rounds, r.RoundRPS)
			}
			if !(r.P50ms > 0 && r.P90ms >= r.P50ms && r.P99ms >= r.P90ms) {
				t.Errorf("%s: p50/p90/p99 = %v/%v/%v ms, want 0 < p50 <= p90 <= p99", key, r.P50ms, r.P90ms, r.P99ms)
			}
			if sc.https && !sc.keepAlive && (r.HandshakeP50ms == nil || *r.HandshakeP50ms <= 0) {
				t.Errorf("%s: TLS handshake p50 %v, want > 0 on new HTTPS connections", key, r.HandshakeP50ms)
			}
			if r.Concurrency != sc.conc || r.HTTPS != sc.https || r.KeepAlive != sc.keepAlive {
				t.Errorf("%s: concurrency %d https %v keep-alive %v, want %d %v %v", key, r.Concurrency, r.HTTPS, r.KeepAlive,
					sc.conc, sc.https, sc.keepAlive)
			}
			if r.VsDirect == nil || *r.VsDirect <= 0 || r.VsGoproxy == nil || *r.VsGoproxy <= 0 {
				t.Errorf("%s: ratios to direct %v and to goproxy %v, want both positive", key, r.VsDirect, r.VsGoproxy)
			}
			if name == tDirect {
				if r.CPUPer1k != nil || r.PeakRSSMiB != nil {
					t.Errorf("%s: direct has proxy CPU %v or RSS %v", key, r.CPUPer1k, r.PeakRSSMiB)
				}
				if *r.VsDirect != 1 {
					t.Errorf("%s: direct's ratio to itself = %v", key, *r.VsDirect)
				}
			} else {
				if r.CPUPer1k == nil || *r.CPUPer1k < 0 || r.PeakRSSMiB == nil || *r.PeakRSSMiB <= 0 {
					t.Errorf("%s: proxy CPU %v, peak RSS %v MiB: want CPU >= 0 and RSS > 0", key, r.CPUPer1k, r.PeakRSSMiB)
				} else {
					cpu[name] += *r.CPUPer1k
				}
			}
			// A tiny window may hold only images; pages must show up
			// somewhere for every target (checked below).
			if (r.UpstreamCookiePairs == nil) != (r.ClientSetCookies == nil) || (r.UpstreamCookiePairs != nil && !slices.Contains(sc.mix, resPage)) {
				t.Errorf("%s: cookie counts %v/%v for a mix without pages or half missing", key, r.UpstreamCookiePairs, r.ClientSetCookies)
			} else if r.UpstreamCookiePairs != nil {
				sawPages[name] = true
				if name == tDirect && (*r.UpstreamCookiePairs != 7 || *r.ClientSetCookies != 5) {
					t.Errorf("%s: direct: upstream saw %v cookie pairs, client got %v Set-Cookie; want 7 and 5",
						key, *r.UpstreamCookiePairs, *r.ClientSetCookies)
				}
			}
		}
	}
	for key := range got {
		t.Errorf("unexpected row %s", key)
	}
	for _, name := range want[1:] {
		// A single window may be too short for the kernel's 10 ms CPU
		// tick, but not all of them.
		if cpu[name] <= 0 {
			t.Errorf("%s: no CPU time measured in any scenario", name)
		}
	}
	for _, name := range want {
		if !sawPages[name] {
			t.Errorf("%s: no page was fetched in any scenario", name)
		}
	}
	var hs []string
	for _, d := range derivedLines {
		if d.Name == "new_host_handshake_adds" && d.Unit == "ms" {
			hs = append(hs, d.Target)
		}
	}
	slices.Sort(hs)
	if !slices.Equal(hs, []string{tBareGoproxy, tConsentproxy, tNoConsentWrite}) {
		t.Errorf("new-host handshake figures for %v, want bare-goproxy and both consentproxy targets", hs)
	}
}

// readJSONLines checks every line of path is a JSON object of a known type.
func readJSONLines(t *testing.T, path string) (meta, []row, []derived) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m meta
	var rows []row
	var ds []derived
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		var head struct{ Type string }
		if err := json.Unmarshal(line, &head); err != nil {
			t.Fatalf("%s:%d: not JSON: %v", path, n, err)
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		switch {
		case head.Type == "meta" && n == 1:
			err = dec.Decode(&m)
		case head.Type == "result":
			var r row
			err = dec.Decode(&r)
			rows = append(rows, r)
		case head.Type == "derived":
			var d derived
			err = dec.Decode(&d)
			ds = append(ds, d)
		default:
			t.Fatalf("%s:%d: unexpected type %q", path, n, head.Type)
		}
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m, rows, ds
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var d []time.Duration
		for _, n := range ns {
			d = append(d, time.Duration(n)*time.Millisecond)
		}
		return d
	}
	tests := []struct {
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.9, 9 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
		{ms(1, 2, 3), 1, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.q); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.q, got, tt.want)
		}
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		check   func(options) bool
	}{
		{args: nil, check: func(o options) bool { return o.rounds == 5 && o.window == 1200*time.Millisecond && o.external }},
		{args: []string{"--quick"}, check: func(o options) bool { return o.rounds == 1 && o.window == 250*time.Millisecond }},
		{args: []string{"--quick", "--rounds", "3"}, check: func(o options) bool { return o.rounds == 3 }},
		{args: []string{"--targets", "consentproxy,squid"}, check: func(o options) bool {
			return slices.Equal(o.targets, []string{"consentproxy", "squid"})
		}},
		{args: []string{"--targets", "nginx"}, wantErr: `unknown target "nginx"`},
		{args: []string{"--scenarios", "http-ka-c16,https-ka-c256-mem"}, check: func(o options) bool { return len(o.scenarios) == 2 }},
		{args: []string{"--scenarios", "http-ka-c2"}, wantErr: `unknown scenario "http-ka-c2"`},
		{args: []string{"--rounds", "-1"}, wantErr: "--rounds must be at least 1"},
		{args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		o, err := parseOptions(tt.args, io.Discard)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseOptions(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("parseOptions(%q): %v", tt.args, err)
		case !tt.check(o):
			t.Errorf("parseOptions(%q) = %+v", tt.args, o)
		}
	}
}

// TestProcessAccounting checks the /proc readers on a child process: it
// is in its parent's tree, and its CPU time and peak RSS are read.
func TestProcessAccounting(t *testing.T) {
	// A shell that burns CPU for a moment, then waits to be killed.
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 30")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sh: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	pid := cmd.Process.Pid
	if tree := processTree(os.Getpid()); !slices.Contains(tree, pid) {
		t.Errorf("processTree(self) = %v, want it to contain the child %d", tree, pid)
	}
	deadline := time.Now().Add(20 * time.Second)
	for cpuSeconds(pid) <= 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := cpuSeconds(pid); got <= 0 {
		t.Errorf("cpuSeconds(child) = %v, want > 0", got)
	}
	resetPeakRSS(pid)
	if got := peakRSS(pid); got <= 0 {
		t.Errorf("peakRSS(child) = %d, want > 0", got)
	}
}
