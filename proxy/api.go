package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/consentproxy/consentproxy/proxy/admin"
	"github.com/consentproxy/consentproxy/proxy/events"
	"github.com/consentproxy/consentproxy/rules"
)

// The admin API's consent endpoints (SPEC §5). The Router guards them all
// (no cross-origin browser requests, no DNS rebinding, JSON bodies on
// writes, the optional token); see proxy/admin.

// defaultEventLimit is how many events GET /api/events returns without
// ?limit=.
const defaultEventLimit = 100

// maxAPIBody bounds a write's JSON body.
const maxAPIBody = 64 << 10

func (s *Server) registerAPI(r *admin.Router) {
	r.Handle("GET /api/profiles", http.HandlerFunc(s.apiProfiles))
	r.Handle("GET /api/profiles/{name}", http.HandlerFunc(s.apiProfileByName))
	r.Handle("GET /api/profile", http.HandlerFunc(s.apiActiveProfile))
	r.Handle("PUT /api/profile", http.HandlerFunc(s.apiSetProfile))
	r.Handle("GET /api/events", http.HandlerFunc(s.apiEvents))
	r.Handle("POST /api/reload", http.HandlerFunc(s.apiReload))
	r.Handle("GET /metrics", s.metrics.handler())
}

// ProfileJSON is a profile as the admin API shows it.
type ProfileJSON struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Allow lists the allowed categories, essential included.
	Allow []string `json:"allow"`
	// Vendors are the per-vendor overrides: id → allow | deny.
	Vendors        map[string]string `json:"vendors"`
	UnknownCookies string            `json:"unknown_cookies"`
	OnDenied       string            `json:"on_denied"`
	GPC            bool              `json:"gpc"`
	DNT            bool              `json:"dnt"`
	// Origin is where the profile is defined (file:line).
	Origin string `json:"origin"`
	// VendorOrigins gives each override's file:line, when known.
	VendorOrigins map[string]string `json:"vendor_origins,omitempty"`
	// Active marks the active default profile.
	Active bool `json:"active"`
}

func profileJSON(p *rules.Profile, active bool) ProfileJSON {
	spec := p.Spec()
	out := ProfileJSON{
		Name:           p.Name,
		Description:    p.Description,
		Allow:          []string{},
		Vendors:        p.VendorOverrides(),
		UnknownCookies: p.UnknownCookies.String(),
		OnDenied:       p.OnDenied.String(),
		GPC:            p.GPC,
		DNT:            p.DNT,
		Origin:         p.Origin.String(),
		Active:         active,
	}
	for _, c := range p.AllowedCategories() {
		out.Allow = append(out.Allow, string(c))
	}
	if len(spec.VendorOrigins) > 0 {
		out.VendorOrigins = make(map[string]string, len(spec.VendorOrigins))
		for id, o := range spec.VendorOrigins {
			out.VendorOrigins[id] = o.String()
		}
	}
	return out
}

// activeSource is how the active default was chosen: "config" or "api".
func activeSource(a *activeChoice) string {
	if a.byAPI {
		return "api"
	}
	return "config"
}

func (s *Server) apiProfiles(w http.ResponseWriter, _ *http.Request) {
	snap := s.snap.Load()
	active := s.activeProfile(snap)
	out := struct {
		Active       string        `json:"active"`
		ActiveSource string        `json:"active_source"`
		Profiles     []ProfileJSON `json:"profiles"`
	}{Active: active.Name, ActiveSource: activeSource(s.active.Load()), Profiles: []ProfileJSON{}}
	for _, p := range snap.set.Profiles() {
		out.Profiles = append(out.Profiles, profileJSON(p, p == active))
	}
	admin.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) apiProfileByName(w http.ResponseWriter, r *http.Request) {
	snap := s.snap.Load()
	name := r.PathValue("name")
	p := snap.profile(name)
	if p == nil {
		admin.WriteError(w, http.StatusNotFound, fmt.Sprintf("unknown consent profile %q; profiles: %s", name, snap.profileNames()))
		return
	}
	admin.WriteJSON(w, http.StatusOK, profileJSON(p, p == s.activeProfile(snap)))
}

// activeJSON is the body of GET and PUT /api/profile.
type activeJSON struct {
	Name string `json:"name"`
	// SelectedBy is "config" (the configuration's profile) or "api" (PUT
	// /api/profile).
	SelectedBy string    `json:"selected_by"`
	Since      time.Time `json:"since"`
	// Previous is the profile active before a PUT.
	Previous string      `json:"previous,omitempty"`
	Profile  ProfileJSON `json:"profile"`
}

func (s *Server) activeJSON() activeJSON {
	snap := s.snap.Load()
	a := s.active.Load()
	p := s.activeProfile(snap)
	return activeJSON{Name: p.Name, SelectedBy: activeSource(a), Since: a.since.UTC(), Profile: profileJSON(p, true)}
}

func (s *Server) apiActiveProfile(w http.ResponseWriter, _ *http.Request) {
	admin.WriteJSON(w, http.StatusOK, s.activeJSON())
}

func (s *Server) apiSetProfile(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name *string `json:"name"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		admin.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if body.Name == nil || *body.Name == "" {
		admin.WriteError(w, http.StatusBadRequest, `missing "name": send {"name": "<profile>"}`)
		return
	}
	prev, err := s.SetActiveProfile(*body.Name)
	if errors.Is(err, errProfileUnknown) {
		admin.WriteError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		admin.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := s.activeJSON()
	out.Previous = prev
	admin.WriteJSON(w, http.StatusOK, out)
}

// decodeJSON reads one JSON object, strictly: unknown fields, trailing
// data and oversized bodies are errors, so a typo is reported rather than
// ignored.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty body: send a JSON object")
		}
		return fmt.Errorf("bad JSON body: %w", err)
	}
	if dec.More() {
		return errors.New("bad JSON body: more than one JSON value")
	}
	return nil
}

// EventsJSON is the body of GET /api/events.
type EventsJSON struct {
	// Events match the filters, newest first, at most limit of them.
	Events []events.Event `json:"events"`
	Count  int            `json:"count"`
	// Total is the number of events recorded since start; RingSize how
	// many the ring keeps.
	Total    uint64 `json:"total"`
	RingSize int    `json:"ring_size"`
}

// eventParams are the query parameters of GET /api/events.
func eventParams() []string { return []string{"limit", "host", "action", "category", "profile"} }

func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if !contains(eventParams(), k) {
			admin.WriteError(w, http.StatusBadRequest, fmt.Sprintf("unknown parameter %q; use %s", k, strings.Join(eventParams(), ", ")))
			return
		}
	}
	limit := defaultEventLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			admin.WriteError(w, http.StatusBadRequest, fmt.Sprintf("limit %q must be a positive integer (at most %d, limits.event_ring_size)", v, s.ring.Size()))
			return
		}
		limit = min(n, s.ring.Size())
	}
	f := events.Filter{
		Host:     strings.TrimSuffix(strings.ToLower(q.Get("host")), "."),
		Category: q.Get("category"),
		Profile:  q.Get("profile"),
	}
	if v := q.Get("action"); v != "" {
		a, ok := events.ParseAction(v)
		if !ok {
			names := make([]string, 0, len(events.Actions()))
			for _, a := range events.Actions() {
				names = append(names, string(a))
			}
			admin.WriteError(w, http.StatusBadRequest, fmt.Sprintf("unknown action %q; use one of %s", v, strings.Join(names, ", ")))
			return
		}
		f.Action = a
	}
	list := s.ring.List(f, limit)
	admin.WriteJSON(w, http.StatusOK, EventsJSON{Events: list, Count: len(list), Total: s.ring.Total(), RingSize: s.ring.Size()})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// reloadErrorJSON is the body of a failed reload: the whole message, and
// each problem on its own.
type reloadErrorJSON struct {
	Error  string   `json:"error"`
	Errors []string `json:"errors"`
}

func (s *Server) apiReload(w http.ResponseWriter, r *http.Request) {
	// The body is optional ({} or nothing) but must be JSON when present:
	// the Router already refused other content types.
	var body struct{}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &body); err != nil && !strings.HasPrefix(err.Error(), "empty body") {
			admin.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	rep, err := s.Reload()
	if err != nil {
		out := reloadErrorJSON{Error: err.Error()}
		for _, line := range strings.Split(err.Error(), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasSuffix(line, ":") {
				out.Errors = append(out.Errors, line)
			}
		}
		admin.WriteJSON(w, http.StatusBadRequest, out)
		return
	}
	admin.WriteJSON(w, http.StatusOK, rep)
}
