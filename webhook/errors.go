package webhook

import (
	"context"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// problem is the one description of a failure, rendered either as a Kratos
// interrupt message or as a JSON API error.
type problem struct {
	Status  int            // HTTP status for the JSON API
	Code    string         // stable JSON error code
	MsgID   int            // Kratos message id (0: not a user-facing factor message)
	Context map[string]any // message context / extra JSON fields (see context)
	// Retry, when its after is set, is a refusal with a retry time (ban,
	// call limit, cooldown). Its context is built from it only when needed:
	// a flood of such refusals is answered from the rendered ones
	// (refusals.go), keyed by Retry, without building a map for each.
	Retry retryKey
	// Attempts, when its set is true, is a wrong code's refusal (attempts
	// left, and why): like Retry, its context is built only when needed, so
	// a flood of wrong codes is answered from the rendered refusals too.
	Attempts attemptsKey
	// Internal marks an unexpected error: logged at error level, generic text.
	Internal bool
}

// context is the message context / extra JSON fields of p.
func (p problem) context() map[string]any {
	if p.keyed() {
		m := make(map[string]any, 4)
		p.fillContext(m)
		return m
	}
	return p.Context
}

// keyed reports whether p's context is built from its Retry or Attempts.
func (p problem) keyed() bool { return p.Retry.after > 0 || p.Attempts.set }

// fillContext puts the context of a keyed p into m.
func (p problem) fillContext(m map[string]any) {
	if p.Retry.after > 0 {
		p.Retry.fill(m)
	} else if p.Attempts.set {
		p.Attempts.fill(m)
	}
}

// attemptsKey is everything a wrong code's refusal tells the user.
type attemptsKey struct {
	set    bool
	left   int
	reason string // "" or reasonEarlierCall
}

func attemptsLeft(left int, reason string) attemptsKey {
	return attemptsKey{set: true, left: left, reason: reason}
}

func (k attemptsKey) fill(m map[string]any) {
	m["attempts_left"] = k.left
	if k.reason != "" {
		m["reason"] = k.reason
	}
}

// retryKey is everything a refusal with a retry time tells the user.
type retryKey struct {
	after int    // seconds to wait, ≥ 1
	at    int64  // Unix second from which to retry (rounded up, notBefore)
	limit string // the call limit hit; "" for a ban or a cooldown
	// counted: the request's code was counted too (the wrong code that
	// locked a challenge and started the ban), shown as attempts_left 0.
	counted bool
}

func newRetry(after time.Duration, now time.Time, limit string) retryKey {
	secs := int(math.Ceil(after.Seconds()))
	if secs < 1 {
		secs = 1
	}
	at := ceilSecond(now.Add(time.Duration(secs) * time.Second)) // as notBefore: never early
	return retryKey{after: secs, at: at.Unix(), limit: limit}
}

func (k retryKey) context() map[string]any {
	m := make(map[string]any, 4)
	k.fill(m)
	return m
}

func (k retryKey) fill(m map[string]any) {
	m["retry_after"] = k.after
	m["retry_at"] = time.Unix(k.at, 0).UTC().Format(time.RFC3339)
	if k.limit != "" {
		m["limit"] = k.limit
	}
	if k.counted {
		m["attempts_left"] = 0
	}
}

// reasonEarlierCall is the context "reason" of a wrong code that is the code
// of a call a resend replaced (msg.4090001.reason.earlier_call).
const reasonEarlierCall = "earlier_call"

// reasonCurrentNumber is the "reason" of a "calling" interrupt whose call
// went to the identity's current number: a settings flow changing the
// number asks for its code first (msg.1090001.reason.current_number).
const reasonCurrentNumber = "current_number"

// reasonCurrentNumberRemoval is reasonCurrentNumber for a flow removing
// the number: no new number is called after that code.
const reasonCurrentNumberRemoval = "current_number_removal"

// reasonAAL2Required is the "reason" of a forbidden answer for a session
// that Kratos holds until the user completes the account's Kratos second
// factor (aal2).
const reasonAAL2Required = "aal2_required"

// statusClientClosedRequest is nginx's status for a request whose client
// closed the connection before the answer (no standard one exists).
const statusClientClosedRequest = 499

// codeClientClosedRequest is its error code.
const codeClientClosedRequest = "client_closed_request"

// statusClosedWithoutAnswer is nginx's status for a connection closed
// without an answer: a handler's http.ErrAbortHandler before it wrote one.
const statusClosedWithoutAnswer = 444

// classify is the single place that maps typed errors to HTTP.
func classify(err error, now time.Time) problem {
	// errors.AsType: no allocation per target (this runs on every refusal).
	wrong, isWrong := errors.AsType[*challenge.WrongCodeError](err)
	cooldown, isCooldown := errors.AsType[*challenge.CooldownError](err)
	limited, isLimited := errors.AsType[*limit.LimitError](err)
	perr, isPayload := errors.AsType[*PayloadError](err)
	herr, isHTTP := errors.AsType[*echo.HTTPError](err)
	_, isCSRF := errors.AsType[*csrfError](err)
	switch {
	case isCSRF:
		return problem{Status: http.StatusForbidden, Code: "csrf"}
	case isPayload && perr.Field != "":
		// One of our transient_payload fields in a form we do not read:
		// the user's client's mistake, told on the flow (refuseRead).
		return problem{Status: http.StatusBadRequest, Code: "invalid_request", MsgID: ui.MsgInvalidField,
			Context: map[string]any{"field": perr.Field, "reason": perr.Why}}
	case isPayload:
		return problem{Status: http.StatusBadRequest, Code: "invalid_request", Context: map[string]any{"reason": perr.Reason}}
	case isHTTP:
		return problem{Status: herr.Code, Code: httpCode(herr.Code)}
	case errors.Is(err, context.Canceled):
		// The caller hung up (a closed tab, Kratos giving up on the hook)
		// and the store or Kratos read stopped with it: no failure of
		// theirs or ours, and nobody reads the answer. Counted as nginx's
		// 499, not as the 503 it would read as, so a flood of aborted
		// requests does not page CallPassServerErrors. Only the request's
		// context is ever cancelled on the way here: what must finish
		// (a placed call's record) runs detached, under deadlines.
		return problem{Status: statusClientClosedRequest, Code: codeClientClosedRequest}
	case isWrong && wrong.BannedFor > 0:
		// This wrong code locked the challenge and started the identity's
		// ban: "ask for a new call" would be refused, so say the ban.
		// attempts_left 0 tells a client this answer also counted the code.
		r := newRetry(wrong.BannedFor, now, "")
		r.counted = true
		return problem{Status: http.StatusTooManyRequests, Code: "blocked", MsgID: ui.MsgBlocked, Retry: r}
	case isWrong && wrong.AttemptsLeft == 0:
		// The last attempt is gone: what the user needs to know is that this
		// code is dead and a new call is the way on.
		return problem{Status: http.StatusLocked, Code: "locked", MsgID: ui.MsgLocked, Attempts: attemptsLeft(0, "")}
	case isWrong && wrong.Format:
		return problem{Status: http.StatusBadRequest, Code: "invalid_code", MsgID: ui.MsgInvalidCode,
			Attempts: attemptsLeft(wrong.AttemptsLeft, "")}
	case isWrong && wrong.EarlierCall:
		// The code of a call a resend replaced: the user took an older
		// missed call for the newest.
		return problem{Status: http.StatusBadRequest, Code: "wrong_code", MsgID: ui.MsgWrongCode,
			Attempts: attemptsLeft(wrong.AttemptsLeft, reasonEarlierCall)}
	case isWrong:
		return problem{Status: http.StatusBadRequest, Code: "wrong_code", MsgID: ui.MsgWrongCode,
			Attempts: attemptsLeft(wrong.AttemptsLeft, "")}
	case errors.Is(err, challenge.ErrInvalidRequest):
		return problem{Status: http.StatusBadRequest, Code: "invalid_request"}
	case errors.Is(err, jwt.ErrAudienceNotAllowed):
		// RFC 8693 §2.2.2's name for an audience the issuer will not serve.
		return problem{Status: http.StatusBadRequest, Code: "invalid_target"}
	case errors.Is(err, challenge.ErrInvalidCode):
		return problem{Status: http.StatusBadRequest, Code: "invalid_code", MsgID: ui.MsgInvalidCode}
	case errors.Is(err, challenge.ErrExpired), errors.Is(err, challenge.ErrNumberChanged):
		// A challenge called at a number the identity no longer has is
		// dead for it: ask for a new call, as for an expired one.
		return problem{Status: http.StatusGone, Code: "expired", MsgID: ui.MsgExpired}
	case errors.Is(err, challenge.ErrLocked):
		return problem{Status: http.StatusLocked, Code: "locked", MsgID: ui.MsgLocked}
	case errors.Is(err, challenge.ErrAlreadyUsed):
		return problem{Status: http.StatusGone, Code: "expired", MsgID: ui.MsgExpired}
	case errors.Is(err, factor.ErrCurrentNotCallable):
		// A settings flow's call to the current number: "use another
		// number" (the settings wording) would send the user round again.
		return problem{Status: http.StatusUnprocessableEntity, Code: "destination_not_allowed", MsgID: ui.MsgNotAllowed,
			Context: map[string]any{"reason": reasonCurrentNumber}}
	case isCooldown:
		// "resends": this code has had all its repeat calls; the wait is
		// until it expires (the message says so, and that it still works).
		kind := ""
		if cooldown.ResendsExhausted {
			kind = "resends"
		}
		return problem{Status: http.StatusTooManyRequests, Code: "cooldown", MsgID: ui.MsgCooldown,
			Retry: newRetry(cooldown.RetryAfter, now, kind)}
	case isLimited:
		switch limited.Kind {
		case limit.KindRegulation:
			return problem{Status: http.StatusTooManyRequests, Code: "blocked", MsgID: ui.MsgBlocked,
				Retry: newRetry(limited.RetryAfter, now, "")}
		case limit.KindDestination:
			return problem{Status: http.StatusUnprocessableEntity, Code: "destination_not_allowed", MsgID: ui.MsgNotAllowed}
		default:
			return problem{Status: http.StatusTooManyRequests, Code: "rate_limited", MsgID: ui.MsgRateLimited,
				Retry: newRetry(limited.RetryAfter, now, string(limited.Kind))}
		}
	case errors.Is(err, challenge.ErrNotFound):
		return problem{Status: http.StatusNotFound, Code: "not_found", MsgID: ui.MsgExpired}
	case errors.Is(err, factor.ErrNotDelivered), errors.Is(err, flashcall.ErrNotDelivered):
		return problem{Status: http.StatusConflict, Code: "call_not_delivered", MsgID: ui.MsgNotDelivered}
	case errors.Is(err, challenge.ErrStoreUnavailable):
		return problem{Status: http.StatusServiceUnavailable, Code: "store_unavailable", MsgID: ui.MsgUnavailable}
	case errors.Is(err, phone.ErrInvalid):
		// A number that is there but not one we can call: at registration
		// and in settings the user can fix it (handleError words it for a
		// login, where they cannot).
		return problem{Status: http.StatusConflict, Code: "no_phone", MsgID: ui.MsgInvalidPhone}
	case errors.Is(err, factor.ErrNoPhone):
		return problem{Status: http.StatusConflict, Code: "no_phone", MsgID: ui.MsgNoPhone}
	case errors.Is(err, flashcall.ErrDestinationNotAllowed):
		return problem{Status: http.StatusUnprocessableEntity, Code: "destination_not_allowed", MsgID: ui.MsgNotAllowed}
	case errors.Is(err, flashcall.ErrUnavailable), errors.Is(err, flashcall.ErrBadResponse),
		errors.Is(err, flashcall.ErrUnauthorized), errors.Is(err, flashcall.ErrInsufficientBalance),
		errors.Is(err, flashcall.ErrInvalidRequest), errors.Is(err, flashcall.ErrCallNotFound):
		return problem{Status: http.StatusServiceUnavailable, Code: "provider_unavailable", MsgID: ui.MsgProviderUnavailable}
	case errors.Is(err, factor.ErrNoCredentials), errors.Is(err, kratos.ErrNoSession),
		errors.Is(err, jwt.ErrSessionExpired):
		// A session that ends before a token could be valid (its last
		// second, or Kratos's clock behind ours) is no session to sign in
		// with any more, not a failure of ours.
		return problem{Status: http.StatusUnauthorized, Code: "no_session"}
	case errors.Is(err, factor.ErrNotGated):
		return problem{Status: http.StatusForbidden, Code: "forbidden"}
	case errors.Is(err, kratos.ErrAAL2Required):
		// Kratos's own second factor first: the app sends the user there,
		// where a session that skipped the call gate needs another login.
		return problem{Status: http.StatusForbidden, Code: "forbidden", Context: map[string]any{"reason": reasonAAL2Required}}
	case errors.Is(err, kratos.ErrForbidden):
		return problem{Status: http.StatusForbidden, Code: "forbidden"}
	case errors.Is(err, kratos.ErrUnavailable):
		return problem{Status: http.StatusServiceUnavailable, Code: "kratos_unavailable", MsgID: ui.MsgUnavailable}
	case errors.Is(err, kratos.ErrUnexpected):
		return problem{Status: http.StatusBadGateway, Code: "kratos_unavailable", MsgID: ui.MsgUnavailable}
	case errors.Is(err, kratos.ErrIdentityNotFound):
		return problem{Status: http.StatusNotFound, Code: "not_found"}
	default:
		return problem{Status: http.StatusInternalServerError, Code: "internal_error", MsgID: ui.MsgUnavailable, Internal: true}
	}
}

func httpCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge, http.StatusBadRequest, http.StatusUnsupportedMediaType:
		return "invalid_request"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal_error"
	}
	return "invalid_request"
}
