package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// TestClaimsAreNotStored: the page and /api/me show the caller's phone
// number and session: an answer to a cookie-authenticated GET carries
// Cache-Control no-store, so no shared cache (a CDN or proxy in front of an
// app that copies this one) keeps it and hands it to the next visitor.
func TestClaimsAreNotStored(t *testing.T) {
	ti := newTestIssuer(t)
	h := appFor(t, ti, nil)
	tok := ti.iss(jwt.AlgES256, time.Now())
	for _, path := range []string{"/", "/api/me"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(&http.Cookie{Name: "callpass_jwt", Value: tok})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d, Cache-Control %q, want 200 and no-store", path, rec.Code, rec.Header().Get("Cache-Control"))
		}
	}
}
