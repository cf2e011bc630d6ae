package main

import (
	"flag"
	"fmt"

	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/proxy"
	"github.com/consentproxy/consentproxy/rules"
)

// configRuleSources are the rules `rules explain` and `consent encode`
// compile: with a config file (--config, else CONSENTPROXY_CONFIG), its
// rules files and then its profiles, exactly as `run` layers them, with the
// --rules files of the command line between the two; without one, the
// --rules files alone. fileProfile is the file's `profile` ("" without a
// file), the default for --profile.
//
// Only the file is read, not the other CONSENTPROXY_* variables: these
// commands have flags of their own named like run's (--rules, --profile),
// and mixing the two precedences would make their answer hard to predict.
func configRuleSources(e env, fs *flag.FlagSet, cmd, configFlag string, files []string) (src ruleSources, fileProfile string, err error) {
	path := configFlag
	if !flagGiven(fs, config.ConfigFlag) {
		path = lookupEnv(e.environ, config.ConfigEnv)
	}
	if path == "" {
		return ruleSources{Files: files}, "", nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return ruleSources{}, "", &exitError{code: 2, err: fmt.Errorf("%s: config file:\n%w", cmd, err)}
	}
	src.Files = append(append(src.Files, cfg.Rules...), files...)
	if layer := proxy.ProfilesLayer(cfg); layer != nil {
		src.Extra = []*rules.File{layer}
	}
	return src, cfg.Profile, nil
}

// flagGiven reports whether the flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			given = true
		}
	})
	return given
}
