package webhook

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// Factor is what the HTTP layer needs from the second factor (plugin/factor).
type Factor interface {
	Gate(ctx context.Context, in factor.GateInput) (factor.GateDecision, error)
	StepUpStart(ctx context.Context, creds factor.Creds, resend bool, clientIP string) (factor.ChallengeView, error)
	StepUpGet(ctx context.Context, creds factor.Creds, id string) (factor.ChallengeView, error)
	// StepUpFollow and StepUpResend serve /2fa, whose tabs follow the
	// session's current challenge (one per session).
	StepUpFollow(ctx context.Context, creds factor.Creds, id string) (factor.ChallengeView, error)
	StepUpResend(ctx context.Context, creds factor.Creds, id, clientIP string) (factor.ChallengeView, error)
	StepUpVerify(ctx context.Context, creds factor.Creds, id, code string, opts factor.TokenOptions) (factor.VerifyOutput, error)
	Exchange(ctx context.Context, creds factor.Creds, opts factor.TokenOptions) (factor.TokenView, error)
}

const sessionTokenHeader = "X-Session-Token"

// credsOf is what the request proves its Kratos session with, handed on to
// Kratos's whoami: the browser's cookies without our own JWT cookie, whose
// token carries the user's phone number and is none of Kratos's business
// (Kratos may log the headers it gets). Every other cookie goes on as it
// came: Kratos's session cookie is named in Kratos's configuration.
func (s *Server) credsOf(c echo.Context) factor.Creds {
	r := c.Request()
	return factor.Creds{Cookie: withoutCookie(r.Header.Get("Cookie"), s.cfg.JWTCookie.Name),
		SessionToken: r.Header.Get(sessionTokenHeader)}
}

// withoutCookie is a Cookie header without the cookies called name (all of
// them: a browser may hold one per path or domain). The header is returned
// as it came when it has none; otherwise the other cookies keep their bytes
// and are joined by "; ", as browsers send them. "" when none is left.
func withoutCookie(header, name string) string {
	if name == "" || !strings.Contains(header, name) {
		return header
	}
	var b strings.Builder
	dropped := false
	for rest := header; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, ";")
		part = strings.Trim(part, " \t")
		if n, _, _ := strings.Cut(part, "="); strings.Trim(n, " \t") == name {
			dropped = true
			continue
		}
		if part == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(part)
	}
	if !dropped {
		return header
	}
	return b.String()
}

// csrf protects cookie-authenticated POSTs: a browser always sends Origin on
// cross-site POSTs, so a missing or foreign Origin is refused. Token-
// authenticated calls are not exposed to CSRF (browsers never add the header).
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	allowed := make(map[string]bool, len(s.cfg.AllowedOrigins))
	for _, o := range s.cfg.AllowedOrigins {
		allowed[canonOriginString(o)] = true // as safeReturnTo compares
	}
	return func(c echo.Context) error {
		r := c.Request()
		if r.Header.Get(sessionTokenHeader) != "" || r.Header.Get("Cookie") == "" {
			return next(c)
		}
		origin := r.Header.Get("Origin")
		if origin == "" {
			if ref, err := url.Parse(r.Header.Get("Referer")); err == nil && ref.Host != "" {
				origin = ref.Scheme + "://" + ref.Host
			}
		}
		if origin == "" || !allowed[canonOriginString(origin)] {
			return &csrfError{}
		}
		return next(c)
	}
}

type csrfError struct{}

func (*csrfError) Error() string {
	return "cross-site request refused: the Origin of a cookie-authenticated POST must be an allowed origin"
}

type startRequest struct {
	Resend bool `json:"resend"`
}

type verifyRequest struct {
	Code string `json:"code"`
	// Audience: the token's only aud (one of jwt.audience); "" for all.
	Audience string `json:"audience"`
}

// tokenRequest is /v1/token's optional body.
type tokenRequest struct {
	Audience string `json:"audience"`
}

// decodeJSON reads an optional (start) or required (verify) JSON body strictly.
func decodeJSON(c echo.Context, v any, optional bool) error {
	body, err := requestBody(c)
	if err != nil {
		return err
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := requireJSON(c); err != nil {
		return err
	}
	return strictDecode(body, v)
}

func (s *Server) startChallenge(c echo.Context) error {
	var req startRequest
	if err := decodeJSON(c, &req, true); err != nil {
		return err
	}
	v, err := s.deps.Factor.StepUpStart(c.Request().Context(), s.credsOf(c), req.Resend, c.RealIP())
	if err != nil {
		return err
	}
	status := http.StatusOK
	if v.Placed {
		status = http.StatusCreated
	}
	// Per session, with the masked number: no shared cache may keep it.
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, v)
}

func (s *Server) getChallenge(c echo.Context) error {
	get := s.deps.Factor.StepUpGet
	switch c.QueryParam("follow") {
	case "", "false":
	case "true":
		// {id} replaced (another tab's call), expired or locked: the
		// session's current challenge, as /2fa?challenge={id} shows it (a
		// page's status poll follows the flow so). Only this session's.
		get = s.deps.Factor.StepUpFollow
	default:
		return &PayloadError{Reason: `follow must be "true" or "false"`}
	}
	v, err := get(c.Request().Context(), s.credsOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, v)
}

type verifyResponse struct {
	Verified  bool                 `json:"verified"`
	Challenge factor.ChallengeView `json:"challenge"`
	factor.TokenView
}

func (s *Server) verifyChallenge(c echo.Context) error {
	if err := refuseQueryAudience(c); err != nil {
		return err
	}
	var req verifyRequest
	if err := decodeJSON(c, &req, false); err != nil {
		return err
	}
	out, err := s.deps.Factor.StepUpVerify(c.Request().Context(), s.credsOf(c), c.Param("id"), req.Code, factor.TokenOptions{Audience: req.Audience})
	if err != nil {
		return err
	}
	if req.Audience == "" {
		s.setTokenCookie(c, out.Token) // as /v1/token: only a token for every app
	}
	// The body carries the access_token, as /v1/token's does (RFC 6749 §5.1).
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, verifyResponse{Verified: true, Challenge: out.Challenge, TokenView: out.Token})
}

func (s *Server) exchangeToken(c echo.Context) error {
	// The body is optional and read only when it is JSON: clients written
	// before it existed may send anything (a form, text/plain), which was
	// always ignored and still is.
	if err := refuseQueryAudience(c); err != nil {
		return err
	}
	var req tokenRequest
	body, err := requestBody(c)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) > 0 {
		switch notJSON := requireJSON(c); {
		case notJSON == nil:
			if err := strictDecode(body, &req); err != nil {
				return err
			}
		case asksAudience(body):
			// An audience sent without the JSON type (fetch() with a string
			// body sends text/plain; a form sends audience=…) would be
			// ignored and the token would name every app: say what is
			// wrong instead.
			return notJSON
		}
	}
	tok, err := s.deps.Factor.Exchange(c.Request().Context(), s.credsOf(c), factor.TokenOptions{Audience: req.Audience})
	if err != nil {
		return err
	}
	if req.Audience == "" {
		// One app's token must not replace the cookie every app reads.
		s.setTokenCookie(c, tok)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, tok)
}

// asksAudience reports whether a body that is not JSON asks for an
// audience: a JSON "audience" key (sent as text/plain) or a multipart
// field's name="audience", or a form's audience field, however encoded
// (%61udience=). The word anywhere else (another field's name or value,
// free text) asks for nothing: such bodies were always ignored and still are.
func asksAudience(body []byte) bool {
	if bytes.Contains(body, []byte(`"audience"`)) {
		return true
	}
	form, _ := url.ParseQuery(string(body)) // the pairs it could read
	return form.Has("audience")
}

// refuseQueryAudience refuses an audience asked in the query string: the
// token APIs read it from the JSON body only, and one ignored would give a
// token naming every app instead of the one asked for.
func refuseQueryAudience(c echo.Context) error {
	if c.QueryParams().Has("audience") {
		return &PayloadError{Reason: "audience must be sent in the JSON body, not in the query string"}
	}
	return nil
}

// maxCookieBytes is the most a cookie's name and value may hold in the
// browsers that matter.
const maxCookieBytes = 4096

func (s *Server) setTokenCookie(c echo.Context, t factor.TokenView) {
	if s.cfg.JWTCookie.Name == "" || t.AccessToken == "" {
		return
	}
	if n := len(s.cfg.JWTCookie.Name) + len(t.AccessToken); n > maxCookieBytes {
		// Browsers drop such a cookie without a word (Chromium and Firefox
		// keep name and value within 4096 bytes, RFC 6265 §6.1's minimum):
		// the app would find no token and nobody would know why.
		if now := time.Now().Unix(); now-s.cookieWarned.Load() >= 60 && s.cookieWarned.Swap(now) != now {
			s.log.WarnContext(c.Request().Context(), "a JWT is too large for jwt.cookie (browsers drop a cookie whose name and value exceed 4096 bytes): "+
				"it was not set as a cookie, only answered in the JSON body; shorten jwt.claims_mapper's output (logged once a minute)",
				"cookie_bytes", n, "cookie", s.cfg.JWTCookie.Name)
		}
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return
	}
	c.SetCookie(&http.Cookie{
		Name:     s.cfg.JWTCookie.Name,
		Value:    t.AccessToken,
		Path:     "/",
		Domain:   s.cfg.JWTCookie.Domain,
		Expires:  t.ExpiresAt,
		MaxAge:   int(time.Until(t.ExpiresAt).Seconds()),
		HttpOnly: true,
		Secure:   s.cfg.JWTCookie.Secure,
		SameSite: http.SameSiteLaxMode,
	})
	// Any answer carrying the token, a redirect included (RFC 6749 §5.1).
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
}
