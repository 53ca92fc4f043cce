package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/app"
	"github.com/callpass-kratos/callpass-kratos/internal/config"
)

// TestHUPForgetsSessions: SIGHUP empties the session cache, so a session
// revoked in Kratos is asked about again at once (and the keys reload).
func TestHUPForgetsSessions(t *testing.T) {
	var calls atomic.Int64
	kratos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"5e1b7b4a-0000-4000-8000-000000000001","active":true,"expires_at":"%s",
			"authenticated_at":"2026-11-25T10:00:00Z","identity":{"id":"9a1b7b4a-0000-4000-8000-000000000002",
			"schema_id":"default","traits":{"phone":"+79001234567"}}}`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	defer kratos.Close()
	a, _ := devAppReloadingOnHUP(t, "KRATOS_PUBLIC_URL="+kratos.URL, "KRATOS_ADMIN_URL="+kratos.URL, "KRATOS_SESSION_CACHE_TTL=1m")

	ctx := context.Background()
	for range 2 {
		if _, err := a.Kratos.Session(ctx, "", "token"); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("two lookups within the TTL made %d whoami calls, want 1", n)
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The signal is handled asynchronously: look up until Kratos is asked.
	deadline := time.Now().Add(30 * time.Second)
	for calls.Load() == 1 {
		if time.Now().After(deadline) {
			t.Fatal("after SIGHUP the cached answer is still used")
		}
		time.Sleep(10 * time.Millisecond)
		if _, err := a.Kratos.Session(ctx, "", "token"); err != nil {
			t.Fatal(err)
		}
	}
}

// devAppReloadingOnHUP builds a --dev App from vars (plus a fresh data
// directory) with serve's SIGHUP handling installed; both end with the test.
func devAppReloadingOnHUP(t *testing.T, vars ...string) (*app.App, *config.Config) {
	t.Helper()
	cfg, _, err := config.Load("", append([]string{"DEV_DATA_DIR=" + t.TempDir()}, vars...), true)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	stop := reloadKeysOnHUP(a, slog.New(slog.DiscardHandler))
	t.Cleanup(stop)
	return a, cfg
}
