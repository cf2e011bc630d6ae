package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/consentproxy/consentproxy/config"
	"github.com/consentproxy/consentproxy/rules"
	"github.com/consentproxy/consentproxy/rules/consent"
)

const consentUsage = `usage: consentproxy consent <subcommand> [flags]

subcommands:
  encode [flags]         print the consent cookies a profile writes (OneTrust, Cookiebot, TCF, GPP)
  decode [--json] VALUE  explain a TC string, GPP string, gcs/gcd value, OptanonConsent or CookieConsent

Run 'consentproxy consent <subcommand> -h' for its flags.
`

// runConsent is `consentproxy consent`.
func runConsent(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		io.WriteString(e.stderr, consentUsage)
		return usageError("consent: no subcommand given (encode or decode)")
	}
	switch args[0] {
	case "-h", "--help", "help":
		io.WriteString(e.stdout, consentUsage)
		return nil
	case "encode":
		return runConsentEncode(ctx, e, args[1:])
	case "decode":
		return runConsentDecode(ctx, e, args[1:])
	}
	return usageError("consent: unknown subcommand %q (encode or decode)", args[0])
}

// encodeOutput is the JSON of `consent encode` (schema 1).
type encodeOutput struct {
	Schema  int             `json:"schema"`
	Profile string          `json:"profile"`
	Site    string          `json:"site"`
	Written bool            `json:"written"`
	Enforce bool            `json:"enforce"`
	Cookies []encodedCookie `json:"cookies"`
	Choice  encodedChoice   `json:"choice"`
}

type encodedCookie struct {
	consent.Cookie
	SetCookie string `json:"set_cookie"`
	Summary   string `json:"summary"`
}

type encodedChoice struct {
	Categories []rules.Category `json:"categories"`
	Purposes   []int            `json:"purposes"`
	Vendors    []int            `json:"vendors"`
}

func runConsentEncode(_ context.Context, e env, args []string) error {
	fs := newFlagSet(e, "consent encode", "usage: consentproxy consent encode [flags]\n\nPrints the consent cookies a profile writes on a site: their values, Set-Cookie lines and\nwhat each says. Without --format, every format of the profile's consent_state.")
	profile := fs.String("profile", "", "consent `profile` (default: the config's profile, else "+config.DefaultProfile+")")
	format := fs.String("format", "", "only this `format`: onetrust, cookiebot, tcf or gpp")
	siteFlag := fs.String("site", "", "`URL` or host of the site: its registrable domain picks the per-site settings and the cookie Domain")
	cfgFile := fs.String("config", "", "config `FILE` whose profiles (and rules files) are used too")
	var files stringList
	fs.Var(&files, "rules", "rules `FILE` layered over the built-in set (repeatable, in order)")
	asJSON := fs.Bool("json", false, "print JSON (schema 1)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		fs.Usage()
		return usageError("consent encode: unexpected argument %q (flags only)", pos[0])
	}
	var formats []consent.Format
	if *format != "" {
		f := consent.Format(strings.ToLower(*format))
		if !containsFormat(consent.Formats(), f) {
			return usageError("consent encode: unknown --format %q; use one of: %s", *format, joinFormats(consent.Formats()))
		}
		formats = []consent.Format{f}
	}
	site := ""
	if *siteFlag != "" {
		host, _, err := parseTarget(*siteFlag)
		if err != nil {
			return usageError("consent encode: --site: %v", err)
		}
		site = rules.Site(host)
	}

	src, fileProfile, err := configRuleSources(e, fs, "consent encode", *cfgFile, files)
	if err != nil {
		return err
	}
	name := *profile
	if name == "" {
		name = fileProfile
	}
	if name == "" {
		name = config.DefaultProfile
	}
	set, errs := compileRules(src)
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(e.stderr, err)
		}
		return &exitError{code: 2, err: fmt.Errorf("consent encode: the rules do not compile (%d problems)", len(errs))}
	}
	p, ok := set.Profile(name)
	if !ok {
		return usageError("consent encode: unknown profile %q; profiles: %s", name, strings.Join(set.ProfileNames(), ", "))
	}
	st, written := consent.NewState(set, p)
	if !written {
		fmt.Fprintf(e.stderr, "consentproxy: note: profile %s has no consent_state, so the proxy writes nothing for it; showing the defaults\n", name)
		st = consent.NewStateFrom(set, p, rules.ConsentStateSpec{})
	}
	settings := st.Settings(site)
	if formats == nil {
		formats = settings.Formats
		if !written {
			formats = consent.Formats()
		}
	}
	envc := consent.Env{Now: time.Now(), Rand: rand.Reader}
	out := encodeOutput{Schema: 1, Profile: name, Site: site, Written: written && len(settings.Formats) > 0, Enforce: settings.Enforce}
	c := st.Choice()
	out.Choice = encodedChoice{Categories: c.Categories, Purposes: c.Purposes, Vendors: c.Vendors}
	for _, f := range formats {
		cookies, err := st.CookiesFor(site, f, envc)
		if err != nil {
			return fmt.Errorf("consent encode: %w", err)
		}
		for _, ck := range cookies {
			ec := encodedCookie{Cookie: ck, SetCookie: ck.SetCookie(site, true)}
			if d, err := consent.Decode(ck.Value); err == nil {
				ec.Summary = d.Summary()
			} else if ck.Name == consent.OptanonAlertBoxClosedCookie {
				ec.Summary = "banner closed at this time"
			} else {
				ec.Summary = "section ids"
			}
			out.Cookies = append(out.Cookies, ec)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return printEncoded(e.stdout, out)
}

func printEncoded(w io.Writer, out encodeOutput) error {
	where := "every site"
	if out.Site != "" {
		where = out.Site
	}
	fmt.Fprintf(w, "profile %s on %s: allows %s; TCF purposes %s; GVL vendors %s\n", out.Profile, where,
		joinCategories(out.Choice.Categories), orNone(consent.FormatIDs(out.Choice.Purposes)), orNone(consent.FormatIDs(out.Choice.Vendors)))
	switch {
	case !out.Written:
		fmt.Fprintln(w, "the proxy writes none of these for this profile (no consent_state formats)")
	case out.Enforce:
		fmt.Fprintln(w, "written on first-party page loads; a different choice in the browser is replaced (enforce: true)")
	default:
		fmt.Fprintln(w, "written on first-party page loads when missing; a choice already in the browser is kept")
	}
	for _, c := range out.Cookies {
		fmt.Fprintf(w, "\n%s (%s): %s\n  %s\n  Set-Cookie: %s\n", c.Name, c.Format, c.Summary, c.Value, c.SetCookie)
	}
	return nil
}

// decodeOutput is the JSON of `consent decode` (schema 1).
type decodeOutput struct {
	Schema int `json:"schema"`
	consent.Decoded
	Summary string `json:"summary"`
}

func runConsentDecode(_ context.Context, e env, args []string) error {
	fs := newFlagSet(e, "consent decode", "usage: consentproxy consent decode [--json] VALUE\n\nRecognises and explains a TC string, a GPP string, a gcs or gcd value, an OptanonConsent\nor a CookieConsent value (a leading \"name=\" is accepted). Quote it for the shell.")
	asJSON := fs.Bool("json", false, "print JSON (schema 1)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError("consent decode: want exactly one value, got %d arguments", len(pos))
	}
	d, err := consent.Decode(pos[0])
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("consent decode: %w", err)}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(decodeOutput{Schema: 1, Decoded: d, Summary: d.Summary()})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	printDecoded(tw, d, "")
	return tw.Flush()
}

func printDecoded(w io.Writer, d consent.Decoded, indent string) {
	row := func(k, format string, args ...any) {
		fmt.Fprintf(w, "%s%s\t%s\n", indent, k, fmt.Sprintf(format, args...))
	}
	switch d.Kind {
	case consent.KindTCF:
		printTC(row, *d.TCF)
	case consent.KindGPP:
		g := d.GPP
		row("kind", "GPP string (IAB Global Privacy Platform)")
		row("header", "type %d, version %d", g.Type, g.Version)
		row("sections", "%s", orNone(consent.FormatIDs(g.SectionIDs)))
		for _, s := range g.Sections {
			row("section "+fmt.Sprint(s.ID), "%s, %d characters", s.Name, s.Length)
			if s.TCF != nil {
				printDecoded(w, consent.Decoded{Kind: consent.KindTCF, TCF: s.TCF}, indent+"  ")
			}
		}
	case consent.KindGCS:
		row("kind", "gcs (Google Consent Mode status)")
		row("ad_storage", "%s", d.GCS.AdStorage)
		row("analytics_storage", "%s", d.GCS.AnalyticsStorage)
	case consent.KindGCD:
		row("kind", "gcd (Google Consent Mode v2; letters as analysed publicly, digits not decoded)")
		for _, s := range d.GCD.Signals {
			row(s.Name, "%s (%s: default %s, update %s)", s.State, s.Code, orNone(s.Default), orNone(s.Update))
		}
		row("digits", "%s (not decoded)", d.GCD.Digits)
	case consent.KindOneTrust:
		o := d.OneTrust
		row("kind", "OptanonConsent (OneTrust)")
		row("version", "%s", orNone(o.Version))
		row("datestamp", "%s", orNone(o.Datestamp))
		row("interactionCount", "%d", o.InteractionCount)
		for _, g := range o.Groups {
			state := "refused"
			if g.Granted {
				state = "granted"
			}
			row("group "+g.ID, "%s", state)
		}
		row("fields", "%s", strings.Join(o.Fields, ", "))
	case consent.KindCookiebot:
		c := d.Cookiebot
		row("kind", "CookieConsent (Cookiebot)")
		row("necessary", "%t", c.Necessary)
		row("preferences", "%t", c.Preferences)
		row("statistics", "%t", c.Statistics)
		row("marketing", "%t", c.Marketing)
		row("method", "%s", orNone(c.Method))
		row("ver", "%s", orNone(c.Version))
		row("utc", "%s", time.UnixMilli(c.UTC).UTC().Format(time.RFC3339))
		row("region", "%s", orNone(c.Region))
	}
}

func printTC(row func(k, format string, args ...any), tc consent.TCString) {
	ids := func(v []int) string { return orNone(consent.FormatIDs(v)) }
	vendors := func(v []int, enc string) string {
		return fmt.Sprintf("%s (%d vendors, %s encoding)", ids(v), len(v), enc)
	}
	row("kind", "TC string (IAB TCF v2)")
	row("version", "%d", tc.Version)
	row("created", "%s", tc.Created.Format(time.RFC3339))
	row("last updated", "%s", tc.LastUpdated.Format(time.RFC3339))
	row("cmp", "id %d, version %d, consent screen %d", tc.CmpID, tc.CmpVersion, tc.ConsentScreen)
	row("consent language", "%s", tc.ConsentLanguage)
	row("vendor list version", "%d", tc.VendorListVersion)
	row("policy version", "%d", tc.PolicyVersion)
	row("service-specific", "%t", tc.IsServiceSpecific)
	row("non-standard texts", "%t", tc.UseNonStandardTexts)
	row("special features", "%s", ids(tc.SpecialFeatureOptIns))
	if len(tc.PurposesConsent) == 0 {
		row("purposes consent", "none")
	}
	for _, p := range tc.PurposesConsent {
		row("purposes consent", "%d %s", p, consent.PurposeName(p))
	}
	row("purposes LI", "%s", ids(tc.PurposesLITransparency))
	row("purpose one treatment", "%t", tc.PurposeOneTreatment)
	row("publisher country", "%s", tc.PublisherCC)
	row("vendor consents", "%s", vendors(tc.VendorConsents, tc.VendorConsentsEncoding))
	row("vendor LI", "%s", vendors(tc.VendorLegitimateInterests, tc.VendorLIEncoding))
	row("publisher restrictions", "%d", len(tc.PublisherRestrictions))
	if tc.DisclosedVendors != nil {
		row("disclosed vendors", "%s (%d)", ids(tc.DisclosedVendors), len(tc.DisclosedVendors))
	}
	if tc.AllowedVendors != nil {
		row("allowed vendors", "%s (%d)", ids(tc.AllowedVendors), len(tc.AllowedVendors))
	}
	if p := tc.PublisherTC; p != nil {
		row("publisher purposes", "consent %s, LI %s; custom consent %s, LI %s", ids(p.PurposesConsent),
			ids(p.PurposesLITransparency), ids(p.CustomPurposesConsent), ids(p.CustomPurposesLITransparency))
	}
	row("segments", "%s", strings.Join(tc.Segments, ", "))
}

func containsFormat(list []consent.Format, f consent.Format) bool {
	for _, x := range list {
		if x == f {
			return true
		}
	}
	return false
}

func joinFormats(fs []consent.Format) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = string(f)
	}
	return strings.Join(parts, ", ")
}

func joinCategories(cs []rules.Category) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = string(c)
	}
	return strings.Join(parts, ", ")
}
