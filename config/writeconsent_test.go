package config

import "testing"

// write_consent defaults to true (the built-in profiles write consent
// cookies) and every source can turn it off, with the usual precedence.
func TestWriteConsentSources(t *testing.T) {
	if !Default().WriteConsent {
		t.Fatal("Default().WriteConsent is false, want true")
	}
	tests := []struct {
		name  string
		file  string
		env   []string
		flags []string
		want  bool
	}{
		{"default", "", nil, nil, true},
		{"file off", "write_consent: false\n", nil, nil, false},
		{"env off", "", []string{"CONSENTPROXY_WRITE_CONSENT=false"}, nil, false},
		{"flag off", "", nil, []string{"--write-consent=false"}, false},
		{"flag on beats env and file", "write_consent: false\n", []string{"CONSENTPROXY_WRITE_CONSENT=0"}, []string{"--write-consent"}, true},
		{"env on beats file", "write_consent: false\n", []string{"CONSENTPROXY_WRITE_CONSENT=true"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			if tt.file != "" {
				var err error
				if cfg, err = Parse("config.yaml", []byte(tt.file)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ApplyEnv(&cfg, tt.env); err != nil {
				t.Fatal(err)
			}
			if err := parseFlags(t, tt.flags...).Apply(&cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.WriteConsent != tt.want {
				t.Errorf("WriteConsent = %v, want %v", cfg.WriteConsent, tt.want)
			}
		})
	}
}
