package main

import (
	"context"
	"errors"
)

// runCA is `consentproxy ca`. Scaffolding: replaced when certs land.
func runCA(ctx context.Context, e env, args []string) error {
	return errors.New("ca: not implemented yet")
}
