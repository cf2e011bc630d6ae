package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// report is a finished run.
type report struct {
	markdown string
	mdPath   string
	jsonPath string
	rows     []row
}

// roundResult is one target's window in one round.
type roundResult struct {
	load loadResult
	cpu  float64 // CPU seconds of the target's processes during the window
	rss  int64   // peak RSS of the target's processes during the round (bytes)
}

// run builds, starts and measures everything o asks for. Progress goes to
// logw.
func run(ctx context.Context, o options, logw io.Writer) (*report, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "consentproxy-bench-work-")
	if err != nil {
		return nil, err
	}
	if o.keepWork {
		fmt.Fprintf(logw, "bench: work directory %s kept\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	out := o.out
	if out == "" {
		if out, err = os.MkdirTemp("", "consentproxy-bench-"+time.Now().Format("20060102-150405")+"-"); err != nil {
			return nil, err
		}
		_ = os.Chmod(out, 0o755) // results for everyone to read, and Squid's log to reach
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	if o.pprofDir != "" {
		if err := os.MkdirAll(o.pprofDir, 0o755); err != nil {
			return nil, fmt.Errorf("--pprof: %w", err)
		}
	}
	pl := places{work: work, logs: out}
	want := func(name string) bool { return len(o.targets) == 0 || contains(o.targets, name) }

	fmt.Fprintln(logw, "bench: building consentproxy and the bare goproxy baseline")
	bins := map[string]string{}
	for name, pkg := range map[string]string{tConsentproxy: "./cmd/consentproxy", tBareGoproxy: "./bench/baregoproxy"} {
		if !want(name) && !(name == tConsentproxy && want(tNoConsentWrite)) {
			continue
		}
		bins[name] = filepath.Join(work, "bin", name)
		if err := goBuild(ctx, root, bins[name], pkg); err != nil {
			return nil, err
		}
	}

	up, err := startUpstream(work)
	if err != nil {
		return nil, err
	}
	defer up.close()

	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	if want(tDirect) {
		targets = append(targets, &target{name: tDirect, roots: up.roots})
	}
	starters := []struct {
		name  string
		start func(bin string, pl places, up *upstream) (*target, error)
		bin   string
	}{{tBareGoproxy, startBareGoproxy, tBareGoproxy}, {tConsentproxy, startConsentproxy, tConsentproxy},
		{tNoConsentWrite, startNoConsentWrite, tConsentproxy}}
	for _, s := range starters {
		if !want(s.name) {
			continue
		}
		start := func() (*target, error) { return s.start(bins[s.bin], pl, up) }
		t, err := start()
		if err != nil {
			return nil, err
		}
		t.start = start
		targets = append(targets, t)
	}
	for _, a := range o.also {
		start := func() (*target, error) { return startConsentproxyAs(a.name, a.bin, pl, up) }
		t, err := start()
		if err != nil {
			return nil, fmt.Errorf("--also %s: %w", a.name, err)
		}
		t.start = start
		targets = append(targets, t)
	}
	var skipped []string
	if o.external {
		for _, tool := range externalTools() {
			if !want(tool.name) {
				continue
			}
			bin, err := findTool(tool.binary)
			if err != nil {
				skipped = append(skipped, tool.name+" (not installed)")
				continue
			}
			start := func() (*target, error) { return tool.start(bin, pl, up) }
			t, err := start()
			if err != nil {
				if len(o.targets) > 0 {
					return nil, err // asked for by name: a failure is an error
				}
				fmt.Fprintf(logw, "bench: skipping %s: %v\n", tool.name, err)
				skipped = append(skipped, tool.name+" (failed to start, see its log)")
				continue
			}
			t.start = start
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("%w: no target to measure", errUsage)
	}
	for _, t := range targets {
		fmt.Fprintf(logw, "bench: %-13s %s %s\n", t.name, t.kind(), t.version)
	}

	meta := newMeta(o, targets, skipped)
	hosts := map[string]*atomic.Int64{}
	for _, t := range targets {
		hosts[t.name] = new(atomic.Int64)
	}
	var rows []row
	for _, sc := range scenarios(o.memClients) {
		if len(o.scenarios) > 0 && !contains(o.scenarios, sc.id) {
			continue
		}
		var eligible []*target
		for _, t := range targets {
			if sc.applies(t) {
				eligible = append(eligible, t)
			}
		}
		if sc.fresh {
			for _, t := range eligible {
				if err := t.restart(); err != nil {
					return nil, fmt.Errorf("restart %s before %s: %w", t.name, sc.id, err)
				}
			}
		}
		results := map[string][]roundResult{}
		for round := range o.rounds {
			// Rotate the order each round, so no target always runs
			// right after the same neighbour.
			for i := range eligible {
				t := eligible[(i+round)%len(eligible)]
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				rr := measure(ctx, t, sc, up, o, hosts[t.name], o.window, nil)
				if err := t.alive(); err != nil {
					return nil, err
				}
				t.settle()
				results[t.name] = append(results[t.name], rr)
				fmt.Fprintf(logw, "  %-18s round %d/%d  %-13s %9.0f req/s  p50 %7.2f ms  errors %d\n", sc.id, round+1, o.rounds,
					t.name, float64(rr.load.requests)/rr.load.elapsed.Seconds(), ms(percentile(rr.load.latencies, 0.5)), rr.load.errors)
			}
		}
		rows = append(rows, aggregate(sc, eligible, results)...)
		if o.pprofDir != "" {
			for _, t := range eligible {
				if t.admin != "" {
					if err := profile(ctx, t, sc, up, o, hosts[t.name]); err != nil {
						fmt.Fprintf(logw, "bench: profiling %s under %s: %v\n", t.name, sc.id, err)
					}
				}
			}
		}
	}
	meta.finish()
	rep := &report{rows: rows, mdPath: filepath.Join(out, "results.md"), jsonPath: filepath.Join(out, "results.jsonl")}
	rep.markdown = markdown(meta, rows)
	if err := os.WriteFile(rep.mdPath, []byte(rep.markdown), 0o644); err != nil {
		return nil, err
	}
	if err := writeJSONLines(rep.jsonPath, meta, rows); err != nil {
		return nil, err
	}
	return rep, nil
}

// alive reports a target process that died during a window.
func (t *target) alive() error {
	if t.proc == nil {
		return nil
	}
	select {
	case <-t.proc.exited:
		return t.proc.failed("")
	default:
		return nil
	}
}

// measure runs one window of sc against t, reading the target's CPU at
// the window's edges and its peak RSS over the whole run (connections
// included). extra, when set, also runs at the window's edges.
func measure(ctx context.Context, t *target, sc scenario, up *upstream, o options, hosts *atomic.Int64,
	window time.Duration, edges *windowHooks) roundResult {
	pid := t.pid()
	if pid != 0 {
		resetPeakRSS(pid)
	}
	var c0, c1 float64
	spec := loadSpec{
		workers:   sc.conc,
		transport: sc.transport(t),
		next:      sc.requests(t, up, hosts),
		warmup:    o.warmup,
		window:    window,
		atStart: func() {
			if pid != 0 {
				c0 = cpuSeconds(pid)
			}
			if edges != nil && edges.start != nil {
				edges.start()
			}
		},
		atEnd: func() {
			if pid != 0 {
				c1 = cpuSeconds(pid)
			}
			if edges != nil && edges.end != nil {
				edges.end()
			}
		},
	}
	if sc.memory || sc.conc > 16 {
		spec.allWarm, spec.warmLimit = true, 90*time.Second
	}
	rr := roundResult{load: runLoad(ctx, spec)}
	if pid != 0 {
		rr.cpu = c1 - c0
		rr.rss = peakRSS(pid)
	}
	return rr
}

type windowHooks struct{ start, end func() }

var errNotFound = errors.New("not found")

// profile runs one more, longer window of sc against t while fetching a
// CPU profile from t's pprof endpoint, and allocation profiles before and
// after (compare them with go tool pprof -diff_base).
func profile(ctx context.Context, t *target, sc scenario, up *upstream, o options, hosts *atomic.Int64) error {
	base := "http://" + t.admin + "/debug/pprof/"
	prefix := filepath.Join(o.pprofDir, t.name+"-"+sc.id)
	cpuDone := make(chan error, 1)
	var errs []error
	edges := &windowHooks{
		start: func() {
			errs = append(errs, download(ctx, base+"allocs", prefix+".allocs-before.pprof"))
			go func() {
				cpuDone <- download(ctx, fmt.Sprintf("%sprofile?seconds=%d", base, int(o.pprofTime.Seconds())), prefix+".cpu.pprof")
			}()
		},
		end: func() {
			errs = append(errs, <-cpuDone)
			errs = append(errs, download(ctx, base+"allocs", prefix+".allocs-after.pprof"))
			errs = append(errs, download(ctx, base+"heap", prefix+".heap.pprof"))
			// The Go runtime's own account of its memory (heap, stacks,
			// GC goal), where the target serves Prometheus metrics.
			if err := download(ctx, "http://"+t.admin+"/metrics", prefix+".metrics.txt"); err != nil && !errors.Is(err, errNotFound) {
				errs = append(errs, err)
			}
		},
	}
	// The window outlasts the profile a little, so the profile sees load
	// throughout.
	rr := measure(ctx, t, sc, up, o, hosts, o.pprofTime+time.Second, edges)
	// The count lets a profile's samples be read per request.
	note := fmt.Sprintf("%d requests in %.1f s, %.4f CPU s per 1k requests\n", rr.load.requests, rr.load.elapsed.Seconds(),
		rr.cpu/float64(max(rr.load.requests, 1))*1000)
	errs = append(errs, os.WriteFile(prefix+".requests.txt", []byte(note), 0o644))
	return errors.Join(errs...)
}

func download(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return errNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// moduleRoot walks up from the working directory to the directory holding
// consentproxy's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/consentproxy/consentproxy\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the consentproxy module: run the harness from the repository (go run ./bench)")
		}
		dir = parent
	}
}

// goBuild builds pkg of the module at root into out.
func goBuild(ctx context.Context, root, out, pkg string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
