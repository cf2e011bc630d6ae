package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestApplyEnvValues(t *testing.T) {
	cfg := Default()
	warnings, err := ApplyEnv(&cfg, []string{
		"PATH=/usr/bin",
		"CONSENTPROXY_LISTEN=127.0.0.1:1",
		"CONSENTPROXY_LISTEN=127.0.0.1:2", // last wins
		"CONSENTPROXY_ADMIN_TOKEN= two words ",
		"CONSENTPROXY_ALLOW_REMOTE=TRUE",
		"CONSENTPROXY_RULES= a.yaml , b.yaml,,",
		"CONSENTPROXY_INTERCEPT_PORTS=443, 8443",
		"CONSENTPROXY_SHUTDOWN_TIMEOUT=1m30s",
		"CONSENTPROXY_EVENT_RING_SIZE=7",
		"CONSENTPROXY_PROFILE=", // empty = unset
		"consentproxy_log_level=debug",
	})
	if err != nil || len(warnings) > 0 {
		t.Fatalf("ApplyEnv: warnings %q, err %v", warnings, err)
	}
	want := Default()
	want.Listen = "127.0.0.1:2"
	want.AdminToken = " two words "
	want.AllowRemote = true
	want.Rules = []string{"a.yaml", "b.yaml"}
	want.InterceptPorts = []int{443, 8443}
	want.Limits.ShutdownTimeout = 90 * time.Second
	want.Limits.EventRingSize = 7
	cfg.origins = nil
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestApplyEnvErrors(t *testing.T) {
	cfg := Default()
	_, err := ApplyEnv(&cfg, []string{
		"CONSENTPROXY_WATCH=sometimes",
		"CONSENTPROXY_IDLE_TIMEOUT=2 minutes",
		"CONSENTPROXY_DIAL_TIMEOUT=30",
		"CONSENTPROXY_MAX_CONNECTIONS=lots",
		"CONSENTPROXY_INTERCEPT_PORTS=443,https",
		"CONSENTPROXY_LOG_LEVEL=debug",
	})
	want := strings.Join([]string{
		`CONSENTPROXY_INTERCEPT_PORTS: item 2: "https" is not an integer (the list is comma-separated, e.g. 443,8443)`,
		`CONSENTPROXY_WATCH: "sometimes" is not a boolean (use true or false)`,
		`CONSENTPROXY_MAX_CONNECTIONS: "lots" is not an integer`,
		`CONSENTPROXY_IDLE_TIMEOUT: "2 minutes" is not a duration (e.g. 90s, 2m)`,
		`CONSENTPROXY_DIAL_TIMEOUT: "30" is not a duration: add a unit (e.g. 30s)`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	if cfg.LogLevel != "debug" {
		t.Errorf("a good variable next to bad ones was not applied: log_level %q", cfg.LogLevel)
	}
}

func TestApplyEnvWarnings(t *testing.T) {
	cfg := Default()
	warnings, err := ApplyEnv(&cfg, []string{
		"CONSENTPROXY_LISTN=127.0.0.1:1",
		"CONSENTPROXY_DATADIR=/d",
		"CONSENTPROXY_PROFILES=strict",
		"CONSENTPROXY_LIMITS=x",
		"CONSENTPROXY_QWERTYUIOP=1",
		"CONSENTPROXY_REQUIRE_SHARED=1",
		"CONSENTPROXY_REQUIRE_CHROMIUM=1",
		"CONSENTPROXY_REQUIRE_SOMETHING_NEW=1",
		"CONSENTPROXY_TEST_BROWSER=firefox",
		"CONSENTPROXY_CONFIG=/nonexistent.yaml",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CONSENTPROXY_DATADIR is not a consentproxy setting (did you mean CONSENTPROXY_DATA_DIR?); ignored",
		"CONSENTPROXY_LIMITS is ignored: limits can only be set in the config file",
		"CONSENTPROXY_LISTN is not a consentproxy setting (did you mean CONSENTPROXY_LISTEN?); ignored",
		"CONSENTPROXY_PROFILES is ignored: profiles can only be set in the config file",
		"CONSENTPROXY_QWERTYUIOP is not a consentproxy setting; ignored",
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", warnings, want)
	}
	if cfg.Listen != DefaultListen || cfg.DataDir != "" {
		t.Error("a misspelt variable changed the config")
	}
}
