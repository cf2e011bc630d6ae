package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/rules"
)

const rulesUsage = `usage: consentproxy rules <subcommand> [flags]

subcommands:
  check [FILE...]        validate rules files over the built-in set (no FILE: the built-in set)
  explain [flags] URL    show the decision for a URL and the rule that made it
  import-ocd [-o OUT] FILE.csv
                         convert an Open Cookie Database CSV into a rules file

Run 'consentproxy rules <subcommand> -h' for its flags.
`

// runRules is `consentproxy rules`.
func runRules(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		io.WriteString(e.stderr, rulesUsage)
		return usageError("rules: no subcommand given (check, explain or import-ocd)")
	}
	switch args[0] {
	case "-h", "--help", "help":
		io.WriteString(e.stdout, rulesUsage)
		return nil
	case "check":
		return runRulesCheck(ctx, e, args[1:])
	case "explain":
		return runRulesExplain(ctx, e, args[1:])
	case "import-ocd":
		return runRulesImportOCD(ctx, e, args[1:])
	}
	return usageError("rules: unknown subcommand %q (check, explain or import-ocd)", args[0])
}

// ruleSources is what a rule set is compiled from: the embedded built-in
// layer, then Files in order, then Extra layers. Extra is the seam for the
// config file: its profiles become one more layer (rules.File{Name: path,
// Profiles: ...}), the last and so the strongest.
type ruleSources struct {
	Files []string
	Extra []*rules.File
}

// compileRules parses and compiles the sources. errs lists every problem
// found, one "file:line: message" each; the Set is nil when there are any.
func compileRules(src ruleSources) (*rules.Set, []error) {
	var errs []error
	builtin, err := rules.Builtin()
	if err != nil {
		return nil, flatten(fmt.Errorf("the built-in rules: %w", err))
	}
	layers := []*rules.File{builtin}
	for _, path := range src.Files {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("read rules file: %w", err))
			continue
		}
		f, err := rules.Parse(path, data)
		if err != nil {
			errs = append(errs, flatten(err)...)
			continue
		}
		layers = append(layers, f)
	}
	if len(errs) > 0 {
		// A file that does not parse may define what the others refer to;
		// compiling without it would only add confusing follow-up errors.
		return nil, errs
	}
	layers = append(layers, src.Extra...)
	set, err := rules.Compile(layers...)
	if err != nil {
		return nil, flatten(err)
	}
	return set, nil
}

// flatten unwraps errors.Join trees into their leaves.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments (`rules explain URL --json`), which the flag package
// alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// flagError turns a flag parse error into the command's result: -h is a
// success (the usage is already printed), anything else a usage error.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return usageError("%v", err)
}

func runRulesCheck(_ context.Context, e env, args []string) error {
	fs := newFlagSet(e, "rules check", "usage: consentproxy rules check [FILE...]\n\nValidates rules files layered over the built-in set, in order, and lists every problem.\nWithout FILE it checks the built-in set alone. Exit status 1 when anything is wrong.")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	set, errs := compileRules(ruleSources{Files: files})
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(e.stderr, err)
		}
		noun := "problems"
		if len(errs) == 1 {
			noun = "problem"
		}
		fmt.Fprintf(e.stderr, "rules check: %d %s\n", len(errs), noun)
		return &exitError{code: 1, err: errSilent}
	}
	c := set.Counts()
	what := "the built-in rules"
	if len(files) > 0 {
		what = fmt.Sprintf("%s (over the built-in rules)", strings.Join(files, ", "))
	}
	fmt.Fprintf(e.stdout, "ok: %s: %d categories, %d vendors, %d services, %d host patterns, %d cookie patterns, %d profiles\n",
		what, c.Categories, c.Vendors, c.Services, c.HostPatterns, c.CookiePatterns, c.Profiles)
	return nil
}

func runRulesExplain(_ context.Context, e env, args []string) error {
	fs := newFlagSet(e, "rules explain", "usage: consentproxy rules explain [flags] URL\n\nShows what consentproxy does with a request to URL under a profile, the rule that decided,\nand the verdict for each --cookie. The query string never matters and is not shown.")
	profile := fs.String("profile", config.DefaultProfile, "consent `profile` to judge with (default: the config file's profile, else "+config.DefaultProfile+")")
	configFile := fs.String(config.ConfigFlag, "", "config `FILE` whose rules files and profiles to use, as run does (default $"+config.ConfigEnv+")")
	var cookies, files stringList
	fs.Var(&cookies, "cookie", "cookie `NAME` to judge (repeatable)")
	fs.Var(&files, "rules", "rules `FILE` layered over the built-in set (repeatable, in order)")
	destFlag := fs.String("dest", "", "fetch destination, as Sec-Fetch-Dest: image, script, document, iframe, empty, ... (default unknown)")
	siteFlag := fs.String("site", "", "`URL` or host of the page making the request: same site → first-party, else third-party")
	asJSON := fs.Bool("json", false, "print the explanation as JSON (schema 1, see rules.Explanation)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError("rules explain: want exactly one URL, got %d arguments", len(pos))
	}
	host, path, err := parseTarget(pos[0])
	if err != nil {
		return usageError("rules explain: %v", err)
	}
	r := rules.Request{Host: host, Path: path}
	if *destFlag != "" {
		d, ok := rules.LookupDest(*destFlag)
		if !ok {
			return usageError("rules explain: unknown --dest %q; use one of: %s", *destFlag, strings.Join(rules.DestValues(), ", "))
		}
		r.Dest = d
	}
	site := ""
	switch {
	case *siteFlag != "":
		siteHost, _, err := parseTarget(*siteFlag)
		if err != nil {
			return usageError("rules explain: --site: %v", err)
		}
		site = rules.Site(siteHost)
		if rules.SameSite(host, siteHost) {
			r.Context = rules.FirstParty
		}
	case r.Dest == rules.DestDocument:
		r.Context = rules.TopLevel
	}

	src, fileProfile, err := configRuleSources(e, fs, "rules explain", *configFile, files)
	if err != nil {
		return err
	}
	if !flagGiven(fs, "profile") && fileProfile != "" {
		*profile = fileProfile
	}
	set, errs := compileRules(src)
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(e.stderr, err)
		}
		return &exitError{code: 2, err: fmt.Errorf("rules explain: the rules do not compile (%d problems)", len(errs))}
	}
	p, ok := set.Profile(*profile)
	if !ok {
		return usageError("rules explain: unknown profile %q; profiles: %s", *profile, strings.Join(set.ProfileNames(), ", "))
	}
	ex := set.Explain(p, r, cookies)
	ex.Site = site
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ex)
	}
	return printExplanation(e.stdout, ex)
}

// parseTarget reads a URL (scheme optional) into host and decoded path.
func parseTarget(raw string) (host, path string, err error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", "", errors.New("empty URL")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse's message quotes the whole URL, query included.
		return "", "", fmt.Errorf("%q is not a URL", strings.SplitN(raw, "?", 2)[0])
	}
	host = strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return "", "", fmt.Errorf("%q has no host", strings.SplitN(raw, "?", 2)[0])
	}
	path = u.Path
	if path == "" {
		path = "/"
	}
	return host, path, nil
}

func printExplanation(w io.Writer, ex rules.Explanation) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "request\t%s%s (dest %s, %s", ex.Host, ex.Path, ex.Dest, ex.Context)
	if ex.Site != "" {
		fmt.Fprintf(tw, " of site %s", ex.Site)
	}
	fmt.Fprintf(tw, ")\n")
	fmt.Fprintf(tw, "profile\t%s (%s)\n", ex.Profile, orNone(ex.ProfileOrigin))
	fmt.Fprintf(tw, "action\t%s\n", ex.Action)
	if ex.Matched {
		fmt.Fprintf(tw, "category\t%s\n", ex.Category)
		fmt.Fprintf(tw, "vendor\t%s (%s), service %s, kind %s\n", ex.Vendor, ex.VendorName, ex.Service, ex.Kind)
		fmt.Fprintf(tw, "rule\t%s\n", ex.Origin)
	} else {
		fmt.Fprintf(tw, "rule\tnone\n")
	}
	fmt.Fprintf(tw, "reason\t%s\n", ex.Reason)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(ex.Cookies) == 0 {
		return nil
	}
	fmt.Fprintln(w, "cookies")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range ex.Cookies {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Verdict, orNone(c.Category), orNone(c.Vendor), orNone(c.Origin), c.Reason)
	}
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runRulesImportOCD(_ context.Context, e env, args []string) error {
	fs := newFlagSet(e, "rules import-ocd", "usage: consentproxy rules import-ocd [-o OUT.yaml] FILE.csv\n\nConverts an Open Cookie Database CSV into a rules file (stdout without -o). Rows that\ncannot become a rule are listed on stderr with the reason.")
	out := fs.String("o", "", "write the rules file to `OUT.yaml` instead of stdout")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError("rules import-ocd: want exactly one CSV file, got %d arguments", len(pos))
	}
	in := pos[0]
	f, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("rules import-ocd: %w", err)
	}
	defer f.Close()
	im, err := rules.ImportOCD(f, filepath.Base(in))
	if err != nil {
		return fmt.Errorf("rules import-ocd: %s: %w", in, err)
	}
	// The output must be a valid layer over the built-in set; checking it
	// here means a user never gets a file that `rules check` rejects.
	name := *out
	if name == "" {
		name = "(stdout)"
	}
	parsed, err := rules.Parse(name, im.YAML)
	if err == nil {
		var builtin *rules.File
		if builtin, err = rules.Builtin(); err == nil {
			_, err = rules.Compile(builtin, parsed)
		}
	}
	if err != nil {
		return fmt.Errorf("rules import-ocd: the generated rules file does not check (a bug; please report it): %w", err)
	}
	for _, s := range im.Skipped {
		fmt.Fprintf(e.stderr, "%s:%d: skipped %q: %s\n", in, s.Line, s.Name, s.Reason)
	}
	if *out == "" {
		if _, err := e.stdout.Write(im.YAML); err != nil {
			return fmt.Errorf("rules import-ocd: write: %w", err)
		}
	} else if err := os.WriteFile(*out, im.YAML, 0o644); err != nil {
		return fmt.Errorf("rules import-ocd: %w", err)
	}
	fmt.Fprintf(e.stderr, "rules import-ocd: %d rows: %d cookie rules (%d scoped to their Domain), %d vendors; %d rows skipped\n",
		im.Rows, im.Rules, im.Scoped, im.Vendors, len(im.Skipped))
	return nil
}
