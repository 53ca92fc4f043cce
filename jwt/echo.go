package jwt

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

const claimsContextKey = "callpass.jwt.claims"

type middlewareConfig struct {
	cookie  string
	origins map[string]bool // may send unsafe requests authenticated by the cookie
	skipper func(echo.Context) bool
	realm   string
}

// MiddlewareOption configures EchoMiddleware.
type MiddlewareOption func(*middlewareConfig)

// WithCookie also accepts the token from the named cookie when there is no
// Authorization header.
//
// A browser attaches the cookie to requests that other pages trigger too,
// and SameSite=Lax does not stop a form on a sibling subdomain: it is the
// same site (and a shared cookie domain sends the cookie there). So on an unsafe
// method (anything but GET, HEAD, OPTIONS, TRACE) a cookie token is accepted
// only from a request whose Origin, or without one its Referer, is one of
// allowedOrigins (e.g. "https://app.example.com": scheme, host, and port
// unless the default); otherwise 403. Without allowedOrigins the cookie works
// for safe methods only. A WebSocket upgrade is a GET, so its Origin is not
// checked here: an app accepting WebSockets authenticated by the cookie must
// check Origin itself. A token in the Authorization header, which no other
// page can make a browser send, is not checked. Panics on a malformed origin.
func WithCookie(name string, allowedOrigins ...string) MiddlewareOption {
	set := make(map[string]bool, len(allowedOrigins))
	for _, o := range allowedOrigins {
		n, ok := configOrigin(o)
		if !ok {
			panic(fmt.Sprintf("jwt: WithCookie: %q is not an origin (scheme://host[:port])", o))
		}
		set[n] = true
	}
	return func(c *middlewareConfig) { c.cookie, c.origins = name, set }
}

// WithSkipper lets requests for which skip returns true through unchecked.
func WithSkipper(skip func(echo.Context) bool) MiddlewareOption {
	return func(c *middlewareConfig) { c.skipper = skip }
}

// WithRealm sets the realm in WWW-Authenticate challenges.
func WithRealm(realm string) MiddlewareOption {
	return func(c *middlewareConfig) { c.realm = realm }
}

// EchoMiddleware requires a valid token from `Authorization: Bearer …` (or
// the cookie set with WithCookie) and stores its claims for
// ClaimsFromContext. A missing or refused token answers 401 with an RFC 6750
// WWW-Authenticate challenge; unavailable keys answer 503; a cookie token on
// an unsafe method from an origin WithCookie does not allow answers 403.
//
// The returned *echo.HTTPError keeps why on its Internal (which its Unwrap
// returns), so code after the middleware decides with errors.Is, never by
// its message: ErrTokenMissing when there was no token, the verifier's
// *TokenError (ErrTokenInvalid plus its reason's sentinel, such as
// ErrTokenExpired) for a refused one, ErrKeysUnavailable for the 503.
// The answers' bodies are the fixed messages; only with echo's Debug on
// does the default error handler add the error's text (Internal included).
func EchoMiddleware(v *Verifier, opts ...MiddlewareOption) echo.MiddlewareFunc {
	cfg := middlewareConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.skipper != nil && cfg.skipper(c) {
				return next(c)
			}
			raw, fromCookie, ok := tokenFrom(c.Request(), cfg.cookie)
			if !ok {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge(cfg.realm, "", ""))
				return echo.NewHTTPError(http.StatusUnauthorized, "authentication required").SetInternal(ErrTokenMissing)
			}
			if fromCookie && !safeMethod(c.Request().Method) && !cfg.origins[requestOrigin(c.Request())] {
				return echo.NewHTTPError(http.StatusForbidden, "cross-origin request refused")
			}
			claims, err := v.Verify(c.Request().Context(), raw)
			if err != nil {
				var te *TokenError
				if errors.As(err, &te) {
					c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge(cfg.realm, "invalid_token", te.Description()))
					return echo.NewHTTPError(http.StatusUnauthorized, te.Description()).SetInternal(err)
				}
				return echo.NewHTTPError(http.StatusServiceUnavailable, "token verification unavailable").SetInternal(err)
			}
			c.Set(claimsContextKey, claims)
			return next(c)
		}
	}
}

// ClaimsFromContext returns the claims EchoMiddleware stored.
func ClaimsFromContext(c echo.Context) (*Claims, bool) {
	claims, ok := c.Get(claimsContextKey).(*Claims)
	return claims, ok && claims != nil
}

// tokenFrom returns the token and whether it came from the cookie.
func tokenFrom(r *http.Request, cookie string) (tok string, fromCookie, ok bool) {
	if h := r.Header.Get(echo.HeaderAuthorization); h != "" {
		scheme, t, found := strings.Cut(h, " ")
		if !found || !strings.EqualFold(scheme, "Bearer") {
			return "", false, false
		}
		t = strings.TrimSpace(t)
		return t, false, t != ""
	}
	if cookie != "" {
		if ck, err := r.Cookie(cookie); err == nil && ck.Value != "" {
			return ck.Value, true, true
		}
	}
	return "", false, false
}

// safeMethod: RFC 9110 9.2.1 methods, which must not change state.
func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// requestOrigin is the origin the request came from: its Origin header, or
// without one its Referer's origin; "" when neither names one ("null"
// included).
func requestOrigin(r *http.Request) string {
	src := r.Header.Get(echo.HeaderOrigin)
	if src == "" {
		src = r.Referer()
	}
	o, _ := originOf(src)
	return o
}

// originOf returns the origin of an absolute http(s) URL, lower case and
// without the scheme's default port, as browsers serialize it.
func originOf(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", false
	}
	host := strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	return u.Scheme + "://" + host, true
}

// configOrigin is originOf for an allowed origin: nothing but the origin
// (a path, query or fragment suggests a mistake).
func configOrigin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	return originOf(s)
}

// challenge builds an RFC 6750 WWW-Authenticate value. The descriptions are
// fixed texts without quotes or backslashes.
func challenge(realm, code, desc string) string {
	parts := []string{}
	if realm != "" {
		parts = append(parts, `realm="`+strings.NewReplacer(`"`, ``, `\`, ``).Replace(realm)+`"`)
	}
	if code != "" {
		parts = append(parts, `error="`+code+`"`, `error_description="`+desc+`"`)
	}
	if len(parts) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(parts, ", ")
}
