package challenge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// TestEarlierCallCode: after a resend, the code of a call it replaced is
// told apart from other wrong codes (the user took an older missed call for
// the newest), still counts as an attempt, and never verifies; only the
// newest call's code does. Only resends to the same number carry codes, and
// at most MaxResends of them.
func TestEarlierCallCode(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *challenge.Config, _ *limit.Config) {
		c.MaxResends, c.TTL, c.MaxAttempts = 3, time.Hour, 5
		c.ResendCooldowns = []time.Duration{time.Second}
	})
	r := req("flow-earlier")
	b := bind(r)
	rs := r
	rs.Resend = true
	var codes []string // every call's code, oldest first
	e.start(t, r)
	codes = append(codes, e.prov.lastCode())
	for range 3 {
		e.clk.Advance(time.Second)
		if res := e.start(t, rs); !res.Placed {
			t.Fatalf("resend placed no call: %+v", res)
		}
		codes = append(codes, e.prov.lastCode())
	}

	verify := func(code string) (challenge.VerifyResult, *challenge.WrongCodeError, error) {
		t.Helper()
		res, err := e.svc.Verify(ctx, b, "", code)
		var we *challenge.WrongCodeError
		errors.As(err, &we)
		return res, we, err
	}
	left := 5
	for i, code := range codes[:3] {
		_, we, err := verify(code)
		left--
		if we == nil || !we.EarlierCall || we.Format || we.AttemptsLeft != left {
			t.Fatalf("code of call %d after three resends: %v (%+v), want an earlier call's code, counted (%d left)", i+1, err, we, left)
		}
	}
	if _, we, err := verify("0000"); we == nil || we.EarlierCall || we.AttemptsLeft != left-1 {
		t.Fatalf("a code of no call: %v (%+v), want a plain wrong code", err, we)
	}
	if _, err := e.svc.Verify(ctx, b, "", codes[3]); err != nil {
		t.Fatalf("the newest call's code: %v", err)
	}
}

// TestEarlierCallCodesPerNumber: one hash per resend; a start for another
// number in the same flow carries none.
func TestEarlierCallCodesPerNumber(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *challenge.Config, _ *limit.Config) {
		c.MaxResends, c.TTL, c.MaxAttempts = 3, time.Hour, 9
		c.ResendCooldowns = []time.Duration{time.Second}
	})
	r := req("flow-cap")
	rs := r
	rs.Resend = true
	e.start(t, r)
	codes := []string{e.prov.lastCode()}
	var last challenge.Challenge
	for range 2 {
		e.clk.Advance(time.Second)
		last = e.start(t, rs).Challenge
		codes = append(codes, e.prov.lastCode())
	}
	st, err := e.svc.Get(ctx, last.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.EarlierCodeHashes); n != 2*32 {
		t.Fatalf("after two resends: %d bytes of earlier hashes, want two hashes", n)
	}

	// The same flow, another number (a settings change): a new challenge
	// that knows none of the old number's codes.
	other := r
	other.Phone = "+79009876543"
	if res := e.start(t, other); !res.Placed || res.Challenge.EarlierCodeHashes != nil {
		t.Fatalf("start for another number: %+v", res)
	}
	var we *challenge.WrongCodeError
	if _, err := e.svc.Verify(ctx, bind(r), "", codes[2]); !errors.As(err, &we) || we.EarlierCall {
		t.Fatalf("the old number's code on the new number's challenge: %v (%+v), want a plain wrong code", err, we)
	}
}
