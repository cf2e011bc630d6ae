// Package cookie reads cookie names the way browsers and servers read them,
// so that consentproxy can judge a cookie by every name it could be known
// by, and removes refused cookies from Set-Cookie and Cookie headers without
// touching anything else.
//
// # Why more than one name
//
// A name-based block list is only as good as its idea of the name. A
// browser stores a cookie under the name it parses from Set-Cookie
// (rfc6265bis §5.6), but the server (or a script reading document.cookie)
// later parses the Cookie header the browser builds (§5.8.3), and the two
// need not agree. "Set-Cookie: =_ga=GA1.2.3" stores a nameless cookie whose
// value is "_ga=GA1.2.3"; the browser sends it back as "Cookie: _ga=GA1.2.3",
// and every server reads a cookie named "_ga". So each cookie is judged by
// the set of names it can be read as ([Names]), and it is kept only when the
// caller's keep function approves all of them. When in doubt, strip.
//
// # The reading model
//
// Set-Cookie (one header field value; [SetCookieNames]):
//
//   - The cookie is the text before the first ';'. Quotes are not syntax
//     ("foo=\"a;b\"" is the cookie foo="a) and commas are not separators
//     ("z=y, a=b" is one cookie z with value "y, a=b"). Never split a
//     Set-Cookie line on commas, and give each header field separately.
//   - Without '=' the cookie is nameless and its value is the whole text
//     ("foo" stores name "", value "foo"). With '=' the name is what precedes
//     the first '=' ("=a=b" stores name "", value "a=b").
//   - SP and HTAB around the name and the value are trimmed; inner spaces
//     stay ("foo bar=baz" is named "foo bar").
//   - Attributes never change the name, whatever their case or form.
//   - Names: the stored name first, then the name(s) a server reads from
//     the Cookie pair the browser will send (a nameless cookie is sent as its
//     bare value). "foo" → "", "foo"; "=a=b" → "", "a"; "a=b" → "a".
//
// Cookie (one or more header field values; [Pairs], [PairNames], [Rewrite]):
//
//   - Pairs are separated by ';' only, as servers split them; empty pairs
//     (";;", trailing ';') are skipped; SP and HTAB around a pair and around
//     its name are trimmed.
//   - A pair with '=' is named by what precedes the first '=' ("a=b=c" →
//     "a"). A pair without '=' is what a browser sends for a nameless cookie
//     and what servers read as a name with an empty value ("foo" → "",
//     "foo"). A pair with an empty name ("=x", "==a=b") is also read with its
//     leading '='s stripped, because a browser may send the nameless cookie
//     "==a=b" as "a=b" ("=x" → "", "x"; "==a=b" → "", "a").
//   - Names are never unescaped, case-folded or otherwise normalised: the
//     caller's keep function decides how to match them.
//
// The first name of every [Names] is the primary one: the name a browser
// holds the cookie under. Only primary names are reported as removed, because
// the other readings of a nameless cookie are taken from its value, and
// cookie values must never be logged.
//
// # What a browser ignores
//
// [SetCookieNames] also reports whether a current browser (rfc6265bis) would
// ignore the line entirely: a control character other than HTAB anywhere in
// it, an empty name together with an empty value, a name and value longer
// than 4096 bytes together, or a nameless cookie whose value starts with a
// cookie prefix such as "__Host-". Such a line can set nothing in a
// conforming browser, and older browsers read it inconsistently (Chromium
// once cut the line at NUL or CR), so [FilterSetCookie] drops it. Its names
// are still computed (cut at the first NUL, CR or LF, as older Chromium did)
// for callers that want to report them.
//
// # Not modelled
//
// Server-specific name rewriting is not modelled: PHP's mapping of '.' and
// ' ' to '_' and its old percent-decoding of names, RFC 2965 servers that
// also split on ',', Python's SimpleCookie splitting on whitespace. A server
// that wants to evade a name list can rename its cookies at will; this
// package's job is to catch every name the rules could mean under the
// readings of browsers and ordinary servers.
package cookie
