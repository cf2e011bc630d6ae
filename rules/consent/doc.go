// Package consent reproduces a consent profile's choice where sites and
// vendors read it, and checks the consent signals vendors receive. It is
// pure: no I/O, no clock and no randomness of its own (Env brings them).
//
// Writers, from a profile's allowed categories (Choice):
//
//   - OneTrust: OptanonConsent (groups=C0001:1,C0002:0,... URL-encoded
//     as OneTrust does) and OptanonAlertBoxClosed. Categories map to groups
//     (DefaultOneTrustGroups, overridable per profile and site); a group is
//     granted only when every category mapped to it is allowed.
//   - Cookiebot: CookieConsent; preferences = functional, statistics =
//     analytics, marketing = advertising + marketing + social.
//   - IAB TCF v2.2: a TC string (EncodeTC, DecodeTC); categories map to
//     purposes as PurposesFor documents; vendor consents from the GVL ids
//     of the rule set's vendors (NewChoice); a disclosed-vendors segment as
//     TCF v2.3 requires.
//   - IAB GPP: header (section ids as a Fibonacci range) and the EU TCF
//     section (EncodeGPP, DecodeGPP), with gpp_sid "2".
//
// Signal checks: Choice.Check reads gcs, gcd, npa, gdpr, gdpr_consent, gpp
// and gpp_sid of a hit and returns the Mismatches, short values only.
//
// How the proxy uses it (the integration lives in proxy/):
//
//  1. When a rule set is compiled, build a State per profile with
//     NewState(set, profile) (none when the profile has no consent_state).
//  2. On a first-party request (top-level navigations included) to host
//     H: site := rules.Site(H); writes, err := st.Plan(site, jar, env) with
//     jar reading the request's Cookie header and env {time.Now(),
//     crypto/rand.Reader}. Put each write in the forwarded Cookie header
//     (replacing the pair of that name when Replace), so the server renders
//     with the choice.
//  3. On the response of a first-party top-level navigation, add
//     w.SetCookie(site, https) for each write, so the page's script reads
//     the cookies from document.cookie.
//  4. Plan keeps an explicit choice already in the browser unless the
//     consent_state says enforce: true; it rewrites only missing cookies,
//     and values that hold no choice (OneTrust's pre-click defaults,
//     Cookiebot's implied consent, undecodable strings).
//  5. On a hit to a vendor service (after the decision allowed it), call
//     st.Choice().Check(query, gvlID) with the vendor's rules.VendorInfo
//     GVLID and emit one signal_mismatch event per Mismatch (Param,
//     Claimed, Expected, Overclaim). Never log the query or the cookies.
package consent
