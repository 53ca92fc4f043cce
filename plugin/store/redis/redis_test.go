package redisstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit/countertest"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

func newClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:         addr,
		DialTimeout:  time.Second,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
		MaxRetries:   -1, // fault tests want the error, not a retry loop
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newStore returns a store with its own prefix on the shared server.
func newStore(t testing.TB, rdb redis.UniversalClient) *redisstore.Store {
	return redisstore.New(rdb, testPrefix(), redisstore.WithGrace(200*time.Millisecond))
}

// testPrefix is a key prefix no other store on a shared server uses.
func testPrefix() string { return "t" + rand.Text()[:8] + ":" }

// ownStore is a store on a redis-server of its own, with its client and
// key prefix, for tests that read the keys it writes.
func ownStore(t *testing.T) (*redisstore.Store, *redis.Client, string) {
	t.Helper()
	rdb := newClient(t, testenv.StartRedis(t).Addr)
	prefix := testPrefix()
	return redisstore.New(rdb, prefix), rdb, prefix
}

// keysUnder lists the keys under prefix.
func keysUnder(t *testing.T, rdb *redis.Client, prefix string) []string {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestChallengeStore(t *testing.T) {
	t.Parallel()
	rdb := newClient(t, testenv.StartRedis(t).Addr)
	storetest.Run(t, func(t *testing.T) storetest.Store { return newStore(t, rdb) })
}

func TestChallengeStoreClocked(t *testing.T) {
	t.Parallel()
	rdb := newClient(t, testenv.StartRedis(t).Addr)
	storetest.RunClocked(t, func(t *testing.T, now func() time.Time) storetest.Store {
		return redisstore.New(rdb, testPrefix(), redisstore.WithClock(now))
	})
}

func TestCounter(t *testing.T) {
	t.Parallel()
	rdb := newClient(t, testenv.StartRedis(t).Addr)
	countertest.Run(t, func(t *testing.T) countertest.Store { return newStore(t, rdb) })
}

func TestCounterSliding(t *testing.T) {
	t.Parallel()
	rdb := newClient(t, testenv.StartRedis(t).Addr)
	countertest.RunSliding(t, func(t *testing.T, now func() time.Time) countertest.Store {
		return redisstore.New(rdb, testPrefix(), redisstore.WithClock(now))
	})
}

// TestEveryKeyHasTTLAndNoCode creates challenges, counters, failures and bans,
// then reads back every key: each must expire, and no value may contain the
// code.
func TestEveryKeyHasTTLAndNoCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := newClient(t, testenv.StartRedis(t).Addr)
	const code = "7391"
	// A fixed clock whose millisecond values do not contain the code (the
	// store's too: the sliding logs score their members with it).
	now := time.UnixMilli(1_700_000_000_000)
	s := redisstore.New(rdb, testPrefix(), redisstore.WithGrace(200*time.Millisecond),
		redisstore.WithClock(func() time.Time { return now }))
	b := storetest.Bind("dump")
	c := storetest.New(b, time.Now(), 5*time.Minute)
	c.CreatedAt, c.ExpiresAt, c.ResendAfter = now, now.Add(time.Hour*24*365*20), now.Add(30*time.Second)
	c.CodeHash = challenge.HashCode([]byte(strings.Repeat("k", 32)), b, code)
	if _, _, err := s.Create(ctx, c, "", now); err != nil {
		t.Fatal(err)
	}
	c2 := storetest.New(b, time.Now(), 5*time.Minute)
	c2.CreatedAt, c2.ExpiresAt, c2.ResendAfter = now, c.ExpiresAt, now
	c2.CodeHash = challenge.HashCode([]byte(strings.Repeat("k", 32)), b, code)
	if _, _, err := s.Create(ctx, c2, c.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, storetest.Req(c2, false, now)); err != nil {
		t.Fatal(err)
	}
	c3 := storetest.New(storetest.Binding(challenge.PurposeStepUp, b.IdentityID, "sess"), time.Now(), 5*time.Minute)
	c3.CreatedAt, c3.ExpiresAt, c3.ResendAfter = now, c.ExpiresAt, now
	if _, _, err := s.Create(ctx, c3, "", now); err != nil {
		t.Fatal(err)
	}
	pass := &challenge.Pass{IdentityID: b.IdentityID, AuthenticatedAt: now, SessionID: "sess", TTL: time.Hour}
	if rep, err := s.Verify(ctx, storetest.ReqPass(c3, true, now, pass)); err != nil || rep.Outcome != challenge.OutcomeVerified {
		t.Fatal(rep.Outcome, err)
	}
	if _, err := s.Take(ctx, []limit.Take{{Key: "n:x", Limit: 1, Window: time.Hour}, {Key: "g", Limit: 9, Window: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Fail(ctx, "r:ban", time.Minute, 3, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Fail(ctx, "r:fail", time.Minute, 3, time.Hour); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 11 { // 3 challenges, 2 active, 1 pass + its numbers, 2 counter logs, 1 ban, 1 failure log
		t.Fatalf("%d keys, want 11: %v", len(keys), keys)
	}
	for _, k := range keys {
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 {
			t.Errorf("key %q has no TTL (%v)", k, ttl)
		}
		dump := k
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				dump += " " + f + "=" + v
			}
		case "string":
			dump += " " + rdb.Get(ctx, k).Val()
		case "zset":
			for _, z := range rdb.ZRangeWithScores(ctx, k, 0, -1).Val() {
				dump += fmt.Sprintf(" %v=%.0f", z.Member, z.Score)
			}
		default:
			t.Fatalf("key %q has unexpected type %s", k, typ)
		}
		if holdsCode(dump, code) {
			t.Errorf("key %q holds the code: %q", k, dump)
		}
		if strings.Contains(k, "9001234567") {
			t.Errorf("key %q names the phone number", k)
		}
	}
}

// TestTwoInstancesSingleUse: a code consumed through one instance cannot be
// used through another instance sharing the Redis.
func TestTwoInstancesSingleUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := testenv.StartRedis(t).Addr
	a := redisstore.New(newClient(t, addr), "cpk:")
	b := redisstore.New(newClient(t, addr), "cpk:")
	now := time.Now()
	c := storetest.New(storetest.Bind("two"), now, 5*time.Minute)
	if _, _, err := a.Create(ctx, c, "", now); err != nil {
		t.Fatal(err)
	}
	if _, created, err := b.Create(ctx, storetest.New(c.Binding(), now, 5*time.Minute), "", now); err != nil || created {
		t.Fatalf("second instance created a second challenge: %v %v", created, err)
	}
	if rep, err := a.Verify(ctx, storetest.Req(c, true, now)); err != nil || rep.Outcome != challenge.OutcomeVerified {
		t.Fatalf("instance A: %v %v", rep.Outcome, err)
	}
	if rep, err := b.Verify(ctx, storetest.Req(c, true, now)); err != nil || rep.Outcome != challenge.OutcomeUsed {
		t.Fatalf("instance B reuse: %v %v, want used", rep.Outcome, err)
	}
}

// TestRedisDownFailsClosedAndRecovers stops Redis mid-test: every operation
// errors (nothing is allowed), then works again once Redis is back.
func TestRedisDownFailsClosedAndRecovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	s := newStore(t, newClient(t, srv.Addr))
	now := time.Now()
	c := storetest.New(storetest.Bind("fault"), now, 5*time.Minute)
	if _, _, err := s.Create(ctx, c, "", now); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	var rerr *redisstore.Error
	checks := map[string]error{
		"ping":   s.Ping(ctx),
		"get":    second(s.Get(ctx, c.ID)),
		"verify": second(s.Verify(ctx, storetest.Req(c, true, now))),
		"create": func() error {
			_, _, err := s.Create(ctx, storetest.New(storetest.Bind("fault2"), now, time.Minute), "", now)
			return err
		}(),
		"take":    second(s.Take(ctx, []limit.Take{{Key: "k", Limit: 5, Window: time.Minute}})),
		"fail":    second(s.Fail(ctx, "r:x", time.Minute, 3, time.Minute)),
		"blocked": second(s.BlockedUntil(ctx, "r:x")),
		"update":  s.UpdateCall(ctx, c.ID, flashcall.Classify("NO_ANSWER")),
	}
	for op, err := range checks {
		if !errors.As(err, &rerr) {
			t.Errorf("%s with Redis down: %v, want *redisstore.Error", op, err)
		}
		if errors.Is(err, challenge.ErrNotFound) {
			t.Errorf("%s with Redis down looks like not-found: %v", op, err)
		}
	}
	srv.Start()
	// Data is gone (no persistence) but the store works again by itself;
	// scripts are re-loaded on NOSCRIPT.
	deadline := time.Now().Add(30 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("store did not recover after Redis restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c2 := storetest.New(storetest.Bind("fault3"), now, 5*time.Minute)
	if _, created, err := s.Create(ctx, c2, "", now); err != nil || !created {
		t.Fatalf("create after restart: %v %v", created, err)
	}
	if rep, err := s.Verify(ctx, storetest.Req(c2, true, now)); err != nil || rep.Outcome != challenge.OutcomeVerified {
		t.Fatalf("verify after restart: %v %v", rep.Outcome, err)
	}
	if res, err := s.Take(ctx, []limit.Take{{Key: "k", Limit: 5, Window: time.Minute}}); err != nil || !res.Allowed {
		t.Fatalf("take after restart: %+v %v", res, err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestScriptsSurviveFlush: after SCRIPT FLUSH (or a failover to a replica
// that never saw the scripts) every scripted operation loads its script and
// runs exactly once: a take after the flush counts one, not two.
func TestScriptsSurviveFlush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := newClient(t, testenv.StartRedis(t).Addr)
	st := newStore(t, rdb)
	take := []limit.Take{{Key: "number:+79001234567", Limit: 5, Window: time.Hour}}
	for want := 1; want <= 3; want++ {
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		res, err := st.Take(ctx, take)
		if err != nil || !res.Allowed || len(res.Counts) != 1 || res.Counts[0] != want {
			t.Fatalf("take %d after SCRIPT FLUSH: %+v %v", want, res, err)
		}
	}
	// A refused take gives back the ones it took, also after a flush.
	two := []limit.Take{{Key: "ip:203.0.113.7", Limit: 5, Window: time.Hour}, {Key: "number:+79001234567", Limit: 3, Window: time.Hour}}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	res, err := st.Take(ctx, two)
	if err != nil || res.Allowed || res.Blocked != 1 {
		t.Fatalf("refused take: %+v %v", res, err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	res, err = st.Take(ctx, two[:1])
	if err != nil || !res.Allowed || res.Counts[0] != 1 {
		t.Fatalf("the refused take did not give back its count: %+v %v", res, err)
	}
}

// holdsCode reports code in dump as a number of its own: a run of digits
// (not part of a longer one) equal to it. The random parts of a dump (hex
// hashes and tags, base64 ids) hold any four digits now and then inside
// longer digit runs or mixed with letters, which is no leak; the chance
// that one holds exactly this run between letters is about 1 in 10^4 runs.
func holdsCode(dump, code string) bool {
	for _, run := range strings.FieldsFunc(dump, func(r rune) bool { return r < '0' || r > '9' }) {
		if run == code {
			return true
		}
	}
	return false
}
