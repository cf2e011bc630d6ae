package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// row is one target under one scenario, over all rounds: a JSON line of
// type "result" and a line of the table.
type row struct {
	Type        string    `json:"type"` // "result"
	Scenario    string    `json:"scenario"`
	Title       string    `json:"title"`
	Target      string    `json:"target"`
	Kind        string    `json:"kind"` // how HTTPS is handled: MITM, tunnel (no MITM), no proxy
	HTTPS       bool      `json:"https"`
	KeepAlive   bool      `json:"keep_alive"`
	Concurrency int       `json:"concurrency"`
	Rounds      int       `json:"rounds"`
	Requests    int       `json:"requests"`
	Errors      int       `json:"errors"`
	FirstError  string    `json:"first_error,omitempty"`
	Seconds     float64   `json:"seconds"` // measured time, all rounds
	RPS         float64   `json:"rps"`
	RoundRPS    []float64 `json:"round_rps"`
	P50ms       float64   `json:"p50_ms"`
	P90ms       float64   `json:"p90_ms"`
	P99ms       float64   `json:"p99_ms"`
	MiBps       float64   `json:"mib_per_s"` // response bodies
	// HandshakeP50ms is the median TLS handshake of the client (with the
	// proxy when it intercepts), over new connections; absent without TLS.
	HandshakeP50ms *float64 `json:"tls_handshake_p50_ms,omitempty"`
	// Proxy cost; absent for direct.
	CPUPer1k   *float64 `json:"cpu_s_per_1k,omitempty"`
	PeakRSSMiB *float64 `json:"peak_rss_mib,omitempty"`
	// Ratios of req/s to direct and to the bare goproxy: the median over
	// rounds of each round's ratio (absent when the reference did not
	// run), and the lowest and highest round's ratio to goproxy.
	VsDirect       *float64  `json:"vs_direct,omitempty"`
	VsGoproxy      *float64  `json:"vs_goproxy,omitempty"`
	VsGoproxyRange []float64 `json:"vs_goproxy_range,omitempty"`
	// Per page request: Cookie pairs the upstream received (7 were sent),
	// and Set-Cookie headers the client received (5 were set).
	UpstreamCookiePairs *float64 `json:"upstream_cookie_pairs,omitempty"`
	ClientSetCookies    *float64 `json:"client_set_cookies,omitempty"`
}

// derived is a figure computed from two rows: a JSON line of type
// "derived".
type derived struct {
	Type   string  `json:"type"` // "derived"
	Name   string  `json:"name"`
	Target string  `json:"target"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	From   string  `json:"from"`
}

// meta describes the run: the first JSON line, of type "meta".
type meta struct {
	Type        string            `json:"type"` // "meta"
	Command     string            `json:"command"`
	Started     time.Time         `json:"started"`
	Finished    time.Time         `json:"finished"`
	GoVersion   string            `json:"go_version"`
	CPUs        int               `json:"cpus"`
	CPUModel    string            `json:"cpu_model"`
	Kernel      string            `json:"kernel"`
	LoadStart   string            `json:"loadavg_start"`
	LoadEnd     string            `json:"loadavg_end"`
	Rounds      int               `json:"rounds"`
	WindowMs    int64             `json:"window_ms"`
	WarmupMs    int64             `json:"warmup_ms"`
	Targets     map[string]string `json:"targets"` // name -> version
	NotMeasured []string          `json:"not_measured,omitempty"`
}

func newMeta(o options, targets []*target, skipped []string) *meta {
	m := &meta{
		Type:        "meta",
		Command:     strings.TrimSpace("go run ./bench " + strings.Join(o.args, " ")),
		Started:     time.Now().UTC().Truncate(time.Second),
		GoVersion:   runtime.Version(),
		CPUs:        runtime.NumCPU(),
		CPUModel:    cpuModel(),
		Kernel:      readTrim("/proc/sys/kernel/osrelease"),
		LoadStart:   loadavg(),
		Rounds:      o.rounds,
		WindowMs:    o.window.Milliseconds(),
		WarmupMs:    o.warmup.Milliseconds(),
		Targets:     map[string]string{},
		NotMeasured: skipped,
	}
	for _, t := range targets {
		m.Targets[t.name] = t.version
	}
	return m
}

func (m *meta) finish() {
	m.Finished = time.Now().UTC().Truncate(time.Second)
	m.LoadEnd = loadavg()
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func loadavg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	for line := range strings.SplitSeq(readTrim("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// aggregate turns each target's rounds into a row, with ratios to direct
// and to the baseline under the same scenario.
func aggregate(sc scenario, targets []*target, results map[string][]roundResult) []row {
	var rows []row
	for _, t := range targets {
		rounds := results[t.name]
		r := row{Type: "result", Scenario: sc.id, Title: sc.title, Target: t.name, Kind: t.kind(),
			HTTPS: sc.https, KeepAlive: sc.keepAlive, Concurrency: sc.conc, Rounds: len(rounds)}
		var lat, hs []time.Duration
		var cpu float64
		var rss int64
		var bytes int64
		var pages, pairs, setCookies int
		for _, rr := range rounds {
			r.Requests += rr.load.requests
			r.Errors += rr.load.errors
			if r.FirstError == "" {
				r.FirstError = rr.load.firstErr
			}
			r.Seconds += rr.load.elapsed.Seconds()
			r.RoundRPS = append(r.RoundRPS, round(float64(rr.load.requests)/rr.load.elapsed.Seconds(), 1))
			lat = append(lat, rr.load.latencies...)
			hs = append(hs, rr.load.handshakes...)
			cpu += rr.cpu
			rss = max(rss, rr.rss)
			bytes += rr.load.bytes
			pages += rr.load.pages
			pairs += rr.load.cookiePairs
			setCookies += rr.load.setCookies
		}
		sortDurations(lat)
		if r.Seconds > 0 {
			r.RPS = round(float64(r.Requests)/r.Seconds, 1)
			r.MiBps = round(float64(bytes)/r.Seconds/(1<<20), 2)
		}
		r.P50ms = round(ms(percentile(lat, 0.50)), 3)
		r.P90ms = round(ms(percentile(lat, 0.90)), 3)
		r.P99ms = round(ms(percentile(lat, 0.99)), 3)
		if len(hs) > 0 {
			sortDurations(hs)
			r.HandshakeP50ms = ptr(round(ms(percentile(hs, 0.50)), 3))
		}
		if t.proc != nil {
			if r.Requests > 0 {
				r.CPUPer1k = ptr(round(cpu/float64(r.Requests)*1000, 4))
			}
			r.PeakRSSMiB = ptr(round(float64(rss)/(1<<20), 1))
		}
		if pages > 0 {
			r.UpstreamCookiePairs = ptr(round(float64(pairs)/float64(pages), 2))
			r.ClientSetCookies = ptr(round(float64(setCookies)/float64(pages), 2))
		}
		rows = append(rows, r)
	}
	// Ratios are the median over rounds of the ratio within each round:
	// the targets of a round ran seconds apart, so a burst of load from
	// elsewhere on the machine moves one round's ratio, not the median.
	ref := map[string][]float64{}
	for _, r := range rows {
		ref[r.Target] = r.RoundRPS
	}
	for i := range rows {
		r := &rows[i]
		r.VsDirect = medianRatio(r.RoundRPS, ref[tDirect])
		r.VsGoproxy = medianRatio(r.RoundRPS, ref[tBareGoproxy])
		if lo, hi, ok := ratioRange(r.RoundRPS, ref[tBareGoproxy]); ok {
			r.VsGoproxyRange = []float64{lo, hi}
		}
	}
	return rows
}

// handshakeCost is, per intercepting target, what a new host's first TLS
// handshake adds: the client's median handshake with a host the proxy has
// never seen (the leaf is minted during it) minus that with a known host
// (both c=1, a new connection per request). The proxy's connection to the
// upstream is made after the handshake and is not in either.
func handshakeCost(rows []row) []derived {
	known := map[string]row{}
	for _, r := range rows {
		if r.Scenario == "https-new-c1" {
			known[r.Target] = r
		}
	}
	var out []derived
	for _, nh := range rows {
		if nh.Scenario != "https-newhost-c1" || nh.Target == tDirect || nh.HandshakeP50ms == nil {
			continue
		}
		nc, ok := known[nh.Target]
		if !ok || nc.HandshakeP50ms == nil {
			continue
		}
		out = append(out, derived{Type: "derived", Name: "new_host_handshake_adds", Target: nh.Target,
			Value: round(*nh.HandshakeP50ms-*nc.HandshakeP50ms, 3), Unit: "ms",
			From: "tls_handshake_p50_ms(https-newhost-c1) - tls_handshake_p50_ms(https-new-c1)"})
	}
	return out
}

func writeJSONLines(path string, m *meta, rows []row) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	err = enc.Encode(m)
	for _, r := range rows {
		if err == nil {
			err = enc.Encode(r)
		}
	}
	for _, d := range handshakeCost(rows) {
		if err == nil {
			err = enc.Encode(d)
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// markdown is the human report: the machine, the command, one table.
func markdown(m *meta, rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## consentproxy load harness — %s\n\n", m.Started.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "`%s` on %d CPUs (%s), Linux %s, %s; load average %s at start, %s at end. ", m.Command, m.CPUs,
		m.CPUModel, m.Kernel, m.GoVersion, m.LoadStart, m.LoadEnd)
	fmt.Fprintf(&b, "%d round(s) per scenario, targets interleaved, %d ms measured per target per round after %d ms of warm-up.\n\n",
		m.Rounds, m.WindowMs, m.WarmupMs)
	var names []string
	order := allTargets()
	for n := range m.Targets {
		if !contains(order, n) {
			order = append(order, n) // --also builds
		}
	}
	sort.Strings(order[len(allTargets()):])
	for _, n := range order {
		switch v, ok := m.Targets[n]; {
		case ok && v != "":
			names = append(names, fmt.Sprintf("%s (%s)", n, v))
		case ok:
			names = append(names, n)
		}
	}
	fmt.Fprintf(&b, "Targets: %s.", strings.Join(names, ", "))
	if len(m.NotMeasured) > 0 {
		fmt.Fprintf(&b, " Not measured: %s.", strings.Join(m.NotMeasured, ", "))
	}
	b.WriteString("\n\n")
	b.WriteString("Ratios are medians over rounds of the ratio of req/s within a round (× goproxy: the lowest and highest round in brackets when there was more than one).\n\n")
	b.WriteString("| scenario | target | HTTPS | req/s | × direct | × goproxy | p50 ms | p90 ms | p99 ms | errors | CPU s / 1k req | peak RSS MiB |\n")
	b.WriteString("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	prev := ""
	for _, r := range rows {
		title := ""
		if r.Scenario != prev {
			title = r.Title
			prev = r.Scenario
		}
		https := "—"
		if r.HTTPS {
			https = r.Kind
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s |\n", title, r.Target, https,
			num(r.RPS), ratio(r.VsDirect), ratioWithRange(r), num(r.P50ms), num(r.P90ms), num(r.P99ms), r.Errors,
			opt(r.CPUPer1k, 3), opt(r.PeakRSSMiB, 1))
	}
	if hs := handshakeCost(rows); len(hs) > 0 {
		var parts []string
		for _, d := range hs {
			parts = append(parts, fmt.Sprintf("%s %.2f ms", d.Target, d.Value))
		}
		fmt.Fprintf(&b, "\nA new host's first TLS handshake adds (the client's median handshake with a new host minus with a known one, c=1): %s.\n",
			strings.Join(parts, ", "))
	}
	var cookies []string
	for _, r := range rows {
		if r.Scenario == "http-ka-c1" && r.UpstreamCookiePairs != nil {
			cookies = append(cookies, fmt.Sprintf("%s %.4g/%.4g", r.Target, *r.UpstreamCookiePairs, *r.ClientSetCookies))
		}
	}
	if len(cookies) > 0 {
		fmt.Fprintf(&b, "\nCookies per page (HTTP, c=1), pairs the upstream received of 7 sent / Set-Cookie headers the client received of 5 set: %s.\n",
			strings.Join(cookies, ", "))
	}
	return b.String()
}

func ptr(f float64) *float64 { return &f }

func roundRatios(rps, ref []float64) []float64 {
	if len(ref) != len(rps) {
		return nil
	}
	var out []float64
	for i := range rps {
		if ref[i] > 0 {
			out = append(out, rps[i]/ref[i])
		}
	}
	return out
}

func medianRatio(rps, ref []float64) *float64 {
	r := roundRatios(rps, ref)
	if len(r) == 0 {
		return nil
	}
	sort.Float64s(r)
	m := r[len(r)/2]
	if len(r)%2 == 0 {
		m = (r[len(r)/2-1] + r[len(r)/2]) / 2
	}
	return ptr(round(m, 3))
}

func ratioRange(rps, ref []float64) (lo, hi float64, ok bool) {
	r := roundRatios(rps, ref)
	if len(r) == 0 {
		return 0, 0, false
	}
	sort.Float64s(r)
	return round(r[0], 3), round(r[len(r)-1], 3), true
}

// round rounds f to d decimals.
func round(f float64, d int) float64 {
	p := 1.0
	for range d {
		p *= 10
	}
	if f < 0 {
		return -float64(int64(-f*p+0.5)) / p
	}
	return float64(int64(f*p+0.5)) / p
}

// num prints a figure with three significant digits at least.
func num(f float64) string {
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	case f >= 1:
		return fmt.Sprintf("%.2f", f)
	}
	return fmt.Sprintf("%.3f", f)
}

func ratio(f *float64) string {
	if f == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f", *f)
}

func ratioWithRange(r row) string {
	if r.VsGoproxy == nil || len(r.VsGoproxyRange) != 2 || r.Rounds < 2 || r.Target == tBareGoproxy {
		return ratio(r.VsGoproxy)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", *r.VsGoproxy, r.VsGoproxyRange[0], r.VsGoproxyRange[1])
}

func opt(f *float64, decimals int) string {
	if f == nil {
		return "—"
	}
	return fmt.Sprintf("%.*f", decimals, *f)
}
