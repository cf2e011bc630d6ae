package proxy

import (
	"slices"
	"strings"
)

// builtinConsentCookies are the cookies the built-in profiles' consent_state
// writes (all four formats, default names).
var builtinConsentCookies = []string{"OptanonConsent", "OptanonAlertBoxClosed", "CookieConsent", "euconsent-v2", "__gpp", "__gpp_sid"}

// plusConsent adds the built-in consent cookies to a sorted, comma-joined
// list of cookie names (as setCookieNames and fakeWeb report them).
func plusConsent(names string) string {
	list := append(strings.Split(names, ","), builtinConsentCookies...)
	slices.Sort(list)
	return strings.Join(list, ",")
}
