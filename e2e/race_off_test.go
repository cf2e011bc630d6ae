//go:build !race

package e2e

// raceEnabled: the suite runs without -race, so the proxy binary is built without it.
const raceEnabled = false
