package factor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// seqProvider places calls whose codes are 1001, 1002, … (one per call).
type seqProvider struct {
	mu    sync.Mutex
	calls int
}

func (p *seqProvider) Name() string { return "seq" }
func (p *seqProvider) StartCall(context.Context, phone.Number) (flashcall.Call, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	return flashcall.Call{ID: fmt.Sprint("call-", p.calls), Code: p.code(p.calls), Status: flashcall.Classify("NO_ANSWER")}, nil
}
func (p *seqProvider) CallStatus(context.Context, string, phone.Number) (flashcall.Status, error) {
	return flashcall.Classify("NO_ANSWER"), nil
}
func (*seqProvider) code(n int) string { return fmt.Sprint(1000 + n) }

// TestStepUpTwoTabsFollowTheSessionsChallenge: a session has one step-up
// challenge at a time, so a new call asked for in one tab (B) replaces the
// challenge another tab (A) still shows. A's form then posts the replaced
// challenge's id: its code is checked against the session's current
// challenge (same session, same purpose), and the answer names that
// challenge, so A follows it. The attempt is counted on the current
// challenge only: one attempt is one attempt against one challenge, however
// the ids are mixed. A's refused "call me again" names the current
// challenge too. Another session's replaced id finds nothing.
func TestStepUpTwoTabsFollowTheSessionsChallenge(t *testing.T) {
	type step struct {
		tab  string // "A": posts the replaced id; "B": the current one
		code string // "current", "replaced", or digits
	}
	tests := []struct {
		name  string
		steps []step
		// the last step's outcome
		wantErr      error
		wantVerified bool
		wantLeft     int // the current challenge's attempts left after
		wantEarlier  bool
	}{
		{"A posts the current call's code", []step{{"A", "current"}}, nil, true, 2, false},
		{"A posts a wrong code: counted on the current challenge", []step{{"A", "9999"}}, &challenge.WrongCodeError{}, false, 2, false},
		{"A posts the replaced call's code: an earlier call's, counted", []step{{"A", "replaced"}}, &challenge.WrongCodeError{}, false, 2, true},
		{"wrong in A then B, then the right code in A", []step{{"A", "9999"}, {"B", "9998"}, {"A", "current"}}, nil, true, 0, false},
		{"attempts mixed across tabs lock the one challenge", []step{{"A", "9999"}, {"B", "9998"}, {"A", "9997"}, {"A", "current"}}, challenge.ErrLocked, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			prov := &seqProvider{}
			// The first resend is allowed at once; the next one waits an hour.
			f, sessions := newStepUpFactor(t, prov, func(c *challenge.Config) {
				c.ResendCooldowns = []time.Duration{time.Millisecond, time.Hour}
			})
			sessions.s = stepUpSession(time.Now())
			creds := factor.Creds{SessionToken: "t"}
			a, err := f.StepUpStart(ctx, creds, false, "10.0.0.1") // tab A: "call me"
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
			b, err := f.StepUpStart(ctx, creds, true, "10.0.0.1") // tab B: "call me again"
			if err != nil || !b.Placed || b.ID == a.ID {
				t.Fatalf("resend in tab B: %+v, %v", b, err)
			}
			var out factor.VerifyOutput
			for i, st := range tt.steps {
				id := b.ID
				if st.tab == "A" {
					id = a.ID
				}
				code := st.code
				switch code {
				case "current":
					code = prov.code(2)
				case "replaced":
					code = prov.code(1)
				}
				out, err = f.StepUpVerify(ctx, creds, id, code, factor.TokenOptions{})
				if i < len(tt.steps)-1 && err == nil {
					t.Fatalf("step %d (%s %s) verified", i, st.tab, st.code)
				}
			}
			switch want := tt.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("verify: %v, want verified", err)
				}
			case *challenge.WrongCodeError:
				var w *challenge.WrongCodeError
				if !errors.As(err, &w) {
					t.Fatalf("verify: %v, want a wrong code", err)
				}
				if w.AttemptsLeft != tt.wantLeft || w.EarlierCall != tt.wantEarlier {
					t.Fatalf("wrong code: %d attempts left, earlier call %v; want %d, %v", w.AttemptsLeft, w.EarlierCall, tt.wantLeft, tt.wantEarlier)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("verify: %v, want %v", err, want)
				}
			}
			if out.Challenge.ID != b.ID {
				t.Fatalf("the answer names challenge %q, want the session's current one %q", out.Challenge.ID, b.ID)
			}
			cur, err := f.StepUpGet(ctx, creds, b.ID)
			if err != nil {
				t.Fatal(err)
			}
			if (cur.State == string(challenge.StateVerified)) != tt.wantVerified || cur.AttemptsLeft != tt.wantLeft {
				t.Fatalf("current challenge: %s with %d attempts left, want verified=%v with %d", cur.State, cur.AttemptsLeft, tt.wantVerified, tt.wantLeft)
			}
			old, err := f.StepUpGet(ctx, creds, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if old.State != string(challenge.StateSuperseded) || old.AttemptsLeft != a.AttemptsLeft {
				t.Fatalf("replaced challenge: %s with %d attempts left, want superseded with %d (untouched)", old.State, old.AttemptsLeft, a.AttemptsLeft)
			}
			if !tt.wantVerified && !errors.Is(tt.wantErr, challenge.ErrLocked) {
				// Tab A's "call me again" waits for the current call's
				// cooldown and names that call, not the replaced one.
				v, err := f.StepUpStart(ctx, creds, true, "10.0.0.1")
				var cd *challenge.CooldownError
				if !errors.As(err, &cd) || v.ID != b.ID || v.State != string(challenge.StatePending) {
					t.Fatalf("resend in tab A: %+v, %v; want a cooldown naming %s", v, err, b.ID)
				}
				if prov.calls != 2 {
					t.Fatalf("%d calls placed, want 2", prov.calls)
				}
			}
		})
	}
}

// TestStepUpReplacedIDOfAnotherSession: a replaced challenge's id posted by
// another session (same identity, another device) reads and counts nothing
// of the session it belongs to. Like an id the store has dropped (which
// cannot be told apart from it), it is followed to the posting session's
// own current challenge, the one its form without an id verifies: the
// other session's call's code is a wrong code there, its own call's
// confirms it. With no challenge of its own, nothing is found.
func TestStepUpReplacedIDOfAnotherSession(t *testing.T) {
	ctx := context.Background()
	prov := &seqProvider{}
	f, sessions := newStepUpFactor(t, prov, func(c *challenge.Config) {
		c.ResendCooldowns = []time.Duration{time.Millisecond, time.Hour}
	})
	s1 := stepUpSession(time.Now())
	s2 := *s1
	s2.ID = "sess-2"
	creds := factor.Creds{SessionToken: "t"}
	sessions.s = s1
	old, err := f.StepUpStart(ctx, creds, false, "")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	theirs, err := f.StepUpStart(ctx, creds, true, "")
	if err != nil {
		t.Fatal(err)
	}
	sessions.s = &s2
	for _, id := range []string{old.ID, theirs.ID} {
		if out, err := f.StepUpVerify(ctx, creds, id, prov.code(2), factor.TokenOptions{}); !errors.Is(err, challenge.ErrNotFound) || out.Challenge.ID != "" {
			t.Fatalf("before the session has a challenge: %+v, %v; want not found", out.Challenge, err)
		}
		if v, err := f.StepUpFollow(ctx, creds, id); !errors.Is(err, challenge.ErrNotFound) || v.ID != "" {
			t.Fatalf("page before the session has a challenge: %+v, %v; want not found", v, err)
		}
	}
	mine, err := f.StepUpStart(ctx, creds, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f.StepUpFollow(ctx, creds, old.ID); err != nil || v.ID != mine.ID {
		t.Fatalf("page naming another session's challenge: %+v, %v; want its own %s", v, err, mine.ID)
	}
	out, err := f.StepUpVerify(ctx, creds, old.ID, prov.code(2), factor.TokenOptions{})
	var w *challenge.WrongCodeError
	if !errors.As(err, &w) || out.Challenge.ID != mine.ID || w.AttemptsLeft != mine.AttemptsLeft-1 {
		t.Fatalf("the other session's code: %+v, %v; want a wrong code on its own %s", out.Challenge, err, mine.ID)
	}
	out, err = f.StepUpVerify(ctx, creds, theirs.ID, prov.code(3), factor.TokenOptions{})
	if err != nil || out.Challenge.ID != mine.ID || out.Token.AccessToken == "" {
		t.Fatalf("its own call's code: %+v, %v; want %s verified", out.Challenge, err, mine.ID)
	}
	sessions.s = s1
	v, err := f.StepUpGet(ctx, creds, theirs.ID)
	if err != nil || v.State != string(challenge.StatePending) || v.AttemptsLeft != theirs.AttemptsLeft {
		t.Fatalf("the other session's challenge after: %+v, %v; want pending, untouched", v, err)
	}
}

// TestStepUpExpiredWithoutNewerCall: a code posted for a challenge that
// expired with no newer call for the session is refused as expired, naming
// that challenge, and counts nothing (following the session's current
// challenge finds the same one).
func TestStepUpExpiredWithoutNewerCall(t *testing.T) {
	ctx := context.Background()
	prov := &seqProvider{}
	f, sessions := newStepUpFactor(t, prov, func(c *challenge.Config) { c.TTL = 50 * time.Millisecond })
	sessions.s = stepUpSession(time.Now())
	creds := factor.Creds{SessionToken: "t"}
	a, err := f.StepUpStart(ctx, creds, false, "")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond)
	out, err := f.StepUpVerify(ctx, creds, a.ID, prov.code(1), factor.TokenOptions{})
	if !errors.Is(err, challenge.ErrExpired) || out.Challenge.ID != a.ID || out.Challenge.State != string(challenge.StateExpired) {
		t.Fatalf("verify: %+v, %v; want expired, naming %s", out.Challenge, err, a.ID)
	}
	if out.Challenge.AttemptsLeft != a.AttemptsLeft {
		t.Fatalf("%d attempts left, want %d (nothing counted)", out.Challenge.AttemptsLeft, a.AttemptsLeft)
	}
}

// TestStepUpUsedChallengeFollowsTheNewerOne: tabs A and B show one
// challenge; B confirms it; later a new step-up (tab C) places a new call.
// Its code typed in A, whose form still names the confirmed challenge, is
// tried once against the session's current challenge and confirms it. With
// no newer challenge, a code for the confirmed one is refused as used, and
// nothing is counted.
func TestStepUpUsedChallengeFollowsTheNewerOne(t *testing.T) {
	for _, newer := range []bool{true, false} {
		t.Run(fmt.Sprint("newer call: ", newer), func(t *testing.T) {
			ctx := context.Background()
			prov := &seqProvider{}
			f, sessions := newStepUpFactor(t, prov)
			sessions.s = stepUpSession(time.Now())
			creds := factor.Creds{SessionToken: "t"}
			x, err := f.StepUpStart(ctx, creds, false, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.StepUpVerify(ctx, creds, x.ID, prov.code(1), factor.TokenOptions{}); err != nil {
				t.Fatal(err)
			}
			code, want := prov.code(1), x.ID
			if newer {
				y, err := f.StepUpStart(ctx, creds, false, "")
				if err != nil || !y.Placed {
					t.Fatalf("new step-up: %+v, %v", y, err)
				}
				code, want = prov.code(2), y.ID
			}
			out, err := f.StepUpVerify(ctx, creds, x.ID, code, factor.TokenOptions{})
			if newer && (err != nil || out.Challenge.ID != want || out.Token.AccessToken == "") {
				t.Fatalf("newest code through the confirmed id: %+v, %v; want verified naming %s", out.Challenge, err, want)
			}
			if !newer && (!errors.Is(err, challenge.ErrAlreadyUsed) || out.Challenge.ID != want) {
				t.Fatalf("code again for the confirmed challenge: %+v, %v; want used, naming %s", out.Challenge, err, want)
			}
		})
	}
}

// TestStepUpFollowShowsTheSessionsCurrentChallenge: what a step-up page
// naming a challenge shows (a reload, the language switch). A challenge
// another tab's call replaced shows the session's current one, pending or
// confirmed, as a code posted from that page is tried on it, and so does a
// locked one a new call replaced; a challenge still in force shows itself;
// another session's shows nothing.
func TestStepUpFollowShowsTheSessionsCurrentChallenge(t *testing.T) {
	tests := []struct {
		name      string
		confirmB  bool   // tab B confirms the call that replaced A's
		lockA     bool   // A's challenge is locked before B's call (no replacement then)
		named     string // "A" or "B"
		other     bool   // another session of the identity reads it
		wantID    string // "A" or "B"
		wantState challenge.State
		wantErr   error
	}{
		{name: "replaced, current pending", named: "A", wantID: "B", wantState: challenge.StatePending},
		{name: "replaced, current confirmed", confirmB: true, named: "A", wantID: "B", wantState: challenge.StateVerified},
		{name: "the current one", named: "B", wantID: "B", wantState: challenge.StatePending},
		// Its code field would take the new call's code (StepUpVerify
		// follows it); a locked challenge with no newer call shows itself
		// (TestStepUpTabFollowsPastALockedChallenge).
		{name: "locked, then a new call", lockA: true, named: "A", wantID: "B", wantState: challenge.StatePending},
		{name: "another session's replaced one", named: "A", other: true, wantErr: challenge.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			prov := &seqProvider{}
			f, sessions := newStepUpFactor(t, prov, func(c *challenge.Config) {
				c.ResendCooldowns = []time.Duration{time.Millisecond, time.Hour}
			})
			mine := stepUpSession(time.Now())
			sessions.s = mine
			creds := factor.Creds{SessionToken: "t"}
			a, err := f.StepUpStart(ctx, creds, false, "")
			if err != nil {
				t.Fatal(err)
			}
			if tt.lockA {
				for range a.AttemptsLeft {
					_, _ = f.StepUpVerify(ctx, creds, a.ID, "9999", factor.TokenOptions{})
				}
			}
			time.Sleep(5 * time.Millisecond)
			b, err := f.StepUpStart(ctx, creds, true, "")
			if err != nil || b.ID == a.ID {
				t.Fatalf("tab B's call: %+v, %v", b, err)
			}
			if tt.confirmB {
				if _, err := f.StepUpVerify(ctx, creds, b.ID, prov.code(2), factor.TokenOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.other {
				other := *mine
				other.ID = "sess-2"
				sessions.s = &other
			}
			ids := map[string]string{"A": a.ID, "B": b.ID}
			v, err := f.StepUpFollow(ctx, creds, ids[tt.named])
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || v.ID != "" {
					t.Fatalf("StepUpFollow: %+v, %v; want %v", v, err, tt.wantErr)
				}
				return
			}
			if err != nil || v.ID != ids[tt.wantID] || v.State != string(tt.wantState) {
				t.Fatalf("StepUpFollow(%s): %s %s, %v; want %s %s", tt.named, v.ID, v.State, err, tt.wantID, tt.wantState)
			}
			if prov.calls != 2 {
				t.Fatalf("%d calls, want 2", prov.calls)
			}
		})
	}
}

// TestStepUpResendAfterConfirmation: "call me again" from a page naming a
// challenge places no call when that challenge, or the call that replaced
// it, was confirmed within its code's lifetime: it answers the confirmed
// challenge. A pending current call gets the resend (its cooldown here).
func TestStepUpResendAfterConfirmation(t *testing.T) {
	tests := []struct {
		name      string
		confirm   string // "", "A" (before B's call: none placed then) or "B"
		named     string
		wantID    string
		wantState challenge.State
		wantCalls int
		cooldown  bool
	}{
		{name: "replaced, current confirmed", confirm: "B", named: "A", wantID: "B", wantState: challenge.StateVerified, wantCalls: 2},
		{name: "the current one confirmed", confirm: "B", named: "B", wantID: "B", wantState: challenge.StateVerified, wantCalls: 2},
		{name: "replaced, current pending", named: "A", wantID: "B", wantState: challenge.StatePending, wantCalls: 2, cooldown: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			prov := &seqProvider{}
			f, sessions := newStepUpFactor(t, prov, func(c *challenge.Config) {
				c.ResendCooldowns = []time.Duration{time.Millisecond, time.Hour}
			})
			sessions.s = stepUpSession(time.Now())
			creds := factor.Creds{SessionToken: "t"}
			a, err := f.StepUpStart(ctx, creds, false, "")
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
			b, err := f.StepUpStart(ctx, creds, true, "")
			if err != nil || b.ID == a.ID {
				t.Fatalf("tab B's call: %+v, %v", b, err)
			}
			if tt.confirm == "B" {
				if _, err := f.StepUpVerify(ctx, creds, b.ID, prov.code(2), factor.TokenOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			ids := map[string]string{"A": a.ID, "B": b.ID}
			v, err := f.StepUpResend(ctx, creds, ids[tt.named], "")
			var cd *challenge.CooldownError
			if tt.cooldown != errors.As(err, &cd) || !tt.cooldown && err != nil {
				t.Fatalf("StepUpResend: %v, want cooldown %v", err, tt.cooldown)
			}
			if v.ID != ids[tt.wantID] || v.State != string(tt.wantState) || v.Placed || prov.calls != tt.wantCalls {
				t.Fatalf("StepUpResend(%s): %s %s placed=%v, %d calls; want %s %s, %d calls", tt.named, v.ID, v.State, v.Placed, prov.calls, tt.wantID, tt.wantState, tt.wantCalls)
			}
		})
	}
}
