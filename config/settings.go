package config

import "time"

// Kind is the type of a setting's value. It decides how a YAML node, an
// environment variable and a flag are parsed.
type Kind int

// The kinds of settings. Lists given at a higher level (flag over env over
// file over default) replace the lower list; they are never merged.
const (
	KindString Kind = iota + 1
	KindBool
	KindInt
	KindDuration
	KindStringList
	KindIntList
	// KindListeners and KindProfiles are the structured, file-only settings.
	KindListeners
	KindProfiles
)

// String names the kind the way error messages and help texts do.
func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindBool:
		return "boolean"
	case KindInt:
		return "integer"
	case KindDuration:
		return "duration"
	case KindStringList:
		return "list of strings"
	case KindIntList:
		return "list of integers"
	case KindListeners:
		return "list of listeners"
	case KindProfiles:
		return "list of profiles"
	}
	return "unknown kind"
}

// Setting describes one configuration setting. The table returned by
// Settings is the only place a setting is named: the YAML loader, the
// environment, the flags, the docs test of example.yaml and the CLI's help
// all read it, so a new setting cannot be reachable from one source and
// missing from another.
type Setting struct {
	// Key is the YAML path: "listen", "limits.idle_timeout".
	Key string
	// Flag is the flag name without dashes ("data-dir"); "" for file-only
	// settings. List flags are repeatable.
	Flag string
	// Env is the environment variable ("CONSENTPROXY_DATA_DIR"); "" for
	// file-only settings. Lists are comma-separated.
	Env  string
	Kind Kind
	// Path marks settings that name files or directories. In a config file
	// a relative path is taken relative to the file's directory, so that a
	// config works whatever the working directory of the proxy is; from a
	// flag or the environment it is relative to the working directory, as
	// any command-line path is.
	Path bool
	Help string

	// field returns a pointer to the setting's field in c: *string, *bool,
	// *int, *time.Duration, *[]string, *[]int, *[]Listener or *[]Profile.
	field func(c *Config) any
}

// envPrefix starts every environment variable consentproxy reads.
const envPrefix = "CONSENTPROXY_"

// ConfigFlag and ConfigEnv name the config file. They are not settings (a
// config file cannot name another one), so they are not in Settings.
const (
	ConfigFlag = "config"
	ConfigEnv  = envPrefix + "CONFIG"
)

// Settings returns the table of every setting, in the order of example.yaml
// and of the help text. Each call returns a fresh slice.
func Settings() []Setting {
	return []Setting{
		{Key: "listen", Flag: "listen", Env: "CONSENTPROXY_LISTEN", Kind: KindString,
			Help:  "address of the proxy (host:port); a non-loopback host needs allow_remote",
			field: func(c *Config) any { return &c.Listen }},
		{Key: "admin", Flag: "admin", Env: "CONSENTPROXY_ADMIN", Kind: KindString,
			Help:  `address of the admin API (host:port), or "off"`,
			field: func(c *Config) any { return &c.Admin }},
		{Key: "allow_remote", Flag: "allow-remote", Env: "CONSENTPROXY_ALLOW_REMOTE", Kind: KindBool,
			Help:  "allow binding to non-loopback addresses (anyone who can reach the port can use the proxy)",
			field: func(c *Config) any { return &c.AllowRemote }},
		{Key: "admin_token", Flag: "admin-token", Env: "CONSENTPROXY_ADMIN_TOKEN", Kind: KindString,
			Help:  "bearer token required by the admin API (except /healthz, /ca.pem, /ca.der)",
			field: func(c *Config) any { return &c.AdminToken }},
		{Key: "pprof", Flag: "pprof", Env: "CONSENTPROXY_PPROF", Kind: KindBool,
			Help:  "serve net/http/pprof under /debug/pprof/ on the admin listener",
			field: func(c *Config) any { return &c.Pprof }},
		{Key: "profile", Flag: "profile", Env: "CONSENTPROXY_PROFILE", Kind: KindString,
			Help:  "consent profile active at start (reject-all, accept-all, analytics-only or a configured one)",
			field: func(c *Config) any { return &c.Profile }},
		{Key: "rules", Flag: "rules", Env: "CONSENTPROXY_RULES", Kind: KindStringList, Path: true,
			Help:  "rules file merged over the built-in ruleset, in order (repeatable)",
			field: func(c *Config) any { return &c.Rules }},
		{Key: "profiles", Kind: KindProfiles,
			Help:  "user-defined consent profiles (config file only)",
			field: func(c *Config) any { return &c.Profiles }},
		{Key: "write_consent", Flag: "write-consent", Env: "CONSENTPROXY_WRITE_CONSENT", Kind: KindBool,
			Help:  "write the profiles' consent_state cookies on first-party sites that hold no choice yet (false: sites show their banner as to a new visitor; signal checks stay on)",
			field: func(c *Config) any { return &c.WriteConsent }},
		{Key: "listeners", Kind: KindListeners,
			Help:  "extra proxy ports, each with its own profile or proxy authentication (config file only)",
			field: func(c *Config) any { return &c.Listeners }},
		{Key: "proxy_auth", Flag: "proxy-auth", Env: "CONSENTPROXY_PROXY_AUTH", Kind: KindBool,
			Help:  "ask for proxy credentials on the main listener (username = profile name)",
			field: func(c *Config) any { return &c.ProxyAuth }},
		{Key: "proxy_password", Flag: "proxy-password", Env: "CONSENTPROXY_PROXY_PASSWORD", Kind: KindString,
			Help:  "shared password of listeners that ask for credentials (empty: any password)",
			field: func(c *Config) any { return &c.ProxyPassword }},
		{Key: "data_dir", Flag: "data-dir", Env: "CONSENTPROXY_DATA_DIR", Kind: KindString, Path: true,
			Help:  "directory holding the CA (default $XDG_DATA_HOME/consentproxy or ~/.local/share/consentproxy)",
			field: func(c *Config) any { return &c.DataDir }},
		{Key: "ca_cert", Flag: "ca-cert", Env: "CONSENTPROXY_CA_CERT", Kind: KindString, Path: true,
			Help:  "CA certificate PEM file (default ca.pem in the data dir)",
			field: func(c *Config) any { return &c.CACert }},
		{Key: "ca_key", Flag: "ca-key", Env: "CONSENTPROXY_CA_KEY", Kind: KindString, Path: true,
			Help:  "CA private key PEM file (default ca-key.pem in the data dir)",
			field: func(c *Config) any { return &c.CAKey }},
		{Key: "upstream_ca", Flag: "upstream-ca", Env: "CONSENTPROXY_UPSTREAM_CA", Kind: KindStringList, Path: true,
			Help:  "extra PEM file of roots trusted for upstream TLS, besides the system roots (repeatable)",
			field: func(c *Config) any { return &c.UpstreamCA }},
		{Key: "insecure_upstream", Flag: "insecure-upstream", Env: "CONSENTPROXY_INSECURE_UPSTREAM", Kind: KindBool,
			Help:  "do not verify upstream TLS certificates (for test servers only)",
			field: func(c *Config) any { return &c.InsecureUpstream }},
		{Key: "resolve", Flag: "resolve", Env: "CONSENTPROXY_RESOLVE", Kind: KindStringList,
			Help:  "PATTERN=IP[:PORT]: connect to IP for hosts matching PATTERN, like curl --resolve (repeatable)",
			field: func(c *Config) any { return &c.Resolve }},
		{Key: "passthrough", Flag: "passthrough", Env: "CONSENTPROXY_PASSTHROUGH", Kind: KindStringList,
			Help:  "host pattern (host, *.host or *) tunnelled without interception (repeatable)",
			field: func(c *Config) any { return &c.Passthrough }},
		{Key: "intercept_ports", Flag: "intercept-port", Env: "CONSENTPROXY_INTERCEPT_PORTS", Kind: KindIntList,
			Help:  "CONNECT port that is intercepted; others are tunnelled blind (repeatable)",
			field: func(c *Config) any { return &c.InterceptPorts }},
		{Key: "log_level", Flag: "log-level", Env: "CONSENTPROXY_LOG_LEVEL", Kind: KindString,
			Help:  "log level: debug, info, warn or error",
			field: func(c *Config) any { return &c.LogLevel }},
		{Key: "log_format", Flag: "log-format", Env: "CONSENTPROXY_LOG_FORMAT", Kind: KindString,
			Help:  "log format: console or json",
			field: func(c *Config) any { return &c.LogFormat }},
		{Key: "watch", Flag: "watch", Env: "CONSENTPROXY_WATCH", Kind: KindBool,
			Help:  "reload the config and rules files when they change",
			field: func(c *Config) any { return &c.Watch }},

		{Key: "limits.max_connections", Flag: "max-connections", Env: "CONSENTPROXY_MAX_CONNECTIONS", Kind: KindInt,
			Help:  "maximum concurrent client connections per listener",
			field: func(c *Config) any { return &c.Limits.MaxConnections }},
		{Key: "limits.max_header_bytes", Flag: "max-header-bytes", Env: "CONSENTPROXY_MAX_HEADER_BYTES", Kind: KindInt,
			Help:  "maximum size of a request's header block in bytes, request line included (431 beyond it)",
			field: func(c *Config) any { return &c.Limits.MaxHeaderBytes }},
		{Key: "limits.max_request_line", Flag: "max-request-line", Env: "CONSENTPROXY_MAX_REQUEST_LINE", Kind: KindInt,
			Help:  "maximum size of a request line (method, target, version) in bytes (414 beyond it)",
			field: func(c *Config) any { return &c.Limits.MaxRequestLine }},
		{Key: "limits.event_ring_size", Flag: "event-ring-size", Env: "CONSENTPROXY_EVENT_RING_SIZE", Kind: KindInt,
			Help:  "number of events kept for /api/events",
			field: func(c *Config) any { return &c.Limits.EventRingSize }},
		{Key: "limits.cert_cache_size", Flag: "cert-cache-size", Env: "CONSENTPROXY_CERT_CACHE_SIZE", Kind: KindInt,
			Help:  "number of leaf certificates kept",
			field: func(c *Config) any { return &c.Limits.CertCacheSize }},
		{Key: "limits.decision_cache_size", Flag: "decision-cache-size", Env: "CONSENTPROXY_DECISION_CACHE_SIZE", Kind: KindInt,
			Help:  "number of rule decisions kept",
			field: func(c *Config) any { return &c.Limits.DecisionCacheSize }},
		{Key: "limits.idle_timeout", Flag: "idle-timeout", Env: "CONSENTPROXY_IDLE_TIMEOUT", Kind: KindDuration,
			Help:  "close client connections (tunnels included) idle this long",
			field: func(c *Config) any { return &c.Limits.IdleTimeout }},
		{Key: "limits.handshake_timeout", Flag: "handshake-timeout", Env: "CONSENTPROXY_HANDSHAKE_TIMEOUT", Kind: KindDuration,
			Help:  "bound on the client TLS handshake inside a CONNECT",
			field: func(c *Config) any { return &c.Limits.HandshakeTimeout }},
		{Key: "limits.read_header_timeout", Flag: "read-header-timeout", Env: "CONSENTPROXY_READ_HEADER_TIMEOUT", Kind: KindDuration,
			Help:  "bound on the time a client takes to send request headers",
			field: func(c *Config) any { return &c.Limits.ReadHeaderTimeout }},
		{Key: "limits.dial_timeout", Flag: "dial-timeout", Env: "CONSENTPROXY_DIAL_TIMEOUT", Kind: KindDuration,
			Help:  "bound on connecting to an upstream",
			field: func(c *Config) any { return &c.Limits.DialTimeout }},
		{Key: "limits.response_header_timeout", Flag: "response-header-timeout", Env: "CONSENTPROXY_RESPONSE_HEADER_TIMEOUT", Kind: KindDuration,
			Help:  "bound on waiting for an upstream's response headers (504 beyond it)",
			field: func(c *Config) any { return &c.Limits.ResponseHeaderTimeout }},
		{Key: "limits.shutdown_timeout", Flag: "shutdown-timeout", Env: "CONSENTPROXY_SHUTDOWN_TIMEOUT", Kind: KindDuration,
			Help:  "bound on graceful shutdown",
			field: func(c *Config) any { return &c.Limits.ShutdownTimeout }},
	}
}

// set stores a parsed value v (of the Go type matching s.Kind) in c.
func (s Setting) set(c *Config, v any) {
	switch p := s.field(c).(type) {
	case *string:
		*p = v.(string)
	case *bool:
		*p = v.(bool)
	case *int:
		*p = v.(int)
	case *time.Duration:
		*p = v.(time.Duration)
	case *[]string:
		*p = v.([]string)
	case *[]int:
		*p = v.([]int)
	case *[]Listener:
		*p = v.([]Listener)
	case *[]Profile:
		*p = v.([]Profile)
	}
}

// Value returns the current value of s in c: a string, bool, int,
// time.Duration, []string, []int, []Listener or []Profile by Kind. With
// Config.Origin it lets a command print the effective configuration and
// where each value came from.
func (s Setting) Value(c Config) any { return s.get(&c) }

// get returns the current value of s in c.
func (s Setting) get(c *Config) any {
	switch p := s.field(c).(type) {
	case *string:
		return *p
	case *bool:
		return *p
	case *int:
		return *p
	case *time.Duration:
		return *p
	case *[]string:
		return *p
	case *[]int:
		return *p
	case *[]Listener:
		return *p
	case *[]Profile:
		return *p
	}
	return nil
}
