package main

import (
	"context"
	"errors"
)

// runProxy is `consentproxy run`. Scaffolding: replaced when the proxy lands.
func runProxy(ctx context.Context, e env, args []string) error {
	return errors.New("run: not implemented yet")
}
