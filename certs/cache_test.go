package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countMints installs a counter of mint attempts on c.
func countMints(c *Cache) *atomic.Int64 {
	var n atomic.Int64
	c.onMint = func(string) { n.Add(1) }
	return &n
}

func TestCacheHitsAndMisses(t *testing.T) {
	c := NewCache(newTestAuthority(t), 16)
	mints := countMints(c)

	first, err := c.Get("shop.example")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		host string
		same bool // want the very same *tls.Certificate as first
	}{
		{"shop.example", true},
		{"SHOP.Example", true},  // normalised to the same key
		{"shop.example.", true}, // FQDN spelling
		{"other.example", false},
	}
	for _, s := range steps {
		got, err := c.Get(s.host)
		if err != nil {
			t.Fatalf("Get(%q): %v", s.host, err)
		}
		if (got == first) != s.same {
			t.Errorf("Get(%q) same leaf as Get(shop.example) = %v, want %v", s.host, got == first, s.same)
		}
	}
	if got, want := mints.Load(), int64(2); got != want {
		t.Errorf("mints = %d, want %d", got, want)
	}
	hits, misses := c.Stats()
	if hits != 3 || misses != 2 {
		t.Errorf("Stats = %d hits, %d misses; want 3, 2", hits, misses)
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
}

func TestCacheIsBounded(t *testing.T) {
	const size, extra = 8, 5
	c := NewCache(newTestAuthority(t), size)
	mints := countMints(c)
	for i := range size + extra {
		if _, err := c.Get(fmt.Sprintf("h%d.example", i)); err != nil {
			t.Fatal(err)
		}
		if c.Len() > size {
			t.Fatalf("after %d hosts Len = %d, want at most %d", i+1, c.Len(), size)
		}
	}
	if c.Len() != size {
		t.Errorf("Len = %d, want %d", c.Len(), size)
	}
	// The least recently used hosts were evicted and are minted again;
	// the most recent ones are still there.
	before := mints.Load()
	if _, err := c.Get(fmt.Sprintf("h%d.example", size+extra-1)); err != nil {
		t.Fatal(err)
	}
	if mints.Load() != before {
		t.Errorf("the most recent host was minted again")
	}
	if _, err := c.Get("h0.example"); err != nil {
		t.Fatal(err)
	}
	if mints.Load() != before+1 {
		t.Errorf("the oldest host was not evicted (mints %d, want %d)", mints.Load(), before+1)
	}
}

func TestCacheDefaultSize(t *testing.T) {
	a := newTestAuthority(t)
	for _, size := range []int{0, -1} {
		c := NewCache(a, size)
		for i := range DefaultCacheSize + 10 {
			c.lru.Add(cacheKey{host: fmt.Sprint(i)}, &cacheEntry{})
		}
		if c.Len() != DefaultCacheSize {
			t.Errorf("NewCache(a, %d) holds %d entries, want DefaultCacheSize (%d)", size, c.Len(), DefaultCacheSize)
		}
	}
}

// Concurrent first requests for a host share one mint.
func TestCacheConcurrentFirstGetsMintOnce(t *testing.T) {
	c := NewCache(newTestAuthority(t), 64)
	var perHost sync.Map // host -> *atomic.Int64
	c.onMint = func(host string) {
		n, _ := perHost.LoadOrStore(host, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}
	const goroutines = 50
	for round := range 10 {
		host := fmt.Sprintf("round%d.example", round)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			got   [goroutines]*tls.Certificate
			errs  [goroutines]error
		)
		for i := range goroutines {
			wg.Go(func() {
				<-start
				got[i], errs[i] = c.Get(host)
			})
		}
		close(start)
		wg.Wait()
		for i := range goroutines {
			if errs[i] != nil {
				t.Fatalf("%s: Get #%d: %v", host, i, errs[i])
			}
			if got[i] != got[0] {
				t.Errorf("%s: Get #%d returned a different leaf than #0", host, i)
			}
		}
		n, _ := perHost.Load(host)
		if m := n.(*atomic.Int64).Load(); m != 1 {
			t.Errorf("%s: %d mints for %d concurrent first Gets, want 1", host, m, goroutines)
		}
	}
	hits, misses := c.Stats()
	if hits+misses != 10*goroutines {
		t.Errorf("hits+misses = %d, want %d", hits+misses, 10*goroutines)
	}
}

func TestCacheReplacesLeavesNearExpiry(t *testing.T) {
	a := newTestAuthority(t)
	start := a.Certificate().NotBefore.Add(24 * time.Hour).Truncate(time.Second)
	clock := newFakeClock(start)
	a.now = clock.Now
	c := NewCache(a, 16)
	mints := countMints(c)

	first, err := c.Get("expiry.example")
	if err != nil {
		t.Fatal(err)
	}
	notAfter := first.Leaf.NotAfter
	steps := []struct {
		name      string
		now       time.Time
		wantSame  bool
		wantMints int64
	}{
		{"well before expiry", notAfter.Add(-refreshMargin - time.Minute), true, 1},
		{"inside the refresh margin", notAfter.Add(-30 * time.Minute), false, 2},
	}
	for _, s := range steps {
		clock.Set(s.now)
		got, err := c.Get("expiry.example")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if (got == first) != s.wantSame {
			t.Errorf("%s: served the first leaf = %v, want %v", s.name, got == first, s.wantSame)
		}
		if mints.Load() != s.wantMints {
			t.Errorf("%s: mints = %d, want %d", s.name, mints.Load(), s.wantMints)
		}
		if !got.Leaf.NotAfter.After(s.now.Add(refreshMargin)) {
			t.Errorf("%s: served a leaf expiring at %v, within %v of now %v", s.name, got.Leaf.NotAfter, refreshMargin, s.now)
		}
	}
}

// When the CA itself is about to expire, leaves are capped at its NotAfter:
// a fresh one is served until it expires, then Get fails. An expired leaf
// is never served.
func TestCacheNeverServesExpiredLeaf(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	a := authorityValidUntil(t, t0, t0.Add(2*time.Hour))
	clock := newFakeClock(t0)
	a.now = clock.Now
	c := NewCache(a, 16)
	mints := countMints(c)

	steps := []struct {
		now       time.Time
		wantErr   bool
		wantMints int64
	}{
		{t0, false, 1},                       // leaf capped at t0+2h
		{t0.Add(30 * time.Minute), false, 1}, // still outside the margin: cached
		{t0.Add(90 * time.Minute), false, 2}, // inside: re-minted, born inside the margin
		{t0.Add(100 * time.Minute), false, 2},
		{t0.Add(2*time.Hour - time.Second), false, 2},
		{t0.Add(2 * time.Hour), true, 3}, // CA and leaf expired: a mint attempt fails
		{t0.Add(3 * time.Hour), true, 4},
	}
	for _, s := range steps {
		clock.Set(s.now)
		got, err := c.Get("capped.example")
		if s.wantErr {
			if err == nil {
				t.Errorf("at %v: Get served a leaf valid until %v, want an error", s.now.Sub(t0), got.Leaf.NotAfter.Sub(t0))
			} else if !strings.Contains(err.Error(), "expired") {
				t.Errorf("at %v: error %q does not say the CA expired", s.now.Sub(t0), err)
			}
		} else {
			if err != nil {
				t.Fatalf("at %v: %v", s.now.Sub(t0), err)
			}
			if !s.now.Before(got.Leaf.NotAfter) {
				t.Errorf("at %v: served a leaf that expired at %v", s.now.Sub(t0), got.Leaf.NotAfter.Sub(t0))
			}
		}
		if mints.Load() != s.wantMints {
			t.Errorf("at %v: mints = %d, want %d", s.now.Sub(t0), mints.Load(), s.wantMints)
		}
	}
}

// A clock that jumped backwards past a leaf's NotBefore gets a new leaf,
// not one the client would reject as not yet valid.
func TestCacheClockJumpedBack(t *testing.T) {
	a := newTestAuthority(t)
	start := a.Certificate().NotBefore.Add(30 * 24 * time.Hour)
	clock := newFakeClock(start)
	a.now = clock.Now
	c := NewCache(a, 16)
	first, err := c.Get("skew.example")
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(start.Add(-3 * time.Hour))
	got, err := c.Get("skew.example")
	if err != nil {
		t.Fatal(err)
	}
	if got == first || got.Leaf.NotBefore.After(clock.Now()) {
		t.Errorf("served a leaf valid from %v at %v", got.Leaf.NotBefore, clock.Now())
	}
}

func TestCacheInvalidHostIsAnError(t *testing.T) {
	c := NewCache(newTestAuthority(t), 16)
	mints := countMints(c)
	for _, host := range []string{"", "*.example.com", "example.com:443", "a b", "\x00", "[", "]", "[]", "%", "bad..host"} {
		if got, err := c.Get(host); err == nil {
			t.Errorf("Get(%q) = %v, want an error", host, got.Leaf.Subject)
		}
		if got, err := c.Fetch(host, func() (*tls.Certificate, error) { return nil, errors.New("must not be called") }); err == nil || strings.Contains(err.Error(), "must not be called") {
			t.Errorf("Fetch(%q) = %v, %v; want a host error without calling gen", host, got, err)
		}
	}
	if mints.Load() != 0 || c.Len() != 0 {
		t.Errorf("invalid hosts caused %d mints, %d entries", mints.Load(), c.Len())
	}
	if h, m := c.Stats(); h != 0 || m != 0 {
		t.Errorf("invalid hosts counted as %d hits, %d misses", h, m)
	}
}

func TestCacheFetch(t *testing.T) {
	a := newTestAuthority(t)
	c := NewCache(a, 16)
	other := newTestAuthority(t)

	var calls atomic.Int64
	gen := func() (*tls.Certificate, error) {
		calls.Add(1)
		tc, err := other.Issue("fetch.example")
		if err != nil {
			return nil, err
		}
		// goproxy's signer does not necessarily set Leaf.
		tc.Leaf = nil
		return tc, nil
	}
	f1, err := c.Fetch("fetch.example", gen)
	if err != nil {
		t.Fatal(err)
	}
	if f1.Leaf == nil {
		t.Fatal("Fetch returned a certificate without Leaf")
	}
	f2, err := c.Fetch("Fetch.Example", gen)
	if err != nil {
		t.Fatal(err)
	}
	if f2 != f1 || calls.Load() != 1 {
		t.Errorf("second Fetch: same=%v, gen calls=%d; want the cached leaf and 1 call", f2 == f1, calls.Load())
	}
	// Get never serves what a foreign generator produced, nor the reverse.
	g, err := c.Get("fetch.example")
	if err != nil {
		t.Fatal(err)
	}
	if g == f1 {
		t.Errorf("Get served the leaf minted by Fetch's generator")
	}
	if _, err := g.Leaf.Verify(x509.VerifyOptions{DNSName: "fetch.example", Roots: caPool(a)}); err != nil {
		t.Errorf("Get's leaf does not verify against the cache's CA: %v", err)
	}
	// A nil generator means the Authority, sharing Get's entries.
	n, err := c.Fetch("fetch.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != g {
		t.Errorf("Fetch with nil gen did not return Get's leaf")
	}
}

func TestCacheFetchGeneratorFailures(t *testing.T) {
	a := newTestAuthority(t)
	c := NewCache(a, 16)
	boom := errors.New("signer unavailable")
	var calls int
	failing := func() (*tls.Certificate, error) { calls++; return nil, boom }
	for range 2 {
		if _, err := c.Fetch("fail.example", failing); !errors.Is(err, boom) {
			t.Errorf("Fetch with a failing gen: %v, want %v", err, boom)
		}
	}
	if calls != 2 {
		t.Errorf("failing gen called %d times for 2 Fetches, want 2 (errors are not cached)", calls)
	}

	// An already expired certificate from gen is refused, not served.
	clock := newFakeClock(a.Certificate().NotBefore.Add(200 * 24 * time.Hour))
	issuer := newTestAuthority(t)
	old, err := issuer.Issue("stale.example") // valid for 90 days from real now
	if err != nil {
		t.Fatal(err)
	}
	a.now = clock.Now
	clock.Set(old.Leaf.NotAfter.Add(time.Minute))
	if got, err := c.Fetch("stale.example", func() (*tls.Certificate, error) { return old, nil }); err == nil {
		t.Errorf("Fetch served a leaf that expired at %v (now %v)", got.Leaf.NotAfter, clock.Now())
	}
	for _, bad := range []*tls.Certificate{nil, {}, {Certificate: [][]byte{[]byte("not DER")}}} {
		if _, err := c.Fetch("empty.example", func() (*tls.Certificate, error) { return bad, nil }); err == nil {
			t.Errorf("Fetch accepted a generated %#v", bad)
		}
	}
	if c.Len() != 0 {
		t.Errorf("failed generations left %d entries", c.Len())
	}
}

// A caller that missed just before another caller's flight stored the leaf
// starts its own flight after that one ended; it must find the stored leaf
// instead of minting again. (The window is too narrow to hit reliably with
// goroutines, so the flight is entered directly.)
func TestCacheFlightRechecksBeforeMinting(t *testing.T) {
	c := NewCache(newTestAuthority(t), 16)
	mints := countMints(c)
	first, err := c.Get("late.example")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.fill(cacheKey{host: "late.example"}, func() (*tls.Certificate, error) {
		t.Error("mint called although a fresh leaf was cached")
		return nil, errors.New("unexpected mint")
	})
	if err != nil || got != first {
		t.Errorf("fill = %v, %v; want the cached leaf", got, err)
	}
	if mints.Load() != 1 {
		t.Errorf("mints = %d, want 1", mints.Load())
	}
}
