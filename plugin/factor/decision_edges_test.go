package factor

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
)

// scriptedChallenges wraps fakeChallenges: Start answers with the given
// placed flag and call class, Verify and VerifyAndPass with verifyErr when
// set, and Get with got; every call is counted.
type scriptedChallenges struct {
	fakeChallenges
	placed         bool
	class          flashcall.Class
	verifyErr      error
	got            *challenge.Challenge
	verifyCalls    int
	verifyAndPass  int
	gets           int
	lastVerifyBind challenge.Binding
}

func (f *scriptedChallenges) Start(ctx context.Context, req challenge.StartRequest) (challenge.StartResult, error) {
	res, err := f.fakeChallenges.Start(ctx, req)
	res.Placed = f.placed
	res.Challenge.CallClass = f.class
	return res, err
}

func (f *scriptedChallenges) Verify(ctx context.Context, b challenge.Binding, id, code string) (challenge.VerifyResult, error) {
	f.verifyCalls++
	f.lastVerifyBind = b
	if f.verifyErr != nil {
		return challenge.VerifyResult{}, f.verifyErr
	}
	return f.fakeChallenges.Verify(ctx, b, id, code)
}

func (f *scriptedChallenges) VerifyAndPass(ctx context.Context, b challenge.Binding, id, code string, p *challenge.Pass) (challenge.VerifyResult, error) {
	f.verifyAndPass++
	f.lastVerifyBind = b
	if f.verifyErr != nil {
		return challenge.VerifyResult{}, f.verifyErr
	}
	return f.fakeChallenges.VerifyAndPass(ctx, b, id, code, p)
}

// VerifyAndPassNumber: these fakes' challenges hold no number of their own
// to check; the real check is the stores' (plugin/challenge/storetest).
func (f *scriptedChallenges) VerifyAndPassNumber(ctx context.Context, b challenge.Binding, id, code, _ string, p *challenge.Pass) (challenge.VerifyResult, error) {
	return f.VerifyAndPass(ctx, b, id, code, p)
}

func (f *scriptedChallenges) VerifyAndPassFollowing(ctx context.Context, b challenge.Binding, id, code string, p *challenge.Pass) (challenge.VerifyResult, error) {
	return f.VerifyAndPass(ctx, b, id, code, p)
}

func (f *scriptedChallenges) Current(context.Context, challenge.Binding) (challenge.Challenge, error) {
	return challenge.Challenge{}, challenge.ErrNotFound
}

func (f *scriptedChallenges) Get(context.Context, string) (challenge.Challenge, error) {
	f.gets++
	if f.got == nil {
		return challenge.Challenge{}, challenge.ErrNotFound
	}
	return *f.got, nil
}

// claimRecorder is a PassStore that records what ClaimPass was asked and
// answers with a pass.
type claimRecorder struct {
	calls     int
	identity  string
	at        []time.Time
	tolerance time.Duration
	sessionID string
}

func (c *claimRecorder) ClaimPass(_ context.Context, identityID string, at []time.Time, tolerance time.Duration, sessionID string) (string, bool, error) {
	c.calls++
	c.identity, c.at, c.tolerance, c.sessionID = identityID, at, tolerance, sessionID
	return "+79001112233", true, nil
}

// activeSession is a gated, active session with a phone trait.
func activeSession(now time.Time) *kratos.Session {
	return &kratos.Session{ID: "sess-1", IdentityID: "ident-1", Active: true, AuthenticatedAt: now.Add(-time.Minute),
		ExpiresAt: now.Add(time.Hour), Traits: map[string]any{"phone": "+79001112233"}}
}

// TestLoginGateDecisions covers the login gate's decisions: a wrong code
// without authenticated_at is refused (F04), a code sent with resend asks
// for a new call instead of verifying (F21), and an identity without a
// phone is refused under the default policy (F02).
func TestLoginGateDecisions(t *testing.T) {
	wrong := &challenge.WrongCodeError{AttemptsLeft: 2}
	tests := []struct {
		name       string
		cfg        Config
		in         GateInput
		verifyErr  error
		wantErr    error
		wantAllow  bool
		wantStarts int
		wantResend bool
		wantVerify int // Verify + VerifyAndPass calls
	}{
		{name: "F04 wrong code, no authenticated_at", in: GateInput{Code: "0000", Traits: []byte(`{"phone":"+79001112233"}`)},
			verifyErr: wrong, wantErr: challenge.ErrWrongCode, wantVerify: 1},
		{name: "F04 locked, no authenticated_at", in: GateInput{Code: "0000", Traits: []byte(`{"phone":"+79001112233"}`)},
			verifyErr: &challenge.WrongCodeError{}, wantErr: challenge.ErrLocked, wantVerify: 1},
		{name: "F04 expired, no authenticated_at", in: GateInput{Code: "0000", Traits: []byte(`{"phone":"+79001112233"}`)},
			verifyErr: challenge.ErrExpired, wantErr: challenge.ErrExpired, wantVerify: 1},
		{name: "F04 wrong code, with authenticated_at", in: GateInput{Code: "0000", AuthenticatedAt: time.Now(), Traits: []byte(`{"phone":"+79001112233"}`)},
			verifyErr: wrong, wantErr: challenge.ErrWrongCode, wantVerify: 1},
		{name: "F04 right code, no authenticated_at", in: GateInput{Code: "1234", Traits: []byte(`{"phone":"+79001112233"}`)}, wantAllow: true, wantVerify: 1},
		{name: "F21 code and resend", in: GateInput{Code: "1234", Resend: true, Traits: []byte(`{"phone":"+79001112233"}`)},
			wantStarts: 1, wantResend: true},
		{name: "F21 code and resend, with authenticated_at", in: GateInput{Code: "0000", Resend: true, AuthenticatedAt: time.Now(),
			Traits: []byte(`{"phone":"+79001112233"}`)}, verifyErr: wrong, wantStarts: 1, wantResend: true},
		{name: "F02 no phone, default policy", in: GateInput{Traits: []byte(`{"email":"a@example.com"}`)}, wantErr: ErrNoPhone},
		{name: "F02 no traits, default policy", in: GateInput{}, wantErr: ErrNoPhone},
		{name: "F02 empty phone, deny", cfg: Config{MissingPhone: MissingPhoneDeny}, in: GateInput{Traits: []byte(`{"phone":" "}`)}, wantErr: ErrNoPhone},
		{name: "F02 resend without phone, default policy", in: GateInput{Resend: true, Traits: []byte(`{}`)}, wantErr: ErrNoPhone},
		{name: "F02 no phone, allow", cfg: Config{MissingPhone: MissingPhoneAllow}, in: GateInput{Traits: []byte(`{"email":"a@example.com"}`)},
			wantAllow: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := &scriptedChallenges{placed: true, verifyErr: tt.verifyErr}
			s, err := New(tt.cfg, Deps{Numbers: phonetest.Hasher(), Challenges: ch, Passes: noPasses{}})
			if err != nil {
				t.Fatal(err)
			}
			in := tt.in
			in.Hook, in.FlowID, in.IdentityID, in.ClientIP = HookLogin, "flow-1", "ident-1", "192.0.2.1"
			dec, err := s.Gate(context.Background(), in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("err %v", err)
			}
			if dec.Allow != tt.wantAllow {
				t.Fatalf("allow %v, want %v (%+v)", dec.Allow, tt.wantAllow, dec)
			}
			if tt.wantErr != nil && (dec.Challenge != nil || dec.Reason != "") {
				t.Fatalf("refused with a decision %+v", dec)
			}
			if len(ch.starts) != tt.wantStarts {
				t.Fatalf("%d starts, want %d", len(ch.starts), tt.wantStarts)
			}
			if tt.wantStarts > 0 {
				if ch.starts[0].Resend != tt.wantResend || ch.starts[0].Purpose != challenge.PurposeLogin || dec.Challenge == nil {
					t.Fatalf("start %+v, challenge %+v; want a login start with resend %v", ch.starts[0], dec.Challenge, tt.wantResend)
				}
			}
			if got := ch.verifyCalls + ch.verifyAndPass; got != tt.wantVerify {
				t.Fatalf("%d verifies, want %d", got, tt.wantVerify)
			}
			if tt.wantErr != nil && len(ch.passes) != 0 {
				t.Fatalf("pass recorded on a refusal: %+v", ch.passes)
			}
		})
	}
}

// TestPhoneChangeCodeWithResendResends: in registration and settings a code
// sent with resend asks for a new call, too (F21).
func TestPhoneChangeCodeWithResendResends(t *testing.T) {
	for _, hook := range []Hook{HookRegistration, HookSettings} {
		t.Run(string(hook), func(t *testing.T) {
			ch := &scriptedChallenges{placed: true, fakeChallenges: fakeChallenges{calledPhone: "+79001112233"}}
			s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: ch, Passes: noPasses{}})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := s.Gate(context.Background(), GateInput{Hook: hook, FlowID: "f", IdentityID: identityAt(hook),
				Traits: []byte(`{"phone":"+79001112233"}`), Code: "1234", Resend: true})
			if err != nil || dec.Allow || dec.Challenge == nil || dec.MetadataPublic != nil {
				t.Fatalf("%+v %v, want a challenge", dec, err)
			}
			if len(ch.starts) != 1 || !ch.starts[0].Resend || ch.verifyCalls+ch.verifyAndPass != 0 {
				t.Fatalf("starts %+v, %d verifies; want one resend and no verify", ch.starts, ch.verifyCalls+ch.verifyAndPass)
			}
		})
	}
}

// TestProvenNumberMustEqualTheTrait: at registration and in settings, metadata_public's
// proven number equal to the trait passes without a call; any other proven
// number (or none) needs a call to the trait's number (F07).
func TestProvenNumberMustEqualTheTrait(t *testing.T) {
	tests := []struct {
		name      string
		meta      string
		trait     string
		wantAllow bool
	}{
		{"same number", `{"phone_verified_number":"+79001112233"}`, "+79001112233", true},
		{"same number, other spelling in the trait", `{"phone_verified_number":"+79001112233"}`, "8 (900) 111-22-33", true},
		{"another proven number", `{"phone_verified_number":"+79004445566"}`, "+79001112233", false},
		{"proven number not E.164", `{"phone_verified_number":"89001112233"}`, "+79001112233", false},
		{"proven number empty", `{"phone_verified_number":""}`, "+79001112233", false},
		{"proven number not a string", `{"phone_verified_number":79001112233}`, "+79001112233", false},
		{"nothing proven", `{"phone_verified_at":"2026-11-27T00:00:00Z"}`, "+79001112233", false},
		{"no metadata", ``, "+79001112233", false},
	}
	for _, hook := range []Hook{HookRegistration, HookSettings} {
		for _, tt := range tests {
			t.Run(string(hook)+"/"+tt.name, func(t *testing.T) {
				ch := &scriptedChallenges{placed: true}
				s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: ch, Passes: noPasses{}})
				if err != nil {
					t.Fatal(err)
				}
				dec, err := s.Gate(context.Background(), GateInput{Hook: hook, FlowID: "f", IdentityID: identityAt(hook),
					Traits: []byte(`{"phone":"` + tt.trait + `"}`), MetadataPublic: json.RawMessage(tt.meta), ClientIP: "192.0.2.1"})
				if err != nil {
					t.Fatal(err)
				}
				if tt.wantAllow {
					if !dec.Allow || dec.Reason != "phone_unchanged" || dec.Challenge != nil || len(ch.starts) != 0 {
						t.Fatalf("%+v, %d calls; want allowed as phone_unchanged without a call", dec, len(ch.starts))
					}
					return
				}
				if dec.Allow || dec.Challenge == nil || dec.MetadataPublic != nil {
					t.Fatalf("%+v, want a challenge, not allowed", dec)
				}
				if len(ch.starts) != 1 || ch.starts[0].Number.E164() != "+79001112233" || ch.starts[0].Purpose != challenge.PurposeVerifyPhone {
					t.Fatalf("starts %+v, want one phone check of +79001112233", ch.starts)
				}
			})
		}
	}
}

// TestNotDeliveredCallRefused: a start that placed no new call and shows a
// pending call that never reached the phone is ErrNotDelivered on every
// path that starts a call (F16); a call just placed, or one that rang, is
// shown.
func TestNotDeliveredCallRefused(t *testing.T) {
	now := time.Now()
	classes := []struct {
		name    string
		placed  bool
		class   flashcall.Class
		wantErr error
	}{
		{"reused, not delivered", false, flashcall.ClassNotDelivered, ErrNotDelivered},
		{"reused, rang", false, flashcall.ClassRang, nil},
		{"reused, pending", false, flashcall.ClassPending, nil},
		{"placed, not delivered", true, flashcall.ClassNotDelivered, nil},
	}
	paths := []string{"login", "registration", "settings", "stepup"}
	for _, c := range classes {
		for _, path := range paths {
			t.Run(c.name+"/"+path, func(t *testing.T) {
				ch := &scriptedChallenges{placed: c.placed, class: c.class}
				s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: ch, Passes: noPasses{},
					Sessions: oneSession{activeSession(now)}})
				if err != nil {
					t.Fatal(err)
				}
				var view *ChallengeView
				traits := []byte(`{"phone":"+79001112233"}`)
				switch path {
				case "login":
					var dec GateDecision
					dec, err = s.Gate(context.Background(), GateInput{Hook: HookLogin, FlowID: "f", IdentityID: "i", Traits: traits})
					view = dec.Challenge
				case "registration", "settings":
					var dec GateDecision
					dec, err = s.Gate(context.Background(), GateInput{Hook: Hook(path), FlowID: "f", IdentityID: zeroUUID, Traits: traits})
					view = dec.Challenge
				case "stepup":
					var v ChallengeView
					v, err = s.StepUpStart(context.Background(), Creds{SessionToken: "t"}, false, "192.0.2.1")
					if err == nil {
						view = &v
					}
				}
				if len(ch.starts) != 1 {
					t.Fatalf("%d starts, want 1", len(ch.starts))
				}
				if c.wantErr != nil {
					if !errors.Is(err, c.wantErr) || view != nil {
						t.Fatalf("%v, view %+v; want %v", err, view, c.wantErr)
					}
					return
				}
				if err != nil || view == nil || view.CallStatus != c.class.String() || view.Placed != c.placed {
					t.Fatalf("%v, view %+v; want the challenge shown", err, view)
				}
			})
		}
	}
}

// TestStepUpGetOwnChallengeOnly: a step-up challenge is shown only to
// its own session; any other binding reads as not found (F10).
func TestStepUpGetOwnChallengeOnly(t *testing.T) {
	now := time.Now()
	sess := activeSession(now)
	own := challenge.Challenge{ID: "c1", Purpose: challenge.PurposeStepUp, IdentityID: sess.IdentityID, FlowID: sess.ID,
		Phone: "+79001112233", CodeLength: 4, MaxAttempts: 3, State: challenge.StatePending, ExpiresAt: now.Add(time.Minute)}
	tests := []struct {
		name    string
		mutate  func(c *challenge.Challenge)
		wantErr error
	}{
		{"own challenge", func(*challenge.Challenge) {}, nil},
		{"another session of the same identity", func(c *challenge.Challenge) { c.FlowID = "sess-2" }, challenge.ErrNotFound},
		{"another identity, same session id", func(c *challenge.Challenge) { c.IdentityID = "ident-2" }, challenge.ErrNotFound},
		{"another identity and session", func(c *challenge.Challenge) { c.IdentityID, c.FlowID = "ident-2", "sess-2" }, challenge.ErrNotFound},
		{"a login challenge", func(c *challenge.Challenge) { c.Purpose = challenge.PurposeLogin }, challenge.ErrNotFound},
		{"a phone check", func(c *challenge.Challenge) { c.Purpose = challenge.PurposeVerifyPhone }, challenge.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := own
			tt.mutate(&c)
			ch := &scriptedChallenges{got: &c}
			s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: ch, Passes: noPasses{}, Sessions: oneSession{sess}})
			if err != nil {
				t.Fatal(err)
			}
			v, err := s.StepUpGet(context.Background(), Creds{Cookie: "c"}, "c1")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || v != (ChallengeView{}) {
					t.Fatalf("%+v %v, want %v and no view", v, err, tt.wantErr)
				}
				return
			}
			if err != nil || v.ID != "c1" || v.PhoneMasked != "+7 900 ***-**-33" {
				t.Fatalf("%+v %v, want the own challenge", v, err)
			}
		})
	}
}

// TestInactiveSessionRefused: an inactive session is kratos.ErrNoSession on
// every session-based call, before anything else is done (F09).
func TestInactiveSessionRefused(t *testing.T) {
	now := time.Now()
	sess := activeSession(now)
	sess.Active = false
	calls := map[string]func(s *Service) error{
		"StepUpStart": func(s *Service) error {
			_, err := s.StepUpStart(context.Background(), Creds{SessionToken: "t"}, false, "192.0.2.1")
			return err
		},
		"StepUpGet": func(s *Service) error {
			_, err := s.StepUpGet(context.Background(), Creds{SessionToken: "t"}, "c1")
			return err
		},
		"StepUpVerify": func(s *Service) error {
			_, err := s.StepUpVerify(context.Background(), Creds{SessionToken: "t"}, "c1", "1234", TokenOptions{})
			return err
		},
		"Exchange": func(s *Service) error {
			_, err := s.Exchange(context.Background(), Creds{SessionToken: "t"}, TokenOptions{})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			own := challenge.Challenge{ID: "c1", Purpose: challenge.PurposeStepUp, IdentityID: sess.IdentityID, FlowID: sess.ID,
				State: challenge.StatePending, ExpiresAt: now.Add(time.Minute)}
			ch := &scriptedChallenges{placed: true, got: &own, fakeChallenges: fakeChallenges{calledPhone: "+79001112233"}}
			passes := &claimRecorder{}
			iss := &recordingIssuer{}
			s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: ch, Passes: passes,
				Sessions: oneSession{sess}, Issuer: iss})
			if err != nil {
				t.Fatal(err)
			}
			if err := call(s); !errors.Is(err, kratos.ErrNoSession) {
				t.Fatalf("inactive session: %v, want kratos.ErrNoSession", err)
			}
			if n := len(ch.starts) + ch.verifyCalls + ch.verifyAndPass + ch.gets + passes.calls + iss.issued; n != 0 {
				t.Fatalf("inactive session: %d starts, %d verifies, %d gets, %d claims, %d tokens; want none",
					len(ch.starts), ch.verifyCalls+ch.verifyAndPass, ch.gets, passes.calls, iss.issued)
			}
		})
	}
}

// TestTokenCarriesSessionExpiry: both token paths hand the session's
// expiry to the issuer, which keeps a token from outliving its session (F15).
func TestTokenCarriesSessionExpiry(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	for _, path := range []string{"exchange", "stepup"} {
		t.Run(path, func(t *testing.T) {
			sess := activeSession(now)
			sess.ExpiresAt = now.Add(90 * time.Second)
			iss := &recordingIssuer{}
			s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: &fakeChallenges{calledPhone: "+79001112233"},
				Passes: allPasses{called: "+79001112233"}, Sessions: oneSession{sess}, Issuer: iss})
			if err != nil {
				t.Fatal(err)
			}
			if path == "exchange" {
				_, err = s.Exchange(context.Background(), Creds{SessionToken: "t"}, TokenOptions{})
			} else {
				_, err = s.StepUpVerify(context.Background(), Creds{SessionToken: "t"}, "c1", "1234", TokenOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			if iss.issued != 1 || !iss.got.SessionExpiresAt.Equal(sess.ExpiresAt) {
				t.Fatalf("issued %d, subject's session expiry %s, want %s", iss.issued, iss.got.SessionExpiresAt, sess.ExpiresAt)
			}
			if iss.got.SessionID != sess.ID || iss.got.IdentityID != sess.IdentityID {
				t.Fatalf("subject %+v", iss.got)
			}
		})
	}
}

// TestStepUpPassBoundToSession: the pass a step-up verify records is bound to the
// session (F20) and lives as long as the session when its expiry is known,
// shorter or longer than PassTTL, and one session length more (Kratos may
// extend the session by that much); PassTTL only when it is not (F14).
func TestStepUpPassBoundToSession(t *testing.T) {
	const passTTL = 48 * time.Hour
	tests := []struct {
		name    string
		expires time.Duration // from now; 0: not known
		want    time.Duration
	}{
		// activeSession is authenticated a minute ago.
		{"session expires in 2h", 2 * time.Hour, 2*time.Hour + 2*time.Hour + time.Minute},
		{"session expires in 90s", 90 * time.Second, 90*time.Second + 90*time.Second + time.Minute},
		{"session expires in 30 days", 30 * 24 * time.Hour, 60*24*time.Hour + time.Minute},
		{"expiry not known", 0, passTTL},
		// A past expiry is refused before the verify
		// (TestStepUpVerifyOnEndingSessionKeepsTheCode): no pass.
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			sess := activeSession(now)
			sess.ExpiresAt = time.Time{}
			if tt.expires != 0 {
				sess.ExpiresAt = now.Add(tt.expires)
			}
			ch := &fakeChallenges{calledPhone: "+79001112233"}
			s, err := New(Config{PassTTL: passTTL}, Deps{Numbers: phonetest.Hasher(), Challenges: ch, Passes: noPasses{},
				Sessions: oneSession{sess}, Issuer: &recordingIssuer{}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.StepUpVerify(context.Background(), Creds{SessionToken: "t"}, "c1", "1234", TokenOptions{}); err != nil {
				t.Fatal(err)
			}
			if len(ch.passes) != 1 {
				t.Fatalf("passes %+v, want one", ch.passes)
			}
			p := ch.passes[0]
			if p.SessionID != sess.ID || p.IdentityID != sess.IdentityID || !p.AuthenticatedAt.Equal(sess.AuthenticatedAt) {
				t.Fatalf("pass %+v, want one bound to session %s of %s at %s", p, sess.ID, sess.IdentityID, sess.AuthenticatedAt)
			}
			if d := p.TTL - tt.want; d > 0 || d < -time.Minute {
				t.Fatalf("pass TTL %s, want about %s", p.TTL, tt.want)
			}
		})
	}
}

// TestExchangeClaimTolerance: the exchange claims a pass with the
// configured tolerance (default 1 s), for the session's identity, times and
// id (F23).
func TestExchangeClaimTolerance(t *testing.T) {
	tests := []struct {
		name string
		cfg  time.Duration
		want time.Duration
	}{
		{"default", 0, time.Second},
		{"configured", 250 * time.Millisecond, 250 * time.Millisecond},
		{"configured, larger", 3 * time.Second, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			sess := activeSession(now)
			passes := &claimRecorder{}
			s, err := New(Config{PassTolerance: tt.cfg}, Deps{Numbers: phonetest.Hasher(), Challenges: &fakeChallenges{}, Passes: passes,
				Sessions: oneSession{sess}, Issuer: &recordingIssuer{}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Exchange(context.Background(), Creds{SessionToken: "t"}, TokenOptions{}); err != nil {
				t.Fatal(err)
			}
			if passes.calls != 1 || passes.tolerance != tt.want {
				t.Fatalf("%d claims with tolerance %s, want 1 with %s", passes.calls, passes.tolerance, tt.want)
			}
			if passes.identity != sess.IdentityID || passes.sessionID != sess.ID || len(passes.at) != 1 || !passes.at[0].Equal(sess.AuthenticatedAt) {
				t.Fatalf("claim for %q/%q at %v", passes.identity, passes.sessionID, passes.at)
			}
		})
	}
}

// keepRecorder is a claimRecorder whose store keeps passes (passKeeper).
type keepRecorder struct {
	claimRecorder
	keeps int
	until time.Time
}

func (k *keepRecorder) ClaimPassUntil(ctx context.Context, identityID string, at []time.Time, tolerance time.Duration, sessionID string, keepUntil time.Time) (string, bool, error) {
	k.keeps++
	k.until = keepUntil
	return k.ClaimPass(ctx, identityID, at, tolerance, sessionID)
}

// TestExchangeKeepsThePass: the exchange keeps the session's pass until
// the session's expiry as whoami reads it now (Kratos may have extended it)
// and one session length more, as a pass is recorded (loginPassTTL); a
// session whose expiry is unknown claims without keeping.
func TestExchangeKeepsThePass(t *testing.T) {
	now := time.Now()
	extended := activeSession(now) // authenticated a minute ago
	extended.ExpiresAt = now.Add(3 * time.Hour)
	unknown := activeSession(now)
	unknown.ExpiresAt = time.Time{}
	for _, tt := range []struct {
		name  string
		sess  *kratos.Session
		keeps int
		until time.Time
	}{
		{"expiry known", extended, 1, now.Add(6*time.Hour + time.Minute)},
		{"expiry unknown", unknown, 0, time.Time{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			passes := &keepRecorder{}
			s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: &fakeChallenges{}, Passes: passes,
				Sessions: oneSession{tt.sess}, Issuer: &recordingIssuer{}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Exchange(context.Background(), Creds{SessionToken: "t"}, TokenOptions{}); err != nil {
				t.Fatal(err)
			}
			if passes.calls != 1 || passes.keeps != tt.keeps || !passes.until.Equal(tt.until) {
				t.Fatalf("%d claims, %d keeping until %v; want 1 claim, %d keeping until %v", passes.calls, passes.keeps, passes.until, tt.keeps, tt.until)
			}
			if passes.sessionID != tt.sess.ID || passes.identity != tt.sess.IdentityID {
				t.Fatalf("claim for %q/%q", passes.identity, passes.sessionID)
			}
		})
	}
}
