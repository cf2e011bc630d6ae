package events

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/consentproxy/consentproxy/rules"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The event vocabulary reuses the rules' action names, so one word means
// one thing in the CLI, the API, the logs and the metrics.
func TestVocabulary(t *testing.T) {
	for _, a := range rules.Actions() {
		got := ForDecision(a)
		if a == rules.Allow {
			if got != "" {
				t.Errorf("allow is an event action %q", got)
			}
			continue
		}
		if string(got) != a.String() {
			t.Errorf("ForDecision(%s) = %q", a, got)
		}
	}
	for _, a := range Actions() {
		if got, ok := ParseAction(string(a)); !ok || got != a {
			t.Errorf("ParseAction(%q) = %q %v", a, got, ok)
		}
	}
	if _, ok := ParseAction("allow"); ok {
		t.Errorf("allow parsed as an event action")
	}
}

func TestRingKeepsTheNewest(t *testing.T) {
	r := NewRing(3)
	if got := r.List(Filter{}, 10); len(got) != 0 {
		t.Fatalf("empty ring lists %v", got)
	}
	for i := 1; i <= 5; i++ {
		if id := r.Add(Event{Host: fmt.Sprintf("h%d.test", i)}); id != uint64(i) {
			t.Fatalf("Add #%d returned id %d", i, id)
		}
	}
	tests := []struct {
		limit int
		want  string
	}{{10, "5:h5.test 4:h4.test 3:h3.test"}, {2, "5:h5.test 4:h4.test"}, {0, ""}}
	for _, tt := range tests {
		var parts []string
		for _, ev := range r.List(Filter{}, tt.limit) {
			parts = append(parts, fmt.Sprintf("%d:%s", ev.ID, ev.Host))
		}
		if got := strings.Join(parts, " "); got != tt.want {
			t.Errorf("List(limit %d) = %q, want %q", tt.limit, got, tt.want)
		}
	}
	if r.Total() != 5 || r.Size() != 3 {
		t.Errorf("Total %d Size %d", r.Total(), r.Size())
	}
}

func TestFilter(t *testing.T) {
	ev := Event{Host: "www.facebook.com", Action: BlockImage, Category: "marketing", Profile: "reject-all",
		Cookies: []Cookie{{Name: "_ga", Category: "analytics"}}}
	tests := []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{Host: "www.facebook.com"}, true},
		{Filter{Host: "facebook.com"}, true},
		{Filter{Host: "book.com"}, false},
		{Filter{Host: "m.facebook.com"}, false},
		{Filter{Action: BlockImage}, true},
		{Filter{Action: BlockEmpty}, false},
		{Filter{Category: "marketing"}, true},
		{Filter{Category: "analytics"}, true},
		{Filter{Category: "social"}, false},
		{Filter{Profile: "reject-all"}, true},
		{Filter{Profile: "accept-all"}, false},
		{Filter{Host: "facebook.com", Action: BlockImage, Category: "analytics", Profile: "reject-all"}, true},
	}
	for _, tt := range tests {
		if got := tt.f.Match(&ev); got != tt.want {
			t.Errorf("%+v: got %v, want %v", tt.f, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	long := "/" + strings.Repeat("é", MaxPathBytes)
	got := TruncatePath(long)
	if len(got) > MaxPathBytes || !strings.HasSuffix(got, "...") || !utf8.ValidString(got) {
		t.Errorf("TruncatePath: %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	if TruncatePath("/short") != "/short" {
		t.Errorf("a short path changed")
	}
	if n := TruncateName(strings.Repeat("n", 1000)); len(n) != MaxCookieNameBytes {
		t.Errorf("TruncateName: %d bytes", len(n))
	}
}

// Concurrent writers and readers: every ID is handed out once, a reader
// only sees whole events, and the ring ends with the newest.
func TestRingConcurrent(t *testing.T) {
	const writers, each, size = 16, 500, 64
	r := NewRing(size)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readErr error
	var readMu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, ev := range r.List(Filter{}, size) {
				// Each writer's events pair its Host with its Status: a
				// torn read would mix two writers.
				if ev.Host != fmt.Sprintf("w%d.test", ev.Status) {
					readMu.Lock()
					readErr = fmt.Errorf("torn event %+v", ev)
					readMu.Unlock()
				}
			}
		}
	}()
	var ww sync.WaitGroup
	for w := range writers {
		ww.Add(1)
		go func() {
			defer ww.Done()
			for i := range each {
				r.Add(Event{Host: fmt.Sprintf("w%d.test", w), Status: w, Path: fmt.Sprintf("/%d", i)})
			}
		}()
	}
	ww.Wait()
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	got := r.List(Filter{}, size*2)
	if len(got) != size || r.Total() != writers*each {
		t.Fatalf("listed %d, total %d", len(got), r.Total())
	}
	for i, ev := range got {
		if want := uint64(writers*each - i); ev.ID != want {
			t.Fatalf("event %d has id %d, want %d", i, ev.ID, want)
		}
	}
}

func benchEvent() Event {
	return Event{Client: "127.0.0.1:50000", Listener: "127.0.0.1:8080", Profile: "reject-all", ProfileSource: "default",
		Method: "GET", Scheme: "https", Host: "www.facebook.com", Path: "/tr", Dest: "image", Context: "third-party",
		Action: BlockImage, Category: "marketing", Vendor: "facebook", Service: "pixel", Origin: "builtin/meta.yaml:32",
		Cookies: []Cookie{{Name: "fr", Direction: Request, Category: "marketing"}}}
}

func BenchmarkRingAdd(b *testing.B) {
	r := NewRing(10000)
	ev := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		r.Add(ev)
	}
}

// BenchmarkRingAddParallel is event emission from every core at once:
// with one lock around the ring this would queue; per-slot locks do not.
func BenchmarkRingAddParallel(b *testing.B) {
	r := NewRing(10000)
	ev := benchEvent()
	b.ReportAllocs()
	b.SetParallelism(4) // 4 × GOMAXPROCS goroutines, at least 16 on small machines
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Add(ev)
		}
	})
}

// BenchmarkRingMutex is the same emission through one mutex-guarded ring,
// the design the per-slot locks replace, for comparison.
func BenchmarkRingMutexParallel(b *testing.B) {
	var mu sync.Mutex
	slots := make([]Event, 10000)
	var next uint64
	ev := benchEvent()
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			next++
			e := ev
			e.ID = next
			slots[next%uint64(len(slots))] = e
			mu.Unlock()
		}
	})
}

func BenchmarkRingList(b *testing.B) {
	r := NewRing(10000)
	ev := benchEvent()
	for range 10000 {
		r.Add(ev)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.List(Filter{Category: "marketing"}, 100)
	}
}
