package kratos_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
)

// TestReadyAsksKratosReadinessDirectly: Kratos (v1.x) serves its admin
// API under /admin and answers /health/ready with a redirect to
// /admin/health/ready; kratos-client-go asks the old path. Every readiness
// check cost two requests, and behind a gateway that serves the admin API
// under a path of its own (kratos.admin_url http://gateway/kratos-admin,
// the prefix stripped) the redirect left that path: the check failed and
// the service was never ready, while the identity calls through the same
// URL worked. Ready asks /admin/health/ready, once, under admin_url, and
// /health/ready only where that is not found (Kratos's public port).
func TestReadyAsksKratosReadinessDirectly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Kratos")
	}
	k := testenv.StartKratos(t, testenv.KratosOptions{})
	admin, err := url.Parse(k.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	proxy := httputil.NewSingleHostReverseProxy(admin)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		http.StripPrefix("/kratos-admin", proxy).ServeHTTP(w, r)
	}))
	t.Cleanup(gw.Close)
	id := k.CreateIdentity(t, "ready-prefix@example.org", "correct horse battery staple", "+79161234567")

	for _, tc := range []struct{ name, adminURL, want string }{
		{"admin_url of Kratos itself", k.AdminURL, ""},
		{"admin_url behind a gateway's path", gw.URL + "/kratos-admin", "/kratos-admin/admin/health/ready"},
		// Kratos's public port answers /health/ready only: an admin_url
		// naming it passed before, and still does. Kratos redirects the
		// public port's /admin/... to serve.admin.base_url, so the
		// identity read (a settings flow's stored number) works through
		// it wherever that address is reachable (docs/operations.md).
		{"admin_url of Kratos's public port", k.PublicURL, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kratos.New(kratos.Config{PublicURL: k.PublicURL, AdminURL: tc.adminURL, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// The identity API works through the URL: it is a valid admin_url.
			if _, err := c.Identity(ctx, id); err != nil {
				t.Fatalf("Identity: %v", err)
			}
			mu.Lock()
			seen = nil
			mu.Unlock()
			if err := c.Ready(ctx); err != nil {
				t.Fatalf("Ready: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.want != "" && strings.Join(seen, " ") != tc.want {
				t.Errorf("Ready asked %q, want one request to %s", seen, tc.want)
			}
		})
	}
}
