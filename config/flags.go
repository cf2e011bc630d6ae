package config

import (
	"errors"
	"flag"
	"strings"
)

// Flags are the command-line flags of every setting, registered on one
// FlagSet by RegisterFlags. Only flags given on the command line are
// applied, so a flag's default never overrides the file or the environment.
type Flags struct {
	fs     *flag.FlagSet
	config string
	values map[string]*flagValue // by flag name
}

// RegisterFlags registers --config and a flag for every setting of the
// table that has one (see Settings) on fs. List flags are repeatable: the
// first use replaces the list from lower levels, later uses append, and an
// empty value (--passthrough=) adds nothing, which is how to clear a list.
// --intercept-port also takes comma-separated ports.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, values: make(map[string]*flagValue)}
	fs.StringVar(&f.config, ConfigFlag, "", "config file (YAML); also "+ConfigEnv)
	def := Default()
	for _, s := range Settings() {
		if s.Flag == "" {
			continue
		}
		v := &flagValue{setting: s}
		if d := s.get(&def); !isZero(d) {
			v.def = formatValue(d)
		}
		help := s.Help
		if s.Env != "" {
			help += "; also " + s.Env
		}
		f.values[s.Flag] = v
		fs.Var(v, s.Flag, help)
	}
	return f
}

// ConfigPath is the value of --config, and whether it was given (an
// explicit --config= means "no file", even when CONSENTPROXY_CONFIG is set).
func (f *Flags) ConfigPath() (path string, given bool) {
	f.fs.Visit(func(fl *flag.Flag) {
		if fl.Name == ConfigFlag {
			given = true
		}
	})
	return f.config, given
}

// Apply sets in cfg the settings whose flags were given on the command
// line. Values were checked when the flags were parsed (a bad value fails
// fs.Parse with the flag's name and the fix), so the only error is calling
// Apply before fs.Parse.
func (f *Flags) Apply(cfg *Config) error {
	if !f.fs.Parsed() {
		return errors.New("config flags applied before the command line was parsed: call Parse on the FlagSet first")
	}
	cfg.ownOrigins()
	f.fs.Visit(func(fl *flag.Flag) {
		v, ok := f.values[fl.Name]
		if !ok || v.value == nil {
			return
		}
		val := v.value
		switch l := val.(type) {
		case []string:
			if len(l) == 0 {
				val = []string(nil)
			}
		case []int:
			if len(l) == 0 {
				val = []int(nil)
			}
		}
		v.setting.set(cfg, val)
		cfg.replaceOrigin(v.setting.Key, Origin{Flag: "--" + fl.Name})
	})
	return nil
}

// flagValue is the flag.Value of one setting. It parses with the same
// parseScalar as the file and the environment, so a value means the same
// wherever it is written.
type flagValue struct {
	setting Setting
	def     string
	value   any // parsed; nil until Set
}

func (v *flagValue) String() string {
	if v == nil {
		return ""
	}
	if v.value != nil {
		return formatValue(v.value)
	}
	return v.def
}

// IsBoolFlag lets boolean flags be given without a value (--watch).
func (v *flagValue) IsBoolFlag() bool { return v.setting.Kind == KindBool }

func (v *flagValue) Set(text string) error {
	switch k := v.setting.Kind; k {
	case KindStringList:
		list, _ := v.value.([]string)
		if list == nil {
			list = []string{}
		}
		if text != "" {
			list = append(list, text)
		}
		v.value = list
	case KindIntList:
		list, _ := v.value.([]int)
		if list == nil {
			list = []int{}
		}
		for item := range strings.SplitSeq(text, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			n, err := parseScalar(KindInt, item)
			if err != nil {
				return errors.New(item + " is " + err.Error())
			}
			list = append(list, n.(int))
		}
		v.value = list
	default:
		x, err := parseScalar(k, text)
		if err != nil {
			return err
		}
		v.value = x
	}
	return nil
}
