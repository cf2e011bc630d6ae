package config

import "time"

// Default addresses and names. The listeners bind to loopback: an open proxy
// on a shared network would let anyone use the installation's CA position.
const (
	DefaultListen  = "127.0.0.1:8080"
	DefaultAdmin   = "127.0.0.1:8081"
	DefaultProfile = "reject-all"
	// AdminOff disables the admin listener.
	AdminOff = "off"
)

// Default returns the configuration used when nothing else is said. DataDir
// is left empty: the CLI fills it from the user's home (see DefaultDataDir).
func Default() Config {
	return Config{
		Listen:         DefaultListen,
		Admin:          DefaultAdmin,
		Profile:        DefaultProfile,
		InterceptPorts: []int{443},
		LogLevel:       "info",
		LogFormat:      "console",
		// On: with the built-in profiles, every first-party site the
		// browser visits gets the profile's consent cookies while it holds
		// no choice yet, so its banner stays closed.
		WriteConsent: true,
		Limits: Limits{
			MaxConnections:        4096,
			MaxHeaderBytes:        64 << 10,
			MaxRequestLine:        16 << 10,
			EventRingSize:         2000,
			CertCacheSize:         1024,
			DecisionCacheSize:     65536,
			IdleTimeout:           2 * time.Minute,
			HandshakeTimeout:      10 * time.Second,
			ReadHeaderTimeout:     10 * time.Second,
			DialTimeout:           10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			ShutdownTimeout:       10 * time.Second,
		},
	}
}
