package proxy

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/consentproxy/consentproxy/config"
)

// ReloadReport is what a successful reload did: the body of POST
// /api/reload, and what SIGHUP logs.
type ReloadReport struct {
	// ConfigFile is the config file read ("" when none).
	ConfigFile string `json:"config_file"`
	// RulesFiles are the user rules files compiled over the built-in set.
	RulesFiles []string `json:"rules_files"`
	// Counts sum up the new rule set.
	Counts RuleCounts `json:"counts"`
	// Profiles are the profile names now defined.
	Profiles []string `json:"profiles"`
	// ActiveProfile is the active default profile after the reload;
	// ActiveProfileNote says why it changed, when it did.
	ActiveProfile     string `json:"active_profile"`
	ActiveProfileNote string `json:"active_profile_note,omitempty"`
	// RestartRequired lists changed settings a reload cannot apply: the
	// running values stay until the proxy restarts.
	RestartRequired []RestartSetting `json:"restart_required"`
	// Warnings are configuration warnings (e.g. an unused listener profile).
	Warnings []string `json:"warnings"`
}

// RuleCounts sum up a rule set.
type RuleCounts struct {
	Categories     int `json:"categories"`
	Vendors        int `json:"vendors"`
	Services       int `json:"services"`
	HostPatterns   int `json:"host_patterns"`
	CookiePatterns int `json:"cookie_patterns"`
	Profiles       int `json:"profiles"`
}

// RestartSetting is a setting whose new value needs a restart.
type RestartSetting struct {
	Key        string `json:"key"`
	Running    string `json:"running"`
	Configured string `json:"configured"`
}

// liveSettings are the settings a reload applies: the rules, the profiles,
// which profile is the default, and the listeners' profile and credential
// policies (for connections and requests that arrive after it). Everything
// else (addresses, CA, upstream TLS, limits, logging) is bound at start.
func liveSetting(key string) bool {
	switch key {
	case "rules", "profile", "profiles", "listeners", "proxy_auth", "proxy_password":
		return true
	}
	return false
}

// secretSettings are reported as changed without their values.
func secretSetting(key string) bool { return key == "admin_token" }

// Reload re-reads the configuration (through the ReloadFunc given to New,
// else the running configuration's rules files), builds a complete new
// snapshot and swaps it in. On any error nothing changes: the running
// rules, profiles and listeners keep serving, and the error lists every
// problem as file:line. Requests in flight finish with the snapshot they
// started with.
func (s *Server) Reload() (ReloadReport, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	rep, err := s.reloadLocked()
	if err != nil {
		s.metrics.reloads.WithLabelValues("failed").Inc()
		s.log.Warn("reload failed; the running configuration stays", zap.Error(err))
		return ReloadReport{}, err
	}
	s.metrics.reloads.WithLabelValues("ok").Inc()
	s.log.Info("reloaded", zap.String("config", rep.ConfigFile), zap.Strings("rules", rep.RulesFiles),
		zap.String("active_profile", rep.ActiveProfile), zap.Int("restart_required", len(rep.RestartRequired)))
	return rep, nil
}

func (s *Server) reloadLocked() (ReloadReport, error) {
	old := s.snap.Load()
	cfg := old.cfg
	if s.reload != nil {
		var err error
		if cfg, err = s.reload(); err != nil {
			return ReloadReport{}, fmt.Errorf("reload: configuration:\n%w", err)
		}
	}
	snap, err := buildSnapshot(cfg, s.cfg.Listeners, old, s.metrics)
	if err != nil {
		return ReloadReport{}, fmt.Errorf("reload: rules and profiles:\n%w", err)
	}

	cur := s.active.Load()
	next := &activeChoice{name: cfg.Profile, since: time.Now()}
	note := ""
	switch {
	case cur.byAPI && snap.profile(cur.name) != nil:
		next = cur
	case cur.byAPI:
		note = fmt.Sprintf("profile %q, selected at run time, no longer exists; the active profile is now %q, the configuration's profile", cur.name, cfg.Profile)
	case cur.name != cfg.Profile:
		note = fmt.Sprintf("the configuration's profile changed from %q to %q", cur.name, cfg.Profile)
	default:
		next = cur
	}

	s.metrics.cacheMu.Lock()
	h, m := old.decider.Stats()
	s.metrics.cacheHitsOld += h
	s.metrics.cacheMissOld += m
	s.snap.Store(snap)
	s.metrics.cacheMu.Unlock()
	s.active.Store(next)

	for _, w := range snap.warnings {
		s.log.Warn("configuration", zap.String("warning", w))
	}
	c := snap.set.Counts()
	rep := ReloadReport{
		ConfigFile:        cfg.File,
		RulesFiles:        append([]string{}, cfg.Rules...),
		Counts:            RuleCounts{c.Categories, c.Vendors, c.Services, c.HostPatterns, c.CookiePatterns, c.Profiles},
		Profiles:          snap.set.ProfileNames(),
		ActiveProfile:     next.name,
		ActiveProfileNote: note,
		RestartRequired:   restartRequired(s.cfg, cfg),
		Warnings:          append([]string{}, snap.warnings...),
	}
	return rep, nil
}

// restartRequired lists the settings of next that differ from the running
// configuration and that a reload does not apply.
func restartRequired(running, next config.Config) []RestartSetting {
	out := []RestartSetting{}
	for _, st := range config.Settings() {
		if liveSetting(st.Key) {
			continue
		}
		a, b := st.Value(running), st.Value(next)
		if reflect.DeepEqual(a, b) || isEmptyList(a) && isEmptyList(b) {
			continue
		}
		rs := RestartSetting{Key: st.Key, Running: formatSetting(a), Configured: formatSetting(b)}
		if secretSetting(st.Key) {
			rs.Running, rs.Configured = "(hidden)", "(hidden)"
		}
		out = append(out, rs)
	}
	// Listener addresses are bound at start; their profile and auth are
	// live for the listeners whose address is unchanged.
	n := max(len(running.Listeners), len(next.Listeners))
	for i := range n {
		var a, b string
		if i < len(running.Listeners) {
			a = running.Listeners[i].Listen
		}
		if i < len(next.Listeners) {
			b = next.Listeners[i].Listen
		}
		if a != b {
			out = append(out, RestartSetting{Key: fmt.Sprintf("listeners[%d].listen", i), Running: orNone(a), Configured: orNone(b)})
		}
	}
	return out
}

func isEmptyList(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Slice && rv.Len() == 0
}

func formatSetting(v any) string {
	switch x := v.(type) {
	case []string:
		return strings.Join(x, ",")
	case []int:
		parts := make([]string, len(x))
		for i, n := range x {
			parts[i] = fmt.Sprint(n)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// errProfileUnknown is returned by SetActiveProfile for a name no profile has.
var errProfileUnknown = errors.New("unknown consent profile")

// SetActiveProfile makes name the active default profile, from the next
// request on, on every connection (a keep-alive tunnel opened before
// included). It fails for a name the current rules do not define.
func (s *Server) SetActiveProfile(name string) (previous string, err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	snap := s.snap.Load()
	if snap.profile(name) == nil {
		return "", fmt.Errorf("%w %q; profiles: %s", errProfileUnknown, name, snap.profileNames())
	}
	prev := s.active.Load()
	s.active.Store(&activeChoice{name: name, byAPI: true, since: time.Now()})
	s.log.Info("active profile switched", zap.String("profile", name), zap.String("previous", prev.name))
	return prev.name, nil
}

// ActiveProfile is the name of the active default profile.
func (s *Server) ActiveProfile() string {
	return s.activeProfile(s.snap.Load()).Name
}

// decisionCacheStats are the decision-cache totals since start, across
// reloads.
func (s *Server) decisionCacheStats() (hits, misses uint64) {
	s.metrics.cacheMu.Lock()
	defer s.metrics.cacheMu.Unlock()
	h, m := s.snap.Load().decider.Stats()
	return s.metrics.cacheHitsOld + h, s.metrics.cacheMissOld + m
}
