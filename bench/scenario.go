package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
)

// scenario is one kind of traffic, run against every target it applies to.
type scenario struct {
	id        string
	title     string
	https     bool
	keepAlive bool
	conc      int
	// mix is cycled by each worker, starting at a different place.
	mix []resource
	// newHost: every request goes to a host name never seen before, on a
	// new connection (the proxy's first handshake for a host).
	newHost bool
	// memory: the point is the peak RSS, with every client connected.
	memory bool
	// interceptOnly: only for targets that intercept HTTPS (and direct, the
	// reference): for a blind tunnel it would repeat another scenario.
	interceptOnly bool
	// fresh: restart every proxy before the scenario, so that its peak RSS
	// is its own and not what an earlier scenario left in the heap.
	fresh bool
}

func scenarios(memClients int) []scenario {
	// The main mix: a page that sets cookies and an image on it, both
	// carrying the Cookie header.
	pageAndPixel := []resource{resPage, resPixel}
	return []scenario{
		{id: "http-ka-c1", title: "HTTP keep-alive, c=1", keepAlive: true, conc: 1, mix: pageAndPixel},
		{id: "http-ka-c16", title: "HTTP keep-alive, c=16", keepAlive: true, conc: 16, mix: pageAndPixel},
		{id: "http-new-c1", title: "HTTP new connection per request, c=1", conc: 1, mix: pageAndPixel},
		{id: "http-new-c16", title: "HTTP new connection per request, c=16", conc: 16, mix: pageAndPixel},
		{id: "https-ka-c1", title: "HTTPS keep-alive, c=1", https: true, keepAlive: true, conc: 1, mix: pageAndPixel},
		{id: "https-ka-c16", title: "HTTPS keep-alive, c=16", https: true, keepAlive: true, conc: 16, mix: pageAndPixel},
		{id: "https-new-c1", title: "HTTPS new connection per request, c=1", https: true, conc: 1, mix: pageAndPixel},
		{id: "https-new-c16", title: "HTTPS new connection per request, c=16", https: true, conc: 16, mix: pageAndPixel},
		{id: "https-newhost-c1", title: "HTTPS new host per request, c=1", https: true, conc: 1, mix: []resource{resPixel},
			newHost: true, interceptOnly: true},
		{id: "https-1mib-c4", title: "HTTPS keep-alive 1 MiB body, c=4", https: true, keepAlive: true, conc: 4,
			mix: []resource{resLarge}},
		{id: fmt.Sprintf("https-ka-c%d-mem", memClients), title: fmt.Sprintf("HTTPS keep-alive, %d clients (memory)", memClients),
			https: true, keepAlive: true, conc: memClients, mix: pageAndPixel, memory: true, interceptOnly: true, fresh: true},
	}
}

// applies reports whether sc is run against t.
func (sc scenario) applies(t *target) bool {
	if sc.interceptOnly && t.proxy != nil && !t.mitm {
		return false
	}
	// A new host per request needs names the target can resolve.
	return !(sc.newHost && t.byIP)
}

// requests returns the request generator of sc against t. hosts numbers
// the new hosts of this target across rounds.
func (sc scenario) requests(t *target, up *upstream, hosts *atomic.Int64) func(worker, seq int) request {
	scheme, addr := "http", up.httpAddr
	if sc.https {
		scheme, addr = "https", up.httpsAddr
	}
	host := benchHost
	if t.byIP {
		host = "127.0.0.1"
	}
	base := make([]string, len(sc.mix))
	for i, r := range sc.mix {
		base[i] = scheme + "://" + net.JoinHostPort(host, port(addr)) + r.path()
	}
	return func(worker, seq int) request {
		i := (worker + seq) % len(sc.mix)
		if sc.newHost {
			h := fmt.Sprintf("n%d.%s", hosts.Add(1), benchHost)
			return request{url: strings.Replace(base[i], "://"+host, "://"+h, 1), kind: sc.mix[i]}
		}
		return request{url: base[i], kind: sc.mix[i]}
	}
}

// transport is worker i's transport against t.
func (sc scenario) transport(t *target) func(int) *http.Transport {
	return func(int) *http.Transport { return t.transport(sc) }
}
