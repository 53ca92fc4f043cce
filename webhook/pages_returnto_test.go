package webhook_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/webhook"
	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// TestStepUpPageReturnToDefaultPort: a return_to naming its scheme's
// default port (https :443, http :80) is the same origin as the allowed one
// without it (serve.allowed_origins is normalised that way, and browsers
// send Origin that way): the right code goes back to it, without the port.
// An allowed origin written with its default port (webhook.Config set
// directly) allows the origin without it too. Another port is another
// origin.
func TestStepUpPageReturnToDefaultPort(t *testing.T) {
	tests := []struct {
		name     string
		allowed  string
		returnTo string
		want     string // Location after the right code; "" = the /2fa page
	}{
		{"https with :443", "https://app.example", "https://app.example:443/orders?id=7", "https://app.example/orders?id=7"},
		{"https, upper case, with :443", "https://app.example", "HTTPS://App.Example:443/orders", "https://App.Example/orders"},
		{"http with :80", "http://app.example", "http://app.example:80/orders", "http://app.example/orders"},
		{"https with :0443", "https://app.example", "https://app.example:0443/orders", "https://app.example/orders"},
		{"IPv6 with :443", "https://[2001:db8::1]", "https://[2001:db8::1]:443/orders", "https://[2001:db8::1]/orders"},
		{"allowed written with :443", "https://app.example:443", "https://app.example/orders", "https://app.example/orders"},
		{"allowed written with :443/, return_to with it", "https://app.example:443/", "https://app.example:443/orders", "https://app.example/orders"},
		{"https with :80 is another origin", "https://app.example", "https://app.example:80/orders", ""},
		{"http with :443 is another origin", "http://app.example", "http://app.example:443/orders", ""},
		{"https with :8443 is another origin", "https://app.example", "https://app.example:8443/orders", ""},
		{"without a port, as before", "https://app.example", "https://app.example/orders", "https://app.example/orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ui.NewRenderer()
			if err != nil {
				t.Fatal(err)
			}
			s, err := webhook.New(webhook.Config{WebhookSecret: secret, AllowedOrigins: []string{tt.allowed},
				LoginURL: "https://app.example/login", BaseURL: "https://cp.example"},
				webhook.Deps{Factor: &pageFactor{recorder: &recorder{}}, UI: r, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			// The Origin a browser on the allowed origin sends.
			origin := strings.TrimSuffix(strings.TrimRight(tt.allowed, "/"), ":443")
			rec := pageDo(s.Handler(), http.MethodPost, "/2fa/verify?lang=en&return_to="+url.QueryEscape(tt.returnTo),
				url.Values{"challenge_id": {"c1"}, "code": {"1234"}}, origin)
			got := rec.Header().Get("Location")
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("right code: %d", rec.Code)
			}
			if tt.want == "" {
				loc, err := url.Parse(got)
				if err != nil || loc.Path != "/2fa" || loc.Host != "" {
					t.Fatalf("Location %q, want the /2fa page (return_to not allowed)", got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("Location %q, want %q", got, tt.want)
			}
		})
	}
}

// TestStepUpPageReturnToForeignHost: a return_to whose host only folds to
// an allowed one under Unicode case mapping, or that hides another host
// behind user info or a backslash, is no allowed origin. Browsers map
// "İ" (U+0130) to "i" plus a combining dot (IDNA), another domain
// (https://b%C4%B0ng.example is https://xn--bing-rwc.example), so
// comparing hosts after strings.ToLower was an open redirect to a domain
// anyone may register; only ASCII letters fold.
func TestStepUpPageReturnToForeignHost(t *testing.T) {
	tests := []struct {
		name     string
		allowed  string
		returnTo string
		want     string // Location after the right code; "" = the /2fa page
	}{
		{"dotted capital I (U+0130)", "https://bing.example", "https://b\u0130ng.example/x", ""},
		{"dotted capital I, percent-encoded", "https://bing.example", "https://b%C4%B0ng.example/x", ""},
		{"dotted capital I with :443", "https://bing.example", "https://b\u0130ng.example:443/x", ""},
		{"Kelvin sign (U+212A)", "https://kratos.example", "https://\u212Aratos.example/x", ""},
		{"user info naming the allowed host", "https://app.example", "https://app.example@evil.example/x", ""},
		{"user info with the default port", "https://app.example", "https://app.example:443@evil.example/x", ""},
		{"backslash before user info", "https://app.example", `https://app.example\@evil.example/x`, ""},
		{"backslash in the host", "https://app.example", `https://evil.example\.app.example/x`, ""},
		{"huge port", "https://app.example", "https://app.example:18446744073709551616443/x", ""},
		{"ASCII case still folds", "https://bing.example", "https://BING.example/x", "https://BING.example/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ui.NewRenderer()
			if err != nil {
				t.Fatal(err)
			}
			s, err := webhook.New(webhook.Config{WebhookSecret: secret, AllowedOrigins: []string{tt.allowed},
				LoginURL: "https://app.example/login", BaseURL: "https://cp.example"},
				webhook.Deps{Factor: &pageFactor{recorder: &recorder{}}, UI: r, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			rec := pageDo(s.Handler(), http.MethodPost, "/2fa/verify?lang=en&return_to="+url.QueryEscape(tt.returnTo),
				url.Values{"challenge_id": {"c1"}, "code": {"1234"}}, tt.allowed)
			got := rec.Header().Get("Location")
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("right code: %d", rec.Code)
			}
			if tt.want == "" {
				loc, err := url.Parse(got)
				if err != nil || loc.Path != "/2fa" || loc.Host != "" {
					t.Fatalf("Location %q, want the /2fa page (return_to not allowed)", got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("Location %q, want %q", got, tt.want)
			}
		})
	}
}
