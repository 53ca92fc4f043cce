package factor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
)

// fakeChallenges answers Verify with a challenge for calledPhone and records
// every Start.
type fakeChallenges struct {
	calledPhone string
	verifies    int
	starts      []challenge.StartRequest
	passes      []challenge.Pass
}

func (f *fakeChallenges) Start(_ context.Context, req challenge.StartRequest) (challenge.StartResult, error) {
	f.starts = append(f.starts, req)
	c := challenge.Challenge{ID: "c2", Purpose: req.Purpose, IdentityID: req.IdentityID, FlowID: req.FlowID,
		Phone: req.Number.E164(), CodeLength: 4, MaxAttempts: 3, State: challenge.StatePending,
		ExpiresAt: time.Now().Add(time.Minute)}
	return challenge.StartResult{Challenge: c, Placed: true}, nil
}

func (f *fakeChallenges) Verify(_ context.Context, b challenge.Binding, _, _ string) (challenge.VerifyResult, error) {
	f.verifies++
	if b.Purpose == challenge.PurposeVerifyPhone {
		if called, err := phone.Parse(f.calledPhone); err != nil || b.IdentityID != testOwner(called) {
			return challenge.VerifyResult{}, challenge.ErrNotFound // bound to another number
		}
	}
	return challenge.VerifyResult{Challenge: challenge.Challenge{ID: "c1", Purpose: b.Purpose, IdentityID: b.IdentityID,
		FlowID: b.FlowID, Phone: f.calledPhone, State: challenge.StateVerified}}, nil
}

func (f *fakeChallenges) VerifyAndPass(ctx context.Context, b challenge.Binding, id, code string, p *challenge.Pass) (challenge.VerifyResult, error) {
	if p != nil {
		f.passes = append(f.passes, *p)
	}
	return f.Verify(ctx, b, id, code)
}

// VerifyAndPassNumber: these fakes' challenges hold no number of their own
// to check; the real check is the stores' (plugin/challenge/storetest).
func (f *fakeChallenges) VerifyAndPassNumber(ctx context.Context, b challenge.Binding, id, code, _ string, p *challenge.Pass) (challenge.VerifyResult, error) {
	return f.VerifyAndPass(ctx, b, id, code, p)
}

func (f *fakeChallenges) VerifyAndPassFollowing(ctx context.Context, b challenge.Binding, id, code string, p *challenge.Pass) (challenge.VerifyResult, error) {
	return f.VerifyAndPass(ctx, b, id, code, p)
}

func (f *fakeChallenges) Get(context.Context, string) (challenge.Challenge, error) {
	return challenge.Challenge{}, challenge.ErrNotFound
}

func (f *fakeChallenges) Current(context.Context, challenge.Binding) (challenge.Challenge, error) {
	return challenge.Challenge{}, challenge.ErrNotFound
}

type noPasses struct{}

func (noPasses) ClaimPass(context.Context, string, []time.Time, time.Duration, string) (string, bool, error) {
	return "", false, nil
}

// TestPhoneChangeCodeProvesOnlyTheCalledNumber: a registration or settings
// flow resubmitted with another number and the code of the first call does
// not record the new number as proven: the check is bound to the number, so
// the code finds no challenge for the new one, and a code try places no call.
func TestPhoneChangeCodeProvesOnlyTheCalledNumber(t *testing.T) {
	tests := []struct {
		name, called, submitted string
		wantAllow               bool
	}{
		{"same number", "+79001112233", "+7 900 111-22-33", true},
		{"same number, other spelling", "+79001112233", "8 (900) 111 22 33", true},
		{"another number", "+79001112233", "+79004445566", false},
	}
	for _, hook := range []Hook{HookRegistration, HookSettings} {
		identity := "11111111-2222-3333-4444-555555555555"
		if hook == HookRegistration {
			identity = "00000000-0000-0000-0000-000000000000" // not saved yet
		}
		for _, tt := range tests {
			t.Run(string(hook)+"/"+tt.name, func(t *testing.T) {
				ch := &fakeChallenges{calledPhone: tt.called}
				s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: ch, Passes: noPasses{}})
				if err != nil {
					t.Fatal(err)
				}
				dec, err := s.Gate(context.Background(), GateInput{Hook: hook, FlowID: "f", IdentityID: identity,
					Traits: []byte(`{"phone":"` + tt.submitted + `"}`), Code: "1234", ClientIP: "192.0.2.1"})
				if !tt.wantAllow {
					// The binding names the number: no challenge for the
					// submitted one, and a code try places no call.
					if !errors.Is(err, challenge.ErrNotFound) || dec.Allow || dec.MetadataPublic != nil || len(ch.starts) != 0 {
						t.Fatalf("another number: %+v, %v, %d calls", dec, err, len(ch.starts))
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if dec.Allow != tt.wantAllow {
					t.Fatalf("allow = %v, want %v (%+v)", dec.Allow, tt.wantAllow, dec)
				}
				if tt.wantAllow {
					if got := dec.MetadataPublic[MetaVerifiedNumber]; got != tt.called {
						t.Errorf("proven number %v, want %s", got, tt.called)
					}
					if len(ch.starts) != 0 {
						t.Errorf("a proven number placed %d calls", len(ch.starts))
					}
					return
				}
				if dec.MetadataPublic != nil {
					t.Errorf("metadata written for a number never called: %v", dec.MetadataPublic)
				}
				if len(ch.starts) != 1 || ch.starts[0].Number.E164() != "+79004445566" || dec.Challenge == nil {
					t.Fatalf("want one call to the submitted number and a challenge, got %+v, %+v", ch.starts, dec.Challenge)
				}
			})
		}
	}
}

// TestRegistrationLimitsCountPerNumber: the number is the owner of a phone
// check, so every registration or settings flow for one number, from any
// account, shares the per-identity limit and the ban; the owner is a hash,
// so the number itself is in no store key.
func TestRegistrationLimitsCountPerNumber(t *testing.T) {
	ch := &fakeChallenges{}
	s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: ch, Passes: noPasses{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []GateInput{
		{Hook: HookRegistration, FlowID: "f1", IdentityID: zeroUUID, Traits: []byte(`{"phone":"+79001112233"}`)},
		{Hook: HookRegistration, FlowID: "f2", IdentityID: "", Traits: []byte(`{"phone":"8 900 111-22-33"}`)},
		{Hook: HookSettings, FlowID: "f3", IdentityID: "id-1", Traits: []byte(`{"phone":"+79001112233"}`)},
	} {
		if _, err := s.Gate(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	owner := ch.starts[0].IdentityID
	for i, st := range ch.starts {
		if st.IdentityID != owner || strings.Contains(st.IdentityID, "9001112233") || !strings.HasPrefix(st.IdentityID, "phone:") {
			t.Fatalf("start %d: owner %q, want the number's hash %q for every flow and account", i, st.IdentityID, owner)
		}
	}
	other, _ := phone.Parse("+79004445566")
	if testOwner(other) == owner {
		t.Fatal("two numbers share an owner")
	}
}

// TestStartWithoutClientIPWarnsSampled: a start without a client IP (what
// Kratos forwards at registration when no proxy sets True-Client-IP) is
// reported, at most once per NoClientIPWarnEvery.
func TestStartWithoutClientIPWarnsSampled(t *testing.T) {
	var logs bytes.Buffer
	now := time.Unix(1_700_000_000, 0)
	s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: &fakeChallenges{}, Passes: noPasses{},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	start := func(ip string) {
		t.Helper()
		if _, err := s.Gate(context.Background(), GateInput{Hook: HookRegistration, FlowID: "f", IdentityID: zeroUUID,
			Traits: []byte(`{"phone":"+79001112233"}`), ClientIP: ip}); err != nil {
			t.Fatal(err)
		}
	}
	warnings := func() int { return strings.Count(logs.String(), "without a client IP") }
	start("192.0.2.1")
	if warnings() != 0 {
		t.Fatalf("warned with a client IP: %s", logs.String())
	}
	for range 5 {
		start("")
	}
	if warnings() != 1 {
		t.Fatalf("%d warnings for 5 starts within the interval, want 1", warnings())
	}
	now = now.Add(NoClientIPWarnEvery)
	start("")
	if warnings() != 2 {
		t.Fatalf("%d warnings after the interval, want 2", warnings())
	}
}

type oneSession struct{ s *kratos.Session }

func (o oneSession) Session(context.Context, string, string) (*kratos.Session, error) {
	return o.s, nil
}

// allPasses holds a pass for every session, whose call went to called
// ("": a pass recorded before passes carried the number).
type allPasses struct{ called string }

func (a allPasses) ClaimPass(context.Context, string, []time.Time, time.Duration, string) (string, bool, error) {
	return a.called, true, nil
}

// TestAuthTime: a step-up token's auth_time is the verification (a fresh
// authentication, what OIDC max_age and RFC 9470 judge); a token exchanged
// for a gated login's session carries the login time.
func TestAuthTime(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	login := now.Add(-3 * time.Hour)
	sess := &kratos.Session{ID: "s", IdentityID: "i", Active: true, AuthenticatedAt: login,
		ExpiresAt: now.Add(time.Hour), Traits: map[string]any{"phone": "+79001112233"}}
	iss := &recordingIssuer{}
	s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: &fakeChallenges{calledPhone: "+79001112233"}, Passes: allPasses{},
		Sessions: oneSession{sess}, Issuer: iss, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.StepUpVerify(context.Background(), Creds{SessionToken: "t"}, "c1", "1234", TokenOptions{}); err != nil {
		t.Fatal(err)
	}
	if !iss.got.AuthTime.Equal(now) {
		t.Errorf("step-up auth_time %s, want the verification %s", iss.got.AuthTime, now)
	}
	if _, err := s.Exchange(context.Background(), Creds{SessionToken: "t"}, TokenOptions{}); err != nil {
		t.Fatal(err)
	}
	if !iss.got.AuthTime.Equal(login) {
		t.Errorf("exchange auth_time %s, want the login %s", iss.got.AuthTime, login)
	}
}

// TestLoginPassLivesAsLongAsTheSession: the gate pass of a login lives until
// the session Kratos is issuing expires (Kratos's lifespan may exceed a
// day) and one lifespan more (Kratos may extend the session by that much),
// and falls back to PassTTL when the hook does not say.
func TestLoginPassLivesAsLongAsTheSession(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name    string
		expires time.Time
		want    time.Duration
	}{
		{"30-day session", now.Add(30 * 24 * time.Hour), 60 * 24 * time.Hour},
		{"1-hour session", now.Add(time.Hour), 2 * time.Hour},
		{"not sent", time.Time{}, 24 * time.Hour},
		{"already past", now.Add(-time.Minute), 24 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ch := &fakeChallenges{}
			s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: ch, Passes: noPasses{}, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Gate(context.Background(), GateInput{Hook: HookLogin, FlowID: "f", IdentityID: "i", Code: "1234",
				Traits: []byte(`{"phone":"+79001112233"}`), AuthenticatedAt: now, SessionExpiresAt: tt.expires}); err != nil {
				t.Fatal(err)
			}
			if len(ch.passes) != 1 || ch.passes[0].TTL != tt.want {
				t.Fatalf("passes %+v, want one with TTL %s", ch.passes, tt.want)
			}
		})
	}
}

// TestPhoneRequiredWhereLoginRequiresIt: with missing_phone=deny (the
// default) the login gate refuses an identity without a number, so
// registration and settings refuse to save one; with allow they let it
// through.
func TestPhoneRequiredWhereLoginRequiresIt(t *testing.T) {
	for _, policy := range []MissingPhone{MissingPhoneDeny, MissingPhoneAllow} {
		for _, hook := range []Hook{HookRegistration, HookSettings} {
			s, err := New(Config{MissingPhone: policy}, Deps{Numbers: phonetest.Hasher(), Challenges: &fakeChallenges{}, Passes: noPasses{}})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := s.Gate(context.Background(), GateInput{Hook: hook, FlowID: "f", IdentityID: zeroUUID,
				Traits: []byte(`{"email":"a@example.com"}`)})
			if policy == MissingPhoneDeny && (!errors.Is(err, ErrNoPhone) || dec.Allow) {
				t.Errorf("%s, deny: %+v %v, want ErrNoPhone", hook, dec, err)
			}
			if policy == MissingPhoneAllow && (err != nil || !dec.Allow) {
				t.Errorf("%s, allow: %+v %v, want allowed", hook, dec, err)
			}
		}
	}
}

// TestExchangeNamesTheCalledNumber: a token exchanged for a gated session
// names the number its call went to, even when the phone trait was changed
// since (admin API, an import, a settings flow without the hook):
// phone_number_verified is true only for a number that was called. Only a
// pass recorded before passes carried the number falls back to the trait.
func TestExchangeNamesTheCalledNumber(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name    string
		called  string
		trait   any // nil: no phone trait
		want    string
		wantErr error
	}{
		{"trait unchanged", "+79001112233", "+79001112233", "+79001112233", nil},
		{"trait changed since the call", "+79001112233", "+79005556677", "+79001112233", nil},
		{"trait removed since the call", "+79001112233", nil, "+79001112233", nil},
		{"pass without a number: the trait", "", "+79005556677", "+79005556677", nil},
		{"pass without a number, no trait", "", nil, "", ErrNoPhone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			traits := map[string]any{}
			if tt.trait != nil {
				traits["phone"] = tt.trait
			}
			sess := &kratos.Session{ID: "s", IdentityID: "i", Active: true, AuthenticatedAt: now.Add(-time.Minute),
				ExpiresAt: now.Add(time.Hour), Traits: traits}
			iss := &recordingIssuer{}
			s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: &fakeChallenges{}, Passes: allPasses{called: tt.called},
				Sessions: oneSession{sess}, Issuer: iss, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Exchange(context.Background(), Creds{SessionToken: "t"}, TokenOptions{})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Exchange: %v, want %v", err, tt.wantErr)
			}
			if err == nil && iss.got.PhoneE164 != tt.want {
				t.Errorf("token phone_number %q, want %q", iss.got.PhoneE164, tt.want)
			}
		})
	}
}

// TestTokenForOneAudience: a token asked for one configured audience is
// issued for it alone; an audience the issuer does not serve is refused
// before anything is done, so a step-up's code is not spent on a token
// that cannot be issued.
func TestTokenForOneAudience(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	sess := &kratos.Session{ID: "s", IdentityID: "i", Active: true, AuthenticatedAt: now.Add(-time.Minute),
		ExpiresAt: now.Add(time.Hour), Traits: map[string]any{"phone": "+79001112233"}}
	for _, tt := range []struct {
		name, audience string
		wantErr        error
	}{
		{"every audience", "", nil},
		{"one configured audience", "app-b", nil},
		{"not configured", "app-c", jwt.ErrAudienceNotAllowed},
	} {
		for _, path := range []string{"exchange", "stepup"} {
			t.Run(tt.name+"/"+path, func(t *testing.T) {
				ch := &fakeChallenges{calledPhone: "+79001112233"}
				iss := &recordingIssuer{audiences: []string{"app-a", "app-b"}}
				s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: ch, Passes: allPasses{called: "+79001112233"},
					Sessions: oneSession{sess}, Issuer: iss, Now: func() time.Time { return now }})
				if err != nil {
					t.Fatal(err)
				}
				opts := TokenOptions{Audience: tt.audience}
				if path == "exchange" {
					_, err = s.Exchange(context.Background(), Creds{SessionToken: "t"}, opts)
				} else {
					_, err = s.StepUpVerify(context.Background(), Creds{SessionToken: "t"}, "c1", "1234", opts)
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr != nil {
					if ch.verifies != 0 || iss.issued != 0 {
						t.Fatalf("refused audience: %d verifies, %d tokens, want none", ch.verifies, iss.issued)
					}
					return
				}
				if iss.issued != 1 || iss.got.Audience != tt.audience {
					t.Fatalf("issued %d, audience %q, want 1 for %q", iss.issued, iss.got.Audience, tt.audience)
				}
			})
		}
	}
}

// testOwner is the owner a Service built with phonetest.Hasher binds a
// phone check of n to.
func testOwner(n phone.Number) string {
	return (&Service{numbers: phonetest.Hasher()}).phoneOwner(n)
}

// TestPhoneOwnerIsKeyed: a phone check's owner is in store keys, the ban
// memo and (by its tag) the challenge id, so it must not let
// anyone find the number by hashing every number: it depends on the key.
func TestPhoneOwnerIsKeyed(t *testing.T) {
	num, err := phone.Parse("+79001112233")
	if err != nil {
		t.Fatal(err)
	}
	other, err := phone.NewHasher([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	a := testOwner(num)
	b := (&Service{numbers: other}).phoneOwner(num)
	unkeyed := sha256.Sum256([]byte("callpass-number\x00" + num.E164()))
	switch {
	case a == b:
		t.Fatalf("two keys give the same owner %s", a)
	case strings.Contains(a, hex.EncodeToString(unkeyed[:16])):
		t.Fatalf("owner %s is the number's unkeyed hash", a)
	case challenge.IdentityTag(a) == challenge.IdentityTag(b):
		t.Fatalf("the challenge id tag does not depend on the key")
	}
	if _, err := New(Config{}, Deps{Challenges: &fakeChallenges{}, Passes: noPasses{}}); err == nil {
		t.Fatal("a factor without a number hasher was built")
	}
}

// TestRemovedPhoneLeavesNoProvenNumber: with missing_phone=allow, saving
// settings without a number drops the proven number from metadata_public
// (keeping the rest), so no copy of a removed number stays in Kratos.
func TestRemovedPhoneLeavesNoProvenNumber(t *testing.T) {
	s, err := New(Config{MissingPhone: MissingPhoneAllow}, Deps{Numbers: phonetest.Hasher(), Challenges: &fakeChallenges{}, Passes: noPasses{}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, meta string
		want       map[string]any // nil: metadata not written
	}{
		{"proven number removed", `{"phone_verified_number":"+79001112233","phone_verified_at":"2026-11-27T00:00:00Z","tenant":7}`,
			map[string]any{"tenant": json.Number("7")}},
		{"nothing proven", `{"tenant":7}`, nil},
		{"metadata not an object", `["set", "by", "an admin"]`, nil},
		{"no metadata", ``, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec, err := s.Gate(context.Background(), GateInput{Hook: HookSettings, FlowID: "f", IdentityID: "9a1b7b4a-0000-4000-8000-000000000002",
				Traits: []byte(`{"email":"a@example.com"}`), MetadataPublic: json.RawMessage(tt.meta)})
			if err != nil || !dec.Allow {
				t.Fatalf("%+v %v, want allowed", dec, err)
			}
			if tt.want == nil {
				if dec.MetadataPublic != nil {
					t.Fatalf("metadata written: %v", dec.MetadataPublic)
				}
				return
			}
			if fmt.Sprint(dec.MetadataPublic) != fmt.Sprint(tt.want) {
				t.Fatalf("metadata %v, want %v", dec.MetadataPublic, tt.want)
			}
		})
	}
}

// TestTemplateTraitMustMatch: a hook template that keeps another trait than
// kratos.phone_trait is refused on every hook (fail closed), even with
// missing_phone=allow, where it would let every login through without a
// call; a template that names no trait (it sends them all) is read as before.
func TestTemplateTraitMustMatch(t *testing.T) {
	s, err := New(Config{MissingPhone: MissingPhoneAllow, PhoneTrait: "contact.phone"},
		Deps{Numbers: phonetest.Hasher(), Challenges: &fakeChallenges{}, Passes: noPasses{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, hook := range []Hook{HookLogin, HookRegistration, HookSettings} {
		dec, err := s.Gate(context.Background(), GateInput{Hook: hook, FlowID: "f", IdentityID: "i",
			Traits: []byte(`{}`), PhoneTrait: "phone"})
		if !errors.Is(err, ErrTraitMismatch) || dec.Allow {
			t.Errorf("%s, template keeps phone: %+v %v, want ErrTraitMismatch", hook, dec, err)
		}
		if _, err := s.Gate(context.Background(), GateInput{Hook: hook, FlowID: "f", IdentityID: "i",
			Traits: []byte(`{"email":"a@example.org"}`)}); errors.Is(err, ErrTraitMismatch) {
			t.Errorf("%s, template without phone_trait: %v", hook, err)
		}
	}
}

// identityAt is the ctx.identity.id Kratos sends hook h: the zero UUID at
// registration (the identity is not saved yet), a saved identity's id in
// settings.
func identityAt(h Hook) string {
	if h == HookRegistration {
		return zeroUUID
	}
	return "11111111-2222-3333-4444-555555555555"
}
