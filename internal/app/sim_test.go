package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
)

// TestSimPagesNeedTokenOutsideDev: a simulator mounted without --dev (a
// staging set-up) shows its calls' codes only to a holder of sim.tokens;
// in --dev (TestDevReadiness) its pages stay open.
func TestSimPagesNeedTokenOutsideDev(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	keys := signingKeyFile(t)
	cfg, _, err := config.Load("", []string{
		"SIM_ENABLED=true", "SIM_TOKENS=" + tok, "CALLPASS_TOKEN=" + tok, "CALLPASS_BASE_URL=http://127.0.0.1:4477",
		"WEBHOOK_SECRET=a-webhook-secret-of-enough-length-0123456789", "CHALLENGE_CODE_KEY=0123456789abcdef0123456789abcdef-key",
		"JWT_KEYS_FILE=" + keys, "KRATOS_ADMIN_URL=http://127.0.0.1:1", "KRATOS_PUBLIC_URL=http://127.0.0.1:1",
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	for _, auth := range []string{"", "Bearer " + tok} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/sim/calls", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		a.Handler().ServeHTTP(rec, r)
		want := http.StatusUnauthorized
		if auth != "" {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("/sim/calls with %q: %d, want %d", auth, rec.Code, want)
		}
	}
}
