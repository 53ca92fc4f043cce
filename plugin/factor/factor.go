// Package factor puts the pieces of the second factor together for its three
// uses: the Kratos login gate, step-up on an existing session, and phone
// verification at registration and in settings. It knows Kratos only through
// the small interfaces below and the webhook only through GateInput.
package factor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	segjson "github.com/segmentio/encoding/json"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// Challenges is what the factor needs from plugin/challenge.
type Challenges interface {
	Start(ctx context.Context, req challenge.StartRequest) (challenge.StartResult, error)
	Verify(ctx context.Context, b challenge.Binding, challengeID, code string) (challenge.VerifyResult, error)
	// VerifyAndPass also records the gate pass, atomically with the verify.
	VerifyAndPass(ctx context.Context, b challenge.Binding, challengeID, code string, pass *challenge.Pass) (challenge.VerifyResult, error)
	// VerifyAndPassNumber is VerifyAndPass for a code that proves only the
	// number e164: another number's challenge is challenge.ErrNumberChanged,
	// nothing counted, in the same store step; pass may be nil.
	VerifyAndPassNumber(ctx context.Context, b challenge.Binding, challengeID, code, e164 string, pass *challenge.Pass) (challenge.VerifyResult, error)
	// VerifyAndPassFollowing is VerifyAndPass that tries a code posted for
	// a dead challenge (replaced, expired, verified) once against the
	// binding's current one, counted once (step-up: one per session).
	VerifyAndPassFollowing(ctx context.Context, b challenge.Binding, challengeID, code string, pass *challenge.Pass) (challenge.VerifyResult, error)
	Get(ctx context.Context, id string) (challenge.Challenge, error)
	// Current is the binding's current challenge (step-up: the session's
	// newest call), what a tab naming a replaced or dropped one shows.
	Current(ctx context.Context, b challenge.Binding) (challenge.Challenge, error)
}

// numberFollower is VerifyAndPassFollowing checking the number in the
// store step (challenge.Service has it). Optional, so the Challenges
// interface (and its test doubles elsewhere) stays as it was; without it
// StepUpVerify checks the answer's number after the verify.
type numberFollower interface {
	VerifyAndPassFollowingNumber(ctx context.Context, b challenge.Binding, challengeID, code, e164 string, pass *challenge.Pass) (challenge.VerifyResult, error)
}

// startAwaiter waits for the start holding a binding's lease
// (challenge.Service has it). Optional, as numberFollower; without it a page
// shows a challenge retired by a resend under way as it is.
type startAwaiter interface {
	AwaitStart(ctx context.Context, b challenge.Binding, e164 string) (challenge.Challenge, bool)
}

// proofSpender ends the proof a flow's verified challenge gives
// (challenge.Service has it). Optional, as numberFollower; without it a
// saved registration ends nothing (RegistrationSaved).
type proofSpender interface {
	Spend(ctx context.Context, b challenge.Binding) (bool, error)
}

// Sessions reads Kratos sessions and identities (plugin/kratos).
type Sessions interface {
	Session(ctx context.Context, cookie, token string) (*kratos.Session, error)
}

// Identities reads a saved identity through Kratos's admin API
// (plugin/kratos): a settings flow's stored number, the one the login gate
// calls (Config.ConfirmCurrent).
type Identities interface {
	Identity(ctx context.Context, id string) (*kratos.Identity, error)
}

// Issuer mints JWTs (jwt.Issuer).
type Issuer interface {
	Issue(ctx context.Context, s jwt.Subject) (jwt.Token, error)
	// NeedsIdentityData: Issue reads Subject.Traits and MetadataPublic.
	NeedsIdentityData() bool
	// AllowsAudience: a token may be issued for aud alone.
	AllowsAudience(aud string) bool
}

// PassStore claims the gate passes that a verify recorded
// (docs/architecture.md, "Binding a Kratos session to a passed gate"). The
// pass is written by Challenges.VerifyAndPass into the challenge store, in
// the same atomic step as the verify, so PassStore must be that same store
// (plugin/store/memory.Store, plugin/store/redis.Store).
type PassStore interface {
	// ClaimPass binds to sessionID a pass whose authenticated_at matches one
	// of the candidate times at (within tolerance), in one atomic step,
	// trying the candidates in order: for each, a pass already bound to
	// sessionID first, else an unclaimed one; a pass bound to another
	// session is never taken. It reports true when
	// that session holds a pass, and the E.164 number the pass's verified
	// call went to ("" for a pass recorded before passes carried it). An
	// empty at claims nothing. The candidates are the session's
	// authenticated_at and the completion times of its authentication
	// methods: Kratos moves authenticated_at on an AAL upgrade, the
	// methods' times stay.
	ClaimPass(ctx context.Context, identityID string, at []time.Time, tolerance time.Duration, sessionID string) (phoneE164 string, ok bool, err error)
}

// passKeeper is ClaimPass that, in the same step, keeps the pass it finds
// until keepUntil when that is later than its own expiry (plugin/store/memory
// and plugin/store/redis have it): Kratos extends sessions past the expiry
// their pass was recorded with. Optional, as numberFollower; without it a
// pass ends when it was recorded to.
type passKeeper interface {
	ClaimPassUntil(ctx context.Context, identityID string, at []time.Time, tolerance time.Duration, sessionID string, keepUntil time.Time) (phoneE164 string, ok bool, err error)
}

// MissingPhone is the policy for identities without a phone number.
type MissingPhone string

const (
	MissingPhoneDeny  MissingPhone = "deny"
	MissingPhoneAllow MissingPhone = "allow"
)

// Config tunes the factor.
type Config struct {
	// PhoneTrait is the trait path holding the number (default "phone";
	// dotted for nested traits, e.g. "contact.phone").
	PhoneTrait   string
	MissingPhone MissingPhone
	// PassTTL bounds how long a gate pass waits to be claimed and stays valid
	// once claimed if the session's expiry is unknown.
	PassTTL time.Duration
	// PassTolerance absorbs timestamp rounding between the hook and whoami.
	PassTolerance time.Duration
	// ConfirmCurrent: a settings flow that changes the number away from
	// the identity's current one (or removes it) first proves the current
	// one, by a call to it in the same flow; without it whoever holds any
	// session (a recovery code) replaces the second factor
	// (webhook.settings_confirm_current, on by default there).
	ConfirmCurrent bool
}

// Service is the second factor.
type Service struct {
	cfg        Config
	challenges Challenges
	sessions   Sessions
	identities Identities
	issuer     Issuer
	passes     PassStore
	log        *slog.Logger
	observer   Observer
	now        func() time.Time
	// phones remembers parsed trait numbers: every login start parses one,
	// and the library parse dominated the start path's CPU.
	phones *phone.Parser
	// numbers names a phone check's owner (phoneOwner).
	numbers *phone.Hasher
	// noIPWarned is when a start without a client IP was last reported
	// (Unix ns): once per NoClientIPWarnEvery, not once per start.
	noIPWarned atomic.Int64
}

// NoClientIPWarnEvery spaces the warnings about starts without a client IP.
const NoClientIPWarnEvery = 10 * time.Minute

// Observer receives token metrics.
type Observer interface {
	ObserveTokenIssued(via string)
}

// Deps are the Service's collaborators.
type Deps struct {
	Challenges Challenges
	Sessions   Sessions
	// Identities reads a settings flow's stored number (ConfirmCurrent);
	// nil: the number metadata_public names as proven stands for it.
	Identities Identities
	Issuer     Issuer
	Passes     PassStore
	Logger     *slog.Logger
	Observer   Observer
	Now        func() time.Time
	// Numbers names the number a phone check is bound to (required; the
	// challenge limiter's phone.Hasher).
	Numbers *phone.Hasher
}

// New checks the configuration and builds the Service.
func New(cfg Config, d Deps) (*Service, error) {
	if cfg.PhoneTrait == "" {
		cfg.PhoneTrait = "phone"
	}
	switch cfg.MissingPhone {
	case "":
		cfg.MissingPhone = MissingPhoneDeny
	case MissingPhoneDeny, MissingPhoneAllow:
	default:
		return nil, fmt.Errorf("factor: missing phone policy %q: want deny or allow", cfg.MissingPhone)
	}
	if cfg.PassTTL <= 0 {
		cfg.PassTTL = 24 * time.Hour
	}
	if cfg.PassTolerance <= 0 {
		cfg.PassTolerance = time.Second
	}
	if d.Challenges == nil || d.Passes == nil {
		return nil, errors.New("factor: challenges and pass store are required")
	}
	if d.Numbers == nil {
		return nil, errors.New("factor: a number hasher is required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{cfg: cfg, challenges: d.Challenges, sessions: d.Sessions, identities: d.Identities, issuer: d.Issuer,
		passes: d.Passes, log: d.Logger, observer: d.Observer, now: d.Now,
		phones: phone.NewParser(phone.DefaultParserSize), numbers: d.Numbers}, nil
}

// Gate decides a Kratos webhook call.
func (s *Service) Gate(ctx context.Context, in GateInput) (GateDecision, error) {
	if in.PhoneTrait != "" && in.PhoneTrait != s.cfg.PhoneTrait {
		// The template would hide the number: every login would read as
		// one without a phone (let through with missing_phone=allow).
		return GateDecision{}, fmt.Errorf("%w: the template's phonePath is %q, kratos.phone_trait is %q: set phonePath in the hook templates to match",
			ErrTraitMismatch, in.PhoneTrait, s.cfg.PhoneTrait)
	}
	switch in.Hook {
	case HookLogin:
		return s.gateLogin(ctx, in)
	case HookRegistration, HookSettings:
		if !in.AuthenticatedAt.IsZero() {
			// Kratos gives only a login's hook a session: this is a login
			// that kratos.yml sends to a phone hook, which would let a
			// proven number through with no call.
			return GateDecision{}, fmt.Errorf("%w: the body has session.authenticated_at, which Kratos sends only to login hooks: "+
				"point the web_hook under selfservice.flows.login.after at /hooks/kratos/login", ErrWrongHook)
		}
		if in.Hook == HookRegistration && in.IdentityID != zeroUUID && in.IdentityID != "" {
			// Kratos runs it before the save (id still the zero UUID) only
			// with can_interrupt or response.parse: after it, a call would
			// be paid for and its code could never be entered.
			return GateDecision{}, fmt.Errorf("%w: the body names a saved identity, so no answer can keep an unproven number out: "+
				"set can_interrupt: true and response.parse: true on the registration web_hook (and no response.ignore); "+
				"a settings web_hook posts to /hooks/kratos/settings", ErrHookAfterSave)
		}
		return s.gatePhoneChange(ctx, in)
	default:
		return GateDecision{}, fmt.Errorf("factor: unknown hook %q", in.Hook)
	}
}

func (s *Service) gateLogin(ctx context.Context, in GateInput) (GateDecision, error) {
	b := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: in.IdentityID, FlowID: in.FlowID}
	num, ok, err := s.phoneFromTraits(in.Traits)
	if err != nil {
		return GateDecision{}, err
	}
	if in.Code != "" && !in.Resend && ok {
		// A code proves only the number its call went to. When the trait
		// names another one now (an admin changed it after the password,
		// say for a lost phone), the old number's code must not open a
		// session: a call to the current number replaces the challenge.
		// The store checks the number in the verify's own step, so a code
		// costs one round trip still.
		d, err := s.verifyLogin(ctx, b, in, num.E164())
		if errors.Is(err, challenge.ErrNumberChanged) {
			s.log.InfoContext(ctx, "login code not tried: the phone trait changed since the call", "identity_id", in.IdentityID)
			return s.start(ctx, b, num, "", in.ClientIP, false)
		}
		return d, err
	}
	if !ok {
		if s.cfg.MissingPhone == MissingPhoneAllow {
			s.log.InfoContext(ctx, "login allowed without a phone (missing_phone=allow)", "identity_id", in.IdentityID)
			return GateDecision{Allow: true, Reason: "no_phone_allowed"}, nil
		}
		return GateDecision{}, ErrNoPhone
	}
	return s.start(ctx, b, num, "", in.ClientIP, in.Resend)
}

// verifyLogin checks the code of a login challenge and, on success, records
// the gate pass for the session Kratos is about to issue.
func (s *Service) verifyLogin(ctx context.Context, b challenge.Binding, in GateInput, e164 string) (GateDecision, error) {
	authAt := in.AuthenticatedAt
	if authAt.IsZero() {
		// Without authenticated_at the session cannot be bound; the login still
		// passes the gate (the session is issued only now), but /v1/token will
		// refuse it. The shipped jsonnet always sends it.
		if _, err := s.challenges.VerifyAndPassNumber(ctx, b, "", in.Code, e164, nil); err != nil {
			return GateDecision{}, err
		}
		s.log.WarnContext(ctx, "login hook payload has no session.authenticated_at: token exchange will be refused",
			"identity_id", in.IdentityID)
		return GateDecision{Allow: true, Reason: "verified"}, nil
	}
	// The gate pass is written by the same atomic store step that
	// accepts the code.
	pass := &challenge.Pass{IdentityID: in.IdentityID, AuthenticatedAt: authAt, TTL: s.loginPassTTL(in.SessionExpiresAt, authAt)}
	if _, err := s.challenges.VerifyAndPassNumber(ctx, b, "", in.Code, e164, pass); err != nil {
		return GateDecision{}, err
	}
	return GateDecision{Allow: true, Reason: "verified"}, nil
}

// loginPassTTL keeps a login's gate pass as long as the session Kratos is
// issuing (its lifespan is Kratos's setting, often longer than a day), and
// one lifespan more (expires_at - authenticated_at): Kratos extends a live
// session (the admin API's extend, an AAL upgrade) to a lifespan from then,
// so at most that far past the expiry the pass was recorded with, and the
// session's next exchange keeps its pass for the new expiry (Exchange). The
// configured PassTTL when the hook did not say.
func (s *Service) loginPassTTL(sessionExpiresAt, authenticatedAt time.Time) time.Duration {
	if d := sessionExpiresAt.Sub(s.now()); d > 0 {
		return d + sessionLength(sessionExpiresAt, authenticatedAt)
	}
	return s.cfg.PassTTL
}

// sessionLength is how long a session authenticated at authAt lasts when it
// expires at expiresAt (0 when either is unknown).
func sessionLength(expiresAt, authAt time.Time) time.Duration {
	if authAt.IsZero() || !expiresAt.After(authAt) {
		return 0
	}
	return expiresAt.Sub(authAt)
}

// start places (or reuses) the call for b and returns the interrupt decision.
// start places (or shows) b's challenge; account is the Kratos identity
// the call is also counted against when b's owner is another (see
// challenge.StartRequest.AccountID), "" otherwise.
func (s *Service) start(ctx context.Context, b challenge.Binding, num phone.Number, account, clientIP string, resend bool) (GateDecision, error) {
	v, err := s.startView(ctx, b, num, account, clientIP, resend)
	if err != nil {
		return GateDecision{}, err
	}
	return GateDecision{Challenge: &v}, nil
}

func (s *Service) startView(ctx context.Context, b challenge.Binding, num phone.Number, account, clientIP string, resend bool) (ChallengeView, error) {
	if clientIP == "" {
		s.warnNoClientIP(ctx, b.Purpose)
	}
	res, err := s.challenges.Start(ctx, challenge.StartRequest{
		Purpose: b.Purpose, IdentityID: b.IdentityID, FlowID: b.FlowID,
		Phone: num.E164(), Number: num, ClientIP: clientIP, AccountID: account, Resend: resend,
	})
	return s.startAnswer(res, err)
}

// startAnswer is what a start's result shows the user.
func (s *Service) startAnswer(res challenge.StartResult, err error) (ChallengeView, error) {
	if err != nil {
		// A refused resend (cooldown) names the binding's current challenge:
		// a page in another tab shows that call, not the one it replaced.
		var v ChallengeView
		if res.Challenge.ID != "" {
			v = viewOf(res.Challenge, s.now())
		}
		return v, err
	}
	c := res.Challenge
	if !res.Placed && c.CallClass == flashcall.ClassNotDelivered {
		// The pending call never reached the phone: say so instead of asking
		// for digits that never arrived.
		return ChallengeView{}, ErrNotDelivered
	}
	v := viewOf(c, s.now())
	v.Placed = res.Placed
	return v, nil
}

// warnNoClientIP tells the operator that the per-IP limit is not counting:
// Kratos forwards no address before a session exists (registration) unless
// a proxy in front of it sets True-Client-IP.
func (s *Service) warnNoClientIP(ctx context.Context, purpose challenge.Purpose) {
	now, last := s.now().UnixNano(), s.noIPWarned.Load()
	if last != 0 && now-last < int64(NoClientIPWarnEvery) || !s.noIPWarned.CompareAndSwap(last, now) {
		return
	}
	s.log.WarnContext(ctx, "call started without a client IP: the per-IP limit cannot count it; "+
		"have the proxy in front of Kratos set True-Client-IP (SECURITY.md)", "purpose", string(purpose))
}

func viewOf(c challenge.Challenge, now time.Time) ChallengeView {
	state := string(c.State)
	if c.State == challenge.StatePending && !now.Before(c.ExpiresAt) {
		state = string(challenge.StateExpired)
	}
	masked := phone.MaskE164(c.Phone) // stored canonical: no second parse
	return ChallengeView{
		ID: c.ID, State: state, CodeLength: c.CodeLength, ExpiresAt: c.ExpiresAt,
		ResendAfter: c.ResendAfter, PhoneMasked: masked, AttemptsLeft: c.AttemptsLeft(),
		CallStatus: c.CallClass.String(),
	}
}

// phoneFromTraits reads the configured trait. ok=false: no number at all;
// an unparseable number is an error wrapping phone.ErrInvalid.
func (s *Service) phoneFromTraits(traits json.RawMessage) (phone.Number, bool, error) {
	raw, ok := traitString(traits, s.cfg.PhoneTrait)
	if !ok || strings.TrimSpace(raw) == "" {
		return phone.Number{}, false, nil
	}
	n, err := s.phones.Parse(raw)
	if err != nil {
		return phone.Number{}, false, fmt.Errorf("%w: %w", ErrNoPhone, err)
	}
	return n, true, nil
}

// traitString follows a dotted path into a JSON object and returns the
// string there; anything else (no such key, a value that is not a string,
// invalid JSON) is not found. It runs on every login start, so it walks the
// tokens once instead of decoding the whole object into maps, and answers
// as that decode into any would: the document must be valid JSON with every
// number fitting a float64, and of repeated keys the last one wins.
func traitString(traits json.RawMessage, path string) (string, bool) {
	// Valid first: the tokenizer below checks bracket nesting only, not what
	// lies between the tokens.
	if len(traits) == 0 || !segjson.Valid(traits) {
		return "", false
	}
	var buf [8]string // no allocation for paths of up to 8 parts
	parts := buf[:0]
	for p := range strings.SplitSeq(path, ".") {
		parts = append(parts, p)
	}
	t := segjson.NewTokenizer(traits)
	if !t.Next() || t.Delim != '{' {
		return "", false
	}
	depth := 0    // path parts matched by the objects the walk is inside
	want := false // the next value belongs to key parts[depth]
	var val string
	var found bool
	for t.Next() {
		switch {
		case t.Kind().Class() == segjson.Num && !fitsFloat64(t.Value):
			return "", false
		case t.Delim == ':':
		case t.IsKey:
			// Only keys directly in the innermost matched object are on the
			// path. The tokenizer also marks some strings in arrays as keys
			// ([{},"x"]), but those always sit deeper, so are never compared.
			if want = t.Depth == depth+1 && string(t.String()) == parts[depth]; want {
				val, found = "", false // a repeated key replaces the earlier value
			}
		case want:
			want = false
			switch {
			case depth+1 == len(parts):
				if t.Kind().Class() == segjson.String {
					val, found = string(t.String()), true
				}
			case t.Delim == '{':
				depth++
			}
		case t.Delim == '}' && depth > 0 && t.Depth == depth:
			depth-- // left the matched object
		}
	}
	if t.Err != nil {
		return "", false
	}
	return val, found
}

// fitsFloat64 reports whether a JSON number decodes into any: the decoder
// refuses numbers beyond float64 (1e400), and with them the whole document.
func fitsFloat64(num []byte) bool {
	_, err := strconv.ParseFloat(string(num), 64)
	return err == nil
}
