package events

import (
	"sync"
	"sync/atomic"
)

// Ring keeps the last N events. It is safe for concurrent use.
//
// Why not one mutex around a slice: every blocked or stripped request adds
// an event, from as many goroutines as there are client connections, and a
// single lock would make them queue behind each other (and behind a reader
// copying thousands of events for /api/events). Instead an atomic counter
// hands each event its ID and so its slot, and each slot has its own lock:
// writers only meet when the ring wraps onto a slot being written, and a
// reader holds one slot at a time.
type Ring struct {
	slots []slot
	next  atomic.Uint64 // the last ID handed out
}

type slot struct {
	mu sync.Mutex
	id uint64 // ID of the event held; 0 when empty
	ev Event
}

// NewRing returns a ring of size events (at least 1).
func NewRing(size int) *Ring {
	if size < 1 {
		size = 1
	}
	return &Ring{slots: make([]slot, size)}
}

// Size is the number of events the ring holds when full.
func (r *Ring) Size() int { return len(r.slots) }

// Total is the number of events ever added.
func (r *Ring) Total() uint64 { return r.next.Load() }

// Add stores ev with the next ID, replacing the oldest event when the ring
// is full, and returns the ID. ev must not be changed afterwards.
func (r *Ring) Add(ev Event) uint64 {
	id := r.next.Add(1)
	ev.ID = id
	s := &r.slots[(id-1)%uint64(len(r.slots))]
	s.mu.Lock()
	// A writer that was slow between taking its ID and this lock may find
	// a newer event (a full lap later) already there; the newer one stays.
	if id > s.id {
		s.id, s.ev = id, ev
	}
	s.mu.Unlock()
	return id
}

// List returns up to limit events that match f, newest first. Events
// still being written when List passes their slot are skipped.
func (r *Ring) List(f Filter, limit int) []Event {
	if limit <= 0 {
		return []Event{}
	}
	n := uint64(len(r.slots))
	head := r.next.Load()
	out := make([]Event, 0, min(uint64(limit), min(head, n)))
	for id := head; id > 0 && head-id < n && len(out) < limit; id-- {
		s := &r.slots[(id-1)%n]
		s.mu.Lock()
		if s.id == id && f.Match(&s.ev) {
			out = append(out, s.ev)
		}
		s.mu.Unlock()
	}
	return out
}
