// Package e2e is consentproxy's end-to-end suite in a real browser: it
// builds the consentproxy binary, starts it on loopback in front of fake
// HTTPS sites (a shop and the trackers it embeds, served from
// testdata/web), and drives headless Chromium through it with chromedp.
// Chromium trusts the proxy's CA the way a QA engineer sets it up: an NSS
// database made with certutil in a fresh HOME, never
// --ignore-certificate-errors.
//
// The suite needs chromium and certutil (Debian: chromium, libnss3-tools).
// Without them its tests skip, unless CONSENTPROXY_REQUIRE_CHROMIUM=1 is
// set (as in CI), which turns the skip into a failure.
//
// It lives in a top-level folder because it tests the product as a whole
// (the binary, its flags, its admin API and a browser), not one package.
package e2e
