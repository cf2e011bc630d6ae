package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator is closed-loop: each worker is one client with its
// own http.Transport (so c workers are c connections, as c browsers or test
// runners would be), sending its next request as soon as the previous
// response body was read to the end. Latency is measured from the request's
// start to its last body byte. Only requests that complete inside the
// measured window count; errors count wherever they happen.

// cookieHeader is what a returning visitor of a shop sends: essential
// (JSESSIONID, session), analytics (_ga, _gid), advertising (_fbp) and
// names no rule knows (xman_t, prefs).
const cookieHeader = "JSESSIONID=0F1E2D3C4B5A69788796A5B4C3D2E1F0; " +
	"_ga=GA1.2.1459326719.1736335952; " +
	"_gid=GA1.2.2046128577.1736335952; " +
	"session=eyJ1c2VyIjoxMjM0NX0.Zx9v3kQmW8pL2rN7; " +
	"xman_t=Qm9vbGVhbkFuZFN0cmluZw; " +
	"_fbp=fb.1.1736335952411.872615923; " +
	"prefs=lang%3Den-GB"

const userAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 consentproxy-bench"

// request is one request a worker sends: a URL and the headers a browser
// would send for that kind of resource.
type request struct {
	url  string
	kind resource
}

type resource int

const (
	resPage  resource = iota // top-level navigation to a page that sets cookies
	resPixel                 // an image on that page
	resLarge                 // a 1 MiB download
)

func (r resource) path() string {
	switch r {
	case resPixel:
		return "/pixel.gif"
	case resLarge:
		return "/large"
	}
	return "/page"
}

// newRequest builds r as a browser would send it; kept are the consent
// cookies this client already holds (see consentJar).
func newRequest(ctx context.Context, r request, kept string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	h := req.Header
	h.Set("User-Agent", userAgent)
	if kept != "" {
		h.Set("Cookie", cookieHeader+"; "+kept)
	} else {
		h.Set("Cookie", cookieHeader)
	}
	h.Set("Accept-Language", "en-GB,en;q=0.9")
	h.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	switch r.kind {
	case resPage:
		h.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		h.Set("Sec-Fetch-Dest", "document")
		h.Set("Sec-Fetch-Mode", "navigate")
		h.Set("Sec-Fetch-Site", "none")
	case resPixel:
		h.Set("Accept", "image/avif,image/webp,image/apng,image/*,*/*;q=0.8")
		h.Set("Sec-Fetch-Dest", "image")
		h.Set("Sec-Fetch-Mode", "no-cors")
		h.Set("Sec-Fetch-Site", "same-origin")
		h.Set("Referer", "https://"+benchHost+"/page")
	default:
		h.Set("Accept", "*/*")
		h.Set("Sec-Fetch-Dest", "empty")
		h.Set("Sec-Fetch-Mode", "cors")
		h.Set("Sec-Fetch-Site", "same-origin")
	}
	return req, nil
}

// loadSpec is one closed-loop run against one target.
type loadSpec struct {
	workers int
	// transport returns worker i's transport.
	transport func(i int) *http.Transport
	// next returns worker i's seq-th request.
	next func(worker, seq int) request
	// warmup runs before the window; with allWarm the window also waits
	// until every worker has completed a request (every connection is
	// open), up to warmLimit.
	warmup    time.Duration
	allWarm   bool
	warmLimit time.Duration
	window    time.Duration
	// atStart and atEnd run at the window's edges (proxy CPU counters).
	atStart, atEnd func()
}

// loadResult is what one run measured.
type loadResult struct {
	requests  int
	errors    int
	firstErr  string
	elapsed   time.Duration
	latencies []time.Duration // sorted
	// handshakes are the client's TLS handshakes with whatever answered
	// the TLS (the proxy, for an intercepting one), sorted; with
	// keep-alive only the first of each connection.
	handshakes []time.Duration
	bytes      int64
	// cookiePairs sums the upstream's count of Cookie pairs received, over
	// pages (the response header X-Bench-Cookie-Pairs); setCookies sums
	// the Set-Cookie headers the client received on pages.
	pages       int
	cookiePairs int
	setCookies  int
}

const (
	phaseWarm = iota
	phaseMeasure
	phaseStop
)

// maxWindowStretch bounds how long a window waits for its first request.
const maxWindowStretch = 30 * time.Second

type workerStats struct {
	loadResult
	warm bool
}

// runLoad runs spec and returns its figures. It stops by itself: the
// window ends it, and a hard bound cancels requests still in flight after
// that (they count as errors only if they failed before the stop).
func runLoad(ctx context.Context, spec loadSpec) loadResult {
	hardLimit := spec.warmup + spec.warmLimit + spec.window + 60*time.Second
	ctx, cancel := context.WithTimeout(ctx, hardLimit)
	defer cancel()

	var phase atomic.Int32
	var measured atomic.Int64 // requests completed in the window
	var warmed atomic.Int32
	allWarm := make(chan struct{})
	var warmOnce sync.Once
	stats := make([]workerStats, spec.workers)
	transports := make([]*http.Transport, spec.workers)
	var wg sync.WaitGroup
	for i := range spec.workers {
		transports[i] = spec.transport(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &stats[i]
			var jar consentJar // this client's consent cookies, as a browser keeps them
			client := &http.Client{
				Transport:     transports[i],
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
			for seq := 0; phase.Load() != phaseStop && ctx.Err() == nil; seq++ {
				r := spec.next(i, seq)
				t0 := time.Now()
				res, err := fetch(ctx, client, r, &jar)
				lat := time.Since(t0)
				p := phase.Load()
				if err != nil {
					if ctx.Err() != nil && p == phaseStop {
						return // cut by the hard bound after the window
					}
					st.errors++
					if st.firstErr == "" {
						st.firstErr = err.Error()
					}
					if ctx.Err() != nil {
						return
					}
					continue
				}
				if !st.warm {
					st.warm = true
					if int(warmed.Add(1)) == spec.workers {
						warmOnce.Do(func() { close(allWarm) })
					}
				}
				if p != phaseMeasure {
					continue
				}
				measured.Add(1)
				st.requests++
				st.latencies = append(st.latencies, lat)
				if res.handshake > 0 {
					st.handshakes = append(st.handshakes, res.handshake)
				}
				st.bytes += res.bytes
				if r.kind == resPage {
					st.pages++
					st.cookiePairs += res.cookiePairs
					st.setCookies += res.setCookies
				}
			}
		}()
	}

	sleep(ctx, spec.warmup)
	if spec.allWarm {
		select {
		case <-allWarm:
		case <-time.After(spec.warmLimit):
		case <-ctx.Done():
		}
	}
	if spec.atStart != nil {
		spec.atStart()
	}
	t0 := time.Now()
	phase.Store(phaseMeasure)
	sleep(ctx, spec.window)
	// A window shorter than one request (tiny windows in tests, a slow
	// target on a busy machine) is stretched until a request completes,
	// so that no figure is computed from nothing.
	for deadline := time.Now().Add(maxWindowStretch); measured.Load() == 0 && ctx.Err() == nil && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	phase.Store(phaseStop)
	elapsed := time.Since(t0)
	if spec.atEnd != nil {
		spec.atEnd()
	}
	wg.Wait()
	for _, tr := range transports {
		tr.CloseIdleConnections()
	}

	out := loadResult{elapsed: elapsed}
	for _, st := range stats {
		out.requests += st.requests
		out.errors += st.errors
		if out.firstErr == "" {
			out.firstErr = st.firstErr
		}
		out.latencies = append(out.latencies, st.latencies...)
		out.handshakes = append(out.handshakes, st.handshakes...)
		out.bytes += st.bytes
		out.pages += st.pages
		out.cookiePairs += st.cookiePairs
		out.setCookies += st.setCookies
	}
	sortDurations(out.latencies)
	sortDurations(out.handshakes)
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

type fetched struct {
	handshake   time.Duration // 0: no TLS handshake on this request
	bytes       int64
	cookiePairs int
	setCookies  int
}

// fetch sends r and reads the whole body. A status other than 200 or 204,
// or a body shorter than its Content-Length, is an error.
func fetch(ctx context.Context, c *http.Client, r request, jar *consentJar) (fetched, error) {
	req, err := newRequest(ctx, r, jar.header())
	if err != nil {
		return fetched{}, err
	}
	var hsStart time.Time
	var hs time.Duration
	if req.URL.Scheme == "https" {
		// For an intercepting proxy this is the handshake with its leaf:
		// a new host's first costs the mint too. The upstream connection,
		// made later for the request, is not in it.
		req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			TLSHandshakeStart: func() { hsStart = time.Now() },
			TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
				if err == nil && !hsStart.IsZero() {
					hs = time.Since(hsStart)
				}
			},
		}))
	}
	resp, err := c.Do(req)
	if err != nil {
		return fetched{}, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return fetched{}, fmt.Errorf("%s: reading body: %w", r.kind.path(), err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fetched{}, fmt.Errorf("%s: status %s", r.kind.path(), resp.Status)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fetched{}, fmt.Errorf("%s: body of %d bytes, Content-Length %d", r.kind.path(), n, resp.ContentLength)
	}
	jar.keep(resp.Header.Values("Set-Cookie"))
	f := fetched{bytes: n, setCookies: len(resp.Header.Values("Set-Cookie")), handshake: hs}
	f.cookiePairs, _ = strconv.Atoi(resp.Header.Get(upstreamCookieHeader))
	return f, nil
}

// consentJar is the part of a browser's cookie jar that matters to the
// comparison: the consent-platform cookies consentproxy writes on a first
// visit (its built-in profiles carry a consent_state). A browser sends them
// back on every later request, after which the proxy has nothing to write;
// a client that forgot them would make every page a first visit and
// measure consentproxy writing six cookies per page, which no browser sees.
// The other targets never set them, so for them the jar stays empty. The
// fixed Cookie header of every request stays as it is.
type consentJar struct {
	pairs map[string]string
	order []string
	text  string
}

// consentCookieNames are the cookies consentproxy's consent state writes by
// default (rules/builtin/cmp.yaml).
var consentCookieNames = map[string]bool{
	"OptanonConsent": true, "OptanonAlertBoxClosed": true, "CookieConsent": true,
	"euconsent-v2": true, "__gpp": true, "__gpp_sid": true,
}

func (j *consentJar) header() string { return j.text }

// keep remembers the consent cookies among a response's Set-Cookie fields.
func (j *consentJar) keep(fields []string) {
	changed := false
	for _, f := range fields {
		c, err := http.ParseSetCookie(f)
		if err != nil || !consentCookieNames[c.Name] {
			continue
		}
		if j.pairs == nil {
			j.pairs = map[string]string{}
		}
		if _, ok := j.pairs[c.Name]; !ok {
			j.order = append(j.order, c.Name)
		}
		j.pairs[c.Name] = c.Value
		changed = true
	}
	if !changed {
		return
	}
	parts := make([]string, 0, len(j.order))
	for _, name := range j.order {
		parts = append(parts, name+"="+j.pairs[name])
	}
	j.text = strings.Join(parts, "; ")
}

// percentile is the q-quantile (0 < q <= 1) of sorted latencies, by the
// nearest-rank method.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted))*q)) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

func sortDurations(d []time.Duration) { slices.Sort(d) }
