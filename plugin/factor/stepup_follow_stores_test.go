package factor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// TestStepUpTabFollowsOnEveryStore: on the memory store and a real Redis,
// a tab naming a challenge another tab's call replaced follows the
// session's current one, while the replaced one is kept and after the
// store dropped it (a short grace here): the page shows the current call,
// its code posted from the tab confirms the session, and the tab's "call
// me again" then places no call.
func TestStepUpTabFollowsOnEveryStore(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		for _, dropped := range []bool{false, true} {
			name := store + "/kept"
			if dropped {
				name = store + "/dropped"
			}
			t.Run(name, func(t *testing.T) {
				// Codes live 2 s, so the replaced one is kept while the tab
				// follows it, however slow the machine, and (dropped) the
				// current one outlives it by a second.
				const ttl, grace = 2 * time.Second, 50 * time.Millisecond
				f, svc, prov := stepUpOn(t, store, grace, func(cfg *challenge.Config) {
					cfg.TTL = ttl
					cfg.ResendCooldowns = []time.Duration{time.Millisecond, time.Hour}
				})
				ctx := context.Background()
				creds := factor.Creds{SessionToken: "t"}
				a, err := f.StepUpStart(ctx, creds, false, "")
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond) // past the first cooldown
				if dropped {
					time.Sleep(ttl / 2)
				}
				b, err := f.StepUpStart(ctx, creds, true, "")
				if err != nil || b.ID == a.ID {
					t.Fatalf("tab B's call: %+v, %v", b, err)
				}
				if dropped {
					// a ends 2 s after its start and is dropped 50 ms later
					// (waited for as an event); b is on for another second.
					waitDropped(t, svc, a.ID)
				} else if _, err := svc.Get(ctx, a.ID); err != nil {
					t.Fatalf("the replaced challenge: %v; want it still kept", err)
				}
				if v, err := f.StepUpFollow(ctx, creds, a.ID); err != nil || v.ID != b.ID || v.State != string(challenge.StatePending) {
					t.Fatalf("tab A's page: %+v, %v; want %s pending", v, err, b.ID)
				}
				out, err := f.StepUpVerify(ctx, creds, a.ID, prov.code(2), factor.TokenOptions{})
				if err != nil || out.Challenge.ID != b.ID || out.Token.AccessToken == "" {
					t.Fatalf("tab A's code: %+v, %v; want %s verified", out.Challenge, err, b.ID)
				}
				v, err := f.StepUpResend(ctx, creds, a.ID, "")
				if err != nil || v.ID != b.ID || v.State != string(challenge.StateVerified) || prov.calls != 2 {
					t.Fatalf("tab A's call me again: %+v, %v, %d calls; want %s verified, no call", v, err, prov.calls, b.ID)
				}
			})
		}
	}
}

// waitDropped waits until the store no longer keeps challenge id, with a
// guard deadline far past any expiry in these tests.
func waitDropped(t *testing.T, svc *challenge.Service, id string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		_, err := svc.Get(context.Background(), id)
		if errors.Is(err, challenge.ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("challenge %s: %v", id, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the replaced challenge is still kept")
		}
	}
}

// stepUpOn is a step-up factor on a fresh store ("memory" or a real
// "redis"; grace, when not 0, is how long a replaced challenge is kept past
// its expiry) for ident-1's session sess-1 (stepUpSession), its challenge
// service tuned by tune, calling through a seqProvider.
func stepUpOn(t *testing.T, store string, grace time.Duration, tune func(*challenge.Config)) (*factor.Service, *challenge.Service, *seqProvider) {
	t.Helper()
	f, svc, prov, _ := stepUpOnSessions(t, store, grace, tune)
	return f, svc, prov
}

// stepUpOnSessions is stepUpOn that also returns the sessions the factor
// reads, for a test to change the session's traits.
func stepUpOnSessions(t *testing.T, store string, grace time.Duration, tune func(*challenge.Config)) (*factor.Service, *challenge.Service, *seqProvider, *countingSessions) {
	t.Helper()
	prov := &seqProvider{}
	sessions := &countingSessions{s: stepUpSession(time.Now())}
	f, svc := wire(t, wiring{store: storeOn(t, store, "", "cp:", grace), prov: prov, tune: tune,
		deps: factor.Deps{Sessions: sessions, Issuer: testIssuer(t)}})
	return f, svc, prov, sessions
}
