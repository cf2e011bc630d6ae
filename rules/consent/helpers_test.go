package consent

import (
	"bytes"
	"testing"
	"time"

	"github.com/consentproxy/consentproxy/rules"
)

// counting is a deterministic stand-in for crypto/rand: 0, 1, 2, ...
type counting struct{ n byte }

func (c *counting) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

var testNow = time.Date(2024, 1, 9, 16, 20, 35, 807e6, time.UTC)

func testEnv() Env { return Env{Now: testNow, Rand: &counting{}} }

// builtinSet compiles the built-in rules with extra layers.
func builtinSet(t testing.TB, extra ...*rules.File) *rules.Set {
	t.Helper()
	b, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Compile(append([]*rules.File{b}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func choiceOf(t testing.TB, set *rules.Set, profile string) Choice {
	t.Helper()
	p, ok := set.Profile(profile)
	if !ok {
		t.Fatalf("no profile %s", profile)
	}
	return NewChoice(set, p)
}

func stateOf(t testing.TB, set *rules.Set, profile string) *State {
	t.Helper()
	p, ok := set.Profile(profile)
	if !ok {
		t.Fatalf("no profile %s", profile)
	}
	st, ok := NewState(set, p)
	if !ok {
		t.Fatalf("profile %s has no consent_state", profile)
	}
	return st
}

func parseRules(t testing.TB, text string) *rules.File {
	t.Helper()
	f, err := rules.Parse("test.yaml", bytes.TrimSpace([]byte(text)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}
