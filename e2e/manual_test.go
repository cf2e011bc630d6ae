package e2e

import (
	"os"
	"testing"
	"time"
)

func TestManualWeb(t *testing.T) {
	if os.Getenv("HOLD_WEB") == "" {
		t.Skip()
	}
	w := newWeb(t)
	os.WriteFile("/tmp/web-info", []byte(w.addr()+" "+w.caPE+"\n"), 0o644)
	time.Sleep(40 * time.Minute)
}
