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
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// pausingStore is a real store that runs a hook once, after one of the
// operations a start makes ("lookup", "lease" or "take") answered: another
// tab's request lands at that point of the start.
type pausingStore struct {
	fullStore
	at   string
	mu   sync.Mutex
	hook func()
	// retireErr, when set, is what Retire answers (a store failing then);
	// with retireLost, after the retire ran (its answer lost on the way).
	retireErr  error
	retireLost bool
}

func (p *pausingStore) Retire(ctx context.Context, b challenge.Binding, id string, now time.Time) (challenge.Challenge, bool, error) {
	p.mu.Lock()
	err, lost := p.retireErr, p.retireLost
	p.mu.Unlock()
	if err == nil {
		return p.fullStore.Retire(ctx, b, id, now)
	}
	if lost {
		_, _, _ = p.fullStore.Retire(ctx, b, id, now)
	}
	return challenge.Challenge{}, false, err
}

func (p *pausingStore) fire(op string) {
	p.mu.Lock()
	h := p.hook
	if op != p.at {
		h = nil
	}
	if h != nil {
		p.hook = nil
	}
	p.mu.Unlock()
	if h != nil {
		h()
	}
}

func (p *pausingStore) LookupAndCheck(ctx context.Context, req challenge.LookupRequest, checks []limit.Take) (challenge.CheckedLookup, error) {
	out, err := p.fullStore.LookupAndCheck(ctx, req, checks)
	p.fire("lookup")
	return out, err
}

func (p *pausingStore) LeaseStart(ctx context.Context, b challenge.Binding, token string, ttl time.Duration) (bool, string, error) {
	taken, active, err := p.fullStore.LeaseStart(ctx, b, token, ttl)
	p.fire("lease")
	return taken, active, err
}

func (p *pausingStore) Take(ctx context.Context, takes []limit.Take) (limit.TakeResult, error) {
	res, err := p.fullStore.Take(ctx, takes)
	p.fire("take")
	return res, err
}

// watchingProvider places numbered calls (code 1000+n), running onCall
// as each call is placed, and failing with fail when it is set.
type watchingProvider struct {
	mu     sync.Mutex
	calls  int
	fail   error
	noCode bool
	onCall func()
}

func (p *watchingProvider) Name() string { return "watch" }
func (p *watchingProvider) StartCall(context.Context, phone.Number) (flashcall.Call, error) {
	p.mu.Lock()
	on, fail, noCode := p.onCall, p.fail, p.noCode
	p.mu.Unlock()
	if on != nil {
		on()
	}
	if fail != nil {
		return flashcall.Call{}, fail
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	c := flashcall.Call{ID: fmt.Sprint("call-", p.calls), Code: fmt.Sprint(1000 + p.calls), Status: flashcall.Classify("NO_ANSWER")}
	if noCode {
		c.Code = ""
	}
	return c, nil
}
func (p *watchingProvider) CallStatus(context.Context, string, phone.Number) (flashcall.Status, error) {
	return flashcall.Classify("NO_ANSWER"), nil
}
func (p *watchingProvider) placed() int { p.mu.Lock(); defer p.mu.Unlock(); return p.calls }

// raceStepUpOn is a step-up factor on a fresh store ("memory" or a real
// "redis") wrapped in a pausingStore, calling through a watchingProvider,
// for ident-1's session sess-1 (stepUpSession); a new call is allowed 1 ms
// after the last.
func raceStepUpOn(t *testing.T, store string) (*factor.Service, *challenge.Service, *pausingStore, *watchingProvider) {
	t.Helper()
	ps := &pausingStore{fullStore: storeOn(t, store, "", "cp:", 0)}
	prov := &watchingProvider{}
	f, svc := wire(t, wiring{store: ps, prov: prov,
		tune: func(cfg *challenge.Config) { cfg.ResendCooldowns = []time.Duration{time.Millisecond} },
		deps: factor.Deps{Sessions: &countingSessions{s: stepUpSession(time.Now())}, Issuer: testIssuer(t)}})
	return f, svc, ps, prov
}

// startPastCooldown starts the session's step-up (X, its code 1001, by a
// watchingProvider) and waits out the 1 ms resend cooldown.
func startPastCooldown(t *testing.T, f *factor.Service) factor.ChallengeView {
	t.Helper()
	x, err := f.StepUpStart(context.Background(), factor.Creds{SessionToken: "t"}, false, "")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // past the resend cooldown
	return x
}

// checkXAfter checks that X (x) is in state want with nothing counted, and
// that code, typed on X's page, confirms the challenge wantID.
func checkXAfter(t *testing.T, f *factor.Service, svc *challenge.Service, x string, want challenge.State, code, wantID string) {
	t.Helper()
	ctx := context.Background()
	if got, err := svc.Get(ctx, x); err != nil || got.State != want || got.Attempts != 0 {
		t.Fatalf("X after: %s with %d attempts, %v; want %s, nothing counted", got.State, got.Attempts, err, want)
	}
	out, err := f.StepUpVerify(ctx, factor.Creds{SessionToken: "t"}, x, code, factor.TokenOptions{})
	if err != nil || out.Challenge.ID != wantID || out.Token.AccessToken == "" {
		t.Fatalf("code %s on X's page: %+v, %v; want %s confirmed", code, out.Challenge, err, wantID)
	}
}

// TestStepUpResendPlacesNoCallAfterConfirmation: tab A presses "call me
// again" on challenge X while tab B's right code for X lands at any point
// of A's start (after its lookup, after it took the start lease, after it
// took the limits). No call may be placed once X's confirmation is visible
// in the store: either B's code confirms X first and A places no call (its
// page shows X confirmed), or A's start took X out of use first, B's code
// counts nothing ("expired") and A's new call replaces X. Checking X and
// then placing the call let a confirmation land in between (a paid call for
// a session that had passed). On the memory store and a real Redis.
func TestStepUpResendPlacesNoCallAfterConfirmation(t *testing.T) {
	tests := []struct {
		at string
		// wantConfirmed: B's code confirms X and A places no call; else
		// B's code is refused as expired and A's call replaces X.
		wantConfirmed bool
	}{
		{"lookup", true},
		{"lease", true},
		{"take", false},
	}
	for _, store := range []string{"memory", "redis"} {
		for _, tt := range tests {
			t.Run(store+"/"+tt.at, func(t *testing.T) {
				f, svc, ps, prov := raceStepUpOn(t, store)
				ctx := context.Background()
				creds := factor.Creds{SessionToken: "t"}
				x := startPastCooldown(t, f)
				var bOut factor.VerifyOutput
				var bErr error
				ps.mu.Lock()
				ps.at, ps.hook = tt.at, func() {
					bOut, bErr = f.StepUpVerify(ctx, creds, x.ID, "1001", factor.TokenOptions{})
				}
				ps.mu.Unlock()
				var xAtCall challenge.State
				prov.mu.Lock()
				prov.onCall = func() {
					c, err := svc.Get(ctx, x.ID)
					if err != nil {
						t.Errorf("X at the call: %v", err)
					}
					xAtCall = c.State
				}
				prov.mu.Unlock()

				v, err := f.StepUpResend(ctx, creds, x.ID, "")
				if err != nil {
					t.Fatalf("A's call me again: %v", err)
				}
				if xAtCall == challenge.StateVerified {
					t.Fatal("A's call was placed after B's code had confirmed X: a paid call for a session that passed")
				}
				if tt.wantConfirmed {
					if bErr != nil || bOut.Token.AccessToken == "" {
						t.Fatalf("B's code: %+v, %v; want X confirmed", bOut.Challenge, bErr)
					}
					if v.ID != x.ID || v.State != string(challenge.StateVerified) || prov.placed() != 1 {
						t.Fatalf("A's page: %s %s after %d calls; want X %s confirmed, no second call", v.ID, v.State, prov.placed(), x.ID)
					}
					return
				}
				if !errors.Is(bErr, challenge.ErrExpired) || bOut.Token.AccessToken != "" {
					t.Fatalf("B's code during A's start: %+v, %v; want refused as expired", bOut.Challenge, bErr)
				}
				if v.ID == x.ID || v.State != string(challenge.StatePending) || prov.placed() != 2 {
					t.Fatalf("A's page: %s %s after %d calls; want a new pending challenge", v.ID, v.State, prov.placed())
				}
				// The new call's code, typed in B (still naming X), confirms.
				checkXAfter(t, f, svc, x.ID, challenge.StateSuperseded, "1002", v.ID)
			})
		}
	}
}

// TestStepUpResendNotPlacedKeepsTheChallenge: the challenge a "call me
// again" takes out of use before its call is given back when no call is
// placed (the provider refuses, answers without a code, or the store fails
// the retire, when no call is placed at all, even if the retire ran and only
// its answer was lost): the user's code for it still confirms, nothing
// counted.
func TestStepUpResendNotPlacedKeepsTheChallenge(t *testing.T) {
	tests := []struct {
		name    string
		break_  func(ps *pausingStore, prov *watchingProvider)
		wantErr error
	}{
		{"provider refuses", func(_ *pausingStore, prov *watchingProvider) {
			prov.fail = fmt.Errorf("test: %w", flashcall.ErrInsufficientBalance)
		}, flashcall.ErrInsufficientBalance},
		{"provider gives no code", func(_ *pausingStore, prov *watchingProvider) { prov.noCode = true }, flashcall.ErrBadResponse},
		{"store fails the retire", func(ps *pausingStore, _ *watchingProvider) {
			ps.retireErr = errors.New("test: connection reset")
		}, challenge.ErrStoreUnavailable},
		{"the retire's answer is lost", func(ps *pausingStore, _ *watchingProvider) {
			ps.retireErr, ps.retireLost = errors.New("test: i/o timeout"), true
		}, challenge.ErrStoreUnavailable},
	}
	for _, store := range []string{"memory", "redis"} {
		for _, tt := range tests {
			t.Run(store+"/"+tt.name, func(t *testing.T) {
				f, svc, ps, prov := raceStepUpOn(t, store)
				x := startPastCooldown(t, f)
				ps.mu.Lock()
				prov.mu.Lock()
				tt.break_(ps, prov)
				prov.mu.Unlock()
				ps.mu.Unlock()
				placedBefore := prov.placed()
				if _, err := f.StepUpResend(context.Background(), factor.Creds{SessionToken: "t"}, x.ID, ""); !errors.Is(err, tt.wantErr) {
					t.Fatalf("call me again: %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr == challenge.ErrStoreUnavailable && prov.placed() != placedBefore {
					t.Fatal("a call was placed although the store could not say whether X was confirmed")
				}
				checkXAfter(t, f, svc, x.ID, challenge.StatePending, "1001", x.ID)
			})
		}
	}
}

// TestStepUpStartDuringAFailedResendPlacesNoCall: tab B asks for the
// session's challenge (a "call me" without resend) while tab A's "call me
// again" has X taken out of use for its call, and A's call then fails, so
// X is given back. B read X as superseded and waited for A's start to end;
// it must then show X, live again, and place no call: a call of its own
// would find X pending and be wasted (the user gets two calls, the second
// one's digits refused).
func TestStepUpStartDuringAFailedResendPlacesNoCall(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			f, svc, ps, prov := raceStepUpOn(t, store)
			ctx := context.Background()
			creds := factor.Creds{SessionToken: "t"}
			x := startPastCooldown(t, f)
			looked := make(chan struct{})
			type result struct {
				v   factor.ChallengeView
				err error
			}
			bDone := make(chan result, 1)
			var once sync.Once
			prov.mu.Lock()
			prov.fail = fmt.Errorf("test: %w", flashcall.ErrInsufficientBalance)
			prov.onCall = func() {
				once.Do(func() {
					// A's call is being placed, X retired: B starts now.
					ps.mu.Lock()
					ps.at, ps.hook = "lookup", func() { close(looked) }
					ps.mu.Unlock()
					go func() {
						v, err := f.StepUpStart(ctx, creds, false, "")
						bDone <- result{v, err}
					}()
					select {
					case <-looked:
					case <-time.After(time.Minute): // a guard: B's lookup comes at once
						t.Error("B's start made no lookup")
					}
					prov.mu.Lock()
					prov.fail = nil // B's call, if any, would go out
					prov.mu.Unlock()
				})
			}
			prov.mu.Unlock()
			if _, err := f.StepUpResend(ctx, creds, x.ID, ""); !errors.Is(err, flashcall.ErrInsufficientBalance) {
				t.Fatalf("A's call me again: %v, want the provider's refusal", err)
			}
			var b result
			select {
			case b = <-bDone:
			case <-time.After(time.Minute): // a guard: B's start ends with A's
				t.Fatal("B's start did not end")
			}
			if b.err != nil || b.v.ID != x.ID || b.v.State != string(challenge.StatePending) || prov.placed() != 1 {
				t.Fatalf("B: %s %s, %v after %d calls; want X %s pending, no second call", b.v.ID, b.v.State, b.err, prov.placed(), x.ID)
			}
			if got, err := svc.Get(ctx, x.ID); err != nil || got.State != challenge.StatePending {
				t.Fatalf("X after: %s, %v", got.State, err)
			}
		})
	}
}

// TestStepUpFollowDuringAResend: tab B's /2fa page (a reload, the language
// switch) names X while tab A's "call me again" has X taken out of use for
// its call. B showed X as it was then, superseded: "The code has expired.
// Ask for a new call." over a call that was on its way. B now waits for A's
// start and shows its call, or X given back when that call is not placed.
func TestStepUpFollowDuringAResend(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		for _, placed := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/placed=%v", store, placed), func(t *testing.T) {
				f, _, ps, prov := raceStepUpOn(t, store)
				ctx := context.Background()
				creds := factor.Creds{SessionToken: "t"}
				x := startPastCooldown(t, f)
				type result struct {
					v   factor.ChallengeView
					err error
				}
				bDone := make(chan result, 1)
				var once sync.Once
				prov.mu.Lock()
				if !placed {
					prov.fail = fmt.Errorf("test: %w", flashcall.ErrInsufficientBalance)
				}
				prov.onCall = func() {
					once.Do(func() {
						// A's call is being placed, X retired: B's page now.
						waiting := make(chan struct{})
						ps.mu.Lock()
						ps.at, ps.hook = "lease", func() { close(waiting) }
						ps.mu.Unlock()
						go func() {
							v, err := f.StepUpFollow(ctx, creds, x.ID)
							bDone <- result{v, err}
						}()
						select {
						case <-waiting: // B waits for A's start
						case b := <-bDone: // B answered while A's call was held
							bDone <- b
						case <-time.After(time.Minute): // a guard: B comes at once
							t.Error("B's page neither answered nor waited")
						}
					})
				}
				prov.mu.Unlock()
				v, err := f.StepUpResend(ctx, creds, x.ID, "")
				want, calls := v.ID, 2
				if !placed {
					if !errors.Is(err, flashcall.ErrInsufficientBalance) {
						t.Fatalf("A's call me again: %v, want the provider's refusal", err)
					}
					want, calls = x.ID, 1
				} else if err != nil || v.ID == x.ID {
					t.Fatalf("A's call me again: %s, %v; want a new challenge", v.ID, err)
				}
				var b result
				select {
				case b = <-bDone:
				case <-time.After(time.Minute): // a guard: B's page ends with A's start
					t.Fatal("B's page did not answer")
				}
				if b.err != nil || b.v.ID != want || b.v.State != string(challenge.StatePending) || prov.placed() != calls {
					t.Fatalf("B's page: %s %s, %v after %d calls; want %s pending (X %s), %d calls",
						b.v.ID, b.v.State, b.err, prov.placed(), want, x.ID, calls)
				}
			})
		}
	}
}
