package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// runSpend is the Spender contract: only the binding's active, verified
// challenge is set expired, and its code then proves nothing (a verify
// reads it as expired, counting nothing).
func runSpend(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	now := msNow()
	tests := []struct {
		name string
		// prepare makes the challenge Spend names and returns it and the
		// binding Spend is given.
		prepare   func(t *testing.T, s Store, b challenge.Binding) (challenge.Challenge, challenge.Binding)
		wantSpent bool
		wantState challenge.State
	}{
		{"verified", func(t *testing.T, s Store, b challenge.Binding) (challenge.Challenge, challenge.Binding) {
			c := New(b, now, 5*time.Minute)
			mustCreate(t, s, c, "", now, true)
			mustVerify(t, s, c, true, now, challenge.OutcomeVerified)
			return c, b
		}, true, challenge.StateExpired},
		{"pending", func(t *testing.T, s Store, b challenge.Binding) (challenge.Challenge, challenge.Binding) {
			c := New(b, now, 5*time.Minute)
			mustCreate(t, s, c, "", now, true)
			return c, b
		}, false, challenge.StatePending},
		{"verified but replaced", func(t *testing.T, s Store, b challenge.Binding) (challenge.Challenge, challenge.Binding) {
			c := New(b, now, 5*time.Minute)
			mustCreate(t, s, c, "", now, true)
			mustVerify(t, s, c, true, now, challenge.OutcomeVerified)
			mustCreate(t, s, New(b, now, 5*time.Minute), c.ID, now, true)
			return c, b
		}, false, challenge.StateVerified},
		{"another flow's", func(t *testing.T, s Store, b challenge.Binding) (challenge.Challenge, challenge.Binding) {
			c := New(b, now, 5*time.Minute)
			mustCreate(t, s, c, "", now, true)
			mustVerify(t, s, c, true, now, challenge.OutcomeVerified)
			other := b
			other.FlowID += "-other"
			return c, other
		}, false, challenge.StateVerified},
	}
	for _, tt := range tests {
		t.Run("Spend/"+tt.name, func(t *testing.T) {
			s := newStore(t)
			c, b := tt.prepare(t, s, Bind("spend-"+tt.name))
			spent, err := s.Spend(ctx, b, c.ID)
			if err != nil || spent != tt.wantSpent {
				t.Fatalf("Spend: spent %v err %v, want %v", spent, err, tt.wantSpent)
			}
			got, err := s.Get(ctx, c.ID)
			if err != nil || got.State != tt.wantState {
				t.Fatalf("after Spend: %s %v, want %s", got.State, err, tt.wantState)
			}
			if tt.wantSpent {
				// Its code proves nothing now, and nothing is counted.
				if after := mustVerify(t, s, c, true, now, challenge.OutcomeExpired); after.Attempts != got.Attempts {
					t.Fatalf("a verify of a spent challenge counted: %d attempts, was %d", after.Attempts, got.Attempts)
				}
			}
		})
	}
}
