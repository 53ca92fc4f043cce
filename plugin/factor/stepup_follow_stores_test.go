package factor_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
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
				const grace = 50 * time.Millisecond
				f, svc, prov := stepUpOn(t, store, grace, func(cfg *challenge.Config) {
					cfg.TTL = time.Second
					cfg.ResendCooldowns = []time.Duration{time.Millisecond, time.Hour}
				})
				ctx := context.Background()
				creds := factor.Creds{SessionToken: "t"}
				a, err := f.StepUpStart(ctx, creds, false, "")
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(500 * time.Millisecond)
				b, err := f.StepUpStart(ctx, creds, true, "")
				if err != nil || b.ID == a.ID {
					t.Fatalf("tab B's call: %+v, %v", b, err)
				}
				if dropped {
					// a expired 1 s after its start and is dropped 50 ms
					// later; b is on until 1.5 s.
					time.Sleep(650 * time.Millisecond)
					if _, err := svc.Get(ctx, a.ID); err == nil {
						t.Fatal("the replaced challenge is still kept")
					}
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

// stepUpOn is a step-up factor on a fresh store ("memory" or a real
// "redis"; grace, when not 0, is how long a replaced challenge is kept past
// its expiry) for one session of ident-1 with a Russian number, its
// challenge service tuned by tune, calling through a seqProvider.
func stepUpOn(t *testing.T, store string, grace time.Duration, tune func(*challenge.Config)) (*factor.Service, *challenge.Service, *seqProvider) {
	t.Helper()
	f, svc, prov, _ := stepUpOnSessions(t, store, grace, tune)
	return f, svc, prov
}

// stepUpOnSessions is stepUpOn that also returns the sessions the factor
// reads, for a test to change the session's traits.
func stepUpOnSessions(t *testing.T, store string, grace time.Duration, tune func(*challenge.Config)) (*factor.Service, *challenge.Service, *seqProvider, *countingSessions) {
	t.Helper()
	var st interface {
		challenge.Store
		limit.Counter
		limit.Blocks
		factor.PassStore
	}
	if store == "memory" {
		var opts []memory.Option
		if grace > 0 {
			opts = append(opts, memory.WithGrace(grace))
		}
		mem := memory.New(time.Hour, opts...)
		t.Cleanup(func() { _ = mem.Close() })
		st = mem
	} else {
		var opts []redisstore.Option
		if grace > 0 {
			opts = append(opts, redisstore.WithGrace(grace))
		}
		rdb := redis.NewClient(&redis.Options{Addr: testenv.StartRedis(t).Addr})
		t.Cleanup(func() { _ = rdb.Close() })
		st = redisstore.New(rdb, "cp:", opts...)
	}
	lim, err := limit.New(limit.DefaultConfig(), st, st, limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = []byte("kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk")
	if tune != nil {
		tune(&cfg)
	}
	prov := &seqProvider{}
	svc, err := challenge.NewService(cfg, st, prov, lim, challenge.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	now := time.Now()
	sessions := &countingSessions{s: &kratos.Session{ID: "sess-1", IdentityID: "ident-1", Active: true,
		AuthenticatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), Traits: map[string]any{"phone": "+79001112233"}}}
	f, err := factor.New(factor.Config{}, factor.Deps{Numbers: phonetest.Hasher(), Challenges: svc, Passes: st,
		Sessions: sessions, Issuer: testIssuer(t)})
	if err != nil {
		t.Fatal(err)
	}
	return f, svc, prov, sessions
}
