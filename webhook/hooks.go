package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

const (
	hookBodyLimit = 64 << 10
	apiBodyLimit  = 8 << 10
)

// Re-exported so callers of this package need not import plugin/factor for names.
const (
	HookRegistration = factor.HookRegistration
	HookSettings     = factor.HookSettings
)

// authMismatch says which part of a refused webhook Authorization header is
// wrong, so the request log tells an operator what to fix in kratos.yml
// (the auth block missing, the value without its "Bearer " scheme, or
// another secret), never anything of the secret itself.
func authMismatch(hdr string) string {
	switch {
	case hdr == "":
		return "the request has no Authorization header (the web_hook's auth block in kratos.yml: type api_key, name Authorization, in header)"
	case !strings.HasPrefix(hdr, "Bearer "):
		return `the Authorization value does not start with "Bearer " (exactly so, one space)`
	default:
		return "the Bearer value is not webhook.secret (another secret, or stray spaces)"
	}
}

// requireWebhookSecret refuses anything but "Authorization: Bearer <secret>"
// before reading the body. Both sides are hashed first so the comparison is
// constant-time whatever the lengths.
func (s *Server) requireWebhookSecret(next echo.HandlerFunc) echo.HandlerFunc {
	want := sha256.Sum256([]byte("Bearer " + s.cfg.WebhookSecret))
	return func(c echo.Context) error {
		hdr := c.Request().Header.Get(echo.HeaderAuthorization)
		// Hashed from a stack buffer: []byte(hdr) of a header this long
		// was a heap copy on every hook request.
		var buf [256]byte
		got := sha256.Sum256(append(buf[:0], hdr...))
		if s.cfg.WebhookSecret == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			setHookDecision(c, "unauthorized")
			return echo.NewHTTPError(http.StatusUnauthorized, "webhook authentication failed: "+authMismatch(hdr)+"; expected Authorization: Bearer <webhook.secret>")
		}
		return next(c)
	}
}

func hookName(c echo.Context) string {
	p := c.Path()
	return p[strings.LastIndexByte(p, '/')+1:]
}

// limitBody reads at most n bytes; a larger body is a 400 with a clear text
// (Kratos shows 4xx answers of interrupting hooks; 413 would read the same).
func limitBody(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > n {
				return &PayloadError{Reason: "body larger than " + sizeText(n)}
			}
			if req.Method == http.MethodPost || req.Method == http.MethodPut {
				body, err := readAtMost(req.Body, req.ContentLength, n)
				if err != nil {
					return err
				}
				// Handlers read the bytes from the request state (no second
				// copy); the reset Body serves anything that reads it the
				// usual way, from a reader the state holds (no allocation).
				if st := stateOf(c); st != nil {
					st.body = body
					st.bodyReader.Reset(body)
					req.Body = &st.bodyReader
				} else {
					req.Body = newBodyReader(body)
				}
				req.ContentLength = int64(len(body))
			}
			return next(c)
		}
	}
}

// bodyReader is a read body served again: one allocation, where
// io.NopCloser(bytes.NewReader(b)) is two.
type bodyReader struct{ bytes.Reader }

func newBodyReader(b []byte) *bodyReader {
	r := &bodyReader{}
	r.Reset(b)
	return r
}

func (*bodyReader) Close() error { return nil }

// readAtMost reads a body of at most n bytes in one buffer, sized from the
// declared length when there is one.
func readAtMost(r io.Reader, declared, n int64) ([]byte, error) {
	size := int64(512)
	if declared >= 0 {
		size = min(declared, n) + 1 // +1: room to see EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 512)
		}
		k, err := r.Read(buf[len(buf):min(cap(buf), int(n)+1)])
		buf = buf[:len(buf)+k]
		if int64(len(buf)) > n {
			return nil, &PayloadError{Reason: "body larger than " + sizeText(n)}
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, &PayloadError{Reason: "could not read the body"}
		}
	}
}

// requestBody is the body limitBody read (or, on a route without it, the
// body read now).
func requestBody(c echo.Context) ([]byte, error) {
	if st := stateOf(c); st != nil && st.body != nil {
		return st.body, nil
	}
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return nil, &PayloadError{Reason: "could not read the body"}
	}
	return b, nil
}

func sizeText(n int64) string { return strconv.FormatInt(n>>10, 10) + " KiB" }

func requireJSON(c echo.Context) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct == echo.MIMEApplicationJSON || ct == echo.MIMEApplicationJSONCharsetUTF8 {
		return nil // what Kratos and most clients send; skip the parser
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != echo.MIMEApplicationJSON {
		return &PayloadError{Reason: "Content-Type must be application/json"}
	}
	return nil
}

func readHookPayload(c echo.Context) (HookPayload, error) {
	if err := requireJSON(c); err != nil {
		return HookPayload{}, err
	}
	body, err := requestBody(c)
	if err != nil {
		return HookPayload{}, err
	}
	p, err := decodeHook(body)
	p.ClientIP = clientAddr(p.ClientIP)
	return p, err
}

// maxClientIP bounds the client_ip read as an address: the longest a proxy
// or Kratos writes, an IPv6 address with a zone and a port, is far shorter.
const maxClientIP = 100

// clientAddr is a hook's client_ip as the per-IP limit counts it and the
// log shows it: the address alone, as the template or a proxy may write it
// (an address; with a port, "192.0.2.1:53412", "[2001:db8::1]:443"; an
// IPv6 one in brackets or with a zone, which names an interface of the
// sender's host, not the client). Anything else (a list "a, b", a name,
// garbage, more than maxClientIP bytes) is "", as when none was sent: the
// per-IP limit does not count it (the start warns, as for a missing one)
// rather than count each spelling as a client of its own, and the log
// never carries it (it may be anything the client sent as True-Client-IP).
// Not refused: the template sends no address at registration, and the
// per-number, per-identity and global limits bind without one.
func clientAddr(s string) string {
	if s == "" || len(s) > maxClientIP {
		return ""
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		switch {
		case perr == nil:
			a = ap.Addr()
		case len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']':
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
				return ""
			}
		default:
			return ""
		}
	}
	a = a.WithZone("")
	var buf [64]byte
	if b := a.AppendTo(buf[:0]); string(b) != s {
		return string(b)
	}
	return s // already the address alone, as Kratos and proxies send it: no copy
}

func (p HookPayload) gateInput(h factor.Hook) factor.GateInput {
	in := factor.GateInput{
		Hook:           h,
		FlowID:         p.FlowID,
		FlowType:       p.FlowType,
		IdentityID:     p.IdentityID,
		Traits:         p.Traits,
		MetadataPublic: p.MetadataPublic,
		Code:           p.Code,
		Resend:         p.Resend,
		ClientIP:       p.ClientIP,
		PhoneTrait:     p.PhoneTrait,
		// Zero when absent or null.
		AuthenticatedAt:  p.Session.AuthenticatedAt,
		SessionExpiresAt: p.Session.ExpiresAt,
	}
	return in
}

// loginHook is the Kratos login after-hook: no code → start (or reuse) the
// challenge and interrupt; code → verify; success → 200, Kratos issues the session.
func (s *Server) loginHook(c echo.Context) error {
	return s.runHook(c, factor.HookLogin)
}

func (s *Server) phoneHook(h factor.Hook) echo.HandlerFunc {
	return func(c echo.Context) error { return s.runHook(c, h) }
}

func (s *Server) runHook(c echo.Context, h factor.Hook) error {
	// Decisions are noted for countHook (routes), which counts each answer
	// once: an answer that fails to be written is an error, not the decision.
	p, lang, err := readHook(c)
	if err != nil {
		return s.refuseRead(c, err, h, lang)
	}
	dec, err := s.deps.Factor.Gate(c.Request().Context(), p.gateInput(h))
	if err != nil {
		return s.refuseHook(c, err, h, lang)
	}
	if dec.Allow {
		// Kratos decodes a 200 body when response.parse is on: always send JSON,
		// and the new metadata when a phone was just proven.
		body := map[string]any{}
		if dec.MetadataPublic != nil {
			body["identity"] = map[string]any{"metadata_public": dec.MetadataPublic}
		}
		if err := c.JSON(http.StatusOK, body); err != nil {
			return err
		}
		setHookDecision(c, "allow")
		return nil
	}
	if dec.Challenge == nil {
		return errors.New("gate returned neither allow nor a challenge")
	}
	reason := ""
	switch {
	case dec.CurrentNumber && dec.RemovesNumber:
		reason = reasonCurrentNumberRemoval
	case dec.CurrentNumber:
		reason = reasonCurrentNumber
	}
	if err := writeCalling(c, lang, *dec.Challenge, reason); err != nil {
		return err
	}
	setHookDecision(c, "challenge")
	setHookMessage(c, ui.MsgCalling)
	return nil
}

// readHook reads a hook's body and its reader's language, and notes both
// and the client's address in the request state (the access log, and an
// error handleError answers, which is worded in that language). A body
// that cannot be read is counted bad_request; one refused only for a field
// of ours (fieldError) is returned with its language, for refuseRead.
func readHook(c echo.Context) (HookPayload, string, error) {
	p, err := readHookPayload(c)
	if err != nil && !isFieldError(err) {
		setHookDecision(c, "bad_request")
		return p, "", err
	}
	lang := p.lang()
	if st := stateOf(c); st != nil {
		st.clientIP = p.ClientIP
		st.lang = lang
	}
	return p, lang, err
}

// isFieldError reports whether err refuses a hook body only for one of our
// transient_payload fields, in a form we do not read (PayloadError.Field).
func isFieldError(err error) bool {
	perr, ok := errors.AsType[*PayloadError](err)
	return ok && perr.Field != ""
}

// refuseRead answers a hook body readHook refused. A field of ours sent in
// a form we do not read (a code as a JSON number, a resend as "yes") is the
// user's client's mistake: refused like the gate's refusals, with its
// message (4090014) in the user's language and counted
// refused_invalid_request, nothing checked, counted or placed. It was
// answered as a broken body: 4090010 "temporarily unavailable", which told
// the app's developer nothing, counted bad_request like a broken template.
// Any other error is a broken body, left to handleError.
func (s *Server) refuseRead(c echo.Context, err error, h factor.Hook, lang string) error {
	if isFieldError(err) {
		return s.refuseHook(c, err, h, lang)
	}
	return err
}

// refuseHook answers Kratos a hook's failed decision err: a refusal with a
// message is written (400, that message) and counted refused_<error code>,
// an outage also under the 5xx it stands for; a hang-up is counted
// canceled; anything else is left to handleError and counted error.
func (s *Server) refuseHook(c echo.Context, err error, h factor.Hook, lang string) error {
	pr := forFlow(classify(err, time.Now()), string(h))
	if pr.Code == codeClientClosedRequest {
		setHookDecision(c, "canceled") // Kratos hung up: no decision reached it
		return err
	}
	if pr.MsgID == 0 {
		setHookDecision(c, "error")
		return err
	}
	s.logProblem(c, err, pr)
	countOutage(c, pr) // answered 400 with the message
	if err := s.refusals.write(c, lang, pr); err != nil {
		return err
	}
	setHookDecision(c, refusedDecision(pr.Code))
	setHookMessage(c, pr.MsgID)
	return nil
}

// registrationSaver is the factor's end of a registration's proof
// (factor.Service has it); the route exists only with it.
type registrationSaver interface {
	RegistrationSaved(ctx context.Context, in factor.GateInput) error
}

// registeredHook is Kratos's registration hook after the save (no
// can_interrupt, no response.parse, listed before session): the number the
// flow proved stops being proven for it, so a resubmit of the completed
// flow cannot save a second account with it without a new call. An error
// is answered as one (Kratos then shows it; the identity is saved): a
// proof left in place is what this hook exists to end. A failure is
// answered, logged and counted as the other hooks' (refuseHook).
func (s *Server) registeredHook(rs registrationSaver) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, lang, err := readHook(c)
		if err != nil {
			return s.refuseRead(c, err, HookRegistration, lang)
		}
		if err := rs.RegistrationSaved(c.Request().Context(), p.gateInput(HookRegistration)); err != nil {
			return s.refuseHook(c, err, HookRegistration, lang)
		}
		if err := c.JSON(http.StatusOK, map[string]any{}); err != nil {
			return err
		}
		setHookDecision(c, "allow")
		return nil
	}
}

// refusedDecisions holds the hook decision of each refusal's error code,
// "refused_" + code, made once: the codes are classify's few constants, and
// the concatenation was an allocation on every refused hook.
var refusedDecisions sync.Map // of string → string

func refusedDecision(code string) string {
	if d, ok := refusedDecisions.Load(code); ok {
		return d.(string)
	}
	d, _ := refusedDecisions.LoadOrStore(code, "refused_"+code)
	return d.(string)
}

// notBefore formats a "not before" instant for Kratos messages, whose
// times have whole seconds: rounded up, so a page that enables its button at
// that second is never early (rounding down let the resend button come on
// up to a second before the cooldown ended, and the press was refused).
func notBefore(t time.Time) string { return ceilSecond(t).UTC().Format(time.RFC3339) }

// ceilSecond rounds t up to a whole second.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// lang is the language of the hook's messages: transient_payload.callpass_lang
// when it names one of ours (the UI's explicit choice: an app's HTTP client
// may send no Accept-Language, or the device's rather than the app's), then
// the user's Accept-Language, then the default.
func (p HookPayload) lang() string {
	if p.Lang != "" {
		return p.Lang
	}
	if l, ok := ui.ParseAcceptLanguage(p.AcceptLanguage); ok {
		return l
	}
	return ui.DefaultLang
}
