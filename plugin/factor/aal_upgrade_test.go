package factor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
)

// swapSession answers whoami with whatever session the test set last.
type swapSession struct{ s *kratos.Session }

func (w *swapSession) Session(context.Context, string, string) (*kratos.Session, error) {
	return w.s, nil
}

// subjectIssuer keeps the last Subject it signed.
type subjectIssuer struct{ got jwt.Subject }

func (i *subjectIssuer) Issue(_ context.Context, s jwt.Subject) (jwt.Token, error) {
	i.got = s
	return jwt.Token{Raw: "x", ExpiresAt: time.Now().Add(time.Minute)}, nil
}
func (*subjectIssuer) NeedsIdentityData() bool    { return false }
func (*subjectIssuer) AllowsAudience(string) bool { return false }

// newUpgradeFactor wires the factor as the app does (one memory store for
// challenges, limits and passes) with a provider whose code is 1234.
func newUpgradeFactor(t *testing.T) (*factor.Service, *swapSession, *subjectIssuer) {
	t.Helper()
	sessions, iss := &swapSession{}, &subjectIssuer{}
	f, _ := wire(t, wiring{deps: factor.Deps{Sessions: sessions, Issuer: iss}})
	return f, sessions, iss
}

// TestExchangeAfterAALUpgrade: Kratos sets a session's authenticated_at anew
// when the user completes a Kratos second factor (lookup_secret, TOTP,
// WebAuthn) after the gated password login, and that upgrade runs no
// password hook, so no new pass is written. The session's authentication
// methods keep their completion times, and the password's is microseconds
// from the authenticated_at the gate saw: the pass is found by it. The
// times are those Kratos v1.3.1 reported for a lookup_secret upgrade. A
// session of the same identity with unrelated times, or one that names the
// login's time but is not the session that claimed the pass, gets nothing.
func TestExchangeAfterAALUpgrade(t *testing.T) {
	f, sessions, iss := newUpgradeFactor(t)
	ctx := context.Background()
	const identity = "372e90b1-3e64-4c59-ab94-33947d19e151"
	traits := []byte(`{"phone":"+79001234567"}`)
	// The hook's authenticated_at (…41.826780928) and the password method's
	// completed_at (…41.826774126) as Kratos recorded them; the upgrade came
	// 2.13 s later.
	hookAt := time.Now().Add(-time.Minute).Truncate(time.Second).Add(826780928)
	passwordAt := hookAt.Add(-6802 * time.Nanosecond)
	upgradedAt := hookAt.Add(2132179541)

	in := factor.GateInput{Hook: factor.HookLogin, FlowID: "f1", IdentityID: identity, Traits: traits,
		AuthenticatedAt: hookAt, SessionExpiresAt: time.Now().Add(time.Hour)}
	if _, err := f.Gate(ctx, in); err != nil {
		t.Fatalf("gate start: %v", err)
	}
	in.Code = "1234"
	if d, err := f.Gate(ctx, in); err != nil || !d.Allow {
		t.Fatalf("gate verify: %+v %v", d, err)
	}

	sessions.s = &kratos.Session{ID: "sess-1", IdentityID: identity, Active: true, AAL: "aal2",
		Methods: []string{"password", "lookup_secret"}, MethodTimes: []time.Time{passwordAt, upgradedAt},
		AuthenticatedAt: upgradedAt, ExpiresAt: time.Now().Add(time.Hour), Traits: map[string]any{"phone": "+79001234567"}}
	if _, err := f.Exchange(ctx, factor.Creds{SessionToken: "t1"}, factor.TokenOptions{}); err != nil {
		t.Fatalf("exchange after the AAL upgrade: %v, want a token", err)
	}
	if iss.got.SessionID != "sess-1" || iss.got.PhoneE164 != "+79001234567" || !iss.got.AuthTime.Equal(upgradedAt) {
		t.Errorf("token subject %+v", iss.got)
	}
	// The same session again (it holds the pass).
	if _, err := f.Exchange(ctx, factor.Creds{SessionToken: "t1"}, factor.TokenOptions{}); err != nil {
		t.Fatalf("second exchange of the upgraded session: %v", err)
	}

	for _, tt := range []struct {
		name string
		sess *kratos.Session
	}{
		{"same identity, unrelated times", &kratos.Session{ID: "sess-2", IdentityID: identity, Active: true,
			Methods: []string{"password", "totp"}, MethodTimes: []time.Time{hookAt.Add(10 * time.Minute), hookAt.Add(11 * time.Minute)},
			AuthenticatedAt: hookAt.Add(11 * time.Minute), Traits: map[string]any{"phone": "+79001234567"}}},
		{"same identity, a method at the login's time, another session", &kratos.Session{ID: "sess-3", IdentityID: identity, Active: true,
			Methods: []string{"password", "lookup_secret"}, MethodTimes: []time.Time{passwordAt, upgradedAt},
			AuthenticatedAt: upgradedAt, Traits: map[string]any{"phone": "+79001234567"}}},
		{"no times at all", &kratos.Session{ID: "sess-4", IdentityID: identity, Active: true,
			Traits: map[string]any{"phone": "+79001234567"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sessions.s = tt.sess
			if _, err := f.Exchange(ctx, factor.Creds{SessionToken: "t2"}, factor.TokenOptions{}); !errors.Is(err, factor.ErrNotGated) {
				t.Fatalf("exchange: %v, want ErrNotGated", err)
			}
		})
	}
}

// TestExchangeAfterStepUpAndAALUpgrade: a step-up pass is recorded under
// the session's authenticated_at at the time and bound to the session; an
// AAL upgrade afterwards moves authenticated_at, and the session still
// holds its pass through its methods' times.
func TestExchangeAfterStepUpAndAALUpgrade(t *testing.T) {
	f, sessions, _ := newUpgradeFactor(t)
	ctx := context.Background()
	const identity = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	loginAt := time.Now().Add(-time.Minute)
	sessions.s = &kratos.Session{ID: "sess-su", IdentityID: identity, Active: true, AAL: "aal1",
		Methods: []string{"password"}, MethodTimes: []time.Time{loginAt.Add(-5 * time.Microsecond)},
		AuthenticatedAt: loginAt, ExpiresAt: time.Now().Add(time.Hour), Traits: map[string]any{"phone": "+79001234568"}}
	creds := factor.Creds{SessionToken: "t"}
	if _, err := f.Exchange(ctx, creds, factor.TokenOptions{}); !errors.Is(err, factor.ErrNotGated) {
		t.Fatalf("exchange before the step-up: %v, want ErrNotGated", err)
	}
	ch, err := f.StepUpStart(ctx, creds, false, "198.51.100.7")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.StepUpVerify(ctx, creds, ch.ID, "1234", factor.TokenOptions{}); err != nil {
		t.Fatal(err)
	}
	upgradedAt := loginAt.Add(3 * time.Second)
	up := *sessions.s
	up.AAL, up.AuthenticatedAt = "aal2", upgradedAt
	up.Methods = []string{"password", "totp"}
	up.MethodTimes = []time.Time{loginAt.Add(-5 * time.Microsecond), upgradedAt}
	sessions.s = &up
	if _, err := f.Exchange(ctx, creds, factor.TokenOptions{}); err != nil {
		t.Fatalf("exchange after step-up and AAL upgrade: %v, want a token", err)
	}
}
