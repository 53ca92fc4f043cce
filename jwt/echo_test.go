package jwt

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// TestEchoMiddlewareCookieOrigin: a cookie token on an unsafe method needs
// an allowed Origin (or, without one, Referer): a page on a sibling
// subdomain is same-site, so SameSite=Lax still sends the cookie with its
// form posts. A header token cannot be sent by another page and is not
// checked; safe methods are not checked.
func TestEchoMiddlewareCookieOrigin(t *testing.T) {
	_, tok, v := clockedToken(t)
	newEcho := func(opt MiddlewareOption) *echo.Echo {
		e := echo.New()
		e.Use(EchoMiddleware(v, opt))
		h := func(c echo.Context) error { return c.String(200, "done") }
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			e.Add(m, "/do", h)
		}
		return e
	}
	allowed := newEcho(WithCookie("callpass_jwt", "https://app.example.com", "HTTP://Admin.Example.com:80/"))
	none := newEcho(WithCookie("callpass_jwt"))
	const evil = "https://evil.sibling.example.com"

	tests := []struct {
		name            string
		e               *echo.Echo
		method          string
		header, cookie  bool
		origin, referer string
		want            int
	}{
		{"POST cookie, sibling origin", allowed, http.MethodPost, false, true, evil, "", 403},
		{"POST cookie, allowed origin", allowed, http.MethodPost, false, true, "https://app.example.com", "", 200},
		{"POST cookie, second allowed origin (normalized)", allowed, http.MethodPost, false, true, "http://admin.example.com", "", 200},
		{"POST cookie, allowed host on another port", allowed, http.MethodPost, false, true, "https://app.example.com:8443", "", 403},
		{"POST cookie, allowed host over http", allowed, http.MethodPost, false, true, "http://app.example.com", "", 403},
		{"POST cookie, Origin null", allowed, http.MethodPost, false, true, "null", "", 403},
		{"POST cookie, no Origin, allowed Referer", allowed, http.MethodPost, false, true, "", "https://app.example.com/page?x=1", 200},
		{"POST cookie, no Origin, sibling Referer", allowed, http.MethodPost, false, true, "", evil + "/form", 403},
		{"POST cookie, neither Origin nor Referer", allowed, http.MethodPost, false, true, "", "", 403},
		{"POST cookie, sibling Origin wins over allowed Referer", allowed, http.MethodPost, false, true, evil, "https://app.example.com/", 403},
		{"PUT cookie, sibling origin", allowed, http.MethodPut, false, true, evil, "", 403},
		{"PATCH cookie, sibling origin", allowed, http.MethodPatch, false, true, evil, "", 403},
		{"DELETE cookie, sibling origin", allowed, http.MethodDelete, false, true, evil, "", 403},
		{"GET cookie, no Origin", allowed, http.MethodGet, false, true, "", "", 200},
		{"GET cookie, sibling origin", allowed, http.MethodGet, false, true, evil, "", 200},
		{"HEAD cookie", allowed, http.MethodHead, false, true, "", "", 200},
		{"POST header, no Origin", allowed, http.MethodPost, true, false, "", "", 200},
		{"POST header, sibling origin", allowed, http.MethodPost, true, false, evil, "", 200},
		{"no allow-list: POST cookie, no Origin", none, http.MethodPost, false, true, "", "", 403},
		{"no allow-list: POST cookie, any origin", none, http.MethodPost, false, true, "https://app.example.com", "", 403},
		{"no allow-list: GET cookie", none, http.MethodGet, false, true, "", "", 200},
		{"no allow-list: POST header", none, http.MethodPost, true, false, "", "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/do", nil)
			if tc.header {
				req.Header.Set("Authorization", "Bearer "+tok.Raw)
			}
			if tc.cookie {
				req.AddCookie(&http.Cookie{Name: "callpass_jwt", Value: tok.Raw})
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.referer != "" {
				req.Header.Set("Referer", tc.referer)
			}
			rec := httptest.NewRecorder()
			tc.e.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
		})
	}
}

func TestWithCookieRefusesMalformedOrigin(t *testing.T) {
	for _, o := range []string{"app.example.com", "https://app.example.com/path", "https://app.example.com?x", "ftp://app.example.com", "https://u@app.example.com", ""} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WithCookie accepted origin %q", o)
				}
			}()
			WithCookie("c", o)
		}()
	}
}

// TestEchoMiddlewareErrorCause: the middleware's error carries why the
// request was refused, for errors.Is, while the HTTP answer stays the
// fixed text.
func TestEchoMiddlewareErrorCause(t *testing.T) {
	clock, tok, v := clockedToken(t)
	mw := EchoMiddleware(v, WithCookie("callpass_jwt"))(func(c echo.Context) error { return c.String(200, "in") })

	tests := []struct {
		name    string
		header  string
		advance time.Duration
		code    int
		message string
		is      []error
		isNot   []error
	}{
		{"no token", "", 0, 401, "authentication required", []error{ErrTokenMissing}, []error{ErrTokenInvalid, ErrTokenExpired}},
		{"basic auth", "Basic dTpw", 0, 401, "authentication required", []error{ErrTokenMissing}, []error{ErrTokenInvalid}},
		{"malformed", "Bearer x.y.z", 0, 401, "the token is malformed", []error{ErrTokenInvalid, ErrTokenMalformed}, []error{ErrTokenMissing, ErrTokenExpired}},
		{"expired", "Bearer " + tok.Raw, DefaultTTL + time.Hour, 401, "the token expired", []error{ErrTokenInvalid, ErrTokenExpired}, []error{ErrTokenMissing, ErrTokenMalformed}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock.Advance(tc.advance)
			defer clock.Advance(-tc.advance)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			c := echo.New().NewContext(req, httptest.NewRecorder())
			err := mw(c)
			var he *echo.HTTPError
			if !errors.As(err, &he) || he.Code != tc.code || he.Message != tc.message {
				t.Fatalf("err %v, want %d %q", err, tc.code, tc.message)
			}
			if he.Internal == nil {
				t.Fatal("no cause on HTTPError.Internal")
			}
			for _, want := range tc.is {
				if !errors.Is(err, want) {
					t.Errorf("errors.Is(%v, %v) = false", err, want)
				}
			}
			for _, not := range tc.isNot {
				if errors.Is(err, not) {
					t.Errorf("errors.Is(%v, %v) = true", err, not)
				}
			}
			if strings.Contains(err.Error(), tok.Raw) {
				t.Fatal("token in the error")
			}
		})
	}
}
