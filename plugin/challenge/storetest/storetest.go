// Package storetest is the conformance suite every challenge.Store must pass,
// together with the regulation bans it reads in Lookup and Verify
// (limit.Blocks) and the gate passes it writes in Verify and claims
// (factor.PassStore).
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// Store is what the suite tests: a challenge store that also keeps the
// limiter's bans and the gate passes (plugin/store/memory, plugin/store/redis).
type Store interface {
	challenge.Store
	challenge.StartLeaser
	challenge.Retirer
	challenge.Spender
	limit.Blocks
	ClaimPass(ctx context.Context, identityID string, at []time.Time, tolerance time.Duration, sessionID string) (string, bool, error)
}

// MaxGrace is the longest grace (time a challenge stays after ExpiresAt) a
// store under test may use; the expiry test waits for it.
const MaxGrace = time.Second

// MaxPassesPerIdentity is how many gate passes a store keeps per identity
// (beyond it the oldest is dropped).
const MaxPassesPerIdentity = 16

// Run runs the suite. newStore must return an empty (or non-colliding) store
// using the real clock and a grace of at most MaxGrace.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("CreateGetRoundTrip", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("rt"), now, 5*time.Minute)
		c.CallStatus, c.CallClass = "NO_ANSWER", flashcall.ClassRang
		c.Resends = 2
		got, created, err := s.Create(ctx, c, "", now)
		if err != nil || !created {
			t.Fatalf("Create: created=%v err=%v", created, err)
		}
		assertEqual(t, got, c)
		got, err = s.Get(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, c)
		got, err = active(s, c.Binding())
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
		mustCreate(t, s, a, "", now, true)
		second := New(b, now, 5*time.Minute)
		got, created, err := s.Create(ctx, second, "", now)
		if err != nil || created {
			t.Fatalf("second Create: created=%v err=%v, want the active one back", created, err)
		}
		if got.ID != a.ID {
			t.Fatalf("second Create returned %s, want %s", got.ID, a.ID)
		}
		if _, err := s.Get(ctx, second.ID); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("refused challenge was saved: %v", err)
		}
		if act, err := active(s, b); err != nil || act.ID != a.ID {
			t.Fatalf("Active = %s %v, want %s", act.ID, err, a.ID)
		}
	})

	t.Run("CreateAfterNonPending", func(t *testing.T) {
		cases := []struct {
			name  string
			spoil func(t *testing.T, s Store, c challenge.Challenge, now time.Time) time.Time
		}{
			{"verified", func(t *testing.T, s Store, c challenge.Challenge, now time.Time) time.Time {
				mustVerify(t, s, c, true, now, challenge.OutcomeVerified)
				return now
			}},
			{"locked", func(t *testing.T, s Store, c challenge.Challenge, now time.Time) time.Time {
				for range c.MaxAttempts {
					_, _ = s.Verify(ctx, Req(c, false, now))
				}
				return now
			}},
			{"expired by time", func(t *testing.T, s Store, c challenge.Challenge, now time.Time) time.Time {
				return c.ExpiresAt
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				now := msNow()
				b := Bind("nonpending")
				a := New(b, now, 5*time.Minute)
				mustCreate(t, s, a, "", now, true)
				later := tc.spoil(t, s, a, now)
				n := New(b, later, 5*time.Minute)
				mustCreate(t, s, n, "", later, true)
				if act, err := active(s, b); err != nil || act.ID != n.ID {
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
		mustCreate(t, s, old, "", now, true)
		n := New(b, now, 5*time.Minute)
		n.Resends = 1
		mustCreate(t, s, n, old.ID, now, true)
		got, err := s.Get(ctx, old.ID)
		if err != nil || got.State != challenge.StateSuperseded {
			t.Fatalf("old challenge: state %q err %v, want superseded", got.State, err)
		}
		if act, err := active(s, b); err != nil || act.ID != n.ID || act.Resends != 1 {
			t.Fatalf("Active = %+v %v, want the new one", act, err)
		}
		// The old code is dead even if it matches.
		mustVerify(t, s, old, true, now, challenge.OutcomeSuperseded)
		mustVerify(t, s, n, true, now, challenge.OutcomeVerified)
	})

	t.Run("EarlierCodeHashesKept", func(t *testing.T) {
		// A resend's challenge carries the replaced calls' code hashes
		// (challenge.Service tells their codes apart); every read returns
		// them as written, the verify included, and they never verify.
		s := newStore(t)
		now := msNow()
		b := Bind("earlier")
		old := New(b, now, 5*time.Minute)
		mustCreate(t, s, old, "", now, true)
		n := New(b, now, 5*time.Minute)
		n.Resends = 1
		n.EarlierCodeHashes = append(bytes.Repeat([]byte{0xa5}, 32), old.CodeHash...)
		mustCreate(t, s, n, old.ID, now, true)
		got, err := s.Get(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, n)
		if got, err = active(s, b); err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, n)
		earlier := n
		earlier.CodeHash = old.CodeHash // a verify with the earlier call's code
		v := mustVerify(t, s, earlier, true, now, challenge.OutcomeWrong)
		if !bytes.Equal(v.EarlierCodeHashes, n.EarlierCodeHashes) {
			t.Fatalf("Verify returned EarlierCodeHashes %x, want %x", v.EarlierCodeHashes, n.EarlierCodeHashes)
		}
		mustVerify(t, s, n, true, now, challenge.OutcomeVerified)
		// A challenge without them reads none.
		first := New(Bind("first"), now, 5*time.Minute)
		mustCreate(t, s, first, "", now, true)
		if got, err := s.Get(ctx, first.ID); err != nil || got.EarlierCodeHashes != nil {
			t.Fatalf("first challenge: EarlierCodeHashes %x err %v, want none", got.EarlierCodeHashes, err)
		}
	})

	t.Run("ReplaceOnlyTheExpectedActive", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		b := Bind("cas")
		old := New(b, now, 5*time.Minute)
		mustCreate(t, s, old, "", now, true)
		win := New(b, now, 5*time.Minute)
		win.Resends = 1
		mustCreate(t, s, win, old.ID, now, true)
		// A concurrent resend that also read old loses: win stays active.
		for _, expect := range []string{old.ID, challenge.NewID(b)} {
			lose := New(b, now, 5*time.Minute)
			lose.Resends = 1
			got, created, err := s.Create(ctx, lose, expect, now)
			if err != nil || created {
				t.Fatalf("Create expecting %s: created=%v err=%v, want the active one back", expect, created, err)
			}
			if got.ID != win.ID {
				t.Fatalf("Create expecting %s returned %s, want %s", expect, got.ID, win.ID)
			}
			if _, err := s.Get(ctx, lose.ID); !errors.Is(err, challenge.ErrNotFound) {
				t.Fatalf("losing challenge was saved: %v", err)
			}
		}
		if act, err := active(s, b); err != nil || act.ID != win.ID || act.State != challenge.StatePending || act.Resends != 1 {
			t.Fatalf("Active = %+v %v, want %s pending", act, err, win.ID)
		}
		mustVerify(t, s, win, true, now, challenge.OutcomeVerified)
		// Once the active one is no longer live, any expectation creates.
		n := New(b, now, 5*time.Minute)
		mustCreate(t, s, n, old.ID, now, true)
	})

	// A resend races a verify of the pending code (the user types it while
	// another instance places the next call). The resend reads old, then
	// the verify through the active pointer lands before or after the
	// resend's Create(expect old). Before: old is verified and stays
	// verified (a verified challenge is never superseded, nor lost), and
	// the new challenge becomes the active one. After: old is superseded,
	// and its code, read through the pointer, is checked against the new
	// challenge. In both orders both challenges stay readable by ID.
	t.Run("ResendRacesVerify", func(t *testing.T) {
		for _, verifyFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("verifyFirst=%v", verifyFirst), func(t *testing.T) {
				s := newStore(t)
				now := msNow()
				b := Bind("resend-race")
				old := New(b, now, 5*time.Minute)
				mustCreate(t, s, old, "", now, true)
				n := New(b, now, 5*time.Minute)
				n.Resends = 1
				byPointer := func() challenge.VerifyReply {
					t.Helper()
					req := Req(old, true, now)
					req.ID = "" // through the active pointer, as the login gate does
					rep, err := s.Verify(ctx, req)
					if err != nil {
						t.Fatalf("verify of the old code through the active pointer: %v", err)
					}
					return rep
				}
				var rep challenge.VerifyReply
				if verifyFirst {
					rep = byPointer()
				}
				mustCreate(t, s, n, old.ID, now, true)
				if !verifyFirst {
					rep = byPointer()
				}
				gotOld, err := s.Get(ctx, old.ID)
				if err != nil {
					t.Fatalf("old challenge after the race: %v", err)
				}
				gotNew, err := s.Get(ctx, n.ID)
				if err != nil {
					t.Fatalf("new challenge after the race: %v", err)
				}
				if act, err := active(s, b); err != nil || act.ID != n.ID {
					t.Fatalf("Active = %s %v, want the new %s", act.ID, err, n.ID)
				}
				if verifyFirst {
					if rep.Outcome != challenge.OutcomeVerified || rep.Challenge.ID != old.ID {
						t.Fatalf("verify before the resend's create: %s on %s, want verified on the old %s", rep.Outcome, rep.Challenge.ID, old.ID)
					}
					if gotOld.State != challenge.StateVerified || gotNew.State != challenge.StatePending || gotNew.Attempts != 0 {
						t.Fatalf("old %s, new %s with %d attempts; want old verified, new pending and untouched", gotOld.State, gotNew.State, gotNew.Attempts)
					}
					return
				}
				if rep.Outcome != challenge.OutcomeWrong || rep.Challenge.ID != n.ID {
					t.Fatalf("verify after the resend's create: %s on %s, want wrong on the new %s", rep.Outcome, rep.Challenge.ID, n.ID)
				}
				if gotOld.State != challenge.StateSuperseded || gotOld.Attempts != 0 || gotNew.State != challenge.StatePending || gotNew.Attempts != 1 {
					t.Fatalf("old %s (%d attempts), new %s (%d attempts); want old superseded and untouched, new pending with the one attempt",
						gotOld.State, gotOld.Attempts, gotNew.State, gotNew.Attempts)
				}
			})
		}
	})

	runRetire(t, newStore)
	runSpend(t, newStore)

	t.Run("ExpiresByTime", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("exp"), now, time.Minute)
		mustCreate(t, s, c, "", now, true)
		got := mustVerify(t, s, c, true, c.ExpiresAt, challenge.OutcomeExpired)
		if got.State != challenge.StateExpired || got.Attempts != 0 {
			t.Fatalf("after expiry: state %q attempts %d, want expired and 0", got.State, got.Attempts)
		}
		// Still expired for an earlier clock: the state is final.
		mustVerify(t, s, c, true, now, challenge.OutcomeExpired)
	})

	t.Run("AttemptsAndLock", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("lock"), now, 5*time.Minute)
		mustCreate(t, s, c, "", now, true)
		if got := mustVerify(t, s, c, false, now, challenge.OutcomeWrong); got.Attempts != 1 || got.AttemptsLeft() != 2 {
			t.Fatalf("after 1 wrong: %d attempts", got.Attempts)
		}
		mustVerify(t, s, c, false, now, challenge.OutcomeWrong)
		got := mustVerify(t, s, c, false, now, challenge.OutcomeLocked)
		if got.State != challenge.StateLocked || got.Attempts != 3 {
			t.Fatalf("after 3 wrong: state %q attempts %d", got.State, got.Attempts)
		}
		got = mustVerify(t, s, c, true, now, challenge.OutcomeExhausted)
		if got.Attempts != 3 || got.State != challenge.StateLocked {
			t.Fatalf("refused attempt changed the challenge: %+v", got)
		}
	})

	t.Run("SingleUse", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("once"), now, 5*time.Minute)
		mustCreate(t, s, c, "", now, true)
		mustVerify(t, s, c, false, now, challenge.OutcomeWrong)
		later := now.Add(time.Second)
		got := mustVerify(t, s, c, true, later, challenge.OutcomeVerified)
		if got.State != challenge.StateVerified || !got.VerifiedAt.Equal(later) || got.Attempts != 2 {
			t.Fatalf("verified challenge: %+v", got)
		}
		mustVerify(t, s, c, true, later, challenge.OutcomeUsed)
		if got, _ := s.Get(ctx, c.ID); got.State != challenge.StateVerified || got.Attempts != 2 {
			t.Fatalf("stored after reuse: state %q attempts %d", got.State, got.Attempts)
		}
	})

	t.Run("Concurrent100MatchedOneWins", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("race"), now, 5*time.Minute)
		mustCreate(t, s, c, "", now, true)
		counts := concurrentVerifies(t, s, Req(c, true, now), 100)
		if counts[challenge.OutcomeVerified] != 1 || counts[challenge.OutcomeUsed] != 99 {
			t.Fatalf("outcomes %v, want exactly 1 verified and 99 used", counts)
		}
		// The same through the active pointer, each with a gate pass.
		c2 := New(Bind("race-active"), now, 5*time.Minute)
		mustCreate(t, s, c2, "", now, true)
		authAt := now.Add(-time.Minute)
		req := ReqPass(c2, true, now, &challenge.Pass{IdentityID: c2.IdentityID, AuthenticatedAt: authAt, TTL: time.Hour})
		req.ID = ""
		counts = concurrentVerifies(t, s, req, 100)
		if counts[challenge.OutcomeVerified] != 1 || counts[challenge.OutcomeUsed] != 99 {
			t.Fatalf("active: outcomes %v, want exactly 1 verified and 99 used", counts)
		}
		if got, err := s.Get(ctx, c2.ID); err != nil || got.Attempts != 1 || got.State != challenge.StateVerified {
			t.Fatalf("after the race: attempts %d state %q err %v, want 1 verified", got.Attempts, got.State, err)
		}
		if !mustClaim(t, s, c2.IdentityID, authAt, time.Second, "s1") {
			t.Fatal("the winning verify recorded no gate pass")
		}
	})

	t.Run("Concurrent100WrongCountsMax", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("race-wrong"), now, 5*time.Minute)
		mustCreate(t, s, c, "", now, true)
		counts := concurrentVerifies(t, s, Req(c, false, now), 100)
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
		mustCreate(t, s, c1, "", now, true)
		for _, b := range others {
			c := New(b, now, 5*time.Minute)
			mustCreate(t, s, c, "", now, true)
			mustVerify(t, s, c, true, now, challenge.OutcomeVerified)
			if act, err := active(s, b); err != nil || act.ID != c.ID {
				t.Fatalf("Active(%+v) = %s %v", b, act.ID, err)
			}
		}
		got, err := active(s, b1)
		if err != nil || got.ID != c1.ID || got.State != challenge.StatePending || got.Attempts != 0 {
			t.Fatalf("first binding disturbed: %+v %v", got, err)
		}
	})

	// Identity and flow ids are the store's to name keys with: ids holding
	// the separators and hash-tag braces of its key layout (an identity
	// that is another's pass key with a suffix, a regulation key, braces)
	// keep their challenges, passes and bans apart.
	t.Run("SeparatorsKeepBindingsApart", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		base := "id-" + rand.Text()[:12]
		ids := []string{base, base + ":n", base + ":b:r:" + base, "{" + base + "}", base + "}:c:", "r:" + base, base + "\x00"}
		flows := []string{"f", "f:s", "{f}:a:", "f\x00login"}
		made := map[challenge.Binding]challenge.Challenge{}
		for _, id := range ids {
			for _, f := range flows {
				b := Binding(challenge.PurposeLogin, id, f)
				c := New(b, now, 5*time.Minute)
				mustCreate(t, s, c, "", now, true)
				made[b] = c
			}
		}
		first := Binding(challenge.PurposeLogin, base, flows[0])
		at := now.Add(-time.Minute)
		mustVerifyPass(t, s, made[first], true, now, &challenge.Pass{IdentityID: base, AuthenticatedAt: at, TTL: time.Hour}, challenge.OutcomeVerified)
		if until, err := s.Fail(ctx, limit.RegulationKey(base), time.Minute, 1, time.Hour); err != nil || until.IsZero() {
			t.Fatalf("ban: %v %v", until, err)
		}
		for b, c := range made {
			got, until, err := s.Lookup(ctx, challenge.LookupRequest{Binding: b, BanKey: limit.RegulationKey(b.IdentityID)})
			if err != nil || got.ID != c.ID {
				t.Fatalf("Lookup(%q, %q) = %s %v, want its own challenge %s", b.IdentityID, b.FlowID, got.ID, err, c.ID)
			}
			if b.IdentityID == base {
				if until.IsZero() {
					t.Fatalf("Lookup(%q, %q): the identity's ban not read", b.IdentityID, b.FlowID)
				}
				continue
			}
			if got.State != challenge.StatePending || got.Attempts != 0 || !until.IsZero() {
				t.Fatalf("binding (%q, %q) disturbed by another's: state %s, attempts %d, banned until %v", b.IdentityID, b.FlowID, got.State, got.Attempts, until)
			}
		}
		for _, id := range ids[1:] {
			if mustClaim(t, s, id, at, time.Second, "s-"+id) {
				t.Fatalf("identity %q claimed %q's pass", id, base)
			}
		}
		if !mustClaim(t, s, base, at, time.Second, "s") {
			t.Fatal("the pass was not claimed by its identity")
		}
	})

	t.Run("UpdateCall", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		c := New(Bind("call"), now, 5*time.Minute)
		mustCreate(t, s, c, "", now, true)
		mustVerify(t, s, c, false, now, challenge.OutcomeWrong)
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
		b := Bind("nf")
		id := challenge.NewID(b)
		if _, err := s.Get(ctx, id); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("Get: %v", err)
		}
		if _, err := s.Get(ctx, "not-an-id"); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("Get malformed: %v", err)
		}
		for _, req := range []challenge.VerifyRequest{{ID: id, Binding: b}, {Binding: b}} {
			req.Sum, req.Now = make([]byte, 32), msNow()
			if _, err := s.Verify(ctx, req); !errors.Is(err, challenge.ErrNotFound) {
				t.Fatalf("Verify(id %q): %v", req.ID, err)
			}
		}
		if _, err := active(s, b); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("Active: %v", err)
		}
	})

	t.Run("KeysExpire", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		b := Bind("ttl")
		c := New(b, now, 300*time.Millisecond)
		mustCreate(t, s, c, "", now, true)
		// Two gate passes of one identity: each expires on its own.
		short := challenge.Pass{IdentityID: b.IdentityID, AuthenticatedAt: now.Add(-time.Hour), TTL: 300 * time.Millisecond}
		long := challenge.Pass{IdentityID: b.IdentityID, AuthenticatedAt: now, TTL: time.Hour}
		mustVerifyPass(t, s, c, true, now, &short, challenge.OutcomeVerified)
		c2 := New(Binding(b.Purpose, b.IdentityID, "ttl-2"), now, time.Minute)
		mustCreate(t, s, c2, "", now, true)
		mustVerifyPass(t, s, c2, true, now, &long, challenge.OutcomeVerified)
		time.Sleep(300*time.Millisecond + MaxGrace + 300*time.Millisecond)
		if _, err := s.Get(ctx, c.ID); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("Get after TTL+grace: %v, want ErrNotFound", err)
		}
		if _, err := active(s, b); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("Active after TTL+grace: %v, want ErrNotFound", err)
		}
		if mustClaim(t, s, b.IdentityID, short.AuthenticatedAt, time.Second, "s1") {
			t.Fatal("an expired gate pass was claimed")
		}
		if !mustClaim(t, s, b.IdentityID, long.AuthenticatedAt, time.Second, "s1") {
			t.Fatal("a live gate pass expired with its neighbour")
		}
	})

	t.Run("LookupByIDAndBinding", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		b := Bind("lookup")
		c := New(b, now, 5*time.Minute)
		mustCreate(t, s, c, "", now, true)
		for _, req := range []challenge.LookupRequest{{ID: c.ID, Binding: b}, {Binding: b}} {
			got, until, err := s.Lookup(ctx, req)
			if err != nil || !until.IsZero() {
				t.Fatalf("Lookup(%+v): until %v err %v", req, until, err)
			}
			assertEqual(t, got, c)
		}
		other := Bind("lookup")
		misses := []challenge.LookupRequest{
			{ID: c.ID, Binding: other},                                // another identity's binding
			{ID: "not-an-id", Binding: b},                             // malformed
			{ID: challenge.NewID(b), Binding: b},                      // never created
			{Binding: Binding(b.Purpose, b.IdentityID, "other-flow")}, // no active challenge
		}
		for _, req := range misses {
			if got, _, err := s.Lookup(ctx, req); !errors.Is(err, challenge.ErrNotFound) {
				t.Fatalf("Lookup(%+v) = %s %v, want ErrNotFound", req, got.ID, err)
			}
		}
		// The active challenge is returned whatever its state.
		mustVerify(t, s, c, true, now, challenge.OutcomeVerified)
		if got, err := active(s, b); err != nil || got.State != challenge.StateVerified {
			t.Fatalf("active after verify: %q %v", got.State, err)
		}
	})

	t.Run("LookupReturnsBan", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		b := Bind("ban")
		c := New(b, now, 5*time.Minute)
		mustCreate(t, s, c, "", now, true)
		key := limit.RegulationKey(b.IdentityID)
		if until, err := s.Fail(ctx, key, time.Minute, 2, time.Hour); err != nil || !until.IsZero() {
			t.Fatalf("first failure: %v %v", until, err)
		}
		if _, until, err := s.Lookup(ctx, challenge.LookupRequest{Binding: b, BanKey: key}); err != nil || !until.IsZero() {
			t.Fatalf("Lookup before the ban: until %v err %v", until, err)
		}
		want, err := s.Fail(ctx, key, time.Minute, 2, time.Hour)
		if err != nil || want.IsZero() {
			t.Fatalf("second failure: %v %v, want a ban", want, err)
		}
		near := func(got time.Time) bool { return got.Sub(want).Abs() <= time.Second }
		for _, req := range []challenge.LookupRequest{{Binding: b, BanKey: key}, {ID: c.ID, Binding: b, BanKey: key}} {
			got, until, err := s.Lookup(ctx, req)
			if err != nil || got.ID != c.ID || !near(until) {
				t.Fatalf("Lookup(%+v) = %s until %v err %v, want the challenge and the ban until %v", req, got.ID, until, err, want)
			}
		}
		// A miss still reports the ban.
		for _, req := range []challenge.LookupRequest{
			{Binding: Binding(b.Purpose, b.IdentityID, "other-flow"), BanKey: key},
			{ID: "not-an-id", Binding: b, BanKey: key},
			{ID: challenge.NewID(b), Binding: b, BanKey: key},
		} {
			if _, until, err := s.Lookup(ctx, req); !errors.Is(err, challenge.ErrNotFound) || !near(until) {
				t.Fatalf("Lookup(%+v): until %v err %v, want ErrNotFound and the ban", req, until, err)
			}
		}
		if _, until, err := s.Lookup(ctx, challenge.LookupRequest{Binding: b}); err != nil || !until.IsZero() {
			t.Fatalf("Lookup without BanKey: until %v err %v, want no ban read", until, err)
		}
		other := Bind("ban")
		if _, until, err := s.Lookup(ctx, challenge.LookupRequest{Binding: other, BanKey: limit.RegulationKey(other.IdentityID)}); !errors.Is(err, challenge.ErrNotFound) || !until.IsZero() {
			t.Fatalf("another identity: until %v err %v, want not found and not banned", until, err)
		}
		// Lookup and BlockedUntil read the same ban.
		if until, err := s.BlockedUntil(ctx, key); err != nil || !near(until) {
			t.Fatalf("BlockedUntil = %v %v, want %v", until, err, want)
		}
	})

	// A lock records the identity's regulation failure in the same atomic
	// step as the verify (VerifyRequest.Regulation), as Fail would: the
	// lock that reaches MaxFailures within FindTime bans, its reply carries
	// the ban's end, and the next verify of another challenge of the
	// identity is refused as banned. Wrong codes short of a lock, and locks
	// without BanKey or regulation, record nothing.
	t.Run("VerifyLockRecordsRegulationFailure", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		reg := limit.Regulation{MaxFailures: 3, FindTime: time.Minute, BanTime: time.Hour}
		b := Bind("lockban")
		key := limit.RegulationKey(b.IdentityID)
		lockOne := func(flow string, req func(challenge.VerifyRequest) challenge.VerifyRequest) challenge.VerifyReply {
			t.Helper()
			c := New(Binding(b.Purpose, b.IdentityID, flow), now, 5*time.Minute)
			mustCreate(t, s, c, "", now, true)
			var rep challenge.VerifyReply
			for i := range c.MaxAttempts {
				var err error
				rep, err = s.Verify(ctx, req(Req(c, false, now)))
				if err != nil {
					t.Fatal(err)
				}
				want := challenge.OutcomeWrong
				if i == c.MaxAttempts-1 {
					want = challenge.OutcomeLocked
				}
				if rep.Outcome != want || (want != challenge.OutcomeLocked && !rep.LockBannedUntil.IsZero()) {
					t.Fatalf("%s attempt %d: outcome %s lock ban %v, want %s", flow, i+1, rep.Outcome, rep.LockBannedUntil, want)
				}
			}
			return rep
		}
		withReg := func(r challenge.VerifyRequest) challenge.VerifyRequest {
			r.BanKey, r.Regulation = key, reg
			return r
		}
		// Without BanKey, or without regulation, a lock records nothing.
		for i, f := range []func(challenge.VerifyRequest) challenge.VerifyRequest{
			func(r challenge.VerifyRequest) challenge.VerifyRequest { r.Regulation = reg; return r },
			func(r challenge.VerifyRequest) challenge.VerifyRequest { r.BanKey = key; return r },
		} {
			for j := range reg.MaxFailures {
				if rep := lockOne(fmt.Sprintf("off-%d-%d", i, j), f); !rep.LockBannedUntil.IsZero() {
					t.Fatalf("lock without regulation reported a ban until %v", rep.LockBannedUntil)
				}
			}
		}
		if until, err := s.BlockedUntil(ctx, key); err != nil || !until.IsZero() {
			t.Fatalf("locks without regulation banned: %v %v", until, err)
		}
		for i := range reg.MaxFailures {
			rep := lockOne(fmt.Sprintf("on-%d", i), withReg)
			until, err := s.BlockedUntil(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if i < reg.MaxFailures-1 {
				if !rep.LockBannedUntil.IsZero() || !until.IsZero() {
					t.Fatalf("lock %d: banned until %v (store %v), want no ban yet", i+1, rep.LockBannedUntil, until)
				}
				continue
			}
			wantEnd := time.Now().Add(reg.BanTime)
			if d := rep.LockBannedUntil.Sub(wantEnd).Abs(); rep.LockBannedUntil.IsZero() || d > 5*time.Second {
				t.Fatalf("lock %d: reply ban until %v, want about %v", i+1, rep.LockBannedUntil, wantEnd)
			}
			if until.Sub(rep.LockBannedUntil).Abs() > time.Second {
				t.Fatalf("lock %d: store ban until %v, reply %v", i+1, until, rep.LockBannedUntil)
			}
		}
		// The ban is in force for every challenge of the identity.
		c := New(Binding(b.Purpose, b.IdentityID, "after"), now, 5*time.Minute)
		mustCreate(t, s, c, "", now, true)
		rep, err := s.Verify(ctx, withReg(Req(c, true, now)))
		if err != nil || rep.Outcome != challenge.OutcomeBanned || rep.BannedUntil.IsZero() {
			t.Fatalf("verify after the ban: %+v %v, want banned", rep, err)
		}
		if got, err := s.Get(ctx, c.ID); err != nil || got.Attempts != 0 || got.State != challenge.StatePending {
			t.Fatalf("banned verify counted: %+v %v", got, err)
		}
	})

	// The last wrong guesses of many challenges of one identity, sent at
	// once: the failure of each lock is recorded in the same step, so at
	// most MaxFailures of them are evaluated (locked) and the rest are
	// refused by the ban the last of those set.
	t.Run("ConcurrentLocksBanAtMaxFailures", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		reg := limit.Regulation{MaxFailures: 3, FindTime: time.Minute, BanTime: time.Hour}
		b := Bind("lockrace")
		key := limit.RegulationKey(b.IdentityID)
		const n = 20
		reqs := make([]challenge.VerifyRequest, n)
		for i := range n {
			c := New(Binding(b.Purpose, b.IdentityID, fmt.Sprintf("flow-%d", i)), now, 5*time.Minute)
			c.Attempts = c.MaxAttempts - 1 // the next wrong code locks it
			mustCreate(t, s, c, "", now, true)
			reqs[i] = Req(c, false, now)
			reqs[i].BanKey, reqs[i].Regulation = key, reg
		}
		counts := map[challenge.Outcome]int{}
		bans := 0
		for _, rep := range verifyAtOnce(t, s, reqs) {
			counts[rep.Outcome]++
			if !rep.LockBannedUntil.IsZero() {
				bans++
			}
		}
		if counts[challenge.OutcomeLocked] != reg.MaxFailures || counts[challenge.OutcomeBanned] != n-reg.MaxFailures || bans != 1 {
			t.Fatalf("outcomes %v (%d replies with a lock ban), want %d locked (one banning) and %d banned",
				counts, bans, reg.MaxFailures, n-reg.MaxFailures)
		}
	})

	t.Run("LookupAndCheck", func(t *testing.T) {
		s := newStore(t)
		cs, ok := s.(challenge.CheckingStore)
		counter, ok2 := s.(limit.Counter)
		if !ok || !ok2 {
			t.Skip("the store does not keep the limiter's counters")
		}
		now := msNow()
		b := Bind("check")
		c := New(b, now, 5*time.Minute)
		mustCreate(t, s, c, "", now, true)
		key := limit.RegulationKey(b.IdentityID)
		suffix := b.IdentityID // counter keys of this run only
		rules := []limit.Take{
			{Key: "n:" + suffix, Limit: 2, Window: time.Hour},
			{Key: "ip:" + suffix, Limit: 5, Window: time.Hour},
		}
		if _, err := counter.Take(ctx, rules); err != nil {
			t.Fatal(err)
		}
		// One call taken: both rules allow; the challenge and no ban come back.
		look, err := cs.LookupAndCheck(ctx, challenge.LookupRequest{Binding: b, BanKey: key}, rules)
		got, until, check := look.Challenge, look.BannedUntil, look.Check
		if err != nil || got.ID != c.ID || !until.IsZero() || !check.Allowed || check.Blocked != -1 || look.StartLeased {
			t.Fatalf("below the limits: %s until %v check %+v leased %v err %v", got.ID, until, check, look.StartLeased, err)
		}
		if _, err := counter.Take(ctx, rules); err != nil {
			t.Fatal(err)
		}
		// The number rule is used up: refused at index 0 with its wait, and
		// checking again changes nothing (the next take is still refused
		// by the same rule, the IP rule still has room).
		for range 3 {
			look, err = cs.LookupAndCheck(ctx, challenge.LookupRequest{Binding: Binding(b.Purpose, b.IdentityID, "other-flow"), BanKey: key}, rules)
			check = look.Check
			if !errors.Is(err, challenge.ErrNotFound) || check.Allowed || check.Blocked != 0 || check.RetryAfter <= 0 || check.RetryAfter > time.Hour || check.Counts != nil {
				t.Fatalf("at the number limit (and no challenge): check %+v err %v", check, err)
			}
		}
		res, err := counter.Take(ctx, rules)
		if err != nil || res.Allowed || res.Blocked != 0 {
			t.Fatalf("take after the checks: %+v %v, want refused by rule 0", res, err)
		}
		if res, err := counter.Take(ctx, rules[1:]); err != nil || !res.Allowed || res.Counts[0] != 3 {
			t.Fatalf("IP rule after the checks: %+v %v, want its third take", res, err)
		}
		// No rules: allowed.
		if look, err := cs.LookupAndCheck(ctx, challenge.LookupRequest{Binding: b}, nil); err != nil || !look.Check.Allowed {
			t.Fatalf("no rules: %+v %v", look.Check, err)
		}
		// Another start holding the binding's lease is reported with the
		// binding's active challenge, and only for it.
		if taken, _, err := s.LeaseStart(ctx, b, "other start", time.Minute); err != nil || !taken {
			t.Fatalf("lease: %v %v", taken, err)
		}
		if look, err := cs.LookupAndCheck(ctx, challenge.LookupRequest{Binding: b, BanKey: key}, rules); err != nil || !look.StartLeased {
			t.Fatalf("binding leased: StartLeased %v err %v", look.StartLeased, err)
		}
		if look, _ := cs.LookupAndCheck(ctx, challenge.LookupRequest{Binding: b, ID: c.ID, BanKey: key}, rules); look.StartLeased {
			t.Fatal("StartLeased read for a lookup by id")
		}
		if err := s.ReleaseStart(ctx, b, "other start"); err != nil {
			t.Fatal(err)
		}
		if look, err := cs.LookupAndCheck(ctx, challenge.LookupRequest{Binding: b, BanKey: key}, rules); err != nil || look.StartLeased {
			t.Fatalf("lease released: StartLeased %v err %v", look.StartLeased, err)
		}
		// A lease that ended by its TTL is not reported either.
		if taken, _, err := s.LeaseStart(ctx, b, "short", 50*time.Millisecond); err != nil || !taken {
			t.Fatalf("lease: %v %v", taken, err)
		}
		time.Sleep(150 * time.Millisecond)
		if look, err := cs.LookupAndCheck(ctx, challenge.LookupRequest{Binding: b, BanKey: key}, rules); err != nil || look.StartLeased {
			t.Fatalf("lease ended by its TTL: StartLeased %v err %v", look.StartLeased, err)
		}
	})

	t.Run("VerifyRecordsPassOnlyWhenVerified", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		b := Bind("pass")
		c := New(b, now, 5*time.Minute)
		mustCreate(t, s, c, "", now, true)
		authAt := now.Add(-time.Minute)
		p := &challenge.Pass{IdentityID: b.IdentityID, AuthenticatedAt: authAt, TTL: time.Hour}
		mustVerifyPass(t, s, c, false, now, p, challenge.OutcomeWrong)
		if mustClaim(t, s, b.IdentityID, authAt, time.Second, "s0") {
			t.Fatal("a wrong code recorded a gate pass")
		}
		// A pass for another identity is an error and changes nothing.
		if _, err := s.Verify(ctx, ReqPass(c, true, now, &challenge.Pass{IdentityID: "someone-else", AuthenticatedAt: authAt, TTL: time.Hour})); err == nil {
			t.Fatal("Verify accepted a pass for another identity")
		}
		if got, err := s.Get(ctx, c.ID); err != nil || got.Attempts != 1 || got.State != challenge.StatePending {
			t.Fatalf("after the refused pass: attempts %d state %q err %v, want 1 pending", got.Attempts, got.State, err)
		}
		mustVerifyPass(t, s, c, true, now, p, challenge.OutcomeVerified)
		claims := []struct {
			name string
			at   time.Time
			sid  string
			want bool
		}{
			{"outside the tolerance", authAt.Add(1500 * time.Millisecond), "s9", false},
			{"first session claims", authAt.Add(-700 * time.Millisecond), "s1", true},
			{"same session again", authAt.Add(900 * time.Millisecond), "s1", true},
			{"another session", authAt, "s2", false},
		}
		for _, tc := range claims {
			num, got := mustClaimNumber(t, s, b.IdentityID, tc.at, time.Second, tc.sid)
			if got != tc.want {
				t.Fatalf("%s: claim = %v, want %v", tc.name, got, tc.want)
			}
			// The pass names the number its call went to (the token's
			// phone_number), whatever the identity's trait says later.
			if got && num != c.Phone {
				t.Fatalf("%s: claimed pass names %q, want the number called %q", tc.name, num, c.Phone)
			}
		}
		if mustClaim(t, s, Bind("x").IdentityID, authAt, time.Second, "s1") {
			t.Fatal("another identity claimed the pass")
		}
		// A refused attempt (already used) records nothing.
		later := authAt.Add(time.Hour)
		mustVerifyPass(t, s, c, true, now, &challenge.Pass{IdentityID: b.IdentityID, AuthenticatedAt: later, TTL: time.Hour}, challenge.OutcomeUsed)
		if mustClaim(t, s, b.IdentityID, later, time.Second, "s3") {
			t.Fatal("a refused attempt recorded a gate pass")
		}

		// Step-up: the pass is recorded for its session at once.
		su := Binding(challenge.PurposeStepUp, b.IdentityID, "sess-1")
		c2 := New(su, now, 5*time.Minute)
		c2.Phone = "+79007654321" // another number than the login's
		mustCreate(t, s, c2, "", now, true)
		stepAt := now.Add(-2 * time.Hour)
		mustVerifyPass(t, s, c2, true, now, &challenge.Pass{IdentityID: su.IdentityID, AuthenticatedAt: stepAt, SessionID: "sess-1", TTL: time.Hour}, challenge.OutcomeVerified)
		if mustClaim(t, s, su.IdentityID, stepAt, time.Second, "sess-2") {
			t.Fatal("another session claimed a step-up pass")
		}
		if num, ok := mustClaimNumber(t, s, su.IdentityID, stepAt, time.Second, "sess-1"); !ok || num != c2.Phone {
			t.Fatalf("the step-up session's pass: %v %q, want held, naming %q", ok, num, c2.Phone)
		}
	})

	// A verify naming the number the code must prove (the login gate after
	// an admin changed the identity's number) refuses another number's
	// challenge in the same step: nothing counted, no pass, the challenge
	// as it was; the number it was called at still verifies.
	t.Run("VerifyChecksTheNumber", func(t *testing.T) {
		s := newStore(t)
		now := msNow()
		b := Bind("number")
		c := New(b, now, 5*time.Minute)
		mustCreate(t, s, c, "", now, true)
		authAt := now.Add(-time.Minute)
		p := &challenge.Pass{IdentityID: b.IdentityID, AuthenticatedAt: authAt, TTL: time.Hour}
		for _, tc := range []struct {
			name    string
			matched bool
			pass    *challenge.Pass
			byID    bool
		}{
			{"right code, with a pass", true, p, true},
			{"right code, no pass", true, nil, true},
			{"wrong code", false, nil, true},
			{"right code, the binding's active challenge", true, p, false},
		} {
			req := ReqPass(c, tc.matched, now, tc.pass)
			if !tc.byID {
				req.ID = ""
			}
			req.Phone = "+79007654321"
			rep, err := s.Verify(ctx, req)
			if err != nil || rep.Outcome != challenge.OutcomeNumberChanged {
				t.Fatalf("%s, another number: outcome %v err %v, want number_changed", tc.name, rep.Outcome, err)
			}
			if rep.Challenge.ID != c.ID || rep.Challenge.Phone != c.Phone {
				t.Fatalf("%s: the reply names %q at %q, want the challenge it refused", tc.name, rep.Challenge.ID, rep.Challenge.Phone)
			}
		}
		if got, err := s.Get(ctx, c.ID); err != nil || got.Attempts != 0 || got.State != challenge.StatePending {
			t.Fatalf("after the refusals: attempts %d state %q err %v, want 0 pending", got.Attempts, got.State, err)
		}
		if mustClaim(t, s, b.IdentityID, authAt, time.Second, "s1") {
			t.Fatal("a verify refused for its number recorded a gate pass")
		}
		// Another binding's challenge stays not found, whatever the number.
		other := ReqPass(c, true, now, nil)
		other.Binding, other.Phone = Bind("other"), c.Phone
		if _, err := s.Verify(ctx, other); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("another binding with the right number: %v, want not found", err)
		}
		req := ReqPass(c, true, now, p)
		req.Phone = c.Phone
		if rep, err := s.Verify(ctx, req); err != nil || rep.Outcome != challenge.OutcomeVerified {
			t.Fatalf("the number called: outcome %v err %v, want verified", rep.Outcome, err)
		}
		if num, ok := mustClaimNumber(t, s, b.IdentityID, authAt, time.Second, "s1"); !ok || num != c.Phone {
			t.Fatalf("the pass after the right number: %v %q", ok, num)
		}
	})

	t.Run("PassesCappedPerIdentity", func(t *testing.T) {
		// At most MaxPassesPerIdentity passes are kept per identity: the
		// verify that records one more drops the oldest (by
		// authenticated_at, which here is also the order they were
		// recorded in), and only that one.
		s := newStore(t)
		now := msNow()
		id := Bind("cap").IdentityID
		authAt := func(i int) time.Time { return now.Add(-time.Hour + time.Duration(i)*10*time.Second) }
		for i := range MaxPassesPerIdentity + 1 {
			c := New(Binding(challenge.PurposeLogin, id, fmt.Sprintf("flow-cap-%d", i)), now, 5*time.Minute)
			mustCreate(t, s, c, "", now, true)
			p := &challenge.Pass{IdentityID: id, AuthenticatedAt: authAt(i), TTL: time.Hour}
			mustVerifyPass(t, s, c, true, now, p, challenge.OutcomeVerified)
		}
		if mustClaim(t, s, id, authAt(0), time.Second, "s-oldest") {
			t.Fatalf("the oldest of %d passes was kept, want at most %d", MaxPassesPerIdentity+1, MaxPassesPerIdentity)
		}
		for i := MaxPassesPerIdentity; i >= 1; i-- {
			if !mustClaim(t, s, id, authAt(i), time.Second, fmt.Sprintf("s-%d", i)) {
				t.Fatalf("pass %d of %d (one of the newest %d) was dropped", i, MaxPassesPerIdentity+1, MaxPassesPerIdentity)
			}
		}
	})

	t.Run("StartLease", func(t *testing.T) {
		// One start of a binding holds the lease at a time; another token
		// is refused until it is released by its own token or ends by its
		// TTL; the active challenge is read in the same step, taken or not.
		s := newStore(t)
		now := msNow()
		b := Bind("lease")
		lease := func(token string, ttl time.Duration) (bool, string) {
			t.Helper()
			taken, active, err := s.LeaseStart(ctx, b, token, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return taken, active
		}
		if taken, active := lease("a", time.Minute); !taken || active != "" {
			t.Fatalf("first lease: taken %v, active %q; want taken, no challenge", taken, active)
		}
		if taken, _ := lease("a", time.Minute); !taken {
			t.Fatal("the holder's own token was refused")
		}
		c := New(b, now, 5*time.Minute)
		mustCreate(t, s, c, "", now, true)
		if taken, active := lease("b", time.Minute); taken || active != c.ID {
			t.Fatalf("second start: taken %v, active %q; want refused, seeing %s", taken, active, c.ID)
		}
		if taken, _, err := s.LeaseStart(ctx, Bind("lease-other"), "b", time.Minute); err != nil || !taken {
			t.Fatal("another binding's lease was refused")
		}
		if err := s.ReleaseStart(ctx, b, "b"); err != nil {
			t.Fatal(err)
		}
		if taken, _ := lease("b", time.Minute); taken {
			t.Fatal("a release by another token ended the holder's lease")
		}
		if err := s.ReleaseStart(ctx, b, "a"); err != nil {
			t.Fatal(err)
		}
		if taken, active := lease("b", 100*time.Millisecond); !taken || active != c.ID {
			t.Fatalf("after the release: taken %v, active %q", taken, active)
		}
		time.Sleep(250 * time.Millisecond)
		if taken, _ := lease("c", time.Minute); !taken {
			t.Fatal("a lease did not end by its TTL")
		}

		// CreateLeased records the challenge and ends the holder's lease in
		// the same step, whether it stored the challenge or kept a live one
		// it did not expect; another token's lease stays.
		c2 := New(b, now, 5*time.Minute)
		if _, created, err := s.CreateLeased(ctx, c2, "", now, "c"); err != nil || created {
			t.Fatalf("CreateLeased over a live challenge not expected: created %v err %v", created, err)
		}
		if taken, active := lease("d", time.Minute); !taken || active != c.ID {
			t.Fatalf("after CreateLeased (kept the live one): taken %v, active %q", taken, active)
		}
		if got, created, err := s.CreateLeased(ctx, c2, c.ID, now, "not d"); err != nil || !created || got.ID != c2.ID {
			t.Fatalf("CreateLeased replacing the expected one: %s created %v err %v", got.ID, created, err)
		}
		if taken, _ := lease("e", time.Minute); taken {
			t.Fatal("CreateLeased with another token ended the holder's lease")
		}
		c3 := New(b, now, 5*time.Minute)
		if _, created, err := s.CreateLeased(ctx, c3, c2.ID, now, "d"); err != nil || !created {
			t.Fatalf("CreateLeased by the holder: created %v err %v", created, err)
		}
		if taken, active := lease("e", time.Minute); !taken || active != c3.ID {
			t.Fatalf("after the holder's CreateLeased: taken %v, active %q", taken, active)
		}
	})

	t.Run("PassesCappedByLoginTime", func(t *testing.T) {
		// The cap drops the pass of the earliest login, not the first one
		// recorded: a step-up records a pass for a session older than the
		// latest login, after that login's pass. The latest login's
		// session must still get its token.
		s := newStore(t)
		now := msNow()
		id := Bind("cap-order").IdentityID
		verifyAt := func(flow string, at time.Time) {
			c := New(Binding(challenge.PurposeLogin, id, flow), now, 5*time.Minute)
			mustCreate(t, s, c, "", now, true)
			mustVerifyPass(t, s, c, true, now, &challenge.Pass{IdentityID: id, AuthenticatedAt: at, TTL: time.Hour}, challenge.OutcomeVerified)
		}
		latest := now.Add(-time.Minute)
		verifyAt("flow-latest", latest)
		for i := range MaxPassesPerIdentity {
			verifyAt(fmt.Sprintf("flow-older-%d", i), now.Add(-2*time.Hour+time.Duration(i)*time.Minute))
		}
		if !mustClaim(t, s, id, latest, time.Second, "s-latest") {
			t.Fatal("the latest login's pass was dropped; the earliest login's should have been")
		}
		if mustClaim(t, s, id, now.Add(-2*time.Hour), time.Second, "s-earliest") {
			t.Fatalf("the earliest login's pass was kept among %d, want at most %d", MaxPassesPerIdentity+1, MaxPassesPerIdentity)
		}
	})

	t.Run("Verify", func(t *testing.T) {
		runVerifyCases(t, newStore(t))
	})

	t.Run("Ping", func(t *testing.T) {
		if err := newStore(t).Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// verifyCase is one Verify of a fresh pending challenge c (3 attempts, 5
// minutes) of its own identity. Unset hooks mean: no prior state, c's
// binding, c's own hash, now. Without id the case runs twice, by c.ID and
// through the active pointer.
type verifyCase struct {
	name   string
	create func(c *challenge.Challenge)                                      // before Create
	spoil  func(t *testing.T, s Store, c challenge.Challenge, now time.Time) // after Create
	id     func(c challenge.Challenge) string
	bind   func(c challenge.Challenge) challenge.Binding
	sum    func(c challenge.Challenge) []byte
	at     func(c challenge.Challenge, now time.Time) time.Time
	// pass asks for a gate pass of c's identity (passOther: of another one).
	pass, passOther bool
	// banKey sets BanKey to c's identity's regulation key; banned bans it
	// first.
	banKey, banned bool

	wantOut      challenge.Outcome // 0 with wantNotFound or wantErr
	wantNotFound bool
	wantErr      bool // an error other than ErrNotFound
	// c as stored afterwards.
	wantState    challenge.State
	wantAttempts int
}

func verifyCases() []verifyCase {
	wrongLast := func(c challenge.Challenge) []byte {
		sum := append([]byte(nil), c.CodeHash...)
		sum[len(sum)-1] ^= 1
		return sum
	}
	wrongFirst := func(c challenge.Challenge) []byte {
		sum := append([]byte(nil), c.CodeHash...)
		sum[0] ^= 0x80
		return sum
	}
	byID := func(c challenge.Challenge) string { return c.ID }
	wrongs := func(n int) func(t *testing.T, s Store, c challenge.Challenge, now time.Time) {
		return func(t *testing.T, s Store, c challenge.Challenge, now time.Time) {
			for range n {
				if _, err := s.Verify(context.Background(), Req(c, false, now)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	pending, verified, locked := challenge.StatePending, challenge.StateVerified, challenge.StateLocked
	return []verifyCase{
		{name: "right code", wantOut: challenge.OutcomeVerified, wantState: verified, wantAttempts: 1},
		{name: "right code with pass", pass: true, wantOut: challenge.OutcomeVerified, wantState: verified, wantAttempts: 1},
		{name: "right code, ban key, no ban", banKey: true, pass: true, wantOut: challenge.OutcomeVerified, wantState: verified, wantAttempts: 1},
		{name: "right code after a wrong one", spoil: wrongs(1), wantOut: challenge.OutcomeVerified, wantState: verified, wantAttempts: 2},
		{name: "wrong: last byte", sum: wrongLast, pass: true, wantOut: challenge.OutcomeWrong, wantState: pending, wantAttempts: 1},
		{name: "wrong: first byte", sum: wrongFirst, wantOut: challenge.OutcomeWrong, wantState: pending, wantAttempts: 1},
		{name: "wrong: a prefix of the hash", sum: func(c challenge.Challenge) []byte { return c.CodeHash[:len(c.CodeHash)-1] },
			wantOut: challenge.OutcomeWrong, wantState: pending, wantAttempts: 1},
		{name: "wrong: the hash and more", sum: func(c challenge.Challenge) []byte { return append(append([]byte(nil), c.CodeHash...), 0) },
			wantOut: challenge.OutcomeWrong, wantState: pending, wantAttempts: 1},
		{name: "wrong: empty sum", sum: func(challenge.Challenge) []byte { return nil }, wantOut: challenge.OutcomeWrong, wantState: pending, wantAttempts: 1},
		{name: "wrong: no hash stored, empty sum", create: func(c *challenge.Challenge) { c.CodeHash = nil },
			sum: func(challenge.Challenge) []byte { return nil }, wantOut: challenge.OutcomeWrong, wantState: pending, wantAttempts: 1},
		{name: "wrong to locked", spoil: wrongs(2), sum: wrongLast, pass: true, wantOut: challenge.OutcomeLocked, wantState: locked, wantAttempts: 3},
		{name: "used", spoil: func(t *testing.T, s Store, c challenge.Challenge, now time.Time) {
			mustVerify(t, s, c, true, now, challenge.OutcomeVerified)
		}, pass: true, wantOut: challenge.OutcomeUsed, wantState: verified, wantAttempts: 1},
		{name: "exhausted", spoil: wrongs(3), pass: true, wantOut: challenge.OutcomeExhausted, wantState: locked, wantAttempts: 3},
		{name: "exhausted while pending", create: func(c *challenge.Challenge) { c.Attempts = c.MaxAttempts },
			wantOut: challenge.OutcomeExhausted, wantState: locked, wantAttempts: 3},
		{name: "expired at ExpiresAt", at: func(c challenge.Challenge, _ time.Time) time.Time { return c.ExpiresAt }, pass: true,
			wantOut: challenge.OutcomeExpired, wantState: challenge.StateExpired},
		{name: "expired stays expired", spoil: func(t *testing.T, s Store, c challenge.Challenge, _ time.Time) {
			mustVerify(t, s, c, false, c.ExpiresAt.Add(time.Millisecond), challenge.OutcomeExpired)
		}, wantOut: challenge.OutcomeExpired, wantState: challenge.StateExpired},
		{name: "superseded", id: byID, spoil: func(t *testing.T, s Store, c challenge.Challenge, now time.Time) {
			mustCreate(t, s, New(c.Binding(), now, 5*time.Minute), c.ID, now, true)
		}, pass: true, wantOut: challenge.OutcomeSuperseded, wantState: challenge.StateSuperseded},
		{name: "not found: never created", id: func(c challenge.Challenge) string { return challenge.NewID(c.Binding()) },
			wantNotFound: true, wantState: pending},
		{name: "not found: malformed id", id: func(challenge.Challenge) string { return "not-an-id" }, wantNotFound: true, wantState: pending},
		{name: "not found: no active challenge of the flow", id: func(challenge.Challenge) string { return "" },
			bind: func(c challenge.Challenge) challenge.Binding {
				return Binding(c.Purpose, c.IdentityID, c.FlowID+"-other")
			},
			wantNotFound: true, wantState: pending},
		{name: "id of another identity's tag", id: byID,
			bind: func(c challenge.Challenge) challenge.Binding {
				return Binding(c.Purpose, "other-"+c.IdentityID, c.FlowID)
			},
			wantNotFound: true, wantState: pending},
		{name: "binding mismatch: other flow", id: byID,
			bind: func(c challenge.Challenge) challenge.Binding {
				return Binding(c.Purpose, c.IdentityID, c.FlowID+"-other")
			},
			wantNotFound: true, wantState: pending},
		{name: "binding mismatch: other purpose", id: byID,
			bind: func(c challenge.Challenge) challenge.Binding {
				return Binding(challenge.PurposeStepUp, c.IdentityID, c.FlowID)
			},
			wantNotFound: true, wantState: pending},
		{name: "banned", banned: true, pass: true, wantOut: challenge.OutcomeBanned, wantState: pending},
		{name: "banned, wrong code", banned: true, sum: wrongLast, wantOut: challenge.OutcomeBanned, wantState: pending},
		{name: "banned, unknown id", banned: true, id: func(c challenge.Challenge) string { return challenge.NewID(c.Binding()) },
			wantOut: challenge.OutcomeBanned, wantState: pending},
		{name: "banned, id of another binding", banned: true, id: func(challenge.Challenge) string { return "not-an-id" },
			wantOut: challenge.OutcomeBanned, wantState: pending},
		{name: "pass for another identity", passOther: true, wantErr: true, wantState: pending},
		{name: "pass for another identity, wrong code", passOther: true, sum: wrongLast, wantErr: true, wantState: pending},
	}
}

func runVerifyCases(t *testing.T, s Store) {
	ctx := context.Background()
	for _, tc := range verifyCases() {
		modes := []string{"by id", "active"}
		if tc.id != nil {
			modes = []string{"once"}
		}
		for _, mode := range modes {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				now := msNow()
				c := New(Bind("verify"), now, 5*time.Minute)
				if tc.create != nil {
					tc.create(&c)
				}
				mustCreate(t, s, c, "", now, true)
				if tc.spoil != nil {
					tc.spoil(t, s, c, now)
				}
				req := challenge.VerifyRequest{ID: c.ID, Binding: c.Binding(), Sum: c.CodeHash, Now: now}
				switch {
				case tc.id != nil:
					req.ID = tc.id(c)
				case mode == "active":
					req.ID = ""
				}
				if tc.bind != nil {
					req.Binding = tc.bind(c)
				}
				if tc.sum != nil {
					req.Sum = tc.sum(c)
				}
				if tc.at != nil {
					req.Now = tc.at(c, now)
				}
				authAt := now.Add(-time.Minute)
				switch {
				case tc.pass:
					req.Pass = &challenge.Pass{IdentityID: c.IdentityID, AuthenticatedAt: authAt, TTL: time.Hour}
				case tc.passOther:
					req.Pass = &challenge.Pass{IdentityID: "other-" + c.IdentityID, AuthenticatedAt: authAt, TTL: time.Hour}
				}
				var banUntil time.Time
				if tc.banKey || tc.banned {
					req.BanKey = limit.RegulationKey(c.IdentityID)
				}
				if tc.banned {
					var err error
					if banUntil, err = s.Fail(ctx, req.BanKey, time.Minute, 1, time.Hour); err != nil || banUntil.IsZero() {
						t.Fatalf("ban: %v %v", banUntil, err)
					}
				}
				before, err := s.Get(ctx, c.ID)
				if err != nil {
					t.Fatal(err)
				}

				rep, verr := s.Verify(ctx, req)
				switch {
				case tc.wantNotFound:
					if !errors.Is(verr, challenge.ErrNotFound) {
						t.Fatalf("Verify: outcome %s err %v, want ErrNotFound", rep.Outcome, verr)
					}
				case tc.wantErr:
					if verr == nil || errors.Is(verr, challenge.ErrNotFound) {
						t.Fatalf("Verify: outcome %s err %v, want an error", rep.Outcome, verr)
					}
				case verr != nil:
					t.Fatalf("Verify: %v", verr)
				case rep.Outcome != tc.wantOut:
					t.Fatalf("Verify: outcome %s, want %s", rep.Outcome, tc.wantOut)
				case tc.wantOut == challenge.OutcomeBanned:
					if rep.BannedUntil.Sub(banUntil).Abs() > time.Second || rep.Challenge.ID != "" {
						t.Fatalf("banned: until %v (want %v), challenge %q (want none)", rep.BannedUntil, banUntil, rep.Challenge.ID)
					}
				default:
					if !rep.BannedUntil.IsZero() {
						t.Fatalf("BannedUntil %v without a ban", rep.BannedUntil)
					}
				}

				after, err := s.Get(ctx, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				if after.State != tc.wantState || after.Attempts != tc.wantAttempts {
					t.Fatalf("stored after: state %q attempts %d, want %q %d", after.State, after.Attempts, tc.wantState, tc.wantAttempts)
				}
				if verr == nil && tc.wantOut != challenge.OutcomeBanned {
					// The reply is the challenge as stored after the step.
					assertEqual(t, rep.Challenge, after)
				}
				want := before
				want.State, want.Attempts = after.State, after.Attempts
				if tc.wantOut == challenge.OutcomeVerified {
					want.VerifiedAt = req.Now
				}
				assertEqual(t, after, want)
				if req.Pass != nil {
					claimed := mustClaim(t, s, req.Pass.IdentityID, authAt, time.Second, "s1")
					if wantPass := tc.wantOut == challenge.OutcomeVerified; claimed != wantPass {
						t.Fatalf("gate pass claimed = %v, want %v", claimed, wantPass)
					}
				}
			})
		}
	}
}

// active reads b's active challenge through Lookup.
func active(s Store, b challenge.Binding) (challenge.Challenge, error) {
	c, _, err := s.Lookup(context.Background(), challenge.LookupRequest{Binding: b})
	return c, err
}

// Binding builds a binding.
func Binding(p challenge.Purpose, identityID, flowID string) challenge.Binding {
	return challenge.Binding{Purpose: p, IdentityID: identityID, FlowID: flowID}
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

func mustCreate(t *testing.T, s Store, c challenge.Challenge, expectActive string, now time.Time, wantCreated bool) {
	t.Helper()
	got, created, err := s.Create(context.Background(), c, expectActive, now)
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

// Req is a verify of c by ID at now with c's own code hash (matched) or
// one that differs in its last byte.
func Req(c challenge.Challenge, matched bool, now time.Time) challenge.VerifyRequest {
	return ReqPass(c, matched, now, nil)
}

// ReqPass is Req recording the gate pass p when the code matches.
func ReqPass(c challenge.Challenge, matched bool, now time.Time, p *challenge.Pass) challenge.VerifyRequest {
	sum := append([]byte(nil), c.CodeHash...)
	if !matched {
		sum[len(sum)-1] ^= 0xff
	}
	return challenge.VerifyRequest{ID: c.ID, Binding: c.Binding(), Sum: sum, Now: now, Pass: p}
}

func mustVerify(t *testing.T, s Store, c challenge.Challenge, matched bool, now time.Time, want challenge.Outcome) challenge.Challenge {
	t.Helper()
	got := mustVerifyPass(t, s, c, matched, now, nil, want)
	if got.ID != c.ID {
		t.Fatalf("Verify returned challenge %q, want %q", got.ID, c.ID)
	}
	return got
}

func mustVerifyPass(t *testing.T, s Store, c challenge.Challenge, matched bool, now time.Time, p *challenge.Pass, want challenge.Outcome) challenge.Challenge {
	t.Helper()
	rep, err := s.Verify(context.Background(), ReqPass(c, matched, now, p))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != want {
		t.Fatalf("Verify(matched=%v, pass): outcome %s, want %s", matched, rep.Outcome, want)
	}
	return rep.Challenge
}

func mustClaim(t *testing.T, s Store, identityID string, at time.Time, tolerance time.Duration, sessionID string) bool {
	t.Helper()
	_, ok := mustClaimNumber(t, s, identityID, at, tolerance, sessionID)
	return ok
}

// mustClaimNumber claims and returns the number the pass's call went to.
func mustClaimNumber(t *testing.T, s Store, identityID string, at time.Time, tolerance time.Duration, sessionID string) (string, bool) {
	t.Helper()
	num, ok, err := s.ClaimPass(context.Background(), identityID, []time.Time{at}, tolerance, sessionID)
	if err != nil {
		t.Fatal(err)
	}
	if !ok && num != "" {
		t.Fatalf("a refused claim returned the number %q", num)
	}
	return num, ok
}

// concurrentVerifies sends req n times at once and counts the outcomes.
func concurrentVerifies(t *testing.T, s Store, req challenge.VerifyRequest, n int) map[challenge.Outcome]int {
	t.Helper()
	counts := map[challenge.Outcome]int{}
	for _, rep := range verifyAtOnce(t, s, slices.Repeat([]challenge.VerifyRequest{req}, n)) {
		counts[rep.Outcome]++
	}
	return counts
}

// verifyAtOnce sends every request at the same moment and returns the
// replies (in no particular order); any error fails the test.
func verifyAtOnce(t *testing.T, s Store, reqs []challenge.VerifyRequest) []challenge.VerifyReply {
	t.Helper()
	var mu sync.Mutex
	var reps []challenge.VerifyReply
	var errs []error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, req := range reqs {
		wg.Go(func() {
			<-start
			rep, err := s.Verify(context.Background(), req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			reps = append(reps, rep)
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d verifies failed, first: %v", len(errs), errs[0])
	}
	return reps
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
