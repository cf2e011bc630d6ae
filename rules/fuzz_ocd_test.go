package rules

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzImportOCD feeds arbitrary CSV to the Open Cookie Database import (a
// file users download and convert): it never panics, and whenever it
// produces a rules file, that file parses and compiles over the built-in
// set, and accounts for every row it read (a rule or a skip reason).
func FuzzImportOCD(f *testing.F) {
	header := strings.Join(ocdColumns(), ",")
	row := func(fields ...string) string { return strings.Join(fields, ",") }
	for _, s := range []string{
		header + "\n" + row("1", "Google Analytics", "Analytics", "_ga", "", "d", "2y", "Google", "https://p.example", "0") + "\n",
		header + "\n" + row("2", "Acme", "Marketing", "acme_*", ".acme.example", `"a, b"`, "1y", "Acme", "", "1") + "\n" +
			row("3", "Acme", "Functional", "acme_*", "acme.example", "d", "1y", "Acme", "", "1") + "\n",
		header + "\n" + `4,Acme,Analytics,"bad"quote,,d,1,c,u,0` + "\n" + "5,short\n",
		header + "\n" + row("6", "", "Necessary", "sess\u00ad", " .X.example\u200b (3rd party)", "", "", "", "", "2") + "\n",
		header + "\r\n" + row("7", "Ünïcode Vendor", "Personalization", "pref;x", "", "", "", "", "", "") + "\r\n",
		"",
		"a,b\n",
	} {
		f.Add([]byte(s))
	}
	b, err := Builtin()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := ImportOCD(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			return
		}
		file, err := Parse("ocd.yaml", im.YAML)
		if err != nil {
			t.Fatalf("the generated rules file does not parse: %v\n%s", err, im.YAML)
		}
		if _, err := Compile(b, file); err != nil {
			t.Fatalf("the generated rules file does not compile over the built-in set: %v\n%s", err, im.YAML)
		}
		if im.Rules+len(im.Skipped) < im.Rows {
			t.Fatalf("%d rows read, %d rules and %d skips", im.Rows, im.Rules, len(im.Skipped))
		}
		for _, sk := range im.Skipped {
			if sk.Reason == "" {
				t.Fatalf("a skipped row without a reason: %+v", sk)
			}
		}
	})
}
