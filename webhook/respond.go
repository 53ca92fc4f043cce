package webhook

import (
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	segjson "github.com/segmentio/encoding/json"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// kratosMessages is Kratos's webhook interrupt format.
type kratosMessages struct {
	Messages []kratosInstance `json:"messages"`
}

type kratosInstance struct {
	InstancePtr string          `json:"instance_ptr"`
	Messages    []kratosMessage `json:"messages"`
}

type kratosMessage struct {
	ID      int            `json:"id"`
	Text    string         `json:"text"`
	Type    string         `json:"type"`
	Context map[string]any `json:"context,omitempty"`
}

// interrupt answers Kratos with one message; Kratos stops the flow and shows it.
func interrupt(c echo.Context, lang string, id int, typ string, ctx map[string]any) error {
	b, err := renderInterrupt(lang, id, typ, ctx)
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusBadRequest, b)
}

// writeCalling answers Kratos with the "calling" interrupt of a started
// challenge (every gate start), written from the view: the context map of
// eight boxed values, its two formatted times, the sorting of its keys and
// a buffer of its own were a dozen allocations per start. The text is
// Localize's from the values it reads (TestCallingMatchesRendering checks
// the answer byte for byte against rendering the whole map). reason, when
// set (reasonCurrentNumber), is the context's "reason", which words it.
func writeCalling(c echo.Context, lang string, v factor.ChallengeView, reason string) error {
	m := callingMaps.Get().(map[string]any)
	m["phone_masked"], m["code_length"], m["attempts_left"] = v.PhoneMasked, v.CodeLength, v.AttemptsLeft
	if reason != "" {
		m["reason"] = reason
	}
	text := ui.Localize(lang, ui.MsgCalling, m)
	clear(m)
	callingMaps.Put(m)
	bp := callingBufs.Get().(*[]byte)
	b := appendCalling((*bp)[:0], text, v, reason)
	err := c.JSONBlob(http.StatusBadRequest, b) // the writer copies b
	*bp = b[:0]
	callingBufs.Put(bp)
	return err
}

var (
	callingMaps = sync.Pool{New: func() any { return make(map[string]any, 4) }}
	callingBufs = sync.Pool{New: func() any { return new([]byte) }}
)

// appendCalling writes the calling interrupt as appendInterrupt writes it
// from the context map: the keys in sorted order, strings HTML-escaped,
// times in RFC 3339 (ASCII digits and - : T Z, which need no escaping).
func appendCalling(b []byte, text string, v factor.ChallengeView, reason string) []byte {
	const flags = segjson.EscapeHTML
	b = append(b, `{"messages":[{"instance_ptr":"#/","messages":[{"id":`...)
	b = strconv.AppendInt(b, ui.MsgCalling, 10)
	b = append(b, `,"text":`...)
	b = segjson.AppendEscape(b, text, flags)
	b = append(b, `,"type":"info","context":{"attempts_left":`...)
	b = strconv.AppendInt(b, int64(v.AttemptsLeft), 10)
	b = append(b, `,"call_status":`...)
	b = segjson.AppendEscape(b, v.CallStatus, flags)
	b = append(b, `,"challenge_id":`...)
	b = segjson.AppendEscape(b, v.ID, flags)
	b = append(b, `,"code_length":`...)
	b = strconv.AppendInt(b, int64(v.CodeLength), 10)
	b = append(b, `,"expires_at":"`...)
	b = v.ExpiresAt.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","phone_masked":`...)
	b = segjson.AppendEscape(b, v.PhoneMasked, flags)
	b = append(b, `,"placed":`...)
	b = strconv.AppendBool(b, v.Placed)
	if reason != "" {
		b = append(b, `,"reason":`...)
		b = segjson.AppendEscape(b, reason, flags)
	}
	b = append(b, `,"resend_after":"`...)
	b = ceilSecond(v.ResendAfter).UTC().AppendFormat(b, time.RFC3339) // notBefore
	return append(b, "\"}}]}]}\n"...)
}

// apiError is the JSON error body of the step-up and token APIs.
type apiError struct {
	Error        string `json:"error"`
	Message      string `json:"message"`
	AttemptsLeft *int   `json:"attempts_left,omitempty"`
	RetryAfter   *int   `json:"retry_after,omitempty"`
	// Reason refines Error: "earlier_call" on a wrong_code that is the code
	// of a call a resend replaced.
	Reason    string `json:"reason,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// errorBody is an API error answer with the numbers its fields point at.
type errorBody struct {
	apiError
	attemptsLeft, retryAfter int
}

// errorBodies lends handleError its answer's body: a refusal's fields were
// each an allocation, and the body another when boxed for the serializer.
var errorBodies = sync.Pool{New: func() any { return new(errorBody) }}

// handleError is Echo's one error handler: every error a handler returns ends here.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		// The answer is written (in part) and stays as it is, but the error
		// rides on the request's access-log line, which read as a success.
		if st := stateOf(c); st != nil {
			p := classify(err, time.Now())
			st.errCode, st.err, st.refused = p.Code, err, !p.Internal && p.Status < 500
		}
		return
	}
	p := classify(err, time.Now())
	if p.keyed() {
		// A wrong code's or a retry's context is only read here (the text,
		// the fields below): built in a lent map, as refusals render theirs.
		m := s.refusals.maps.Get().(map[string]any)
		p.fillContext(m)
		p.Context = m
		defer func() {
			clear(m)
			s.refusals.maps.Put(m)
		}()
	}
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	s.logProblem(c, err, p)
	lang := ui.PickLang(c.Request())
	if st := stateOf(c); st != nil && st.lang != "" {
		lang = st.lang // a hook's user's language, from its body
	}
	// The body is lent too, its numbers held beside it: the answer is
	// written before handleError returns.
	eb := errorBodies.Get().(*errorBody)
	defer func() {
		*eb = errorBody{}
		errorBodies.Put(eb)
	}()
	body := &eb.apiError
	*body = apiError{Error: p.Code, Message: s.problemText(lang, p, err), RequestID: rid}
	if v, ok := p.Context["attempts_left"].(int); ok {
		eb.attemptsLeft = v
		body.AttemptsLeft = &eb.attemptsLeft
	}
	if v, ok := p.Context["reason"].(string); ok {
		body.Reason = v
	}
	if v, ok := p.Context["retry_after"].(int); ok {
		eb.retryAfter = v
		body.RetryAfter = &eb.retryAfter
		c.Response().Header().Set("Retry-After", strconv.Itoa(v))
	}
	// The hooks authenticate with a Bearer secret; the API with a Kratos
	// session, which no standard scheme names, so it challenges only a
	// caller that tried Authorization.
	if p.Status == http.StatusUnauthorized && (isHookRoute(c) || c.Request().Header.Get(echo.HeaderAuthorization) != "") {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="callpass-kratos"`)
	}
	var werr error
	switch {
	case isHookRoute(c):
		hs := hookStatus(p.Status)
		if st := stateOf(c); st != nil && hs != p.Status {
			st.status = p.Status
		}
		msgs := hookErrorMessages(lang, p, rid)
		// After a hang-up (Kratos gave up on the hook, or the user's request
		// that ran it went away) the answer reaches nobody: the user saw
		// Kratos's own error or had left, so the line names no message.
		if werr = c.JSON(hs, hookError{apiError: *body, Messages: msgs}); werr == nil && p.Code != codeClientClosedRequest {
			setHookMessage(c, msgs[0].Messages[0].ID)
		}
	default:
		werr = c.JSON(p.Status, body)
	}
	if werr != nil {
		s.log.Warn("writing error response failed", "error", werr.Error())
	}
}

// forFlow words a missing, unusable or refused number for the flow it
// serves (the message's "flow" context selects the text: a Kratos hook's
// login, registration or settings, or "stepup" for /2fa): at login and in
// step-up the user cannot change the account's number here, so an invalid
// one reads as none, with where to go rather than "check the number".
func forFlow(p problem, flow string) problem {
	if p.MsgID != ui.MsgNoPhone && p.MsgID != ui.MsgInvalidPhone && p.MsgID != ui.MsgNotAllowed {
		return p
	}
	if p.MsgID == ui.MsgInvalidPhone && (flow == "login" || flow == "stepup") {
		p.MsgID = ui.MsgNoPhone
	}
	ctx := make(map[string]any, len(p.Context)+1)
	maps.Copy(ctx, p.Context)
	ctx["flow"] = flow
	p.Context = ctx
	return p
}

// hookError is an error answer to Kratos: Kratos shows a refused hook's
// user only the messages format, and turns anything else into a generic
// error page; the API fields stay for whoever reads the exchange (Kratos
// ignores them).
type hookError struct {
	apiError
	Messages []kratosInstance `json:"messages"`
}

func isHookRoute(c echo.Context) bool { return strings.HasPrefix(c.Path(), "/hooks/kratos/") }

// hookStatus is the status a hook error is answered with. Kratos's webhook
// client retries 429 and 5xx (but 501) twice, a second apart and more, and
// then shows a generic error without the messages: the user would wait for
// three attempts and never read why. Any such error is answered 400, which
// Kratos shows at once.
func hookStatus(status int) int {
	if status == http.StatusTooManyRequests || (status >= 500 && status != http.StatusNotImplemented) {
		return http.StatusBadRequest
	}
	return status
}

// hookErrorMessages says "unavailable, try again later" for a hook request
// refused before the factor ran (wrong secret, bad body, a panic): nothing
// the user can fix, and the request id ties it to the service's logs.
func hookErrorMessages(lang string, p problem, rid string) []kratosInstance {
	id := ui.MsgUnavailable
	if p.MsgID != 0 && !p.Internal {
		id = p.MsgID
	}
	ctx := map[string]any{"error": p.Code}
	if rid != "" {
		ctx["request_id"] = rid
	}
	return []kratosInstance{{InstancePtr: "#/", Messages: []kratosMessage{
		{ID: id, Text: ui.Localize(lang, id, ctx), Type: "error", Context: ctx}}}}
}

// problemText picks the user-facing text: the localised message for factor
// problems, the payload reason for bad input, a fixed text otherwise. Never
// err's own text: it may be a dependency's (Kratos's status line and error
// id, a Redis address), which is for the log only (logProblem).
func (s *Server) problemText(lang string, p problem, err error) string {
	perr, isPayload := errors.AsType[*PayloadError](err)
	herr, isHTTP := errors.AsType[*echo.HTTPError](err)
	switch {
	case isPayload:
		return perr.Error()
	case isHTTP:
		if m, ok := herr.Message.(string); ok {
			return m
		}
		return http.StatusText(herr.Code)
	case p.MsgID != 0 && !p.Internal:
		return ui.Localize(lang, p.MsgID, p.Context)
	case p.Internal:
		return "internal error; the request id identifies it in the service logs"
	}
	return refusalText(p, err)
}

// refusalText is the fixed text of a refusal without a message id. Only our
// own typed errors lend their text: a phone number's reason (written for the
// user), and the sentinels of the CSRF check and of the gate.
func refusalText(p problem, err error) string {
	switch p.Code {
	case "csrf":
		return (&csrfError{}).Error()
	case "invalid_request":
		if perr, ok := errors.AsType[*phone.Error](err); ok {
			return perr.Reason
		}
		return "invalid request"
	case "no_session":
		return "no valid Kratos session: sign in first"
	case "forbidden":
		if errors.Is(err, factor.ErrNotGated) {
			return factor.ErrNotGated.Error()
		}
		if errors.Is(err, kratos.ErrAAL2Required) {
			return "this session must first complete the account's Kratos second factor (a login flow with aal=aal2)"
		}
		return "this session is not allowed to do this"
	case "not_found":
		return "not found"
	case "invalid_target":
		return "audience is not one this service issues tokens for (jwt.audience)"
	}
	if t := http.StatusText(p.Status); t != "" {
		return t
	}
	return "request refused"
}

// countOutage makes a refusal for an outage (the store, the provider or
// Kratos down: a 5xx problem), answered with another status, count
// as the failure it is: the access log's metric, level and span follow the
// request state's status (a Kratos hook's refusal is answered 400, a /2fa
// page's with a page or a redirect).
func countOutage(c echo.Context, p problem) {
	if st := stateOf(c); st != nil && p.Status >= 500 {
		st.status = p.Status
	}
}

// logProblem records why a request was refused. An expected refusal (wrong
// code, limit, …) rides on the request's one access-log line; a failure of
// ours or of a dependency gets its own error line as well.
func (s *Server) logProblem(c echo.Context, err error, p problem) {
	expected := !p.Internal && p.Status < 500
	if st := stateOf(c); st != nil {
		st.errCode, st.err, st.refused = p.Code, err, expected // err formatted only if the line is written
	}
	if expected {
		return
	}
	s.log.LogAttrs(c.Request().Context(), slog.LevelError, "request failed",
		slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
		slog.String("route", c.Path()),
		slog.String("error_code", p.Code),
		slog.String("error", err.Error()),
	)
}
