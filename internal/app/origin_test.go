package app

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDefaultPortInBaseURLAllowsThePagesPOSTs: with serve.base_url written
// with its scheme's default port (https://2fa.example.com:443), a browser's
// cookie-authenticated POST from the service's own pages, Origin
// https://2fa.example.com (browsers leave the default port out), passes the
// CSRF check. The allowed origin kept the :443, so it was refused, 403
// csrf. A foreign origin stays refused.
func TestDefaultPortInBaseURLAllowsThePagesPOSTs(t *testing.T) {
	a := devApp(t, "SERVE_BASE_URL=https://2fa.example.com:443")
	h := a.Handler()
	for _, tc := range []struct {
		origin string
		csrf   bool
	}{
		{"https://2fa.example.com", false},
		{"https://evil.example.com", true},
	} {
		req := httptest.NewRequest(http.MethodPost, "/v1/challenges", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Cookie", "ory_kratos_session=s")
		req.Header.Set("Origin", tc.origin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		refused := rec.Code == http.StatusForbidden && strings.Contains(rec.Body.String(), "csrf")
		if refused != tc.csrf {
			t.Errorf("Origin %s: %d %s; want CSRF refusal %v", tc.origin, rec.Code, rec.Body.String(), tc.csrf)
		}
	}
}
