package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// runRetire is the Retirer contract: a retire and a verify of the same
// challenge are each atomic, so exactly one of them wins; a restore brings
// back only the active challenge a retire left superseded.
func runRetire(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	t.Run("RetireThenRestore", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		b := Bind("retire")
		c := New(b, now, 5*time.Minute)
		mustCreate(t, s, c, "", now, true)
		got, retired, err := s.Retire(ctx, b, c.ID, now)
		if err != nil || !retired || got.ID != c.ID || got.State != challenge.StateSuperseded {
			t.Fatalf("Retire of the live active challenge: %s %s retired %v err %v; want it superseded", got.ID, got.State, retired, err)
		}
		// Its code counts nothing now, and the active pointer still names it.
		if got := mustVerify(t, s, c, true, now, challenge.OutcomeSuperseded); got.Attempts != 0 {
			t.Fatalf("a verify of a retired challenge counted %d attempts", got.Attempts)
		}
		if act, err := active(s, b); err != nil || act.ID != c.ID {
			t.Fatalf("active after Retire: %s %v, want %s", act.ID, err, c.ID)
		}
		if got, retired, err := s.Retire(ctx, b, c.ID, now); err != nil || retired || got.State != challenge.StateSuperseded {
			t.Fatalf("second Retire: %s retired %v err %v; want not retired", got.State, retired, err)
		}
		if err := s.Restore(ctx, b, c.ID); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, s, c, true, now, challenge.OutcomeVerified)
	})

	t.Run("RetireRefuses", func(t *testing.T) {
		now := msNow()
		tests := []struct {
			name string
			// prepare makes the challenge the retire names (and anything
			// else) and returns it.
			prepare     func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge
			at          time.Duration // the retire's time after now
			wantState   challenge.State
			wantMissing bool
		}{
			{"verified", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				c := New(b, now, 5*time.Minute)
				mustCreate(t, s, c, "", now, true)
				mustVerify(t, s, c, true, now, challenge.OutcomeVerified)
				return c
			}, 0, challenge.StateVerified, false},
			{"locked", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				c := New(b, now, 5*time.Minute)
				c.MaxAttempts = 1
				mustCreate(t, s, c, "", now, true)
				mustVerify(t, s, c, false, now, challenge.OutcomeLocked)
				return c
			}, 0, challenge.StateLocked, false},
			{"expired", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				c := New(b, now, time.Minute)
				mustCreate(t, s, c, "", now, true)
				return c
			}, time.Minute, challenge.StatePending, false},
			{"replaced by a create", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				c := New(b, now, 5*time.Minute)
				mustCreate(t, s, c, "", now, true)
				mustCreate(t, s, New(b, now, 5*time.Minute), c.ID, now, true)
				return c
			}, 0, challenge.StateSuperseded, false},
			{"not the active one", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				// Pending and live, but a newer start of a store without
				// leases made another challenge active.
				c := New(b, now, 5*time.Minute)
				mustCreate(t, s, c, "", now, true)
				other := New(b, now, 5*time.Minute)
				mustCreate(t, s, other, c.ID, now, true)
				mustCreate(t, s, New(b, now, 5*time.Minute), other.ID, now, true)
				return other
			}, 0, challenge.StateSuperseded, false},
			{"another flow's", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				o := challenge.Binding{Purpose: b.Purpose, IdentityID: b.IdentityID, FlowID: b.FlowID + "-other"}
				c := New(o, now, 5*time.Minute)
				mustCreate(t, s, c, "", now, true)
				return c
			}, 0, "", true},
			{"another identity's", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				c := New(Bind("retire-other"), now, 5*time.Minute)
				mustCreate(t, s, c, "", now, true)
				return c
			}, 0, "", true},
			{"none", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				return New(b, now, 5*time.Minute) // never created
			}, 0, "", true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t)
				b := Bind("retire-refuses")
				c := tt.prepare(t, s, b)
				before, _ := s.Get(ctx, c.ID)
				got, retired, err := s.Retire(ctx, b, c.ID, now.Add(tt.at))
				if tt.wantMissing {
					if !errors.Is(err, challenge.ErrNotFound) || retired {
						t.Fatalf("Retire: retired %v err %v; want ErrNotFound", retired, err)
					}
				} else if err != nil || retired || got.ID != c.ID || got.State != tt.wantState {
					t.Fatalf("Retire: %s %s retired %v err %v; want %s %s, not retired", got.ID, got.State, retired, err, c.ID, tt.wantState)
				}
				// Restore changes nothing that a retire did not do.
				if err := s.Restore(ctx, b, c.ID); err != nil {
					t.Fatal(err)
				}
				if after, _ := s.Get(ctx, c.ID); after.State != before.State || after.Attempts != before.Attempts {
					t.Fatalf("after Retire and Restore: %s (%d attempts), want %s (%d) as before", after.State, after.Attempts, before.State, before.Attempts)
				}
			})
		}
	})

	t.Run("RestoreUnleased", func(t *testing.T) {
		// Only a retired active challenge, and only while no start holds
		// the binding's lease (the retiring start may still place its call).
		now := msNow()
		tests := []struct {
			name string
			// prepare makes the challenge to give back, and holds the lease
			// or not.
			prepare func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge
			want    bool
			// wantState is the challenge's state after.
			wantState challenge.State
		}{
			{"retired, no lease", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				c := New(b, now, 5*time.Minute)
				mustCreate(t, s, c, "", now, true)
				mustRetire(t, s, b, c, now)
				return c
			}, true, challenge.StatePending},
			{"retired, the lease released", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				c := New(b, now, 5*time.Minute)
				mustCreate(t, s, c, "", now, true)
				mustLease(t, s, b, "tok", true)
				mustRetire(t, s, b, c, now)
				if err := s.ReleaseStart(ctx, b, "tok"); err != nil {
					t.Fatal(err)
				}
				return c
			}, true, challenge.StatePending},
			{"retired, a start holds the lease", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				c := New(b, now, 5*time.Minute)
				mustCreate(t, s, c, "", now, true)
				mustLease(t, s, b, "tok", true)
				mustRetire(t, s, b, c, now)
				return c
			}, false, challenge.StateSuperseded},
			{"replaced by a create", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				c := New(b, now, 5*time.Minute)
				mustCreate(t, s, c, "", now, true)
				mustRetire(t, s, b, c, now)
				mustCreate(t, s, New(b, now, 5*time.Minute), c.ID, now, true)
				return c
			}, false, challenge.StateSuperseded},
			{"pending", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				c := New(b, now, 5*time.Minute)
				mustCreate(t, s, c, "", now, true)
				return c
			}, false, challenge.StatePending},
			{"another flow's", func(t *testing.T, s Store, b challenge.Binding) challenge.Challenge {
				o := challenge.Binding{Purpose: b.Purpose, IdentityID: b.IdentityID, FlowID: b.FlowID + "-other"}
				c := New(o, now, 5*time.Minute)
				mustCreate(t, s, c, "", now, true)
				mustRetire(t, s, o, c, now)
				return c
			}, false, challenge.StateSuperseded},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t)
				b := Bind("restore-unleased")
				c := tt.prepare(t, s, b)
				got, err := s.RestoreUnleased(ctx, b, c.ID)
				if err != nil || got != tt.want {
					t.Fatalf("RestoreUnleased: %v, %v; want %v", got, err, tt.want)
				}
				if after, err := s.Get(ctx, c.ID); err != nil || after.State != tt.wantState || after.Attempts != 0 {
					t.Fatalf("after: %s (%d attempts), %v; want %s", after.State, after.Attempts, err, tt.wantState)
				}
			})
		}
	})

	t.Run("RetireRacesVerify", func(t *testing.T) {
		// At the same moment, many times: exactly one of the two wins, and
		// the loser changed nothing.
		s := newStore(t)
		for range 50 {
			now := msNow()
			b := Bind("retire-race")
			c := New(b, now, 5*time.Minute)
			mustCreate(t, s, c, "", now, true)
			var wg sync.WaitGroup
			start := make(chan struct{})
			var rep challenge.VerifyReply
			var got challenge.Challenge
			var retired bool
			var verr, rerr error
			wg.Go(func() { <-start; rep, verr = s.Verify(ctx, Req(c, true, now)) })
			wg.Go(func() { <-start; got, retired, rerr = s.Retire(ctx, b, c.ID, now) })
			close(start)
			wg.Wait()
			if verr != nil || rerr != nil {
				t.Fatalf("verify %v, retire %v", verr, rerr)
			}
			final, err := s.Get(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case retired && rep.Outcome == challenge.OutcomeSuperseded && final.State == challenge.StateSuperseded && final.Attempts == 0:
			case !retired && got.State == challenge.StateVerified && rep.Outcome == challenge.OutcomeVerified && final.State == challenge.StateVerified:
			default:
				t.Fatalf("retire %v (saw %s), verify %s, final %s with %d attempts", retired, got.State, rep.Outcome, final.State, final.Attempts)
			}
		}
	})
}

func mustRetire(t *testing.T, s Store, b challenge.Binding, c challenge.Challenge, now time.Time) {
	t.Helper()
	if _, retired, err := s.Retire(context.Background(), b, c.ID, now); err != nil || !retired {
		t.Fatalf("Retire %s: retired %v, %v", c.ID, retired, err)
	}
}

func mustLease(t *testing.T, s Store, b challenge.Binding, token string, want bool) {
	t.Helper()
	if taken, _, err := s.LeaseStart(context.Background(), b, token, time.Minute); err != nil || taken != want {
		t.Fatalf("LeaseStart: taken %v, %v; want %v", taken, err, want)
	}
}
