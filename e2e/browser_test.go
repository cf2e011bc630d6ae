package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// loadTimeout bounds one page load with everything it triggers; a healthy
// load takes well under a second.
const loadTimeout = 30 * time.Second

// browserOptions are what a scenario may vary about Chromium.
type browserOptions struct {
	// home is the HOME Chromium runs with (its NSS database); default
	// env.home, which trusts the proxy CA.
	home string
	// credentials, when set, answer the proxy's 407 challenge through CDP
	// (Fetch.authRequired), the way Playwright does.
	credentials *fetch.AuthChallengeResponse
	// flags are extra command-line flags.
	flags map[string]any
}

// browser is one headless Chromium with one tab, and what CDP reported
// about it.
type browser struct {
	t      *testing.T
	ctx    context.Context // the tab
	output *lockedBuffer   // Chromium's stderr

	mu       sync.Mutex
	requests map[network.RequestID]*netRequest
	order    []network.RequestID
	messages []string // console and log entries of level error or warning
	auths    int      // proxy auth challenges answered
}

// netRequest is one request of the page as CDP reported it.
type netRequest struct {
	URL, Type string
	Status    int64
	// Issuer is the issuer of the certificate Chromium accepted (HTTPS).
	Issuer string
	// Failed is the net error ("net::ERR_..."), "" when it loaded.
	Failed   string
	Finished bool
	// Reused says the request went over a connection to the proxy that an
	// earlier request had opened (keep-alive).
	Reused bool
}

func (r *netRequest) String() string {
	s := fmt.Sprintf("%s %s status=%d", r.Type, r.URL, r.Status)
	if r.Failed != "" {
		s += " failed=" + r.Failed
	}
	return s
}

// startBrowser launches Chromium through proxyURL with a fresh profile
// and the flags that work on Debian's chromium in a container. The
// profile allows third-party cookies (cookie_controls_mode 0): Debian's
// Chromium 148 and 156 refuse them by default, and tracker cookies could
// then not be judged at all.
func startBrowser(t *testing.T, proxyURL string, o browserOptions) *browser {
	t.Helper()
	if o.home == "" {
		o.home = env.home
	}
	profile := t.TempDir()
	if err := os.MkdirAll(filepath.Join(profile, "Default"), 0o700); err != nil {
		t.Fatal(err)
	}
	prefs := `{"profile": {"cookie_controls_mode": 0}}`
	if err := os.WriteFile(filepath.Join(profile, "Default", "Preferences"), []byte(prefs), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, output: &lockedBuffer{}, requests: map[network.RequestID]*netRequest{}}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(env.chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.ProxyServer(proxyURL),
		chromedp.Env("HOME=" + o.home),
		chromedp.CombinedOutput(b.output),
	}
	for name, v := range o.flags {
		opts = append(opts, chromedp.Flag(name, v))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output:\n%s", b.output)
		}
	})
	b.ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v\n%s", err, b.output)
	}
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("Network.enable: %v", err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("Log.enable: %v", err)
	}
	if o.credentials != nil {
		b.answerProxyAuth(*o.credentials)
	}
	return b
}

// answerProxyAuth pauses every request of the tab (Fetch.enable with
// handleAuthRequests) so that the proxy's 407 reaches us as
// Fetch.authRequired, answers it with the credentials, and lets every other
// paused request go on unchanged.
func (b *browser) answerProxyAuth(creds fetch.AuthChallengeResponse) {
	b.t.Helper()
	paused := chromedp.Events(b.ctx, fetch.RequestPaused)
	challenges := chromedp.Events(b.ctx, fetch.AuthRequired)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		for ev, err := range challenges {
			if err != nil {
				return
			}
			resp := creds
			if ev.AuthChallenge.Source != fetch.AuthChallengeSourceProxy {
				resp = fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
			} else {
				b.mu.Lock()
				b.auths++
				b.mu.Unlock()
			}
			chromedp.Call(b.ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: &resp})
		}
	}()
	handle := true
	if _, err := chromedp.Call(b.ctx, fetch.Enable, fetch.EnableParams{
		HandleAuthRequests: &handle,
		Patterns:           []*fetch.RequestPattern{{URLPattern: "*"}},
	}); err != nil {
		b.t.Fatalf("Fetch.enable: %v", err)
	}
}

// record runs in chromedp's read loop: it must be quick and run no command.
func (b *browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if _, ok := b.requests[ev.RequestID]; !ok {
			b.order = append(b.order, ev.RequestID)
		}
		b.requests[ev.RequestID] = &netRequest{URL: ev.Request.URL, Type: string(ev.Type)}
	case *network.EventResponseReceived:
		if r := b.requests[ev.RequestID]; r != nil {
			r.Status = ev.Response.Status
			r.Reused = ev.Response.ConnectionReused
			if sd := ev.Response.SecurityDetails; sd != nil {
				r.Issuer = sd.Issuer
			}
		}
	case *network.EventLoadingFinished:
		if r := b.requests[ev.RequestID]; r != nil {
			r.Finished = true
		}
	case *network.EventLoadingFailed:
		if r := b.requests[ev.RequestID]; r != nil {
			r.Finished = true
			r.Failed = ev.ErrorText
			if ev.BlockedReason != "" {
				r.Failed += " (blocked: " + string(ev.BlockedReason) + ")"
			}
		}
	case *cdplog.EventEntryAdded:
		if e := ev.Entry; e.Level == cdplog.EntryLevelError || e.Level == cdplog.EntryLevelWarning {
			b.messages = append(b.messages, fmt.Sprintf("log %s/%s: %s %s", e.Source, e.Level, e.Text, e.URL))
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value))
			}
			b.messages = append(b.messages, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + d.Exception.Description
		}
		b.messages = append(b.messages, fmt.Sprintf("exception: %s at %s:%d", text, d.URL, d.LineNumber))
	}
}

// pageState is window.__e2e of the shop page (see testdata/web/shop.example/app.js).
type pageState struct {
	Scripts map[string]string `json:"scripts"`
	Ran     map[string]bool   `json:"ran"`
	Pixels  map[string]struct {
		Event string `json:"event"`
		Width int    `json:"width"`
	} `json:"pixels"`
	Frames   map[string]string `json:"frames"`
	Messages map[string]bool   `json:"messages"`
	Cart     *struct {
		Cookies []string `json:"cookies"`
		Error   string   `json:"error"`
	} `json:"cart"`
	Beacon  *bool    `json:"beacon"`
	Fetch   string   `json:"fetch"`
	Written []string `json:"written"`
	Done    bool     `json:"done"`
}

// pageLoad is everything one load of a page produced, from the browser's
// side.
type pageLoad struct {
	state    pageState
	requests []*netRequest
	messages []string
}

// load navigates the tab to url and waits until the page says it is done
// and every request it started has finished (beacons included), then
// returns what the page and CDP saw during this load.
func (b *browser) load(url string) pageLoad {
	b.t.Helper()
	b.mu.Lock()
	b.requests = map[network.RequestID]*netRequest{}
	b.order = nil
	b.messages = nil
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(b.ctx, loadTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("navigate to %s: %v", url, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("window.__e2e && window.__e2e.done === true",
		chromedp.WithPollingTimeout(loadTimeout))); err != nil {
		b.t.Fatalf("%s never finished (window.__e2e.done): %v\nrequests:\n%s", url, err, b.describe())
	}
	for !b.idle() {
		select {
		case <-ctx.Done():
			b.t.Fatalf("%s: requests still pending after %s:\n%s", url, loadTimeout, b.describe())
		case <-time.After(20 * time.Millisecond):
		}
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte]("JSON.stringify(window.__e2e)"))
	if err != nil {
		b.t.Fatalf("read window.__e2e: %v", err)
	}
	var js string
	if err := json.Unmarshal(raw, &js); err != nil {
		b.t.Fatalf("read window.__e2e: %v in %s", err, raw)
	}
	var l pageLoad
	if err := json.Unmarshal([]byte(js), &l.state); err != nil {
		b.t.Fatalf("decode window.__e2e: %v in %s", err, js)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range b.order {
		r := *b.requests[id]
		l.requests = append(l.requests, &r)
	}
	l.messages = slices.Clone(b.messages)
	return l
}

func (b *browser) idle() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.requests {
		// Documents are skipped: the page's own is done when Navigate
		// returns, and a cross-site iframe's finishes in the iframe's
		// own target (site isolation), whose events this tab never sees.
		if !r.Finished && r.Type != string(network.ResourceTypeDocument) {
			return false
		}
	}
	return true
}

func (b *browser) describe() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var s strings.Builder
	for _, id := range b.order {
		fmt.Fprintf(&s, "  %s finished=%v\n", b.requests[id], b.requests[id].Finished)
	}
	for _, m := range b.messages {
		fmt.Fprintf(&s, "  %s\n", m)
	}
	return s.String()
}

// jarCookie is a cookie in Chromium's jar.
type jarCookie struct {
	Name, Value, Domain string
}

// cookies returns Chromium's cookie jar, every domain, through CDP
// (Storage.getCookies: the whole jar of the browser context).
func (b *browser) cookies() []jarCookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		b.t.Fatalf("Storage.getCookies: %v", err)
	}
	var out []jarCookie
	for _, c := range res.Cookies {
		out = append(out, jarCookie{Name: c.Name, Value: c.Value, Domain: c.Domain})
	}
	slices.SortFunc(out, func(a, b jarCookie) int { return strings.Compare(a.Domain+" "+a.Name, b.Domain+" "+b.Name) })
	return out
}

// proxyAuths is how many proxy auth challenges were answered.
func (b *browser) proxyAuths() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.auths
}

// contextWithTimeout bounds one action on b's tab.
func contextWithTimeout(b *browser) (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, loadTimeout)
}
