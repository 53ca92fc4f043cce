package webhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// tokenFactor issues a fixed token from Exchange.
type tokenFactor struct{ recorder }

func (f *tokenFactor) Exchange(context.Context, factor.Creds) (factor.TokenView, error) {
	return factor.TokenView{AccessToken: "eyJ.test.token", TokenType: "Bearer", ExpiresIn: 600,
		ExpiresAt: time.Now().Add(10 * time.Minute)}, nil
}

// TestTokenCookieOption: with jwt.cookie on, /v1/token also sets the token
// as an HttpOnly, Secure, SameSite cookie; without it, no cookie.
func TestTokenCookieOption(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cookie webhook.CookieConfig
	}{{"off", webhook.CookieConfig{}}, {"on", webhook.CookieConfig{Name: "callpass_jwt", Domain: "example.com", Secure: true}}} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := webhook.New(webhook.Config{WebhookSecret: secret, JWTCookie: tt.cookie},
				webhook.Deps{Factor: &tokenFactor{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			w := do(s.Handler(), reqSpec{method: http.MethodPost, path: "/v1/token", hdr: map[string]string{"X-Session-Token": "t"}})
			if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("status %d, cache-control %q", w.Code, w.Header().Get("Cache-Control"))
			}
			set := w.Header().Get("Set-Cookie")
			if tt.cookie.Name == "" {
				if set != "" {
					t.Errorf("cookie set while off: %q", set)
				}
				return
			}
			for _, want := range []string{"callpass_jwt=eyJ.test.token", "HttpOnly", "Secure", "SameSite=Lax", "Domain=example.com", "Path=/"} {
				if !strings.Contains(set, want) {
					t.Errorf("Set-Cookie %q lacks %q", set, want)
				}
			}
		})
	}
}
