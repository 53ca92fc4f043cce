package ui

import (
	"strings"
	"time"
)

// DefaultCodeLength is assumed when a message does not say how many digits.
const DefaultCodeLength = 4

// Code step states. They decide which controls the page shows.
const (
	StateCalling             = "calling"              // 1090001: a call is on its way
	StateWrongCode           = "wrong_code"           // 4090001
	StateExpired             = "expired"              // 4090002
	StateLocked              = "locked"               // 4090003
	StateRateLimited         = "rate_limited"         // 4090004
	StateBlocked             = "blocked"              // 4090005
	StateCooldown            = "cooldown"             // 4090006
	StateNoPhone             = "no_phone"             // 4090007
	StateNotDelivered        = "not_delivered"        // 4090008
	StateProviderUnavailable = "provider_unavailable" // 4090009
	StateUnavailable         = "unavailable"          // 4090010
	StateInvalidCode         = "invalid_code"         // 4090011
	StateNotAllowed          = "not_allowed"          // 4090012
	StateInvalidPhone        = "invalid_phone"        // 4090013
	StateInvalidField        = "invalid_field"        // 4090014
)

// Message ids of the CallPass interrupt messages (docs/architecture.md).
const (
	MsgCalling             = 1090001
	MsgWrongCode           = 4090001
	MsgExpired             = 4090002
	MsgLocked              = 4090003
	MsgRateLimited         = 4090004
	MsgBlocked             = 4090005
	MsgCooldown            = 4090006
	MsgNoPhone             = 4090007
	MsgNotDelivered        = 4090008
	MsgProviderUnavailable = 4090009
	MsgUnavailable         = 4090010
	MsgInvalidCode         = 4090011
	MsgNotAllowed          = 4090012
	MsgInvalidPhone        = 4090013 // the number is not a Russian +7 number
	// MsgInvalidField: the app sent transient_payload.callpass_code or
	// callpass_resend in a form the hook does not read (another JSON type,
	// a code over 64 bytes); nothing was checked or counted.
	MsgInvalidField = 4090014
)

var stateByMsg = map[int]string{
	MsgCalling:             StateCalling,
	MsgWrongCode:           StateWrongCode,
	MsgExpired:             StateExpired,
	MsgLocked:              StateLocked,
	MsgRateLimited:         StateRateLimited,
	MsgBlocked:             StateBlocked,
	MsgCooldown:            StateCooldown,
	MsgNoPhone:             StateNoPhone,
	MsgNotDelivered:        StateNotDelivered,
	MsgProviderUnavailable: StateProviderUnavailable,
	MsgUnavailable:         StateUnavailable,
	MsgInvalidCode:         StateInvalidCode,
	MsgNotAllowed:          StateNotAllowed,
	MsgInvalidPhone:        StateInvalidPhone,
	MsgInvalidField:        StateInvalidField,
}

// msgByState is stateByMsg reversed.
var msgByState = func() map[string]int {
	m := make(map[string]int, len(stateByMsg))
	for id, st := range stateByMsg {
		m[st] = id
	}
	return m
}()

// MessageIDs lists every CallPass message id, ascending.
func MessageIDs() []int {
	return []int{MsgCalling, MsgWrongCode, MsgExpired, MsgLocked, MsgRateLimited, MsgBlocked,
		MsgCooldown, MsgNoPhone, MsgNotDelivered, MsgProviderUnavailable, MsgUnavailable,
		MsgInvalidCode, MsgNotAllowed, MsgInvalidPhone, MsgInvalidField}
}

// StateForMessage maps a message id to a code step state ("" if not ours).
func StateForMessage(id int) string { return stateByMsg[id] }

// IsCallPassMessage reports whether id is the gate's interrupt: 1090001 or
// any 409xxxx (so ids added later still open the code step).
func IsCallPassMessage(id int) bool { return id == MsgCalling || id/10000 == 409 }

// Message is one Kratos-style UI message.
type Message struct {
	ID      int            `json:"id"`
	Type    string         `json:"type"` // "info" | "error"
	Text    string         `json:"text,omitempty"`
	Context map[string]any `json:"context,omitempty"`
}

// CodeStep is everything the code-entry component needs. Zero values get
// sensible defaults (see normalize).
type CodeStep struct {
	Lang         string
	PhoneMasked  string
	CodeLength   int
	ChallengeID  string
	ExpiresAt    time.Time
	ResendAfter  time.Time
	RetryAt      time.Time // rate limited / blocked: when trying again makes sense
	AttemptsLeft int       // < 0: unknown
	State        string
	Message      *Message

	FormAction      string            // where both forms POST
	HiddenFields    map[string]string // e.g. csrf_token
	CodeFieldName   string            // default "code"
	ResendFieldName string            // default "resend"
	ResendValue     string            // default "true"
	StartOverURL    string            // optional "use another account" link
	SettingsURL     string            // optional, shown for "no phone"
	ChangeNumberURL string            // optional link back to the form, to fix the number
	// Flow is what the step confirms: "login" (default), "registration",
	// "settings" or "stepup". It picks the title and the message variants
	// that depend on it (e.g. "no phone" at login, where there is no session).
	Flow string
	// UsableUntil, if set, is when the page's resend/retry stops working
	// (e.g. a UI that forgets the credentials it resubmits). A wait ending
	// later shows no countdown button, only the wait and RestartURL.
	UsableUntil time.Time
	RestartURL  string // where to start over when the wait outlasts UsableUntil
	// StatusURL, if set, is a same-origin URL answering the challenge as
	// JSON (GET /v1/challenges/{id}: "state", "call_status"). While the
	// code can be typed, code.js asks it now and then and, when the call
	// did not reach the phone, says so and offers a new call at once: the
	// user need not wait for a code that will never come.
	StatusURL string
	// FollowStatusURL and FollowURL, if set with ChallengeID, keep the
	// page on the flow's current challenge, which a call asked for in
	// another tab puts in this one's place. FollowStatusURL is a
	// same-origin URL answering that challenge as JSON (GET
	// /v1/challenges/{id}?follow=true: "challenge_id"), asked when the
	// page comes back into view; StatusURL should answer the same. When
	// an answer names another challenge than ChallengeID, the page goes to
	// FollowURL followed by that id, URL-escaped, which shows that call as
	// the tab that asked for it does.
	FollowStatusURL, FollowURL string
	Now                        time.Time // zero: time.Now(); tests pin it
}

// ApplyMessage updates s from an interrupt message: the state from the id,
// and every context key it recognises. Keys a message lacks keep their old
// value, so the step remembered from 1090001 survives a later 4090001.
func (s *CodeStep) ApplyMessage(m Message) {
	mm := m
	s.Message = &mm
	if st := StateForMessage(m.ID); st != "" {
		s.State = st
	} else if m.Type == "error" {
		s.State = StateUnavailable
	}
	c := m.Context
	if v, ok := c["phone_masked"].(string); ok && v != "" {
		s.PhoneMasked = v
	}
	if v, ok := c["challenge_id"].(string); ok && v != "" {
		s.ChallengeID = v
	}
	if n, ok := toInt(c["code_length"]); ok && n > 0 {
		s.CodeLength = n
	}
	if n, ok := toInt(c["attempts_left"]); ok {
		s.AttemptsLeft = n
	}
	if t, ok := ctxTime(c, "expires_at"); ok {
		s.ExpiresAt = t
	}
	if t, ok := ctxTime(c, "resend_after"); ok {
		s.ResendAfter = t
	}
	if t, ok := ctxTime(c, "retry_at"); ok {
		s.RetryAt = t
	} else if n, ok := toInt(c["retry_after"]); ok && n > 0 {
		s.RetryAt = s.now().Add(time.Duration(n) * time.Second)
	}
	if s.State == StateCooldown && s.RetryAt.After(s.ResendAfter) {
		s.ResendAfter = s.RetryAt
	}
	// The remembered call's code no longer works: a later refused resend
	// must not offer its field again.
	switch s.State {
	case StateLocked:
		if _, ok := c["attempts_left"]; !ok {
			s.AttemptsLeft = 0
		}
	case StateExpired, StateNotDelivered:
		if _, ok := c["expires_at"]; !ok {
			s.ExpiresAt = time.Time{}
		}
	}
}

func ctxTime(c map[string]any, key string) (time.Time, bool) {
	v, ok := c[key].(string)
	if !ok || v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v)
	return t, err == nil
}

func (s *CodeStep) now() time.Time {
	if s.Now.IsZero() {
		return time.Now()
	}
	return s.Now
}

func (s *CodeStep) normalize() {
	if l, ok := supported(s.Lang); ok {
		s.Lang = l
	} else {
		s.Lang = DefaultLang
	}
	if s.CodeLength <= 0 || s.CodeLength > 12 {
		s.CodeLength = DefaultCodeLength
	}
	if s.CodeFieldName == "" {
		s.CodeFieldName = "code"
	}
	if s.ResendFieldName == "" {
		s.ResendFieldName = "resend"
	}
	if s.ResendValue == "" {
		s.ResendValue = "true"
	}
	if s.State == "" {
		s.State = StateCalling
	}
	if s.Now.IsZero() {
		s.Now = time.Now()
	}
}

// showCode: states in which the current call's code can still be typed.
func (s *CodeStep) showCode() bool {
	switch s.State {
	case StateCalling, StateWrongCode, StateInvalidCode, StateCooldown, StateInvalidField:
		return true // an unread field changed nothing: the call's code still works
	case StateRateLimited, StateProviderUnavailable, StateUnavailable:
		// A refused "call me again" leaves the earlier call's code valid.
		return s.liveChallenge()
	}
	return false
}

// liveChallenge: an earlier call whose code is known to still work (a known
// expiry ahead, attempts not used up). A blocked step never counts: code
// checks are refused too.
func (s *CodeStep) liveChallenge() bool {
	return s.ExpiresAt.After(s.now()) && s.AttemptsLeft != 0
}

// showResend: states in which asking for a (new) call can help.
func (s *CodeStep) showResend() bool {
	switch s.State {
	case StateNoPhone, StateNotAllowed, StateInvalidPhone:
		return false
	}
	// A wait this page cannot outlast: its button would only lead to
	// "took too long"; the page says the wait and offers RestartURL.
	return !s.waitOutlastsPage()
}

// waitOutlastsPage: the resend/retry wait ends after UsableUntil.
func (s *CodeStep) waitOutlastsPage() bool {
	return !s.UsableUntil.IsZero() && s.waitUntil().After(s.UsableUntil)
}

// retryKind: states whose button is "try again" (the same attempt later)
// rather than "call me again".
func (s *CodeStep) retryKind() bool {
	switch s.State {
	case StateRateLimited, StateBlocked, StateProviderUnavailable, StateUnavailable:
		return true
	}
	return false
}

// waitUntil is when the resend/retry button becomes useful.
func (s *CodeStep) waitUntil() time.Time {
	switch s.State {
	case StateRateLimited, StateBlocked, StateProviderUnavailable, StateUnavailable:
		return s.RetryAt
	case StateExpired, StateLocked, StateNotDelivered:
		return s.RetryAt // a new call is what the user needs; only a known limit delays it
	}
	if s.RetryAt.After(s.ResendAfter) {
		return s.RetryAt
	}
	return s.ResendAfter
}

// exampleCode is the tail of the sample number in the hint ("4610" for 4).
func exampleCode(n int) string {
	const sample = "74951234610"
	if n > len(sample) {
		return strings.Repeat("0", n-len(sample)) + sample
	}
	return sample[len(sample)-n:]
}
