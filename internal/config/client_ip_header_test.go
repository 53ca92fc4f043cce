package config

import (
	"strings"
	"testing"
)

// TestClientIPHeaderAProxyOverwrites: serve.client_ip_header is believed
// from any peer, so it must name a header the proxy in front overwrites.
// Proxies append to X-Forwarded-For and Forwarded instead: with either
// named, a client's own value is what the step-up API's per-IP limit and
// the access log read (its first line, or its only one when nothing is in
// front), or, once a proxy appended to it, no address at all and the
// proxy's. It is refused with the key that reads X-Forwarded-For safely
// (serve.trusted_proxies).
func TestClientIPHeaderAProxyOverwrites(t *testing.T) {
	tests := []struct {
		header  string
		wantKey string
	}{
		{"X-Forwarded-For", "serve.client_ip_header"},
		{"x-forwarded-for", "serve.client_ip_header"},
		{"Forwarded", "serve.client_ip_header"},
		{"CF-Connecting-IP", ""},
		{"X-Real-IP", ""},
		{"True-Client-IP", ""},
		{"X-Forwarded-For-Original", ""},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			_, _, err := Load("", baseEnv("SERVE_CLIENT_IP_HEADER="+tt.header), false)
			p := oneProblem(t, err, tt.wantKey)
			if tt.wantKey == "" {
				return
			}
			// The usual setup, a proxy on the same host, is named: its
			// addresses are the loopback ones, which nothing trusts by
			// default.
			for _, want := range []string{"serve.trusted_proxies", "append", "127.0.0.1", "::1"} {
				if !strings.Contains(p.Message, want) {
					t.Errorf("message %q does not say %q", p.Message, want)
				}
			}
		})
	}
}
