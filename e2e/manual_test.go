package e2e

import (
	"os"
	"testing"
	"time"
)

func TestManualHold(t *testing.T) {
	if os.Getenv("HOLD") == "" {
		t.Skip()
	}
	w := newWeb(t)
	p := startProxy(t, w, "--profile", "accept-all")
	os.WriteFile("/tmp/hold-info", []byte(p.addr+" "+p.admin+" "+env.caCert+" "+env.caSPKI+" "+w.caPE+"\n"), 0o644)
	time.Sleep(20 * time.Minute)
}
