package challenge_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// TestCurrentIsTheBindingsLatestChallenge: Current reads the challenge a
// binding's latest start made active, whatever its state, and only the
// binding's own: none yet, another flow's, or a malformed binding is not
// a challenge of it.
func TestCurrentIsTheBindingsLatestChallenge(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	r := req("flow-1")
	if _, err := e.svc.Current(ctx, bind(r)); !errors.Is(err, challenge.ErrNotFound) {
		t.Fatalf("before any start: %v, want not found", err)
	}
	first := e.start(t, r).Challenge
	e.clk.Advance(time.Minute) // past the first resend's cooldown
	rr := r
	rr.Resend = true
	second := e.start(t, rr).Challenge
	if second.ID == first.ID {
		t.Fatal("the resend reused the first challenge")
	}
	e.clk.Advance(5*time.Minute + 10*time.Second) // expired, kept: still the current one
	other := r
	other.FlowID = "flow-2"
	tests := []struct {
		name    string
		b       challenge.Binding
		wantID  string
		wantErr error
	}{
		{"the binding's latest", bind(r), second.ID, nil},
		{"another flow of the identity", bind(other), "", challenge.ErrNotFound},
		{"another purpose", challenge.Binding{Purpose: challenge.PurposeStepUp, IdentityID: r.IdentityID, FlowID: r.FlowID}, "", challenge.ErrNotFound},
		{"no purpose", challenge.Binding{IdentityID: r.IdentityID, FlowID: r.FlowID}, "", challenge.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := e.svc.Current(ctx, tt.b)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Current: %+v, %v; want %v", c.ID, err, tt.wantErr)
				}
				return
			}
			if err != nil || c.ID != tt.wantID || c.State != challenge.StatePending {
				t.Fatalf("Current: %s %s, %v; want %s (pending as stored)", c.ID, c.State, err, tt.wantID)
			}
		})
	}
}

// TestFollowingOutlivesTheReplacedChallenge: a step-up page names the
// challenge a newer call replaced, and the store has dropped it (a minute
// past its own expiry) while the call that replaced it is still on. A code
// posted with the dropped id is tried once on the binding's current
// challenge, as while the replaced one was kept: one attempt, counted once,
// on the one challenge. An id that cannot be the identity's (another tag,
// malformed) finds nothing and touches nothing; with no current challenge
// either, the answer stays not found.
func TestFollowingOutlivesTheReplacedChallenge(t *testing.T) {
	tests := []struct {
		name      string
		id        func(dropped string) string
		code      string // "current", or digits
		noCurrent bool   // the current challenge is dropped too
		wantErr   error  // nil: verified
		wantLeft  int    // the current challenge's attempts left after
	}{
		{"the current call's code", func(d string) string { return d }, "current", false, nil, 2},
		{"a wrong code: one attempt on the current", func(d string) string { return d }, "9999", false, &challenge.WrongCodeError{}, 2},
		{"another identity's id", func(string) string { return challenge.NewID(challenge.Binding{IdentityID: "ident-2"}) }, "current", false, challenge.ErrNotFound, 3},
		{"a malformed id", func(string) string { return "not-an-id" }, "current", false, challenge.ErrNotFound, 3},
		{"no current challenge either", func(d string) string { return d }, "current", true, challenge.ErrNotFound, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, nil)
			r := req("sess-1")
			r.Purpose = challenge.PurposeStepUp
			b := bind(r)
			first := e.start(t, r).Challenge
			e.clk.Advance(2 * time.Minute) // past the first resend's cooldown
			rr := r
			rr.Resend = true
			cur := e.start(t, rr).Challenge
			code := e.prov.lastCode()
			// The first is dropped a minute past its expiry; the current one
			// is still on (it expires two minutes after the first).
			e.clk.Advance(4*time.Minute + 30*time.Second)
			if tt.noCurrent {
				e.clk.Advance(3 * time.Minute)
			}
			if _, err := e.svc.Get(ctx, first.ID); !errors.Is(err, challenge.ErrNotFound) {
				t.Fatalf("the replaced challenge is still kept: %v", err)
			}
			if tt.code == "current" {
				tt.code = code
			}
			before := verifyEvents(e.obs)
			res, err := e.svc.VerifyAndPassFollowing(ctx, b, tt.id(first.ID), tt.code, nil)
			switch want := tt.wantErr.(type) {
			case nil:
				if err != nil || res.Challenge.ID != cur.ID || res.Challenge.State != challenge.StateVerified {
					t.Fatalf("VerifyAndPassFollowing: %s %s, %v; want %s verified", res.Challenge.ID, res.Challenge.State, err, cur.ID)
				}
			case *challenge.WrongCodeError:
				var w *challenge.WrongCodeError
				if !errors.As(err, &w) || w.AttemptsLeft != tt.wantLeft || res.Challenge.ID != cur.ID {
					t.Fatalf("VerifyAndPassFollowing: %s, %v; want a wrong code on %s, %d left", res.Challenge.ID, err, cur.ID, tt.wantLeft)
				}
			default:
				if !errors.Is(err, want) || res.Challenge.ID != "" {
					t.Fatalf("VerifyAndPassFollowing: %s, %v; want %v", res.Challenge.ID, err, want)
				}
			}
			if n := verifyEvents(e.obs) - before; n != 1 {
				t.Fatalf("%d verifications counted, want 1", n)
			}
			if tt.wantLeft >= 0 {
				c, err := e.svc.Get(ctx, cur.ID)
				if err != nil || c.AttemptsLeft() != tt.wantLeft {
					t.Fatalf("current challenge after: %d attempts left, %v; want %d", c.AttemptsLeft(), err, tt.wantLeft)
				}
			}
		})
	}
}

// verifyEvents counts the verifications o observed.
func verifyEvents(o *observer) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, ev := range o.events {
		if strings.HasPrefix(ev, "verify:") {
			n++
		}
	}
	return n
}
