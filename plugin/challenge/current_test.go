package challenge_test

import (
	"context"
	"errors"
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
