package jwt

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

const claimsContextKey = "callpass.jwt.claims"

type middlewareConfig struct {
	cookie  string
	skipper func(echo.Context) bool
	realm   string
}

// MiddlewareOption configures EchoMiddleware.
type MiddlewareOption func(*middlewareConfig)

// WithCookie also accepts the token from the named cookie when there is no
// Authorization header.
func WithCookie(name string) MiddlewareOption {
	return func(c *middlewareConfig) { c.cookie = name }
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
// WWW-Authenticate challenge; unavailable keys answer 503.
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
			raw, ok := tokenFrom(c.Request(), cfg.cookie)
			if !ok {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge(cfg.realm, "", ""))
				return echo.NewHTTPError(http.StatusUnauthorized, "authentication required")
			}
			claims, err := v.Verify(c.Request().Context(), raw)
			if err != nil {
				var te *TokenError
				if errors.As(err, &te) {
					c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge(cfg.realm, "invalid_token", te.Description()))
					return echo.NewHTTPError(http.StatusUnauthorized, te.Description())
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

func tokenFrom(r *http.Request, cookie string) (string, bool) {
	if h := r.Header.Get(echo.HeaderAuthorization); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", false
		}
		tok = strings.TrimSpace(tok)
		return tok, tok != ""
	}
	if cookie != "" {
		if ck, err := r.Cookie(cookie); err == nil && ck.Value != "" {
			return ck.Value, true
		}
	}
	return "", false
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
