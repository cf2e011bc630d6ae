package proxy

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/consentproxy/consentproxy/rules"
)

// metrics are the proxy's Prometheus metrics, on a registry of their own:
// the default registry is process-global state, and two Servers in one
// process (tests, a library user) must not share or collide on counters.
//
// Label values are bounded on purpose: actions and directions come from
// fixed vocabularies, categories from the loaded rules (reloads can add a
// few, never one per request), upstream error reasons from a fixed
// classification. No label ever carries a host, a path, a profile chosen
// by a client, or a cookie.
type metrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	cookies        *prometheus.CounterVec
	upstreamErrors *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	failures       *prometheus.CounterVec
	authFailures   *prometheus.CounterVec
	profileErrors  prometheus.Counter
	reloads        *prometheus.CounterVec

	// decision-cache totals of the snapshots swapped out, so that the
	// counters stay monotonic across reloads (each snapshot has its own
	// cache and counts from zero). cacheMu orders a swap against a scrape.
	cacheMu      sync.Mutex
	cacheHitsOld uint64
	cacheMissOld uint64
}

// actionCounters are requests_total's counters of one category, by
// rules.Action.
type actionCounters [4]prometheus.Counter

// The category label of a request no tracker service matched, and of an
// unknown cookie.
const (
	noCategory      = "none"
	unknownCategory = "unknown"
)

// Labels of consentproxy_enforcement_failures_total.
const (
	stageRequest  = "request"
	stageResponse = "response"
)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consentproxy_requests_total",
			Help: "Requests decided, by action (allow, strip, block-image, block-empty) and the category of the tracker service that matched (none: no service matched).",
		}, []string{"action", "category"}),
		cookies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consentproxy_cookies_stripped_total",
			Help: "Cookies removed, by direction (request: Cookie pairs, response: Set-Cookie fields) and category (unknown: no rule knew the name).",
		}, []string{"direction", "category"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consentproxy_upstream_errors_total",
			Help: "Upstream failures answered by the proxy (502/504/403), by reason.",
		}, []string{"reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "consentproxy_request_duration_seconds",
			Help: "Time from a request's arrival to its response headers being ready, by action.",
			// 0.5 ms to ~30 s: blocks answer in microseconds, upstreams in
			// milliseconds to seconds.
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 13),
		}, []string{"action"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consentproxy_enforcement_failures_total",
			Help: "Exchanges failed closed (answered 502, never forwarded) because enforcement panicked, by stage.",
		}, []string{"stage"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consentproxy_proxy_auth_failures_total",
			Help: "Requests answered 407 on listeners that ask for proxy credentials, by reason (missing, malformed, unknown-profile, wrong-password).",
		}, []string{"reason"}),
		profileErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "consentproxy_profile_errors_total",
			Help: "Requests answered 400 because they named a consent profile that does not exist.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consentproxy_reloads_total",
			Help: "Configuration reloads, by result (ok, failed).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.requests, m.cookies, m.upstreamErrors, m.latency, m.failures,
		m.authFailures, m.profileErrors, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Children that always exist, so that dashboards see zeros rather than
	// absent series.
	for _, a := range rules.Actions() {
		m.latency.WithLabelValues(a.String())
	}
	m.latency.WithLabelValues(actionFailed)
	m.failures.WithLabelValues(stageRequest)
	m.failures.WithLabelValues(stageResponse)
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("failed")
	return m
}

// actionFailed is the latency label of exchanges that failed closed or
// were refused before a decision.
const actionFailed = "none"

// cacheFuncs registers the decision- and certificate-cache counters, which
// read the caches' own statistics.
func (m *metrics) cacheFuncs(decisions func() (hits, misses uint64), certs func() (hits, misses uint64)) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "consentproxy_decision_cache_hits_total",
			Help: "Rule decisions answered from the decision cache.",
		}, func() float64 { h, _ := decisions(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "consentproxy_decision_cache_misses_total",
			Help: "Rule decisions computed (not in the decision cache).",
		}, func() float64 { _, mi := decisions(); return float64(mi) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "consentproxy_cert_cache_hits_total",
			Help: "Leaf certificates served from the certificate cache.",
		}, func() float64 { h, _ := certs(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "consentproxy_cert_cache_misses_total",
			Help: "Leaf certificates minted (not in the certificate cache).",
		}, func() float64 { _, mi := certs(); return float64(mi) }),
	)
}

// eventsFunc registers the count of events recorded.
func (m *metrics) eventsFunc(total func() uint64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "consentproxy_events_total",
		Help: "Events recorded (blocks, strips, cookies stripped, failures); /api/events keeps the last limits.event_ring_size.",
	}, func() float64 { return float64(total()) }))
}

// cookieCounters are cookies_stripped_total's counters of one category:
// [0] request, [1] response.
type cookieCounters [2]prometheus.Counter

// categoryCounters are the counters of one category.
type categoryCounters struct {
	requests actionCounters
	cookies  cookieCounters
}

// countersFor resolves the per-category children of requests_total and
// cookies_stripped_total for every category of a rule set ("" is a request
// no service matched, or an unknown cookie).
func (m *metrics) countersFor(set *rules.Set) map[rules.Category]*categoryCounters {
	out := make(map[rules.Category]*categoryCounters)
	add := func(cat rules.Category, reqLabel, cookieLabel string) {
		c := &categoryCounters{}
		for _, a := range rules.Actions() {
			c.requests[a] = m.requests.WithLabelValues(a.String(), reqLabel)
		}
		c.cookies[0] = m.cookies.WithLabelValues("request", cookieLabel)
		c.cookies[1] = m.cookies.WithLabelValues("response", cookieLabel)
		out[cat] = c
	}
	add("", noCategory, unknownCategory)
	for _, ci := range set.Categories() {
		add(ci.Name, string(ci.Name), string(ci.Name))
	}
	return out
}

// handler serves the registry in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
