package proxy

import (
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/rules"
)

// A snapshot is everything enforcement reads that a reload may change:
// the compiled rules, the decision cache that belongs to them, the
// profiles, the listeners' policies and the configuration they came from.
// It is never changed once built. Each request loads the current snapshot
// once and uses it to the end, so a reload (which builds a complete new
// snapshot and swaps the pointer) never mixes old rules with new profiles,
// and a decision cached under old rules can never answer for new ones: the
// cache dies with its snapshot.
//
// The active default profile is deliberately not part of it: PUT
// /api/profile switches it without a rebuild, and requests look it up by
// name in their snapshot (see activeProfile).
type snapshot struct {
	cfg      config.Config
	set      *rules.Set
	decider  *rules.Decider
	defaultP *rules.Profile // cfg.Profile
	// listeners are the policies of the running listeners: [0] is the main
	// one, [i+1] the running cfg.Listeners[i].
	listeners []listenerPolicy
	password  string
	built     time.Time
	// counters are the per-category metrics, resolved once per snapshot so
	// that a request costs a map probe, not a label hash.
	counters map[rules.Category]*categoryCounters
	warnings []string
	// consent is the profiles' consent state (consentstate.go).
	consent *snapshotConsent
	// origins and lists memoise the text of rule origins and the cookie
	// lists of events (memos, not state: they only ever hold what would
	// be computed anyway).
	origins originTexts
	lists   cookieLists
}

// originTexts is a bounded, lock-free-to-read memo of rules.Origin.String:
// every event names the rules behind it, and formatting "file:line" anew
// for each cookie of each event was a third of enforcement's allocations.
// Reads load an immutable map; a miss (once per origin, and there are only
// as many as rules) copies it with the new entry.
type originTexts struct {
	m  atomic.Pointer[map[rules.Origin]string]
	mu sync.Mutex // serialises the copies on a miss
}

// maxOriginTexts bounds the memo: a ruleset with more origins than this
// (a big Open Cookie Database import) formats the rest on each use.
const maxOriginTexts = 4096

// originText is o.String(), memoised. A nil snapshot formats directly.
func (snap *snapshot) originText(o rules.Origin) string {
	if snap == nil {
		return o.String()
	}
	t := &snap.origins
	m := t.m.Load()
	if m != nil {
		if s, ok := (*m)[o]; ok {
			return s
		}
	}
	s := o.String()
	t.mu.Lock()
	defer t.mu.Unlock()
	m = t.m.Load()
	if m == nil || len(*m) < maxOriginTexts {
		n := make(map[rules.Origin]string, mapLen(m)+1)
		if m != nil {
			for k, v := range *m {
				n[k] = v
			}
		}
		n[o] = s
		t.m.Store(&n)
	}
	return s
}

func mapLen(m *map[rules.Origin]string) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// listenerPolicy is what a listener asks of its clients.
type listenerPolicy struct {
	// profile fixes the profile of the listener's connections ("" = none).
	profile string
	// auth asks for proxy credentials (407 without them).
	auth bool
}

// ProfileSource says how a request's consent profile was chosen, in the
// order SPEC §4 gives them precedence.
type ProfileSource uint8

// Profile sources, weakest first.
const (
	// SourceDefault: the active default profile (config `profile`, or the
	// one PUT /api/profile selected).
	SourceDefault ProfileSource = iota
	// SourceListener: the `profile` of the listener the client connected to.
	SourceListener
	// SourceCredentials: the username of the proxy credentials.
	SourceCredentials
	// SourceHeader: an X-Consent-Profile header (on the request, or on the
	// CONNECT of its tunnel).
	SourceHeader
)

func (s ProfileSource) String() string {
	switch s {
	case SourceListener:
		return "listener"
	case SourceCredentials:
		return "credentials"
	case SourceHeader:
		return "header"
	}
	return "default"
}

// BuildRules compiles the rule set a configuration asks for: the built-in
// layer, then cfg.Rules in order, then the config file's profiles (the
// strongest layer). Every problem is reported, each as "file:line: ...".
func BuildRules(cfg config.Config) (*rules.Set, error) {
	builtin, err := rules.Builtin()
	if err != nil {
		return nil, fmt.Errorf("the built-in rules: %w", err)
	}
	layers := []*rules.File{builtin}
	var errs []error
	for i, path := range cfg.Rules {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot read rules file: %w", at(cfg, fmt.Sprintf("rules[%d]", i)), err))
			continue
		}
		f, err := rules.Parse(path, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		layers = append(layers, f)
	}
	if len(errs) > 0 {
		// A file that does not parse may define what the others refer to;
		// compiling without it would only add follow-up errors.
		return nil, errors.Join(errs...)
	}
	if pl := ProfilesLayer(cfg); pl != nil {
		layers = append(layers, pl)
	}
	return CompileRules(layers...)
}

// CompileRules compiles rules layers as the running proxy does:
// rules.Compile, then, when the profiles' consent_state writes cookie
// names the rules do not keep as essential, once more with a last layer
// that does (consentCookieLayer: the consent cookies the profiles write
// must survive cookie filtering). BuildRules and the CLI's rules and
// consent commands share it, so that `rules explain` answers what `run`
// does.
func CompileRules(layers ...*rules.File) (*rules.Set, error) {
	set, err := rules.Compile(layers...)
	if err != nil {
		return nil, err
	}
	if cl := consentCookieLayer(set); cl != nil {
		return rules.Compile(append(slices.Clip(layers), cl)...)
	}
	return set, nil
}

// at names where the value at key came from, for messages:
// "config.yaml:12: profile", "--profile", "CONSENTPROXY_PROFILE" or the
// bare key for a default.
func at(cfg config.Config, key string) string {
	o := cfg.Origin(key)
	switch {
	case o.Flag != "" || o.Env != "":
		return o.String()
	case o.File != "":
		return o.String() + ": " + key
	}
	return key
}

// buildSnapshot compiles cfg into a snapshot. running lists the listeners
// actually serving (their addresses are fixed until a restart): cfg's
// listener at the same index and address gives its policy; a listener
// whose entry changed keeps the policy of prev (nil at start).
func buildSnapshot(cfg config.Config, running []config.Listener, prev *snapshot, m *metrics) (*snapshot, error) {
	set, err := BuildRules(cfg)
	if err != nil {
		return nil, err
	}
	snap := &snapshot{
		cfg:      cfg,
		set:      set,
		decider:  rules.NewDecider(set, cfg.Limits.DecisionCacheSize),
		password: cfg.ProxyPassword,
		built:    time.Now(),
		consent:  newSnapshotConsent(set, cfg.WriteConsent),
	}
	snap.lists.seed = maphash.MakeSeed()
	known := strings.Join(set.ProfileNames(), ", ")
	var errs []error
	p, ok := set.Profile(cfg.Profile)
	if !ok {
		errs = append(errs, fmt.Errorf("%s: no consent profile named %q; profiles: %s", at(cfg, "profile"), cfg.Profile, known))
	}
	snap.defaultP = p
	snap.listeners = make([]listenerPolicy, len(running)+1)
	snap.listeners[0] = listenerPolicy{auth: cfg.ProxyAuth}
	for i, l := range cfg.Listeners {
		key := fmt.Sprintf("listeners[%d]", i)
		if l.Profile != "" {
			if _, ok := set.Profile(l.Profile); !ok {
				errs = append(errs, fmt.Errorf("%s: no consent profile named %q; profiles: %s", at(cfg, key+".profile"), l.Profile, known))
			}
			if l.Auth {
				snap.warnings = append(snap.warnings, fmt.Sprintf("%s: profile %q is never used: auth: true makes the proxy username choose the profile", at(cfg, key), l.Profile))
			}
		}
	}
	for i, l := range running {
		switch {
		case i < len(cfg.Listeners) && cfg.Listeners[i].Listen == l.Listen:
			nl := cfg.Listeners[i]
			snap.listeners[i+1] = listenerPolicy{profile: nl.Profile, auth: nl.Auth}
		case prev != nil:
			// Its entry changed or went away: the listener keeps serving
			// as before until a restart (the reload says so).
			old := prev.listeners[i+1]
			snap.listeners[i+1] = old
			if old.profile != "" {
				if _, ok := set.Profile(old.profile); !ok {
					errs = append(errs, fmt.Errorf("listener %s (running until a restart) uses profile %q, which the new configuration no longer defines; keep the profile or restart", l.Listen, old.profile))
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if m != nil {
		snap.counters = m.countersFor(set)
	}
	return snap, nil
}

// profile returns the profile named name, or nil.
func (s *snapshot) profile(name string) *rules.Profile {
	p, _ := s.set.Profile(name)
	return p
}

// profileNames lists the profiles (sorted) for error messages.
func (s *snapshot) profileNames() string {
	return strings.Join(s.set.ProfileNames(), ", ")
}
