package main

import (
	"context"
	"errors"
)

// runRules is `consentproxy rules`. Scaffolding: replaced when the rules engine lands.
func runRules(ctx context.Context, e env, args []string) error {
	return errors.New("rules: not implemented yet")
}
