// Package config is consentproxy's configuration: the Config struct, its
// defaults, strict loading from a YAML file, overrides from CONSENTPROXY_*
// environment variables and command-line flags (flag > env > file >
// default), and validation.
//
// It is pure data: it imports no other package of this module, so that the
// CLI, the proxy and the tests can all read the same struct.
package config

import "time"

// Config is everything `consentproxy run` can be told. YAML keys are the
// snake_case field tags below; flags are the same names with dashes
// (`--data-dir`); environment variables are CONSENTPROXY_ plus the upper-case
// name (CONSENTPROXY_DATA_DIR).
type Config struct {
	// Listen is the proxy's own address. A non-loopback host needs AllowRemote.
	Listen string `yaml:"listen"`
	// Admin is the admin API address, or "off".
	Admin string `yaml:"admin"`
	// AllowRemote permits non-loopback binds (an open proxy is a security hole).
	AllowRemote bool `yaml:"allow_remote"`
	// AdminToken, when set, is required as "Authorization: Bearer <token>"
	// on every admin API request except /healthz, /ca.pem and /ca.der.
	AdminToken string `yaml:"admin_token"`
	// Pprof serves net/http/pprof under /debug/pprof/ on the admin listener.
	Pprof bool `yaml:"pprof"`

	// Profile is the active default consent profile at start.
	Profile string `yaml:"profile"`
	// Rules are user rules files merged over the built-in ruleset, in order.
	Rules []string `yaml:"rules"`
	// Profiles are user-defined profiles; a name equal to a built-in one
	// replaces it.
	Profiles []Profile `yaml:"profiles"`
	// Listeners are extra proxy ports, each with its own profile and
	// optionally asking for proxy credentials.
	Listeners []Listener `yaml:"listeners"`
	// ProxyAuth makes the main listener ask for proxy credentials
	// (username = profile name).
	ProxyAuth bool `yaml:"proxy_auth"`
	// ProxyPassword is the optional shared password of listeners that ask for
	// credentials. Empty: any password is accepted, only the username counts.
	ProxyPassword string `yaml:"proxy_password"`

	// DataDir holds the CA (created on first run).
	DataDir string `yaml:"data_dir"`
	// CACert and CAKey default to ca.pem and ca-key.pem in DataDir.
	CACert string `yaml:"ca_cert"`
	CAKey  string `yaml:"ca_key"`

	// UpstreamCA are extra PEM files trusted for upstream TLS, besides the
	// system roots.
	UpstreamCA []string `yaml:"upstream_ca"`
	// InsecureUpstream disables upstream certificate verification (loudly logged).
	InsecureUpstream bool `yaml:"insecure_upstream"`
	// Resolve maps host patterns to addresses, like curl --resolve:
	// "PATTERN=IP[:PORT]" where PATTERN is a host, "*.example.com" or "*".
	// SNI and Host are unchanged.
	Resolve []string `yaml:"resolve"`
	// Passthrough host patterns are tunnelled without interception.
	Passthrough []string `yaml:"passthrough"`
	// InterceptPorts are the CONNECT ports that are intercepted (MITM);
	// CONNECTs to other ports are tunnelled blind.
	InterceptPorts []int `yaml:"intercept_ports"`

	// LogLevel is debug, info, warn or error; LogFormat is console or json.
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`

	// Watch reloads config and rules files when they change.
	Watch bool `yaml:"watch"`

	Limits Limits `yaml:"limits"`

	// File is the path the config was loaded from ("" when none). Not a key.
	File string `yaml:"-"`

	// origins records where values came from (file:line, flag or
	// environment variable), by key path; see Origin. It is bookkeeping for
	// error messages, not configuration, hence unexported.
	origins map[string]Origin
}

// Listener is an extra proxy port.
type Listener struct {
	Listen string `yaml:"listen"`
	// Profile used for requests on this port ("" = the active default).
	Profile string `yaml:"profile"`
	// Auth asks for proxy credentials (407); the username selects the profile.
	Auth bool `yaml:"auth"`
	// Line is where the entry starts in the config file (0 when not from a file).
	Line int `yaml:"-"`
}

// Profile is a consent profile as written in the config file. It mirrors the
// profile format of rules files; the rules package validates and compiles it.
type Profile struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Allow lists the allowed categories (essential is always allowed).
	Allow []string `yaml:"allow"`
	// Vendors overrides categories per vendor id: "allow" or "deny".
	Vendors map[string]string `yaml:"vendors"`
	// UnknownCookies is "allow" (default) or "strip".
	UnknownCookies string `yaml:"unknown_cookies"`
	// OnDenied is "block" (default) or "strip".
	OnDenied string `yaml:"on_denied"`
	// GPC and DNT add Sec-GPC: 1 / DNT: 1 to forwarded requests.
	GPC bool `yaml:"gpc"`
	DNT bool `yaml:"dnt"`
	// ConsentState says which consent-platform cookies the proxy writes so
	// that sites see the profile's choice; nil when the profile has none.
	ConsentState *ConsentState `yaml:"consent_state"`
	// Line is where the entry starts in the config file (0 when not from a file).
	Line int `yaml:"-"`
}

// ConsentState is a profile's consent_state. It mirrors the consent_state
// of rules files; the rules package validates it again and rules/consent
// documents the defaults of its zero values.
type ConsentState struct {
	ConsentSettings `yaml:",inline"`
	// Enforce replaces a different choice already stored in the browser.
	Enforce bool `yaml:"enforce"`
	// Sites override the settings per registrable domain, in file order.
	Sites []ConsentSite `yaml:"sites"`
	// Line is where consent_state starts in the config file.
	Line int `yaml:"-"`
}

// ConsentSite overrides a profile's consent settings on one site.
type ConsentSite struct {
	// Site is a registrable domain (shop.example).
	Site            string `yaml:"-"`
	ConsentSettings `yaml:",inline"`
	Line            int `yaml:"-"`
}

// ConsentSettings are what a profile writes and a site may override. Zero
// values mean the default (profile) or the profile's value (site).
type ConsentSettings struct {
	// Formats: onetrust, cookiebot, tcf, gpp. For a site, nil keeps the
	// profile's list and an empty list writes nothing there.
	Formats   []string       `yaml:"formats"`
	OneTrust  OneTrustState  `yaml:"onetrust"`
	Cookiebot CookiebotState `yaml:"cookiebot"`
	TCF       TCFState       `yaml:"tcf"`
	GPP       GPPState       `yaml:"gpp"`
}

// OneTrustState configures OptanonConsent.
type OneTrustState struct {
	// Groups maps a category to a OneTrust group id (analytics: C0002).
	Groups  map[string]string `yaml:"groups"`
	Version string            `yaml:"version"`
}

// CookiebotState configures CookieConsent.
type CookiebotState struct {
	Region string `yaml:"region"`
}

// TCFState configures the IAB TCF v2.2 TC string.
type TCFState struct {
	Cookie            string `yaml:"cookie"`
	CmpID             int    `yaml:"cmp_id"`
	CmpVersion        int    `yaml:"cmp_version"`
	ConsentScreen     int    `yaml:"consent_screen"`
	ConsentLanguage   string `yaml:"consent_language"`
	PublisherCC       string `yaml:"publisher_cc"`
	VendorListVersion int    `yaml:"vendor_list_version"`
	PolicyVersion     int    `yaml:"policy_version"`
}

// GPPState configures the IAB GPP cookies.
type GPPState struct {
	Cookie    string `yaml:"cookie"`
	SIDCookie string `yaml:"sid_cookie"`
}

// Limits bound every resource the proxy holds.
type Limits struct {
	// MaxConnections caps concurrent client connections per listener.
	MaxConnections int `yaml:"max_connections"`
	// MaxHeaderBytes caps a request's header block (431 beyond it).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// EventRingSize is how many events /api/events can return.
	EventRingSize int `yaml:"event_ring_size"`
	// CertCacheSize is how many leaf certificates are kept.
	CertCacheSize int `yaml:"cert_cache_size"`
	// DecisionCacheSize is how many rule decisions are kept.
	DecisionCacheSize int `yaml:"decision_cache_size"`
	// IdleTimeout closes client connections (tunnels included) idle this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// HandshakeTimeout bounds the client TLS handshake inside a CONNECT.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// DialTimeout bounds connecting to an upstream.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ResponseHeaderTimeout bounds waiting for an upstream's response headers (504 beyond it).
	ResponseHeaderTimeout time.Duration `yaml:"response_header_timeout"`
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}
