// Package storetest is the conformance suite every challenge.Store must pass.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

// MaxGrace is the longest grace (time a challenge stays after ExpiresAt) a
// store under test may use; the expiry test waits for it.
const MaxGrace = time.Second

// Run runs the suite. newStore must return an empty (or non-colliding) store
// using the real clock and a grace of at most MaxGrace.
func Run(t *testing.T, newStore func(t *testing.T) challenge.Store) {
	ctx := context.Background()

	t.Run("CreateGetRoundTrip", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("rt"), now, 5*time.Minute)
		c.CallStatus, c.CallClass = "NO_ANSWER", flashcall.ClassRang
		c.Resends = 2
		got, created, err := s.Create(ctx, c, false, now)
		if err != nil || !created {
			t.Fatalf("Create: created=%v err=%v", created, err)
		}
		assertEqual(t, got, c)
		got, err = s.Get(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, c)
		got, err = s.Active(ctx, c.Binding())
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, c)
	})

	t.Run("CreateIsIdempotentWhilePending", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		b := Bind("idem")
		a := New(b, now, 5*time.Minute)
		mustCreate(t, s, a, false, now, true)
		second := New(b, now, 5*time.Minute)
		got, created, err := s.Create(ctx, second, false, now)
		if err != nil || created {
			t.Fatalf("second Create: created=%v err=%v, want the active one back", created, err)
		}
		if got.ID != a.ID {
			t.Fatalf("second Create returned %s, want %s", got.ID, a.ID)
		}
		if _, err := s.Get(ctx, second.ID); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("refused challenge was saved: %v", err)
		}
		if act, err := s.Active(ctx, b); err != nil || act.ID != a.ID {
			t.Fatalf("Active = %s %v, want %s", act.ID, err, a.ID)
		}
	})

	t.Run("CreateAfterNonPending", func(t *testing.T) {
		cases := []struct {
			name  string
			spoil func(t *testing.T, s challenge.Store, c challenge.Challenge, now time.Time) time.Time
		}{
			{"verified", func(t *testing.T, s challenge.Store, c challenge.Challenge, now time.Time) time.Time {
				mustAttempt(t, s, c.ID, true, now, challenge.OutcomeVerified)
				return now
			}},
			{"locked", func(t *testing.T, s challenge.Store, c challenge.Challenge, now time.Time) time.Time {
				for range c.MaxAttempts {
					_, _, _ = s.Attempt(ctx, c.ID, false, now)
				}
				return now
			}},
			{"expired by time", func(t *testing.T, s challenge.Store, c challenge.Challenge, now time.Time) time.Time {
				return c.ExpiresAt
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				now := msNow()
				b := Bind("nonpending")
				a := New(b, now, 5*time.Minute)
				mustCreate(t, s, a, false, now, true)
				later := tc.spoil(t, s, a, now)
				n := New(b, later, 5*time.Minute)
				mustCreate(t, s, n, false, later, true)
				if act, err := s.Active(ctx, b); err != nil || act.ID != n.ID {
					t.Fatalf("Active = %s %v, want the new %s", act.ID, err, n.ID)
				}
			})
		}
	})

	t.Run("ReplaceSupersedes", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		b := Bind("replace")
		old := New(b, now, 5*time.Minute)
		mustCreate(t, s, old, false, now, true)
		n := New(b, now, 5*time.Minute)
		n.Resends = 1
		mustCreate(t, s, n, true, now, true)
		got, err := s.Get(ctx, old.ID)
		if err != nil || got.State != challenge.StateSuperseded {
			t.Fatalf("old challenge: state %q err %v, want superseded", got.State, err)
		}
		if act, err := s.Active(ctx, b); err != nil || act.ID != n.ID || act.Resends != 1 {
			t.Fatalf("Active = %+v %v, want the new one", act, err)
		}
		// The old code is dead even if it matches.
		mustAttempt(t, s, old.ID, true, now, challenge.OutcomeSuperseded)
		mustAttempt(t, s, n.ID, true, now, challenge.OutcomeVerified)
	})

	t.Run("ExpiresByTime", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("exp"), now, time.Minute)
		mustCreate(t, s, c, false, now, true)
		got := mustAttempt(t, s, c.ID, true, c.ExpiresAt, challenge.OutcomeExpired)
		if got.State != challenge.StateExpired || got.Attempts != 0 {
			t.Fatalf("after expiry: state %q attempts %d, want expired and 0", got.State, got.Attempts)
		}
		// Still expired for an earlier clock: the state is final.
		mustAttempt(t, s, c.ID, true, now, challenge.OutcomeExpired)
	})

	t.Run("AttemptsAndLock", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("lock"), now, 5*time.Minute)
		mustCreate(t, s, c, false, now, true)
		if got := mustAttempt(t, s, c.ID, false, now, challenge.OutcomeWrong); got.Attempts != 1 || got.AttemptsLeft() != 2 {
			t.Fatalf("after 1 wrong: %d attempts", got.Attempts)
		}
		mustAttempt(t, s, c.ID, false, now, challenge.OutcomeWrong)
		got := mustAttempt(t, s, c.ID, false, now, challenge.OutcomeLocked)
		if got.State != challenge.StateLocked || got.Attempts != 3 {
			t.Fatalf("after 3 wrong: state %q attempts %d", got.State, got.Attempts)
		}
		got = mustAttempt(t, s, c.ID, true, now, challenge.OutcomeExhausted)
		if got.Attempts != 3 || got.State != challenge.StateLocked {
			t.Fatalf("refused attempt changed the challenge: %+v", got)
		}
	})

	t.Run("SingleUse", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("once"), now, 5*time.Minute)
		mustCreate(t, s, c, false, now, true)
		mustAttempt(t, s, c.ID, false, now, challenge.OutcomeWrong)
		later := now.Add(time.Second)
		got := mustAttempt(t, s, c.ID, true, later, challenge.OutcomeVerified)
		if got.State != challenge.StateVerified || !got.VerifiedAt.Equal(later) || got.Attempts != 2 {
			t.Fatalf("verified challenge: %+v", got)
		}
		mustAttempt(t, s, c.ID, true, later, challenge.OutcomeUsed)
		if got, _ := s.Get(ctx, c.ID); got.State != challenge.StateVerified || got.Attempts != 2 {
			t.Fatalf("stored after reuse: state %q attempts %d", got.State, got.Attempts)
		}
	})

	t.Run("Concurrent100MatchedOneWins", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("race"), now, 5*time.Minute)
		mustCreate(t, s, c, false, now, true)
		counts := concurrentAttempts(t, s, c.ID, true, now, 100)
		if counts[challenge.OutcomeVerified] != 1 || counts[challenge.OutcomeUsed] != 99 {
			t.Fatalf("outcomes %v, want exactly 1 verified and 99 used", counts)
		}
	})

	t.Run("Concurrent100WrongCountsMax", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("race-wrong"), now, 5*time.Minute)
		mustCreate(t, s, c, false, now, true)
		counts := concurrentAttempts(t, s, c.ID, false, now, 100)
		if counts[challenge.OutcomeWrong] != 2 || counts[challenge.OutcomeLocked] != 1 || counts[challenge.OutcomeExhausted] != 97 {
			t.Fatalf("outcomes %v, want 2 wrong, 1 locked, 97 exhausted", counts)
		}
	})

	t.Run("BindingIsolation", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		b1 := Bind("iso")
		others := []challenge.Binding{
			{Purpose: b1.Purpose, IdentityID: b1.IdentityID, FlowID: b1.FlowID + "-other"},
			{Purpose: b1.Purpose, IdentityID: b1.IdentityID + "-other", FlowID: b1.FlowID},
			{Purpose: challenge.PurposeStepUp, IdentityID: b1.IdentityID, FlowID: b1.FlowID},
		}
		c1 := New(b1, now, 5*time.Minute)
		mustCreate(t, s, c1, false, now, true)
		for _, b := range others {
			c := New(b, now, 5*time.Minute)
			mustCreate(t, s, c, false, now, true)
			mustAttempt(t, s, c.ID, true, now, challenge.OutcomeVerified)
			if act, err := s.Active(ctx, b); err != nil || act.ID != c.ID {
				t.Fatalf("Active(%+v) = %s %v", b, act.ID, err)
			}
		}
		got, err := s.Active(ctx, b1)
		if err != nil || got.ID != c1.ID || got.State != challenge.StatePending || got.Attempts != 0 {
			t.Fatalf("first binding disturbed: %+v %v", got, err)
		}
	})

	t.Run("UpdateCall", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("call"), now, 5*time.Minute)
		mustCreate(t, s, c, false, now, true)
		mustAttempt(t, s, c.ID, false, now, challenge.OutcomeWrong)
		if err := s.UpdateCall(ctx, c.ID, flashcall.Classify("USER_BUSY")); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.CallStatus != "USER_BUSY" || got.CallClass != flashcall.ClassRang {
			t.Fatalf("call status %q/%v", got.CallStatus, got.CallClass)
		}
		want := c
		want.Attempts = 1
		want.CallStatus, want.CallClass = got.CallStatus, got.CallClass
		assertEqual(t, got, want)
		if err := s.UpdateCall(ctx, challenge.NewID(Bind("missing")), flashcall.Classify("NO_ANSWER")); err != nil {
			t.Fatalf("UpdateCall on a missing id: %v, want no-op", err)
		}
		if _, err := s.Get(ctx, challenge.NewID(Bind("missing"))); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("UpdateCall created a challenge: %v", err)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		id := challenge.NewID(Bind("nf"))
		if _, err := s.Get(ctx, id); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("Get: %v", err)
		}
		if _, err := s.Get(ctx, "not-an-id"); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("Get malformed: %v", err)
		}
		if _, _, err := s.Attempt(ctx, id, true, msNow()); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("Attempt: %v", err)
		}
		if _, err := s.Active(ctx, Bind("nf")); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("Active: %v", err)
		}
	})

	t.Run("KeysExpire", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		b := Bind("ttl")
		c := New(b, now, 300*time.Millisecond)
		mustCreate(t, s, c, false, now, true)
		time.Sleep(300*time.Millisecond + MaxGrace + 300*time.Millisecond)
		if _, err := s.Get(ctx, c.ID); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("Get after TTL+grace: %v, want ErrNotFound", err)
		}
		if _, err := s.Active(ctx, b); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("Active after TTL+grace: %v, want ErrNotFound", err)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		if err := newStore(t).Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// Bind returns a binding unique to this call (random identity).
func Bind(flow string) challenge.Binding {
	return challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: "id-" + rand.Text()[:12], FlowID: "flow-" + flow}
}

// New returns a pending challenge for b created at now. Its CodeHash is
// random bytes: stores never interpret it.
func New(b challenge.Binding, now time.Time, ttl time.Duration) challenge.Challenge {
	h := make([]byte, 32)
	_, _ = rand.Read(h)
	return challenge.Challenge{
		ID:          challenge.NewID(b),
		Purpose:     b.Purpose,
		IdentityID:  b.IdentityID,
		FlowID:      b.FlowID,
		Phone:       "+79001234567",
		CodeHash:    h,
		CodeLength:  4,
		Provider:    "callpass",
		CallID:      "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
		CallStatus:  "null",
		CallClass:   flashcall.ClassPending,
		MaxAttempts: 3,
		CreatedAt:   now,
		ExpiresAt:   now.Add(ttl),
		ResendAfter: now.Add(30 * time.Second),
		State:       challenge.StatePending,
	}
}

// msNow is the current time at millisecond precision (what stores keep).
func msNow() time.Time { return time.UnixMilli(time.Now().UnixMilli()) }

func mustCreate(t *testing.T, s challenge.Store, c challenge.Challenge, replace bool, now time.Time, wantCreated bool) {
	t.Helper()
	got, created, err := s.Create(context.Background(), c, replace, now)
	if err != nil {
		t.Fatal(err)
	}
	if created != wantCreated {
		t.Fatalf("Create: created=%v, want %v", created, wantCreated)
	}
	if created && got.ID != c.ID {
		t.Fatalf("Create returned %s, want %s", got.ID, c.ID)
	}
}

func mustAttempt(t *testing.T, s challenge.Store, id string, matched bool, now time.Time, want challenge.Outcome) challenge.Challenge {
	t.Helper()
	got, out, err := s.Attempt(context.Background(), id, matched, now)
	if err != nil {
		t.Fatal(err)
	}
	if out != want {
		t.Fatalf("Attempt(matched=%v): outcome %s, want %s", matched, out, want)
	}
	if got.ID != id {
		t.Fatalf("Attempt returned challenge %q, want %q", got.ID, id)
	}
	return got
}

func concurrentAttempts(t *testing.T, s challenge.Store, id string, matched bool, now time.Time, n int) map[challenge.Outcome]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[challenge.Outcome]int{}
	var errs []error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			_, out, err := s.Attempt(context.Background(), id, matched, now)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			counts[out]++
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d attempts failed, first: %v", len(errs), errs[0])
	}
	return counts
}

func assertEqual(t *testing.T, got, want challenge.Challenge) {
	t.Helper()
	norm := func(c challenge.Challenge) challenge.Challenge {
		for _, p := range []*time.Time{&c.CreatedAt, &c.ExpiresAt, &c.ResendAfter, &c.VerifiedAt} {
			if p.IsZero() {
				*p = time.Time{}
			} else {
				*p = time.UnixMilli(p.UnixMilli())
			}
		}
		if len(c.CodeHash) == 0 {
			c.CodeHash = nil
		}
		return c
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("challenge differs:\n got %s\nwant %s", fmt.Sprintf("%+v", g), fmt.Sprintf("%+v", w))
	}
}
