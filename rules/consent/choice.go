package consent

import (
	"slices"
	"strconv"
	"strings"

	"github.com/consentproxy/consentproxy/rules"
)

// Choice is a profile's decision in the terms consent platforms and
// signals use: the allowed categories, the TCF purposes they imply and the
// Global Vendor List ids with consent. It is immutable once built.
type Choice struct {
	allowed map[rules.Category]bool
	// Categories are the allowed categories, essential included, in the
	// rule set's order.
	Categories []rules.Category
	// Purposes are the TCF purposes with consent, LIPurposes those with
	// legitimate interest established (see PurposesFor).
	Purposes   []int
	LIPurposes []int
	// Vendors are the GVL ids with consent (and legitimate interest);
	// Disclosed every GVL id the rule set knows, sorted.
	Vendors   []int
	Disclosed []int
}

// The TCF v2.2 purposes ("Policies", Appendix A) and the categories that
// need each. A purpose has consent when the profile allows any category
// listed for it; why each is where it is:
//
//	 1 Store and/or access information on a device: any category but
//	   essential (every non-essential tracker stores or reads something).
//	 2 Use limited data to select advertising: advertising (ad serving).
//	 3 Create profiles for personalised advertising: advertising, and
//	   marketing (retargeting pixels add visitors to audiences).
//	 4 Use profiles to select personalised advertising: advertising.
//	 5 Create profiles to personalise content: functional (personalisation
//	   is what OneTrust's and Cookiebot's functional/preferences groups hold).
//	 6 Use profiles to select personalised content: functional.
//	 7 Measure advertising performance: advertising, and marketing
//	   (conversion pixels measure ads).
//	 8 Measure content performance: analytics.
//	 9 Understand audiences through statistics or combinations of data
//	   from different sources: analytics.
//	10 Develop and improve services: analytics.
//	11 Use limited data to select content: functional.
//
// social has no TCF purpose of its own: embeds and share buttons get
// purpose 1 and their vendors' own consent bits. Special features (precise
// geolocation, active device scanning) are never opted in: no category
// asks for them.
var purposeCategories = [...][]rules.Category{
	2:  {rules.Advertising},
	3:  {rules.Advertising, rules.Marketing},
	4:  {rules.Advertising},
	5:  {rules.Functional},
	6:  {rules.Functional},
	7:  {rules.Advertising, rules.Marketing},
	8:  {rules.Analytics},
	9:  {rules.Analytics},
	10: {rules.Analytics},
	11: {rules.Functional},
}

// liPurposes are the purposes TCF v2.2 still allows on legitimate
// interest: not 1 (never), not 3 to 6 (removed in v2.2).
var liPurposes = []int{2, 7, 8, 9, 10, 11}

// PurposesFor returns the TCF purposes with consent and with legitimate
// interest established for the allowed categories. Legitimate interest
// mirrors consent: a refusal is also an objection, so a reject-all profile
// leaves vendors no legal basis to fall back on.
func PurposesFor(allows func(rules.Category) bool) (consent, li []int) {
	consent, li = []int{}, []int{}
	for p := 2; p < len(purposeCategories); p++ {
		if slices.ContainsFunc(purposeCategories[p], allows) {
			consent = append(consent, p)
		}
	}
	if len(consent) > 0 || anyNonEssential(allows) {
		consent = append([]int{1}, consent...)
	}
	for _, p := range consent {
		if slices.Contains(liPurposes, p) {
			li = append(li, p)
		}
	}
	return consent, li
}

func anyNonEssential(allows func(rules.Category) bool) bool {
	for _, c := range []rules.Category{rules.Analytics, rules.Advertising, rules.Marketing, rules.Social, rules.Functional} {
		if allows(c) {
			return true
		}
	}
	return false
}

// NewChoice reads a profile's choice from a compiled rule set. A vendor
// with a GVL id has consent when the profile's override allows it, or,
// without an override, when the profile allows any non-essential category
// of its services; the TCF's purposes then limit what it may do with it.
// Every vendor with a GVL id counts as disclosed, as a CMP that showed them
// all would record (TCF v2.3 requires the disclosed-vendors segment).
func NewChoice(set *rules.Set, p *rules.Profile) Choice {
	c := Choice{allowed: map[rules.Category]bool{}}
	for _, cat := range p.AllowedCategories() {
		c.allowed[cat] = true
		c.Categories = append(c.Categories, cat)
	}
	c.allowed[rules.Essential] = true
	c.Purposes, c.LIPurposes = PurposesFor(c.Allows)
	c.Vendors, c.Disclosed = []int{}, []int{}
	for _, id := range set.VendorIDs() {
		v, _ := set.Vendor(id)
		if v.GVLID <= 0 {
			continue
		}
		c.Disclosed = append(c.Disclosed, v.GVLID)
		allow, has := p.VendorOverride(id)
		if !has {
			for _, s := range v.Services {
				if s.Category != rules.Essential && p.Allows(s.Category) {
					allow = true
					break
				}
			}
		}
		if allow {
			c.Vendors = append(c.Vendors, v.GVLID)
		}
	}
	slices.Sort(c.Disclosed)
	c.Disclosed = slices.Compact(c.Disclosed)
	slices.Sort(c.Vendors)
	c.Vendors = slices.Compact(c.Vendors)
	return c
}

// Allows reports whether the choice allows a category; essential always.
func (c Choice) Allows(cat rules.Category) bool { return cat == rules.Essential || c.allowed[cat] }

// allowsAll reports whether every category is allowed: a consent-platform
// group that several categories map to is granted only then, so that the
// site never loads more than the profile allows.
func (c Choice) allowsAll(cats []rules.Category) bool {
	for _, cat := range cats {
		if !c.Allows(cat) {
			return false
		}
	}
	return true
}

// refusesAny reports whether the choice refuses some non-essential
// built-in category.
func (c Choice) refusesAny() bool {
	return !c.allowsAll([]rules.Category{rules.Analytics, rules.Advertising, rules.Marketing, rules.Social, rules.Functional})
}

// adStorage is Google Consent Mode's ad_storage (and ad_user_data,
// ad_personalization) for the choice: advertising and marketing both
// allowed, as Google's ad tags serve both.
func (c Choice) adStorage() bool {
	return c.allowsAll([]rules.Category{rules.Advertising, rules.Marketing})
}

// VendorAllowed reports whether a GVL vendor id has consent.
func (c Choice) VendorAllowed(gvlID int) bool {
	_, ok := slices.BinarySearch(c.Vendors, gvlID)
	return ok
}

// joinInts formats ids as "1,3,9" for short messages.
func joinInts(ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return strings.Join(parts, ",")
}

// purposeNames are the TCF v2.2 purpose names (Policies, Appendix A).
var purposeNames = map[int]string{
	1: "Store and/or access information on a device", 2: "Use limited data to select advertising",
	3: "Create profiles for personalised advertising", 4: "Use profiles to select personalised advertising",
	5: "Create profiles to personalise content", 6: "Use profiles to select personalised content",
	7: "Measure advertising performance", 8: "Measure content performance",
	9:  "Understand audiences through statistics or combinations of data from different sources",
	10: "Develop and improve services", 11: "Use limited data to select content",
}

// PurposeName names a TCF purpose, "purpose N" when unknown.
func PurposeName(id int) string {
	if n, ok := purposeNames[id]; ok {
		return n
	}
	return "purpose " + strconv.Itoa(id)
}

// FormatIDs renders sorted ids with runs collapsed: "1-3,5,8-10".
func FormatIDs(ids []int) string {
	var parts []string
	for _, r := range ranges(ids) {
		if r[1] > r[0] {
			parts = append(parts, strconv.Itoa(r[0])+"-"+strconv.Itoa(r[1]))
		} else {
			parts = append(parts, strconv.Itoa(r[0]))
		}
	}
	return strings.Join(parts, ",")
}
