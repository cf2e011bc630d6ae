package config

import (
	"maps"
	"strconv"
	"strings"
)

// Origin says where a value came from. The zero Origin is the default.
type Origin struct {
	// File and Line: the value was written in a config file.
	File string
	Line int
	// Flag ("--listen") or Env ("CONSENTPROXY_LISTEN"): the value was given
	// on the command line or in the environment.
	Flag string
	Env  string
}

// String is "config.yaml:12", "--listen", "CONSENTPROXY_LISTEN" or "" for
// a default.
func (o Origin) String() string {
	switch {
	case o.Flag != "":
		return o.Flag
	case o.Env != "":
		return o.Env
	case o.File != "":
		return o.File + ":" + strconv.Itoa(o.Line)
	}
	return ""
}

// Origin returns where the value at key came from. Keys are YAML paths with
// list indexes: "listen", "limits.idle_timeout", "rules[1]",
// "listeners[0].listen", "profiles[2].vendors.criteo". A key without a
// record of its own inherits its parent's ("rules[1]" set by --rules is
// "--rules"), so the answer is the most precise one known.
func (c Config) Origin(key string) Origin {
	for {
		if o, ok := c.origins[key]; ok {
			return o
		}
		i := strings.LastIndexAny(key, ".[")
		if i <= 0 {
			return Origin{}
		}
		key = key[:i]
	}
}

// at is the prefix of a message about the value at key:
// "config.yaml:12: listen", "--listen", "CONSENTPROXY_LISTEN" or "listen".
// Flags and variables are named alone because they are what the user typed.
func (c Config) at(key string) string {
	o := c.Origin(key)
	switch {
	case o.Flag != "" || o.Env != "":
		return o.String()
	case o.File != "":
		return o.String() + ": " + key
	}
	return key
}

// ownOrigins gives c a private copy of its origins before it records new
// ones, because copies of a Config share the map and a copy made before
// ApplyEnv or Apply must keep citing what it was built from.
func (c *Config) ownOrigins() {
	c.origins = maps.Clone(c.origins)
	if c.origins == nil {
		c.origins = make(map[string]Origin)
	}
}

// replaceOrigin records that key was set as a whole from o, forgetting the
// origins of its elements: a list given by a flag replaces the file's list,
// so "rules[0]" must no longer cite the file's line.
func (c *Config) replaceOrigin(key string, o Origin) {
	for k := range c.origins {
		if strings.HasPrefix(k, key+".") || strings.HasPrefix(k, key+"[") {
			delete(c.origins, k)
		}
	}
	c.origins[key] = o
}
