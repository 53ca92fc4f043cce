package webhook_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// sizedTokenFactor issues a token of n bytes from Exchange.
type sizedTokenFactor struct {
	recorder
	n int
}

func (f *sizedTokenFactor) Exchange(context.Context, factor.Creds, factor.TokenOptions) (factor.TokenView, error) {
	return factor.TokenView{AccessToken: strings.Repeat("t", f.n), TokenType: "Bearer", ExpiresIn: 600,
		ExpiresAt: time.Now().Add(10 * time.Minute)}, nil
}

// TestJWTCookieTooLarge: a token too large for a cookie (name and value over
// 4096 bytes, which browsers drop without a word) is not set as one; it is
// still answered in the body, and a warning (once a minute) says why and
// what to shorten. A token that fits is set as before.
func TestJWTCookieTooLarge(t *testing.T) {
	const name = "callpass_jwt"
	tests := []struct {
		name   string
		n      int
		cookie bool
	}{
		{"fits", 4096 - len(name), true},
		{"one byte too many", 4097 - len(name), false},
		{"a large claims mapper", 12 << 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s, err := webhook.New(webhook.Config{WebhookSecret: secret, JWTCookie: webhook.CookieConfig{Name: name}},
				webhook.Deps{Factor: &sizedTokenFactor{n: tt.n}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				r := httptest.NewRequest(http.MethodPost, "/v1/token", strings.NewReader(`{}`))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("X-Session-Token", "s")
				w := httptest.NewRecorder()
				s.Handler().ServeHTTP(w, r)
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), strings.Repeat("t", tt.n)) {
					t.Fatalf("answer %d, body of %d bytes: want 200 with the token", w.Code, w.Body.Len())
				}
				if got := strings.Contains(w.Header().Get("Set-Cookie"), name+"="); got != tt.cookie {
					t.Fatalf("cookie set %v, want %v", got, tt.cookie)
				}
				if w.Header().Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control %q, want no-store", w.Header().Get("Cache-Control"))
				}
			}
			warned := strings.Count(logs.String(), "too large for jwt.cookie")
			if tt.cookie && warned != 0 || !tt.cookie && warned != 1 {
				t.Errorf("%d warnings for two tokens, want %d:\n%s", warned, map[bool]int{true: 0, false: 1}[tt.cookie], logs.String())
			}
		})
	}
}
