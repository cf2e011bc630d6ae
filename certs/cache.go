package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// DefaultCacheSize is the number of leaves a Cache keeps when NewCache is
// given a size below 1 (it matches config's limits.cert_cache_size).
const DefaultCacheSize = 1024

// refreshMargin is how long before its NotAfter a cached leaf is replaced.
// A leaf handed out must stay valid for the handshake and a while after
// (clients check expiry at handshake time; long-lived keep-alive and HTTP/2
// connections keep it), so one that is about to expire is re-minted rather
// than served.
const refreshMargin = time.Hour

// Cache keeps minted leaves in a bounded LRU so that repeat connections to
// a host cost a map lookup instead of a signature (~0.2 ms), and collapses
// concurrent first requests for a host into a single mint. It is safe for
// concurrent use.
//
// It is a plain lru.Cache, not golang-lru's expirable variant: that one runs
// a cleanup goroutine that never exits and is slower; expiry is checked on
// read instead, which is all that is needed.
type Cache struct {
	auth  *Authority
	lru   *lru.Cache[cacheKey, *cacheEntry]
	group singleflight.Group

	hits   atomic.Uint64
	misses atomic.Uint64

	// onMint, when set (by tests), is called before each mint attempt.
	onMint func(host string)
}

// cacheKey separates leaves from Get (minted by our Authority) from leaves
// from Fetch with a caller's generator, which may be signed by some other
// CA: one must never be served in place of the other.
type cacheKey struct {
	host    string
	foreign bool
}

type cacheEntry struct {
	cert *tls.Certificate
	// validFrom and refreshAt bound when the entry may be served:
	// refreshAt is NotAfter minus refreshMargin (or NotAfter itself when the
	// leaf was born inside the margin, see newEntry); validFrom is NotBefore,
	// so a clock that jumped backwards re-mints instead of serving a leaf
	// that is not yet valid.
	validFrom time.Time
	refreshAt time.Time
}

func (e *cacheEntry) fresh(now time.Time) bool {
	return now.Before(e.refreshAt) && !now.Before(e.validFrom)
}

// NewCache returns a cache of at most size leaves of a (DefaultCacheSize
// when size < 1), least recently used evicted first.
func NewCache(a *Authority, size int) *Cache {
	if size < 1 {
		size = DefaultCacheSize
	}
	l, err := lru.New[cacheKey, *cacheEntry](size)
	if err != nil {
		// lru.New fails only for size <= 0, excluded above.
		panic(fmt.Sprintf("certs: lru.New(%d): %v", size, err))
	}
	return &Cache{auth: a, lru: l}
}

// Get returns a leaf for host (as Authority.Issue takes it), from the cache
// when there is one that is not near expiry, else freshly minted; callers
// asking for the same host at the same time share one mint. An invalid host
// is an error.
func (c *Cache) Get(host string) (*tls.Certificate, error) {
	return c.get(host, false, nil)
}

// Fetch satisfies goproxy's CertStorage interface. It caches by host like
// Get, but on a miss calls gen (goproxy's own signer, say) instead of the
// Authority; a nil gen means the Authority. Leaves from gen are kept apart
// from the Authority's.
func (c *Cache) Fetch(host string, gen func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	return c.get(host, gen != nil, gen)
}

func (c *Cache) get(host string, foreign bool, gen func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	now := c.auth.now()
	// Fast path: hosts usually arrive already normalised (lower-case, no
	// trailing dot), and keys are normalised, so the raw host finds the
	// entry without the cost of validating it again.
	if e, ok := c.lru.Get(cacheKey{host, foreign}); ok && e.fresh(now) {
		c.hits.Add(1)
		return e.cert, nil
	}
	name, err := normalizeHost(host)
	if err != nil {
		return nil, fmt.Errorf("certificate for %q: %w", host, err)
	}
	key := cacheKey{name.key, foreign}
	if name.key != host {
		if e, ok := c.lru.Get(key); ok && e.fresh(now) {
			c.hits.Add(1)
			return e.cert, nil
		}
	}
	c.misses.Add(1)
	mint := gen
	if mint == nil {
		mint = func() (*tls.Certificate, error) { return c.auth.issue(name) }
	}
	return c.fill(key, mint)
}

// fill mints the leaf for key once for all concurrent callers.
func (c *Cache) fill(key cacheKey, mint func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	flight := key.host
	if key.foreign {
		// NUL never occurs in a normalised host.
		flight = "\x00" + key.host
	}
	v, err, _ := c.group.Do(flight, func() (any, error) {
		now := c.auth.now()
		// A caller that missed just before another one's flight finished
		// starts a new flight; the entry that flight stored is good.
		if e, ok := c.lru.Peek(key); ok && e.fresh(now) {
			return e.cert, nil
		}
		if c.onMint != nil {
			c.onMint(key.host)
		}
		cert, err := mint()
		if err != nil {
			return nil, err
		}
		e, err := newEntry(cert, now)
		if err != nil {
			return nil, fmt.Errorf("certificate for %s: %w", key.host, err)
		}
		c.lru.Add(key, e)
		return cert, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*tls.Certificate), nil
}

func newEntry(cert *tls.Certificate, now time.Time) (*cacheEntry, error) {
	if cert == nil || len(cert.Certificate) == 0 {
		return nil, errors.New("generator returned no certificate")
	}
	if cert.Leaf == nil {
		// A generator (goproxy's signer) may leave Leaf unset; expiry
		// cannot be tracked without it, and crypto/tls uses it if present.
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("parse generated certificate: %w", err)
		}
		cert.Leaf = leaf
	}
	leaf := cert.Leaf
	if !now.Before(leaf.NotAfter) {
		return nil, fmt.Errorf("freshly minted certificate already expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	refreshAt := leaf.NotAfter.Add(-refreshMargin)
	if !now.Before(refreshAt) {
		// Born inside the margin: its NotAfter is capped by the CA's, so a
		// re-mint could not do better. Serve it until it expires instead of
		// minting on every request.
		refreshAt = leaf.NotAfter
	}
	return &cacheEntry{cert: cert, validFrom: leaf.NotBefore, refreshAt: refreshAt}, nil
}

// Stats reports cache hits and misses since the cache was made, for
// metrics. A miss is a call that found no fresh entry (whether it minted or
// joined another caller's mint); calls with an invalid host count as
// neither.
func (c *Cache) Stats() (hits, misses uint64) {
	return c.hits.Load(), c.misses.Load()
}

// Len is the number of leaves currently cached (fresh or not).
func (c *Cache) Len() int { return c.lru.Len() }
