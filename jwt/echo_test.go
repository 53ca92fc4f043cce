package jwt

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestEchoMiddleware(t *testing.T) {
	clock := newClock()
	ks := mustKeySet(t, mustKey(t, AlgES256))
	srv := newJWKSServer(t, ks)
	iss := mustIssuer(t, ks, clock.Now)
	tok, err := iss.Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	wrongAud := mustIssuer(t, ks, clock.Now, func(c *IssuerConfig) { c.Audience = []string{"other"} })
	other, err := wrongAud.Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, srv.URL, clock.Now)

	e := echo.New()
	e.Use(EchoMiddleware(v, WithCookie("callpass_jwt"), WithSkipper(func(c echo.Context) bool { return c.Path() == "/healthz" })))
	e.GET("/me", func(c echo.Context) error {
		claims, ok := ClaimsFromContext(c)
		if !ok {
			return c.String(500, "no claims")
		}
		return c.String(200, claims.Subject)
	})
	e.GET("/healthz", func(c echo.Context) error { return c.String(200, "ok") })

	tests := []struct {
		name      string
		path      string
		header    string
		cookie    string
		want      int
		wantBody  string
		wantChall string
	}{
		{"bearer", "/me", "Bearer " + tok.Raw, "", 200, testSubject().IdentityID, ""},
		{"lowercase scheme", "/me", "bearer " + tok.Raw, "", 200, testSubject().IdentityID, ""},
		{"cookie", "/me", "", tok.Raw, 200, testSubject().IdentityID, ""},
		{"header wins over cookie", "/me", "Bearer " + other.Raw, tok.Raw, 401, "", `error="invalid_token", error_description="the token is not for this audience"`},
		{"no token", "/me", "", "", 401, "", "Bearer"},
		{"basic auth", "/me", "Basic dTpw", "", 401, "", "Bearer"},
		{"garbage", "/me", "Bearer x.y.z", "", 401, "", `error="invalid_token", error_description="the token is malformed"`},
		{"skipped", "/healthz", "", "", 200, "ok", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "callpass_jwt", Value: tc.cookie})
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if tc.wantBody != "" && rec.Body.String() != tc.wantBody {
				t.Fatalf("body %q", rec.Body)
			}
			chall := rec.Header().Get("WWW-Authenticate")
			if tc.wantChall == "" && chall != "" || !strings.Contains(chall, tc.wantChall) || (tc.wantChall != "" && !strings.HasPrefix(chall, "Bearer")) {
				t.Fatalf("WWW-Authenticate %q, want %q", chall, tc.wantChall)
			}
			if strings.Contains(rec.Body.String(), tok.Raw) || strings.Contains(chall, tok.Raw) {
				t.Fatal("token echoed back")
			}
		})
	}
}

func TestEchoMiddlewareKeysUnavailable(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgES256))
	tok, err := mustIssuer(t, ks, nil).Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t, ks)
	srv.Close()
	e := echo.New()
	e.Use(EchoMiddleware(mustVerifier(t, srv.URL, nil)))
	e.GET("/", func(c echo.Context) error { return c.String(200, "in") })
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Raw)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
}
