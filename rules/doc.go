// Package rules is consentproxy's decision engine: the vocabulary
// (categories, kinds, actions, destinations, contexts), the parser of rules
// files, the compiled immutable Set, the pure decision function, the
// decision cache, explanations and the Open Cookie Database import.
//
// # Layers
//
// A Set is compiled from layers, lowest priority first: the embedded
// built-in set (Builtin: builtin/*.yaml, one layer named "builtin", each
// file keeping its own origin), then user rules files in command-line
// order, then a layer holding the config file's profiles (a File built in
// code). Compile documents how layers merge and what specificity means.
//
// # Rules files
//
// YAML, format version 1, parsed strictly (Parse): unknown keys, wrong
// types, repeated keys or ids, malformed patterns and unknown kinds are
// errors of the form "file:line: message" that name the offending text,
// with a "did you mean" suggestion where one is close. All errors are
// reported at once. A minimal file:
//
//	version: 1
//	categories:                  # optional: beyond the six built-in ones
//	  - {name: security, description: Bot detection}
//	vendors:
//	  - id: criteo               # [a-z0-9][a-z0-9-]*
//	    name: Criteo
//	    gvl_id: 91               # optional
//	    services:
//	      - name: onetag         # unique within the vendor
//	        category: advertising
//	        kind: script         # pixel | script | beacon | frame | sync | api
//	        hosts: [static.criteo.net, "*.criteo.com"]
//	        paths: ["/js/ld/*"]  # optional; none = every path
//	cookies:
//	  - names: [cto_bundle, "cto_*"]
//	    category: advertising
//	    vendor: criteo           # optional
//	    domains: [criteo.com]    # optional scope
//	profiles:
//	  - name: strict
//	    allow: [analytics]       # essential is always allowed
//	    vendors: {criteo: deny}  # allow | deny, beats the categories
//	    unknown_cookies: strip   # allow (default) | strip
//	    on_denied: block         # block (default) | strip
//	    gpc: true
//	    dnt: false
//
// Host patterns are lower-case DNS names: "example.com" matches itself and
// every subdomain, "*.example.com" only subdomains; a single label or a
// public suffix is refused (it would match whole swathes of the web).
// Path patterns start with '/'; '*' matches any run of characters,
// including '/'; a pattern without '*' matches that path and anything
// below it after a '/' ("/tr" matches "/tr", "/tr/x", not "/track"); a
// query string never takes part. Cookie names are exact, or globs where
// '*' (the only wildcard) matches any run of characters.
//
// # Deciding
//
// Set.Decide classifies a request (Request: host, path, destination,
// context) for a Profile and returns a Decision: the Action, the tracker
// service that matched and the file:line of its rule, and a Reason.
// Set.JudgeCookie, FilterCookieHeader and FilterSetCookie judge cookies by
// name on top of a Decision, using rules/cookie to read names the way
// browsers and servers do. Decider adds a sharded LRU in front of Decide;
// it belongs to one Set, so a reload (a new Set and Decider) can never
// serve a stale decision.
//
// Essential is never refused: an essential service is never blocked and an
// essential cookie is never stripped from an allowed request, whatever the
// profile, vendor overrides included. A Strip or Block decision drops every
// cookie of that request, essential ones too: they would otherwise reach a
// refused tracker.
//
// Nothing here does I/O except reading the embedded files, and nothing
// records cookie values or query strings: verdicts name cookies by the name
// a browser stores them under.
package rules
