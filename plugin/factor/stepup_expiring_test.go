package factor_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
)

// TestStepUpVerifyOnEndingSessionKeepsTheCode: a step-up verify for a
// session that ends before a token could be valid (its last second, or
// Kratos's clock behind ours) is refused with jwt.ErrSessionExpired before
// the code is tried: the challenge stays pending with every attempt, a
// right code is not spent and a wrong one is not counted. The session is
// read once (no second whoami). A session with time left still verifies.
func TestStepUpVerifyOnEndingSessionKeepsTheCode(t *testing.T) {
	tests := []struct {
		name    string
		endsIn  time.Duration // from now, when the session ends
		code    string
		wantErr error
	}{
		{"right code, session ends within the second", 300 * time.Millisecond, "1234", jwt.ErrSessionExpired},
		{"wrong code, session ends within the second", 300 * time.Millisecond, "9999", jwt.ErrSessionExpired},
		{"right code, session ended a moment ago (clocks apart)", -2 * time.Second, "1234", jwt.ErrSessionExpired},
		{"right code, session has a minute left", time.Minute, "1234", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f, sessions := newStepUpFactor(t, &countingProvider{})
			sessions.s = stepUpSession(time.Now())
			creds := factor.Creds{SessionToken: "t"}
			v, err := f.StepUpStart(ctx, creds, false, "10.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			// The session nears its end between the start and the verify.
			ends := time.Now().Add(tt.endsIn)
			if tt.endsIn > 0 && tt.endsIn < time.Second {
				// Within the current second, so no token could be valid.
				ends = time.Now().Truncate(time.Second).Add(999 * time.Millisecond)
			}
			sessions.s.ExpiresAt = ends
			sessions.calls.Store(0)

			_, err = f.StepUpVerify(ctx, creds, v.ID, tt.code, factor.TokenOptions{})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("verify: %v, want %v", err, tt.wantErr)
			}
			if sessions.calls.Load() != 1 {
				t.Errorf("whoami read %d times, want once", sessions.calls.Load())
			}
			if tt.wantErr == nil {
				return
			}
			after, err := f.StepUpGet(ctx, factor.Creds{SessionToken: "t"}, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.State != string(challenge.StatePending) || after.AttemptsLeft != v.AttemptsLeft {
				t.Fatalf("after the refused verify the challenge is %s with %d attempts left, want pending with %d",
					after.State, after.AttemptsLeft, v.AttemptsLeft)
			}
		})
	}
}

// countingSessions answers whoami with s and counts the reads.
type countingSessions struct {
	s     *kratos.Session
	calls atomic.Int64 // concurrent verifies read the session at once
}

func (c *countingSessions) Session(context.Context, string, string) (*kratos.Session, error) {
	c.calls.Add(1)
	s := *c.s
	return &s, nil
}

// TestStepUpStartOnEndingSessionPlacesNoCall: a step-up start for a session
// that could no longer verify (StepUpVerify refuses one ending within
// stepUpMinSessionLeft) is refused the same way, jwt.ErrSessionExpired
// (401 no_session), before any call is placed or counted; a resend too. A
// session with time left still gets its call.
func TestStepUpStartOnEndingSessionPlacesNoCall(t *testing.T) {
	tests := []struct {
		name      string
		endsIn    time.Duration
		resend    bool
		wantErr   error
		wantCalls int
	}{
		{"session ends within the second", 300 * time.Millisecond, false, jwt.ErrSessionExpired, 0},
		{"session ends in a second and a half", 1500 * time.Millisecond, false, jwt.ErrSessionExpired, 0},
		{"session ended a moment ago (clocks apart)", -2 * time.Second, false, jwt.ErrSessionExpired, 0},
		{"resend, session ends within the second", 300 * time.Millisecond, true, jwt.ErrSessionExpired, 0},
		{"session has a minute left", time.Minute, false, nil, 1},
		{"session without an expiry", 0, false, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prov := &countingProvider{}
			f, sessions := newStepUpFactor(t, prov)
			now := time.Now()
			sessions.s = &kratos.Session{ID: "sess-1", IdentityID: "ident-1", Active: true,
				AuthenticatedAt: now.Add(-time.Hour), Traits: map[string]any{"phone": "+79001112233"}}
			if tt.endsIn != 0 {
				sessions.s.ExpiresAt = now.Add(tt.endsIn)
			}
			_, err := f.StepUpStart(context.Background(), factor.Creds{SessionToken: "t"}, tt.resend, "10.0.0.1")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("start: %v, want %v", err, tt.wantErr)
			}
			if prov.calls != tt.wantCalls {
				t.Fatalf("%d calls placed, want %d", prov.calls, tt.wantCalls)
			}
			if sessions.calls.Load() != 1 {
				t.Errorf("whoami read %d times, want once", sessions.calls.Load())
			}
		})
	}
}

// newStepUpFactor is a factor over the real challenge service and memory
// store, placing calls through prov, with sessions read from the returned
// countingSessions (set its s).
func newStepUpFactor(t *testing.T, prov challenge.Provider, opts ...func(*challenge.Config)) (*factor.Service, *countingSessions) {
	t.Helper()
	sessions := &countingSessions{}
	f, _ := wire(t, wiring{prov: prov, deps: factor.Deps{Sessions: sessions, Issuer: testIssuer(t)},
		tune: func(cfg *challenge.Config) {
			for _, o := range opts {
				o(cfg)
			}
		}})
	return f, sessions
}

// testIssuer is an ES256 issuer for https://cp.example and the audience "app".
func testIssuer(t *testing.T) *jwt.Issuer {
	t.Helper()
	key, err := jwt.GenerateKey(jwt.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := jwt.NewKeySet([]*jwt.Key{key}, "")
	if err != nil {
		t.Fatal(err)
	}
	iss, err := jwt.NewIssuer(jwt.IssuerConfig{Issuer: "https://cp.example", Audience: []string{"app"}, Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}
