package cookie_test

import (
	"fmt"

	"github.com/consentproxy/consentproxy/rules/cookie"
)

func ExampleSetCookieNames() {
	for _, field := range []string{
		"_ga=GA1.1.1459326719.1736335952; Path=/; Secure",
		"=_ga=GA1.1.1459326719.1736335952; Path=/",
		"session",
		"=",
	} {
		names, ok := cookie.SetCookieNames(field)
		fmt.Println(names, ok)
	}
	// Output:
	// ["_ga"] true
	// ["" "_ga"] true
	// ["" "session"] true
	// [""] false
}

func ExampleRewrite() {
	refused := map[string]bool{"_ga": true, "_fbp": true}
	keep := func(name string) bool { return !refused[name] }

	out, removed := cookie.Rewrite([]string{"sid=1;_ga=GA1.2.3.4; _fbp=fb.1.2;  lang=en"}, keep)
	fmt.Printf("%q %q\n", out, removed)

	// A nameless cookie whose value reads as "_ga=..." is caught, and
	// reported under its primary (stored) name, never its value.
	out, removed = cookie.Rewrite([]string{"sid=1; ==_ga=GA1.2.3.4"}, keep)
	fmt.Printf("%q %q\n", out, removed)
	// Output:
	// ["sid=1; lang=en"] ["_ga" "_fbp"]
	// ["sid=1"] [""]
}

func ExamplePairs() {
	for p := range cookie.Pairs([]string{"a=1;;b=2=3", " foo ; =x"}) {
		fmt.Println(p.Names)
	}
	// Output:
	// ["a"]
	// ["b"]
	// ["" "foo"]
	// ["" "x"]
}

func ExampleFilterSetCookie() {
	keep := func(name string) bool { return name != "_fbp" }
	kept, removed := cookie.FilterSetCookie([]string{
		"sid=1; Path=/; HttpOnly",
		"_fbp=fb.1.1736335952411.872615923; Domain=.example.com",
		"lang=en",
	}, keep)
	fmt.Printf("%q %q\n", kept, removed)
	// Output:
	// ["sid=1; Path=/; HttpOnly" "lang=en"] ["_fbp"]
}
