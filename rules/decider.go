package rules

import (
	"hash/maphash"
	"math/bits"
	"runtime"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Decider is a Set with a bounded decision cache. The cache belongs to one
// Set: a reload builds a new Set and a new Decider, so a changed rule or
// profile can never serve a stale decision. Safe for concurrent use.
//
// The cache is sharded: golang-lru's Cache takes an exclusive lock even on
// Get (it moves the entry to the front), so one cache would make every core
// queue on one mutex. A key's shard is chosen by a seeded hash of the key.
//
// Each shard is keyed by that 64-bit hash rather than by the request's
// strings, so a lookup hashes host and path once instead of twice; the
// entry keeps the full key and a hit is only a hit when the keys are equal
// (a hash collision is a miss that overwrites the entry, never a wrong
// decision).
type Decider struct {
	set    *Set
	seed   maphash.Seed
	shards []*shard
	mask   uint64
}

// shard is one LRU with its own counters: a counter shared by all shards
// would bounce one cache line between every core on every call.
type shard struct {
	cache  *lru.Cache[uint64, *cacheEntry]
	hits   atomic.Uint64
	misses atomic.Uint64
	_      [64]byte // keep neighbouring shards' counters off this cache line
}

// decisionKey is everything a decision depends on besides the Set: the
// profile (by identity: profiles are immutable and belong to the Set) and
// the request facts.
type decisionKey struct {
	p *Profile
	r Request
}

type cacheEntry struct {
	key decisionKey
	dec Decision
}

// DefaultDecisionCacheSize is the cache size NewDecider uses for size <= 0.
const DefaultDecisionCacheSize = 16384

// NewDecider wraps s with a cache of about size decisions in total.
func NewDecider(s *Set, size int) *Decider {
	if size <= 0 {
		size = DefaultDecisionCacheSize
	}
	n := shardCount(size)
	d := &Decider{set: s, seed: maphash.MakeSeed(), mask: uint64(n - 1)}
	per := (size + n - 1) / n
	for range n {
		c, err := lru.New[uint64, *cacheEntry](per)
		if err != nil {
			// lru.New fails only for a size <= 0, which per never is.
			panic("rules: lru.New: " + err.Error())
		}
		d.shards = append(d.shards, &shard{cache: c})
	}
	return d
}

// shardCount is a power of two, about four shards per CPU (at least 16 so
// that a machine with few cores still spreads 16 goroutines), and no more
// shards than leave each at least 64 entries.
func shardCount(size int) int {
	want := 4 * runtime.GOMAXPROCS(0)
	if want < 16 {
		want = 16
	}
	n := 1
	for n < want && size/(n*2) >= 64 {
		n *= 2
	}
	return n
}

// Set returns the Set the Decider caches.
func (d *Decider) Set() *Set { return d.set }

// Decide is Set.Decide through the cache. A hit neither allocates nor
// computes anything; misses store their result.
func (d *Decider) Decide(p *Profile, r Request) Decision {
	p = d.set.own(p)
	k := decisionKey{p: p, r: r}
	h := d.hash(&k)
	sh := d.shards[h&d.mask]
	if e, ok := sh.cache.Get(h); ok && e.key == k {
		sh.hits.Add(1)
		return e.dec
	}
	sh.misses.Add(1)
	dec := d.set.Decide(p, r)
	sh.cache.Add(h, &cacheEntry{key: k, dec: dec})
	return dec
}

// hash mixes every part of the key. The two string hashes are combined
// with a rotation so that swapping host and path changes the result; the
// final multiply spreads the small fields into the low bits that pick the
// shard.
func (d *Decider) hash(k *decisionKey) uint64 {
	h := maphash.String(d.seed, k.r.Host) ^ bits.RotateLeft64(maphash.String(d.seed, k.r.Path), 31)
	h ^= uint64(k.r.Dest)<<56 ^ uint64(k.r.Context)<<48 ^ uint64(k.p.num)<<32
	h ^= h >> 29
	return h * 0x9e3779b97f4a7c15
}

// Stats returns how many Decide calls were answered from the cache and how
// many were computed.
func (d *Decider) Stats() (hits, misses uint64) {
	for _, sh := range d.shards {
		hits += sh.hits.Load()
		misses += sh.misses.Load()
	}
	return hits, misses
}

// JudgeCookie is Set.JudgeCookie; cookie verdicts are not cached (a lookup
// costs about what a cache probe would).
func (d *Decider) JudgeCookie(p *Profile, r Request, dec Decision, name string) CookieVerdict {
	return d.set.JudgeCookie(p, r, dec, name)
}

// FilterCookieHeader is Set.FilterCookieHeader.
func (d *Decider) FilterCookieHeader(p *Profile, r Request, dec Decision, lines []string) ([]string, []CookieVerdict) {
	return d.set.FilterCookieHeader(p, r, dec, lines)
}

// FilterSetCookie is Set.FilterSetCookie.
func (d *Decider) FilterSetCookie(p *Profile, r Request, dec Decision, fields []string) ([]string, []CookieVerdict) {
	return d.set.FilterSetCookie(p, r, dec, fields)
}
