// Package faultload is consentproxy's fault and load suite, as tests only
// (go test ./faultload; a longer soak with -soak=10m or
// CONSENTPROXY_SOAK=10m).
//
// It drives a real proxy (proxy.New, on loopback) with 16 concurrent
// clients, plain HTTP and through HTTP/1 and HTTP/2 MITM tunnels, mixing
// allowed, cookie-stripped, blocked and on_denied: strip traffic with
// upstream faults (resets mid-body, hangs, 5xx, slow bodies, an address
// nobody listens on) and hostile clients (garbage, oversized headers,
// slowloris inside tunnels), for a fixed number of rounds. It asserts that
// no refused cookie ever reaches an upstream or a client, that every
// request gets the answer its route calls for (the upstream's, or a clear
// 502/504), that memory stays flat from round to round, and that no
// goroutine outlives the shutdown.
//
// It lives in its own top-level folder rather than in proxy/ because it
// uses the proxy only through its public API, as a user of the package
// would, and because it measures the whole process: its own test binary
// keeps other tests' goroutines and garbage out of its goroutine and heap
// accounting, and lets it run in parallel with the other packages' tests.
package faultload
