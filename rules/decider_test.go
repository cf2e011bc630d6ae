package rules

import (
	"fmt"
	"sync"
	"testing"
)

func deciderRequests() []Request {
	var rs []Request
	for _, u := range []string{
		"www.facebook.com/tr", "www.facebook.com/plugins/like.php", "connect.facebook.net/en_US/fbevents.js",
		"static.criteo.net/js/ld/ld.js", "c.clarity.ms/c.gif", "www.google-analytics.com/g/collect",
		"shop.example/", "challenges.cloudflare.com/x", "hcaptcha.com/1/api.js",
	} {
		for _, dest := range []Dest{DestUnknown, DestImage, DestScript, DestDocument} {
			for _, ctx := range []Context{ThirdParty, FirstParty, TopLevel} {
				r := splitURL(u)
				r.Dest, r.Context = dest, ctx
				rs = append(rs, r)
			}
		}
	}
	return rs
}

func TestDeciderMatchesSet(t *testing.T) {
	s := decideSet(t)
	d := NewDecider(s, 1<<16) // room for every key: no eviction
	if d.Set() != s {
		t.Fatal("Decider.Set is not the Set it was built with")
	}
	reqs := deciderRequests()
	profiles := s.Profiles()
	for round := 0; round < 2; round++ {
		for _, p := range profiles {
			for _, r := range reqs {
				if got, want := d.Decide(p, r), s.Decide(p, r); got != want {
					t.Fatalf("round %d: Decider.Decide(%s, %+v) = %+v, Set.Decide = %+v", round, p.Name, r, got, want)
				}
			}
		}
	}
	n := uint64(len(profiles) * len(reqs))
	hits, misses := d.Stats()
	if misses != n || hits != n {
		t.Errorf("Stats = %d hits, %d misses; want %d and %d (first round misses, second hits)", hits, misses, n, n)
	}
}

// TestDeciderNewSetNoStaleEntries: a reload builds a new Set and Decider;
// even a profile pointer kept from the old Set decides by the new rules.
func TestDeciderNewSetNoStaleEntries(t *testing.T) {
	oldSet := trackerSet(t)
	oldDecider := NewDecider(oldSet, 64)
	oldProfile := mustProfile(t, oldSet, "reject-all")
	r := Request{Host: "shop.example", Path: "/pixel.gif", Dest: DestImage}
	if d := oldDecider.Decide(oldProfile, r); d.Action != Allow {
		t.Fatalf("old rules: %s", d.Action)
	}
	newSet := trackerSet(t, parseText(t, "new.yaml", `
		version: 1
		vendors: [{id: shop-tracker, services: [{name: px, category: analytics, kind: pixel, hosts: [shop.example], paths: [/pixel.gif]}]}]
	`))
	newDecider := NewDecider(newSet, 64)
	for _, p := range []*Profile{oldProfile, mustProfile(t, newSet, "reject-all")} {
		if d := newDecider.Decide(p, r); d.Action != BlockImage || d.Vendor != "shop-tracker" {
			t.Errorf("new rules with profile from %p: %s %s, want block-image by shop-tracker", p.set, d.Action, d.Vendor)
		}
	}
	// The old Decider is untouched: in-flight requests keep their snapshot.
	if d := oldDecider.Decide(oldProfile, r); d.Action != Allow {
		t.Errorf("old decider changed: %s", d.Action)
	}
}

func TestDeciderEviction(t *testing.T) {
	s := decideSet(t)
	d := NewDecider(s, 16)
	p := mustProfile(t, s, "reject-all")
	for i := 0; i < 1000; i++ {
		r := Request{Host: fmt.Sprintf("h%d.criteo.com", i), Path: "/"}
		if got, want := d.Decide(p, r), s.Decide(p, r); got != want {
			t.Fatalf("Decide(%v) = %+v, want %+v", r, got, want)
		}
	}
	var cached int
	for _, sh := range d.shards {
		cached += sh.cache.Len()
	}
	if cached > 64 {
		t.Errorf("%d decisions cached for a size of 16: the cache is not bounded", cached)
	}
}

func TestDeciderConcurrent(t *testing.T) {
	s := decideSet(t)
	d := NewDecider(s, 256)
	reqs := deciderRequests()
	profiles := s.Profiles()
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				p := profiles[(g+i)%len(profiles)]
				r := reqs[(g*7+i)%len(reqs)]
				if got, want := d.Decide(p, r), s.Decide(p, r); got != want {
					errs <- fmt.Sprintf("goroutine %d: %+v != %+v", g, got, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	hits, misses := d.Stats()
	if hits+misses != 16*2000 {
		t.Errorf("Stats count %d calls, want %d", hits+misses, 16*2000)
	}
}

func TestShardCount(t *testing.T) {
	for _, size := range []int{1, 64, 1000, 16384, 1 << 20} {
		n := shardCount(size)
		if n&(n-1) != 0 || n < 1 {
			t.Errorf("shardCount(%d) = %d, not a power of two", size, n)
		}
		if n > 1 && size/n < 64 {
			t.Errorf("shardCount(%d) = %d leaves %d entries per shard", size, n, size/n)
		}
	}
	if n := shardCount(16384); n < 16 {
		t.Errorf("shardCount(16384) = %d, want at least 16 shards", n)
	}
}
