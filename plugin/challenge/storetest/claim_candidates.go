package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// PassAt records, through a verify as the gate does, a pass for identity
// under authenticated_at at (sessionID "" for a login, set for a step-up).
func PassAt(t *testing.T, s Store, identity, flow string, at time.Time, sessionID string) challenge.Challenge {
	t.Helper()
	return passAtPhone(t, s, identity, flow, at, sessionID, "")
}

// passAtPhone is PassAt for a call to phone ("" keeps New's).
func passAtPhone(t *testing.T, s Store, identity, flow string, at time.Time, sessionID, phone string) challenge.Challenge {
	t.Helper()
	ctx := context.Background()
	now := time.UnixMilli(time.Now().UnixMilli())
	c := New(Binding(challenge.PurposeLogin, identity, flow), now, 5*time.Minute)
	if phone != "" {
		c.Phone = phone
	}
	if _, ok, err := s.Create(ctx, c, "", now); err != nil || !ok {
		t.Fatalf("create: %v %v", ok, err)
	}
	p := &challenge.Pass{IdentityID: identity, AuthenticatedAt: at, SessionID: sessionID, TTL: time.Hour}
	if rep, err := s.Verify(ctx, ReqPass(c, true, now, p)); err != nil || rep.Outcome != challenge.OutcomeVerified {
		t.Fatalf("verify: %v %v", rep.Outcome, err)
	}
	return c
}

// claimAny claims with several candidate times.
func claimAny(t *testing.T, s Store, identity, sessionID string, at ...time.Time) (string, bool) {
	t.Helper()
	num, ok, err := s.ClaimPass(context.Background(), identity, at, time.Second, sessionID)
	if err != nil {
		t.Fatal(err)
	}
	if !ok && num != "" {
		t.Fatalf("a refused claim returned the number %q", num)
	}
	return num, ok
}

// RunClaimCandidates checks that ClaimPass takes several candidate times (a session's
// authenticated_at and its methods' completion times) and binds one pass
// matching one of them, trying them in order: for each, the session's own
// pass first, else an unclaimed one; never one bound to another session.
func RunClaimCandidates(t *testing.T, s Store) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	t.Run("a later candidate finds the pass", func(t *testing.T) {
		id := "id-" + t.Name()
		login := base.Add(826780928 * time.Nanosecond)
		c := PassAt(t, s, id, "f1", login, "")
		moved := login.Add(2132 * time.Millisecond) // authenticated_at after an AAL upgrade
		if num, ok := claimAny(t, s, id, "s1", moved, login.Add(-7*time.Microsecond)); !ok || num != c.Phone {
			t.Fatalf("claim by the second candidate: %q %v, want %q", num, ok, c.Phone)
		}
		if num, ok := claimAny(t, s, id, "s1", moved.Add(time.Minute), moved, login); !ok || num != c.Phone {
			t.Fatalf("the session holding the pass, again: %q %v", num, ok)
		}
		if _, ok := claimAny(t, s, id, "s2", moved, login); ok {
			t.Fatal("another session claimed a pass bound to s1")
		}
	})
	t.Run("no candidate within tolerance", func(t *testing.T) {
		id := "id-" + t.Name()
		login := base.Add(time.Minute)
		PassAt(t, s, id, "f1", login, "")
		if _, ok := claimAny(t, s, id, "s1", login.Add(-1500*time.Millisecond), login.Add(1500*time.Millisecond), login.Add(time.Hour)); ok {
			t.Fatal("a pass was claimed by times 1.5 s away")
		}
		if _, ok := claimAny(t, s, id, "s1"); ok {
			t.Fatal("a pass was claimed with no candidate time")
		}
		if _, ok := claimAny(t, s, "id-other-"+t.Name(), "s1", login); ok {
			t.Fatal("another identity's pass was claimed")
		}
		if _, ok := claimAny(t, s, id, "s2", login.Add(time.Hour), login.Add(900*time.Millisecond)); !ok {
			t.Fatal("the pass, unclaimed by the misses, is not found within tolerance")
		}
	})
	t.Run("the candidates in order, the newest login first", func(t *testing.T) {
		// s1 logged in through the gate, claimed its pass, then logged in
		// again into the same session (a refresh: Kratos moves
		// authenticated_at and adds a method entry), and the gate's call
		// went to the number the identity has now. The token must name that
		// number, not the first call's.
		id := "id-" + t.Name()
		first, second := base.Add(2*time.Minute), base.Add(3*time.Minute)
		passAtPhone(t, s, id, "f1", first, "", "+79000000001")
		if num, ok := claimAny(t, s, id, "s1", first); !ok || num != "+79000000001" {
			t.Fatalf("first claim: %q %v", num, ok)
		}
		passAtPhone(t, s, id, "f2", second, "", "+79000000002")
		for range 2 {
			if num, ok := claimAny(t, s, id, "s1", second, first); !ok || num != "+79000000002" {
				t.Fatalf("after the refresh: %q %v, want the newest call's number", num, ok)
			}
		}
		// After an AAL upgrade the session's own old pass still counts.
		if num, ok := claimAny(t, s, id, "s1", second.Add(time.Minute), first); !ok || num != "+79000000001" {
			t.Fatalf("own pass by an older method time: %q %v", num, ok)
		}
		for _, at := range []time.Time{first, second} {
			if _, ok := claimAny(t, s, id, "s2", at); ok {
				t.Fatal("another session took a pass bound to s1")
			}
		}
	})
	t.Run("one claim binds one pass", func(t *testing.T) {
		id := "id-" + t.Name()
		a, b := base.Add(4*time.Minute), base.Add(5*time.Minute)
		PassAt(t, s, id, "f1", a, "")
		PassAt(t, s, id, "f2", b, "")
		for _, sid := range []string{"s1", "s2"} {
			if _, ok := claimAny(t, s, id, sid, a, b); !ok {
				t.Fatalf("%s: no pass left", sid)
			}
		}
		if _, ok := claimAny(t, s, id, "s3", a, b); ok {
			t.Fatal("a third session claimed one of two passes")
		}
		for _, sid := range []string{"s1", "s2"} {
			if _, ok := claimAny(t, s, id, sid, b, a); !ok {
				t.Fatalf("%s lost its pass", sid)
			}
		}
	})
	t.Run("a step-up pass stays its session's", func(t *testing.T) {
		id := "id-" + t.Name()
		at := base.Add(6 * time.Minute)
		PassAt(t, s, id, "f1", at, "su")
		if _, ok := claimAny(t, s, id, "other", at.Add(time.Minute), at); ok {
			t.Fatal("another session claimed a step-up pass")
		}
		if _, ok := claimAny(t, s, id, "su", at.Add(3*time.Second), at.Add(-5*time.Microsecond)); !ok {
			t.Fatal("the step-up session lost its pass")
		}
	})
}
