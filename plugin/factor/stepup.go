package factor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// zeroUUID is the identity id of a registration hook (not saved yet).
const zeroUUID = "00000000-0000-0000-0000-000000000000"

// gatePhoneChange proves a new phone number at registration or in settings
// before Kratos saves it. A number already proven (metadata_public
// phone_verified_number) passes without a call. In settings, with
// ConfirmCurrent, a change away from the current number (or its removal)
// first proves that number (confirmCurrent).
func (s *Service) gatePhoneChange(ctx context.Context, in GateInput) (GateDecision, error) {
	num, ok, err := s.phoneFromTraits(in.Traits)
	if err != nil {
		return GateDecision{}, err
	}
	if !ok && s.cfg.MissingPhone == MissingPhoneDeny {
		// The login gate would refuse this identity for ever after (the
		// user could not get back in to add a number): say so now.
		return GateDecision{}, ErrNoPhone
	}
	if in.Hook == HookSettings && s.cfg.ConfirmCurrent {
		// A second factor is needed to change the second factor: whoever
		// holds the session (a recovery code) must first give the code of
		// a call to the number the login gate calls now.
		d, proven, spent, err := s.confirmCurrent(ctx, in, num, ok)
		if err != nil || !proven {
			return d, err
		}
		if spent {
			// This request's code was the current number's: the new
			// number's step begins (its call), as a first submit does.
			in.Code, in.Resend = "", false
		}
	}
	if !ok {
		return s.forgetProvenNumber(in)
	}
	meta, err := decodeMetadata(in.MetadataPublic)
	if err != nil {
		return GateDecision{}, err
	}
	if v, _ := meta[MetaVerifiedNumber].(string); v == num.E164() {
		return GateDecision{Allow: true, Reason: "phone_unchanged"}, nil
	}
	// The binding names the number (its identity part is the number's
	// owner), so every challenge of b was called at num.
	b := challenge.Binding{Purpose: challenge.PurposeVerifyPhone, IdentityID: s.phoneOwner(num), FlowID: in.FlowID}
	// A number this flow proved stays proven for it while its code would
	// have lived: Kratos may refuse the save after our 200 (an e-mail
	// taken, another hook), and the corrected resubmit must neither read
	// "expired" for the code accepted nor be charged a new call. Both
	// paths learn it from the store step they take anyway, so a phone
	// check still costs one round trip.
	if in.Code == "" || in.Resend {
		// The number owns the check; a saved account's per-identity limit
		// counts the call too, so one account cannot call many numbers.
		account := in.IdentityID
		if account == zeroUUID {
			account = "" // registration: the identity does not exist yet
		}
		if in.Resend {
			return s.start(ctx, b, num, account, in.ClientIP, true)
		}
		if in.ClientIP == "" {
			s.warnNoClientIP(ctx, b.Purpose)
		}
		res, err := s.challenges.Start(ctx, challenge.StartRequest{
			Purpose: b.Purpose, IdentityID: b.IdentityID, FlowID: b.FlowID,
			Phone: num.E164(), Number: num, ClientIP: in.ClientIP, AccountID: account, KeepVerified: true,
		})
		if err == nil && s.provenFor(res.Challenge, num) {
			return s.phoneProven(meta, num), nil
		}
		v, err := s.startAnswer(res, err)
		if err != nil {
			return GateDecision{}, err
		}
		return GateDecision{Challenge: &v}, nil
	}
	// A code sent with another number than the one called finds no
	// challenge, and the user is told to ask for a new call (a code try
	// never places one).
	res, err := s.challenges.Verify(ctx, b, "", in.Code)
	if errors.Is(err, challenge.ErrAlreadyUsed) && s.provenFor(res.Challenge, num) {
		return s.phoneProven(meta, num), nil
	}
	if err != nil {
		return GateDecision{}, err
	}
	if res.Challenge.Phone != num.E164() {
		// Cannot happen while the binding names the number; a code proves
		// only the number it was sent to, whatever a store returns.
		return GateDecision{}, challenge.ErrNotFound
	}
	return s.phoneProven(meta, num), nil
}

// RegistrationSaved ends the proof of the number Kratos just saved with a
// registration (its post-persist hook): a number proven in a registration
// flow stays proven for that flow so that a resubmit after Kratos refused
// the save needs no second call (gatePhoneChange), but once the save went
// through, a resubmit of the same flow with another e-mail would save a
// second account with the number, proven by nobody new. A body without a
// number (missing_phone: allow) ends nothing.
func (s *Service) RegistrationSaved(ctx context.Context, in GateInput) error {
	if !in.AuthenticatedAt.IsZero() {
		// Kratos gives a registration's post-persist hook no session, a
		// login's hook one: a login.after web_hook pointed here would get
		// 200 and let every login through with no call.
		return fmt.Errorf("%w: the body has session.authenticated_at, which Kratos sends only to login hooks: "+
			"point the web_hook under selfservice.flows.login.after at /hooks/kratos/login", ErrWrongHook)
	}
	if in.IdentityID == "" || in.IdentityID == zeroUUID {
		return fmt.Errorf("%w: the body names no saved identity: leave can_interrupt and response.parse off on the web_hook "+
			"posting to /hooks/kratos/registered, and list it after the one posting to /hooks/kratos/registration, before session", ErrHookBeforeSave)
	}
	if in.PhoneTrait != "" && in.PhoneTrait != s.cfg.PhoneTrait {
		return fmt.Errorf("%w: the template's phonePath is %q, kratos.phone_trait is %q: set phonePath in the hook templates to match",
			ErrTraitMismatch, in.PhoneTrait, s.cfg.PhoneTrait)
	}
	num, ok, err := s.phoneFromTraits(in.Traits)
	if err != nil || !ok {
		return err
	}
	// A number saved by a registration was proven by its hook, whose
	// answer Kratos saved with it in metadata_public. Without that, the
	// body is not such a save: a settings web_hook pointed here (its body
	// is the same) would get 200 and save a new number with no call.
	meta, err := decodeMetadata(in.MetadataPublic)
	if err != nil {
		return err
	}
	if v, _ := meta[MetaVerifiedNumber].(string); v != num.E164() {
		return fmt.Errorf("%w: point a settings web_hook at /hooks/kratos/settings, and list the one posting to "+
			"/hooks/kratos/registration (can_interrupt, response.parse) before the one posting to /hooks/kratos/registered", ErrRegisteredUnproven)
	}
	sp, ok := s.challenges.(proofSpender)
	if !ok {
		return nil
	}
	b := challenge.Binding{Purpose: challenge.PurposeVerifyPhone, IdentityID: s.phoneOwner(num), FlowID: in.FlowID}
	_, err = sp.Spend(ctx, b)
	return err
}

// provenFor reports whether c, the flow's challenge, proved num within its
// code's lifetime.
func (s *Service) provenFor(c challenge.Challenge, num phone.Number) bool {
	return c.State == challenge.StateVerified && c.Phone == num.E164() && s.now().Before(c.ExpiresAt)
}

// phoneProven lets the flow save num with its proof in metadata_public.
func (s *Service) phoneProven(meta map[string]any, num phone.Number) GateDecision {
	meta[MetaVerifiedAt] = s.now().UTC().Format(time.RFC3339)
	meta[MetaVerifiedNumber] = num.E164()
	return GateDecision{Allow: true, Reason: "phone_verified", MetadataPublic: meta}
}

// forgetProvenNumber lets an identity save without a number (missing_phone:
// allow) and drops the proven number from its metadata, if one is there: it
// is a copy of a number the user removed, and every whoami would go on
// showing it. A number added later is proven anew.
func (s *Service) forgetProvenNumber(in GateInput) (GateDecision, error) {
	meta, err := decodeMetadata(in.MetadataPublic)
	if err != nil {
		// Not an object (an admin may store any JSON there): it holds no
		// number of ours, and it is not ours to refuse or rewrite.
		return GateDecision{Allow: true, Reason: "no_phone"}, nil
	}
	_, had := meta[MetaVerifiedNumber]
	_, hadAt := meta[MetaVerifiedAt]
	if !had && !hadAt {
		return GateDecision{Allow: true, Reason: "no_phone"}, nil
	}
	delete(meta, MetaVerifiedNumber)
	delete(meta, MetaVerifiedAt)
	return GateDecision{Allow: true, Reason: "phone_removed", MetadataPublic: meta}, nil
}

// decodeMetadata decodes the identity's metadata_public as sent by Kratos
// (absent and null give an empty object). It goes back to Kratos whole when a
// phone is proven (response.parse), so every value must survive the round
// trip: numbers stay json.Number, not float64, which would round an integer
// above 2^53 (a tenant id set by an admin) and Kratos would store the rounded
// value. The error does not repeat the input.
func decodeMetadata(raw json.RawMessage) (map[string]any, error) {
	meta := map[string]any{}
	if len(raw) == 0 || string(raw) == "null" {
		return meta, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&meta); err != nil {
		return nil, errors.New("factor: metadata_public is not an object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("factor: metadata_public is not an object (trailing data)")
	}
	if meta == nil { // null, spaced
		meta = map[string]any{}
	}
	return meta, nil
}

// phoneOwner is whom a phone check (registration or settings) is bound to
// and its limits and bans count against: the number, not the account. At
// registration the identity id is still the zero UUID and a new flow is free
// to start; in settings an attacker with many accounts would get each
// account's limits for one victim's number. So the per-identity limit and
// the regulation ban hold per number across flows and accounts. The number
// is named by a keyed hash (phone.Hasher): the owner is in store keys, the
// ban memo and (through its tag) the challenge id, and an unkeyed hash of a
// number is reversed by trying them all.
func (s *Service) phoneOwner(num phone.Number) string { return PhoneOwner(s.numbers, num) }

// PhoneOwner is the owner a phone check of num is bound to (see
// phoneOwner), named with numbers (keyed by challenge.code_key): what
// `callpass-kratos bans` reads and lifts for a number.
func PhoneOwner(numbers *phone.Hasher, num phone.Number) string {
	return "phone:" + numbers.Sum("owner", num.E164())
}

// Keys this service writes into metadata_public after a phone is proven.
const (
	MetaVerifiedAt     = "phone_verified_at"
	MetaVerifiedNumber = "phone_verified_number"
)

// session reads the caller's Kratos session.
func (s *Service) session(ctx context.Context, creds Creds) (*kratos.Session, error) {
	if creds.Empty() {
		return nil, ErrNoCredentials
	}
	if s.sessions == nil {
		return nil, fmt.Errorf("factor: no Kratos client configured")
	}
	sess, err := s.sessions.Session(ctx, creds.Cookie, creds.SessionToken)
	if err != nil {
		return nil, err
	}
	if !sess.Active {
		return nil, kratos.ErrNoSession
	}
	return sess, nil
}

func (s *Service) sessionPhone(sess *kratos.Session) (phone.Number, error) {
	raw, err := json.Marshal(sess.Traits)
	if err != nil {
		return phone.Number{}, err
	}
	num, ok, err := s.phoneFromTraits(raw)
	if err != nil {
		return phone.Number{}, err
	}
	if !ok {
		return phone.Number{}, ErrNoPhone
	}
	return num, nil
}

func stepUpBinding(sess *kratos.Session) challenge.Binding {
	return challenge.Binding{Purpose: challenge.PurposeStepUp, IdentityID: sess.IdentityID, FlowID: sess.ID}
}

// StepUpStart starts (or reuses) a step-up challenge for the caller's session.
func (s *Service) StepUpStart(ctx context.Context, creds Creds, resend bool, clientIP string) (ChallengeView, error) {
	sess, err := s.session(ctx, creds)
	if err != nil {
		return ChallengeView{}, err
	}
	return s.stepUpStart(ctx, sess, resend, false, clientIP)
}

// StepUpResend is "call me again" from a page showing challenge id (""
// for none): when id, or the session's current challenge that replaced it
// (StepUpFollow), was confirmed within its code's lifetime, that view
// (state verified) is returned and no call is placed: the session has
// passed, another tab just said so. Otherwise a new call, as StepUpStart
// with resend. The session is read once for both.
func (s *Service) StepUpResend(ctx context.Context, creds Creds, id, clientIP string) (ChallengeView, error) {
	sess, err := s.session(ctx, creds)
	if err != nil {
		return ChallengeView{}, err
	}
	if id != "" {
		// A failed read is no reason to refuse the call the user asks for.
		if c, err := s.stepUpFollow(ctx, sess, id); err == nil && c.State == challenge.StateVerified && s.now().Before(c.ExpiresAt) {
			return viewOf(c, s.now()), nil
		}
	}
	// The check above is a read: a confirmation landing after it is seen
	// by the start itself, which retires the challenge it replaces before
	// the call (challenge.StartRequest.KeepVerified).
	return s.stepUpStart(ctx, sess, true, true, clientIP)
}

func (s *Service) stepUpStart(ctx context.Context, sess *kratos.Session, resend, keepVerified bool, clientIP string) (ChallengeView, error) {
	// A session StepUpVerify would refuse can never use the code: refused
	// the same way (401 no_session) before a paid call is placed.
	if sessionEndsBeforeToken(sess, s.now()) {
		return ChallengeView{}, jwt.ErrSessionExpired
	}
	num, err := s.sessionPhone(sess)
	if err != nil {
		return ChallengeView{}, err
	}
	if !keepVerified {
		return s.startView(ctx, stepUpBinding(sess), num, "", clientIP, resend)
	}
	if clientIP == "" {
		s.warnNoClientIP(ctx, challenge.PurposeStepUp)
	}
	b := stepUpBinding(sess)
	res, err := s.challenges.Start(ctx, challenge.StartRequest{
		Purpose: b.Purpose, IdentityID: b.IdentityID, FlowID: b.FlowID,
		Phone: num.E164(), Number: num, ClientIP: clientIP, Resend: resend, KeepVerified: true,
	})
	// The rest as startView answers it.
	var v ChallengeView
	if res.Challenge.ID != "" {
		v = viewOf(res.Challenge, s.now())
	}
	switch {
	case err != nil:
		return v, err // a refusal names the current challenge, if any
	case !res.Placed && res.Challenge.State == challenge.StateVerified:
		return v, nil // confirmed (in another tab): no call placed
	case !res.Placed && res.Challenge.CallClass == flashcall.ClassNotDelivered:
		return ChallengeView{}, ErrNotDelivered
	}
	v.Placed = res.Placed
	return v, nil
}

// StepUpGet returns a step-up challenge of the caller's own session.
func (s *Service) StepUpGet(ctx context.Context, creds Creds, id string) (ChallengeView, error) {
	sess, err := s.session(ctx, creds)
	if err != nil {
		return ChallengeView{}, err
	}
	c, err := s.challenges.Get(ctx, id)
	if err != nil {
		return ChallengeView{}, err
	}
	if c.Binding() != stepUpBinding(sess) {
		// Someone else's challenge looks exactly like a missing one.
		return ChallengeView{}, challenge.ErrNotFound
	}
	return viewOf(c, s.now()), nil
}

// StepUpFollow returns the step-up challenge a page naming id shows: id's
// own, or, when another tab's call replaced it, it expired, or it is no
// longer kept, the session's current challenge (pending, confirmed, or
// whatever it is now), the one a code posted from that page is tried on
// (StepUpVerify); so does a locked one once a new call replaced it. A
// confirmed challenge is shown as it is. Only the caller's own session's
// challenges are shown.
func (s *Service) StepUpFollow(ctx context.Context, creds Creds, id string) (ChallengeView, error) {
	sess, err := s.session(ctx, creds)
	if err != nil {
		return ChallengeView{}, err
	}
	c, err := s.stepUpFollow(ctx, sess, id)
	if err != nil {
		return ChallengeView{}, err
	}
	if a, ok := s.challenges.(startAwaiter); ok && c.State == challenge.StateSuperseded {
		// The session's current challenge, retired by another tab's "call
		// me again" while its call is placed: the page shows that call (or
		// this one given back if it is not placed), not "expired" for the
		// moment it takes. StepUpResend does not wait here: its own start
		// waits for the lease.
		b := stepUpBinding(sess)
		if w, ok := a.AwaitStart(ctx, b, c.Phone); ok {
			return viewOf(w, s.now()), nil
		}
		if cur, err := s.challenges.Current(ctx, b); err == nil {
			c = cur
		}
	}
	return viewOf(c, s.now()), nil
}

// stepUpFollow is StepUpFollow for a session already read.
func (s *Service) stepUpFollow(ctx context.Context, sess *kratos.Session, id string) (challenge.Challenge, error) {
	b := stepUpBinding(sess)
	c, err := s.challenges.Get(ctx, id)
	switch {
	case errors.Is(err, challenge.ErrNotFound) || err == nil && c.Binding() != b:
		// Dropped (a grace past its expiry, while the call that replaced it
		// may still be on), or not this session's: as StepUpVerify, an id
		// of the identity shows the session's own current challenge, and
		// the answer never depends on another session's.
		if !challenge.IdentityOf(id, b) {
			return challenge.Challenge{}, challenge.ErrNotFound
		}
		c = challenge.Challenge{}
	case err != nil:
		return challenge.Challenge{}, err
	}
	now := s.now()
	// What StepUpVerify follows (a replaced or expired challenge, whose
	// code is refused as expired; a locked one, after which a new call may
	// be on; one not found), but for a confirmed one: its page says
	// "Confirmed", where a right code lands. A locked challenge that is
	// still the current one shows itself.
	dead := c.ID == "" || c.State == challenge.StateSuperseded || c.State == challenge.StateExpired ||
		c.State == challenge.StateLocked || c.State == challenge.StatePending && !now.Before(c.ExpiresAt)
	if !dead {
		return c, nil
	}
	cur, err := s.challenges.Current(ctx, b)
	switch {
	case errors.Is(err, challenge.ErrNotFound) && c.ID != "":
		return c, nil
	case err != nil:
		return challenge.Challenge{}, err
	}
	return cur, nil
}

// StepUpVerify checks the code for the caller's session and issues a JWT.
func (s *Service) StepUpVerify(ctx context.Context, creds Creds, id, code string, opts TokenOptions) (VerifyOutput, error) {
	// Refused before the verify: a token that cannot be issued must not
	// spend the code.
	if err := s.checkTokenOptions(opts); err != nil {
		return VerifyOutput{}, err
	}
	sess, err := s.session(ctx, creds)
	if err != nil {
		return VerifyOutput{}, err
	}
	// Also before the verify, from the session already read: one ending
	// before a token could be signed (Issue refuses it) keeps its code and
	// attempt instead of spending them on a 401.
	if sessionEndsBeforeToken(sess, s.now()) {
		return VerifyOutput{}, jwt.ErrSessionExpired
	}
	var pass *challenge.Pass
	if !sess.AuthenticatedAt.IsZero() {
		// Recorded for this session in the same atomic step as the verify.
		pass = &challenge.Pass{IdentityID: sess.IdentityID, AuthenticatedAt: sess.AuthenticatedAt, SessionID: sess.ID, TTL: s.passTTL(sess)}
	}
	// The session has one step-up challenge at a time: another tab's new
	// call replaced (or followed) the one this form names, or another tab
	// confirmed it and a later step-up placed a new call, and the user
	// types the newest call's digits. Nothing is counted on the dead one,
	// so the code is tried once against the session's current challenge
	// (as a form without an id is): same session, same purpose, one attempt
	// on one challenge, one verification in the metrics.
	// The code proves only the number it was called at: an admin may have
	// replaced the identity's number (a lost phone) since the call, and the
	// old number's code must not step up the session nor name it in a
	// token. Checked in the verify's own store step, nothing counted; the
	// user is told the code expired, and "call me again" calls the
	// current number.
	num, err := s.sessionPhone(sess)
	if err != nil {
		return VerifyOutput{}, err
	}
	var res challenge.VerifyResult
	if nf, ok := s.challenges.(numberFollower); ok {
		res, err = nf.VerifyAndPassFollowingNumber(ctx, stepUpBinding(sess), id, code, num.E164(), pass)
	} else {
		res, err = s.challenges.VerifyAndPassFollowing(ctx, stepUpBinding(sess), id, code, pass)
		if err == nil && res.Challenge.Phone != num.E164() {
			err = challenge.ErrNumberChanged
		}
	}
	if errors.Is(err, challenge.ErrNumberChanged) {
		s.log.InfoContext(ctx, "step-up code not tried: the phone trait changed since the call", "identity_id", sess.IdentityID)
		return VerifyOutput{}, challenge.ErrExpired
	}
	if err != nil {
		// The challenge the code was tried on, for the page to show (a tab
		// following the session's current call).
		var out VerifyOutput
		if res.Challenge.ID != "" {
			out.Challenge = viewOf(res.Challenge, s.now())
		}
		return out, err
	}
	// auth_time is this verification: a step-up is a fresh authentication,
	// and apps judge "recent enough" (OIDC max_age, RFC 9470) by it.
	authAt := res.Challenge.VerifiedAt
	if authAt.IsZero() {
		authAt = s.now()
	}
	tok, err := s.issue(ctx, sess, res.Challenge.Phone, "stepup", authAt, opts)
	if err != nil {
		return VerifyOutput{}, err
	}
	return VerifyOutput{Challenge: viewOf(res.Challenge, s.now()), Token: tok}, nil
}

// stepUpMinSessionLeft is how long a session must still last for a step-up
// verify to try the code. The token is signed after the verify (a store
// round trip later), and jwt.Issuer refuses a session that ends within the
// second it signs in; the margin covers the round trip, so a session let
// through is one Issue accepts.
const stepUpMinSessionLeft = 2 * time.Second

// sessionEndsBeforeToken reports whether sess ends (whole seconds, as the
// token's exp) too soon for a token to be issued after a verify.
func sessionEndsBeforeToken(sess *kratos.Session, now time.Time) bool {
	return !sess.ExpiresAt.IsZero() && sess.ExpiresAt.Unix() <= now.Add(stepUpMinSessionLeft).Unix()
}

// Exchange issues a JWT for a session whose login passed the gate (or that
// passed a step-up); any other session gets ErrNotGated.
func (s *Service) Exchange(ctx context.Context, creds Creds, opts TokenOptions) (TokenView, error) {
	if err := s.checkTokenOptions(opts); err != nil {
		return TokenView{}, err
	}
	sess, err := s.session(ctx, creds)
	if err != nil {
		return TokenView{}, err
	}
	called, ok, err := s.claimPass(ctx, sess)
	if err != nil {
		return TokenView{}, fmt.Errorf("%w: claim gate pass: %v", challenge.ErrStoreUnavailable, err)
	}
	if !ok {
		return TokenView{}, ErrNotGated
	}
	// phone_number_verified must name the number the call went to, not the
	// trait as it reads now: it may have been changed since (admin API,
	// import, a settings flow without the hook). Only a pass recorded
	// before passes carried the number falls back to the trait.
	if called == "" {
		num, err := s.sessionPhone(sess)
		if err != nil {
			return TokenView{}, err
		}
		called = num.E164()
	}
	return s.issue(ctx, sess, called, "exchange", sess.AuthenticatedAt, opts)
}

// claimPass claims sess's gate pass and keeps it as long as sess's pass is
// recorded for now (loginPassTTL): Kratos may have extended the session
// since, and whoami says until when.
func (s *Service) claimPass(ctx context.Context, sess *kratos.Session) (string, bool, error) {
	at := passTimes(sess)
	if pk, ok := s.passes.(passKeeper); ok && !sess.ExpiresAt.IsZero() {
		keep := sess.ExpiresAt.Add(sessionLength(sess.ExpiresAt, sess.AuthenticatedAt))
		return pk.ClaimPassUntil(ctx, sess.IdentityID, at, s.cfg.PassTolerance, sess.ID, keep)
	}
	return s.passes.ClaimPass(ctx, sess.IdentityID, at, s.cfg.PassTolerance, sess.ID)
}

// maxPassTimes bounds the candidate times one exchange tries (a session
// refreshed very many times lists very many methods).
const maxPassTimes = 32

// passTimes are the times a gate pass of sess may be recorded under, in the
// order they are tried: the session's authenticated_at, then the completion
// time of each of its authentication methods, newest first (the newest
// when there are too many), without zero times or repeats. Newest first: a
// session logged in again through the gate (a refresh) holds several passes
// and must get the newest, whose call went to the number it has now. Kratos sets authenticated_at anew on every login
// into the session, an AAL upgrade (lookup_secret, TOTP, WebAuthn) included,
// which runs no password hooks and so records no pass; the methods' times
// stay as they were, and the password method's is within microseconds of
// the authenticated_at the gate saw. A pass stays bound to one session
// whichever time found it.
func passTimes(sess *kratos.Session) []time.Time {
	methods := sess.MethodTimes
	if len(methods) > maxPassTimes-1 {
		methods = methods[len(methods)-(maxPassTimes-1):]
	}
	out := make([]time.Time, 0, 1+len(methods))
	add := func(at time.Time) {
		if at.IsZero() {
			return
		}
		for _, o := range out {
			if o.Equal(at) {
				return
			}
		}
		out = append(out, at)
	}
	add(sess.AuthenticatedAt)
	for i := len(methods) - 1; i >= 0; i-- {
		add(methods[i])
	}
	return out
}

// checkTokenOptions refuses what Issue would refuse, before any work.
func (s *Service) checkTokenOptions(opts TokenOptions) error {
	if opts.Audience == "" {
		return nil
	}
	if s.issuer == nil || !s.issuer.AllowsAudience(opts.Audience) {
		return jwt.ErrAudienceNotAllowed
	}
	return nil
}

// passTTL keeps a step-up's pass as a login's (loginPassTTL, on the
// service's clock).
func (s *Service) passTTL(sess *kratos.Session) time.Duration {
	return s.loginPassTTL(sess.ExpiresAt, sess.AuthenticatedAt)
}

// issue signs a token for sess; authAt is when the user last authenticated
// (the login, or a step-up just verified).
func (s *Service) issue(ctx context.Context, sess *kratos.Session, phoneE164, via string, authAt time.Time, opts TokenOptions) (TokenView, error) {
	if s.issuer == nil {
		return TokenView{}, fmt.Errorf("factor: no JWT issuer configured")
	}
	var traits, meta json.RawMessage
	if s.issuer.NeedsIdentityData() {
		traits, _ = json.Marshal(sess.Traits)
		meta, _ = json.Marshal(sess.MetadataPublic)
	}
	tok, err := s.issuer.Issue(ctx, jwt.Subject{
		IdentityID:       sess.IdentityID,
		SessionID:        sess.ID,
		SessionExpiresAt: sess.ExpiresAt,
		AuthTime:         authAt,
		Methods:          sess.Methods,
		PhoneE164:        phoneE164,
		Audience:         opts.Audience,
		Traits:           traits,
		MetadataPublic:   meta,
	})
	if err != nil {
		return TokenView{}, fmt.Errorf("factor: issue token: %w", err)
	}
	if s.observer != nil {
		s.observer.ObserveTokenIssued(via)
	}
	// Rounded down: never more than the token has (its exp is whole seconds).
	exp := max(int(time.Until(tok.ExpiresAt)/time.Second), 0)
	return TokenView{AccessToken: tok.Raw, TokenType: "Bearer", ExpiresIn: exp, ExpiresAt: tok.ExpiresAt}, nil
}
