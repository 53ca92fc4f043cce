package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/callpass-kratos/callpass-kratos/jwt"
)

type testIssuer struct {
	jwks *httptest.Server
	iss  func(alg string, at time.Time) string
}

// newTestIssuer publishes an ES256 and an EdDSA key and signs with either.
func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	es, err := jwt.GenerateKey(jwt.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := jwt.GenerateKey(jwt.AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	all, err := jwt.NewKeySet([]*jwt.Key{es, ed}, "")
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(jwt.JWKSHandler(all, time.Minute))
	t.Cleanup(jwks.Close)
	return &testIssuer{jwks: jwks, iss: func(alg string, at time.Time) string {
		k := es
		if alg == jwt.AlgEdDSA {
			k = ed
		}
		ks, err := jwt.NewKeySet([]*jwt.Key{k}, "")
		if err != nil {
			t.Fatal(err)
		}
		iss, err := jwt.NewIssuer(jwt.IssuerConfig{Issuer: "http://issuer.test", Audience: []string{"demo"}, Keys: ks,
			TTL: 10 * time.Minute, Clock: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := iss.Issue(context.Background(), jwt.Subject{IdentityID: "id-1", SessionID: "s", Methods: []string{"password"}, PhoneE164: "+79991234567"})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Raw
	}}
}

func appFor(t *testing.T, ti *testIssuer, mod func(*config)) http.Handler {
	t.Helper()
	cfg, err := parseConfig([]string{"--jwks", ti.jwks.URL, "--issuer", "http://issuer.test", "--audience", "demo"},
		func(string) string { return "" }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&cfg)
	}
	e, err := newServer(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A page load without a valid token sends the browser to get one; API
// clients keep the JSON 401.
func TestBrowserWithoutTokenIsSentToGetOne(t *testing.T) {
	ti := newTestIssuer(t)
	app := appFor(t, ti, nil)
	const html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	do := func(path, accept, auth string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, req)
		return rec
	}
	jwtCookie := func(v string) *http.Cookie { return &http.Cookie{Name: "callpass_jwt", Value: v} }
	expired := ti.iss(jwt.AlgES256, time.Now().Add(-time.Hour))
	valid := ti.iss(jwt.AlgES256, time.Now())

	for name, rec := range map[string]*httptest.ResponseRecorder{
		"no cookie":      do("/", html, ""),
		"expired cookie": do("/", html, "", jwtCookie(expired)),
		"api page, html": do("/api/me", html, ""),
	} {
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "http://127.0.0.1:4455/welcome" {
			t.Errorf("%s: %d %q, want 303 to the UI's /welcome", name, rec.Code, rec.Header().Get("Location"))
		}
		if c := rec.Result().Cookies(); len(c) != 1 || c[0].Name != signInCookie || c[0].MaxAge <= 0 {
			t.Errorf("%s: loop guard cookie %v", name, c)
		}
	}
	if rec := do("/", html, "", jwtCookie(valid)); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Hello, id-1") {
		t.Errorf("valid cookie: %d", rec.Code)
	}

	// Back from the login URL still without a token (say the cookie went to
	// another host name): a page with a link, not a redirect loop.
	guard := &http.Cookie{Name: signInCookie, Value: "1"}
	for name, rec := range map[string]*httptest.ResponseRecorder{
		"still no token": do("/", html, "", guard),
		"bad signature":  do("/", html, "", jwtCookie(valid[:len(valid)-4]+"AAAA")),
	} {
		body := rec.Body.String()
		if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
			!strings.Contains(body, `<a href="http://127.0.0.1:4455/welcome">`) {
			t.Errorf("%s: %d %s\n%s", name, rec.Code, rec.Header().Get("Content-Type"), body)
		}
	}

	// API clients: JSON, with the RFC 6750 challenge.
	for name, rec := range map[string]*httptest.ResponseRecorder{
		"json accept":       do("/api/me", "application/json", ""),
		"no accept":         do("/", "", "", jwtCookie(expired)),
		"bearer with html":  do("/", html, "Bearer "+expired),
		"bearer, no accept": do("/api/me", "", "Bearer x.y.z"),
	} {
		var m map[string]any
		if rec.Code != http.StatusUnauthorized || json.Unmarshal(rec.Body.Bytes(), &m) != nil || m["message"] == nil ||
			!strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %q %s", name, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}

	// Header-only deployments (no cookie) never redirect: nothing would
	// bring the token back.
	headerOnly := appFor(t, ti, func(c *config) { c.Cookie = "" })
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept", html)
	headerOnly.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("header-only app: %d, want 401", rec.Code)
	}
}

// The example pins the algorithm list (README: verify with a fixed list):
// ES256 by default, so a token of another published key's algorithm is
// refused; --algorithms widens it.
func TestAlgorithmsPinned(t *testing.T) {
	ti := newTestIssuer(t)
	ed := ti.iss(jwt.AlgEdDSA, time.Now())
	es := ti.iss(jwt.AlgES256, time.Now())
	call := func(app http.Handler, tok string) int {
		req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, req)
		return rec.Code
	}
	def := appFor(t, ti, nil)
	if got := call(def, es); got != http.StatusOK {
		t.Errorf("ES256 token: %d", got)
	}
	if got := call(def, ed); got != http.StatusUnauthorized {
		t.Errorf("EdDSA token with the default list: %d, want 401", got)
	}
	both := appFor(t, ti, func(c *config) { c.Algorithms = "ES256,EdDSA" })
	if got := call(both, ed); got != http.StatusOK {
		t.Errorf("EdDSA token with --algorithms ES256,EdDSA: %d", got)
	}
	if _, err := newServer(config{JWKSURL: ti.jwks.URL, Issuer: "i", Audience: "a", Algorithms: "HS256"}, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("HS256 accepted")
	}
}

// The redirect follows the cause EchoMiddleware puts on the error
// (jwt.ErrTokenMissing, jwt.ErrTokenExpired), not the wording of its
// message: a reworded description still redirects, and another refusal
// that happens to use the same words does not.
func TestSignInDecidesOnCause(t *testing.T) {
	const loginURL = "http://ui.test/welcome"
	tests := []struct {
		name     string
		err      error
		redirect bool
	}{
		{"missing, reworded", echo.NewHTTPError(http.StatusUnauthorized, "please log in").SetInternal(jwt.ErrTokenMissing), true},
		{"expired, reworded", echo.NewHTTPError(http.StatusUnauthorized, "token too old").SetInternal(&jwt.TokenError{Reason: jwt.ReasonExpired}), true},
		{"expired, wrapped", echo.NewHTTPError(http.StatusUnauthorized, "x").SetInternal(fmt.Errorf("verify: %w", jwt.ErrTokenExpired)), true},
		{"bad signature, old missing text", echo.NewHTTPError(http.StatusUnauthorized, "authentication required").SetInternal(&jwt.TokenError{Reason: jwt.ReasonBadSignature}), false},
		{"no cause, old expired text", echo.NewHTTPError(http.StatusUnauthorized, "the token expired"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := echo.New()
			e.GET("/", func(echo.Context) error { return tc.err }, signInBrowsers(loginURL))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Accept", "text/html")
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if got := rec.Code == http.StatusSeeOther && rec.Header().Get("Location") == loginURL; got != tc.redirect {
				t.Fatalf("redirect %v (%d %q), want %v", got, rec.Code, rec.Header().Get("Location"), tc.redirect)
			}
			if !tc.redirect && (rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `<a href="`+loginURL+`">`)) {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		})
	}
}
