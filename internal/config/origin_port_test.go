package config

import (
	"slices"
	"testing"
)

// TestAllowedOriginsWithoutDefaultPort: a browser's Origin leaves out the
// scheme's default port (https://2fa.example.com, never :443; RFC 6454
// §6.1), and the CSRF check compares origins exactly: an allowed origin
// written with :443 or :80, given or taken from serve.base_url or
// kratos.browser_url, refused every cookie-authenticated POST from it (the
// /2fa page's own). The default port is dropped; any other port is kept.
func TestAllowedOriginsWithoutDefaultPort(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		dev  bool
		want []string
	}{
		{"given", []string{"SERVE_BASE_URL=https://2fa.example.com",
			"SERVE_ALLOWED_ORIGINS=https://a.example.com:443,http://b.example.com:80,https://c.example.com:8443,http://d.example.com:443,HTTPS://[::1]:443/"}, false,
			[]string{"https://a.example.com", "http://b.example.com", "https://c.example.com:8443", "http://d.example.com:443", "https://[::1]"}},
		{"taken from the base URLs", []string{"SERVE_BASE_URL=https://2fa.example.com:443", "KRATOS_BROWSER_URL=http://auth.example.com:80/"}, false,
			[]string{"https://2fa.example.com", "http://auth.example.com"}},
		// Only ASCII letters are folded, as the webhook compares hosts:
		// strings.ToLower made "bİng" "bing", an origin no browser sends
		// for it (they send xn--bing-rwc), and the webhook then allowed
		// bing.example.
		{"a non-ASCII host keeps its letters", []string{"SERVE_BASE_URL=https://2fa.example.com",
			"SERVE_ALLOWED_ORIGINS=HTTPS://BİNG.example"}, false,
			[]string{"https://bİng.example"}},
		{"--dev on port 80", []string{"SERVE_LISTEN=127.0.0.1:80", "KRATOS_PUBLIC_URL=http://127.0.0.1:4433"}, true,
			[]string{"http://127.0.0.1", "http://127.0.0.1:4433"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := baseEnv(tc.env...)
			if tc.dev {
				env = append(tc.env, "DEV_DATA_DIR="+t.TempDir())
			}
			c, _, err := Load("", env, tc.dev)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Serve.AllowedOrigins, tc.want) {
				t.Errorf("allowed origins %q, want %q", c.Serve.AllowedOrigins, tc.want)
			}
		})
	}
}
