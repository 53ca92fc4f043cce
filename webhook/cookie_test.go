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

func (f *tokenFactor) Exchange(context.Context, factor.Creds, factor.TokenOptions) (factor.TokenView, error) {
	return factor.TokenView{AccessToken: "eyJ.test.token", TokenType: "Bearer", ExpiresIn: 600,
		ExpiresAt: time.Now().Add(10 * time.Minute)}, nil
}

func (f *tokenFactor) StepUpVerify(context.Context, factor.Creds, string, string, factor.TokenOptions) (factor.VerifyOutput, error) {
	tok, _ := f.Exchange(context.Background(), factor.Creds{}, factor.TokenOptions{})
	return factor.VerifyOutput{Challenge: factor.ChallengeView{ID: "c1"}, Token: tok}, nil
}

// TestTokenResponsesNotStored: every response whose body carries an
// access_token (/v1/token and a successful step-up verify) is sent with
// Cache-Control: no-store (RFC 6749 §5.1), and so is a step-up challenge
// (per session, with the masked number).
func TestTokenResponsesNotStored(t *testing.T) {
	s, err := webhook.New(webhook.Config{WebhookSecret: secret},
		webhook.Deps{Factor: &tokenFactor{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, rq := range []struct{ method, path, body string }{
		{http.MethodPost, "/v1/token", `{}`}, {http.MethodPost, "/v1/challenges/c1/verify", `{"code":"1234"}`},
		{http.MethodPost, "/v1/challenges", `{}`}, {http.MethodGet, "/v1/challenges/c1", ``},
	} {
		path := rq.path
		w := do(s.Handler(), reqSpec{method: rq.method, path: path,
			hdr:  map[string]string{"X-Session-Token": "t", "Content-Type": "application/json"},
			body: strings.NewReader(rq.body)})
		if w.Code/100 != 2 || strings.HasPrefix(path, "/v1/token") && !strings.Contains(w.Body.String(), `"access_token":"eyJ.test.token"`) {
			t.Fatalf("%s: status %d, body %s", path, w.Code, w.Body)
		}
		if got := w.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", path, got)
		}
	}
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
