package factor

import (
	"encoding/json"
	"errors"
	"time"
)

// Hook names the Kratos flow a webhook call comes from.
type Hook string

const (
	HookLogin        Hook = "login"
	HookRegistration Hook = "registration"
	HookSettings     Hook = "settings"
)

// GateInput is what a Kratos webhook tells the gate.
type GateInput struct {
	Hook       Hook
	FlowID     string
	FlowType   string
	IdentityID string
	// Traits are the identity's traits as Kratos sent them (for registration and
	// settings: the traits about to be saved).
	Traits json.RawMessage
	// MetadataPublic is the identity's public metadata (to see whether a phone
	// was already verified).
	MetadataPublic json.RawMessage
	// Code is the digits the user typed (transient_payload.callpass_code).
	Code string
	// Resend asks for a new call (transient_payload.callpass_resend).
	Resend bool
	// ClientIP is the end user's address as forwarded by Kratos.
	ClientIP string
	// AuthenticatedAt is ctx.session.authenticated_at of the session Kratos is
	// about to issue; it binds a passed gate to that session.
	AuthenticatedAt time.Time
	// SessionExpiresAt is that session's ctx.session.expires_at (zero when
	// not sent): the gate pass lives as long as the session.
	SessionExpiresAt time.Time
	// PhoneTrait is the trait path the hook template kept in Traits (the
	// templates send that trait alone), "" when it sends every trait. It
	// must be Config.PhoneTrait, or the number would never be found.
	PhoneTrait string
}

// ChallengeView is the safe, user-facing view of a challenge.
type ChallengeView struct {
	ID           string    `json:"challenge_id"`
	State        string    `json:"state"`
	CodeLength   int       `json:"code_length"`
	ExpiresAt    time.Time `json:"expires_at"`
	ResendAfter  time.Time `json:"resend_after"`
	PhoneMasked  string    `json:"phone_masked"`
	AttemptsLeft int       `json:"attempts_left"`
	CallStatus   string    `json:"call_status"`
	// Placed is true when this request placed a new call (false: a pending one was reused).
	Placed bool `json:"-"`
}

// GateDecision is the gate's answer to a webhook.
type GateDecision struct {
	// Allow lets Kratos continue (issue the session / save the identity).
	Allow bool
	// Challenge is set when the flow must be interrupted to ask for the code.
	Challenge *ChallengeView
	// CurrentNumber: Challenge is the call to the identity's current number,
	// whose code a settings flow changing the number must give first
	// (Config.ConfirmCurrent); the user is told so.
	CurrentNumber bool
	// RemovesNumber, with CurrentNumber: the flow removes the number, so
	// no new number is called after that code (the user is told so).
	RemovesNumber bool
	// MetadataPublic, when set on Allow, is the identity's new public metadata
	// (registration/settings with response.parse: the phone was proven). It
	// is the metadata Kratos sent with this service's keys added; its numbers
	// are json.Number, as sent, so Kratos stores them back unchanged.
	MetadataPublic map[string]any
	// Reason says why the gate allowed without a challenge (e.g. "no_phone_allowed",
	// "phone_unchanged"), for logs and metrics.
	Reason string
}

// Creds are the caller's Kratos session credentials.
type Creds struct {
	Cookie       string
	SessionToken string
}

// Empty reports whether no credentials were presented.
func (c Creds) Empty() bool { return c.Cookie == "" && c.SessionToken == "" }

// TokenOptions shape a token the caller asks for.
type TokenOptions struct {
	// Audience, when set, is the token's only aud: one of the configured
	// audiences (jwt.ErrAudienceNotAllowed otherwise), so an app gets a
	// token the other apps sharing this issuer refuse. "" gives every
	// configured audience.
	Audience string
}

// TokenView is an issued access token.
type TokenView struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresIn   int       `json:"expires_in"`
	ExpiresAt   time.Time `json:"-"`
}

// VerifyOutput is the result of a successful step-up verification.
type VerifyOutput struct {
	Challenge ChallengeView
	Token     TokenView
}

// Errors of this package (others pass through from challenge, limit, kratos,
// phone and flashcall).
var (
	// ErrNoPhone: the identity has no (valid) phone number and policy denies.
	ErrNoPhone = errors.New("the account has no phone number for the call")
	// ErrNotGated: the session did not pass the CallPass gate.
	ErrNotGated = errors.New("this session did not pass the CallPass second factor")
	// ErrNotDelivered: the last call did not reach the phone; a new call is needed.
	ErrNotDelivered = errors.New("the call did not reach the phone")
	// ErrNoCredentials: no Kratos session cookie or token was presented.
	ErrNoCredentials = errors.New("no Kratos session presented")
	// ErrTraitMismatch: the hook template sends another trait than
	// kratos.phone_trait (a misconfiguration: fails closed).
	ErrTraitMismatch = errors.New("the Kratos hook template sends another trait than kratos.phone_trait")
	// ErrWrongHook: a login reached the registration, registered or
	// settings hook (kratos.yml names the wrong url under login.after;
	// fails closed).
	ErrWrongHook = errors.New("a Kratos login reached the registration or settings hook")
	// ErrHookAfterSave: the registration hook runs after Kratos saved the
	// identity (no can_interrupt or response.parse), where it can stop
	// nothing; fails closed without a call.
	ErrHookAfterSave = errors.New("the Kratos registration hook runs after the identity is saved")
	// ErrHookBeforeSave: the saved-registration hook runs before Kratos
	// saved the identity (can_interrupt or response.parse set): it would
	// end a proof the registration still needs; fails closed.
	ErrHookBeforeSave = errors.New("the Kratos saved-registration hook runs before the identity is saved")
	// ErrRegistrationAtSettings: a registration reached the settings hook
	// (its body names no saved identity), where ConfirmCurrent has no
	// stored number to read; fails closed.
	ErrRegistrationAtSettings = errors.New("a Kratos registration reached the settings hook")
	// ErrCurrentNotCallable: a settings flow changing the number cannot
	// prove the current one: calls to it are refused (a destination rule,
	// the provider). Another number typed in the form changes nothing.
	ErrCurrentNotCallable = errors.New("calls to the identity's current number are refused")
	// ErrRegisteredUnproven: the saved-registration hook got a number that
	// the identity's metadata_public does not name as proven: not a
	// registration the registration hook passed (a settings web_hook
	// pointed at it, or no registration hook); fails closed.
	ErrRegisteredUnproven = errors.New("the Kratos saved-registration hook got a number no registration hook proved")
)
