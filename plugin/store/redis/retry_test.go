package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// stall keeps redis-server busy in a script for d (longer than the client's
// read timeout), from a connection of its own, and returns once the stall
// has begun; the returned channel closes when it is over.
func stall(t *testing.T, addr string, d time.Duration) <-chan struct{} {
	t.Helper()
	busy := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: d + 5*time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = busy.Close() })
	if err := busy.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		busy.Eval(context.Background(), `local t = redis.call('TIME'); local s = t[1]*1e6 + t[2]
while true do local n = redis.call('TIME'); if n[1]*1e6 + n[2] - s > tonumber(ARGV[1]) then break end end
return 1`, nil, d.Microseconds())
	}()
	// Return once Redis is really busy: a PING with a short timeout, from
	// a connection of its own, gets no answer.
	probe := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 300 * time.Millisecond, MaxRetries: -1, PoolSize: 1})
	defer probe.Close()
	for deadline := time.Now().Add(5 * time.Second); probe.Ping(context.Background()).Err() == nil; {
		if time.Now().After(deadline) {
			t.Fatal("redis-server never got busy with the stalling script")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return done
}

// TestLateReplyRunsScriptOnce: with the client the app builds
// (ClientOptions), a verify or a take whose reply comes after the read
// timeout fails the request and is not sent again: the wrong code is
// counted once, the call limit taken once. (go-redis's default retries
// re-sent the script, which counted both twice.)
func TestLateReplyRunsScriptOnce(t *testing.T) {
	t.Parallel()
	addr := testenv.StartRedis(t).Addr
	opts, err := redisstore.ClientOptions("redis://" + addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.ReadTimeout > 2*time.Second {
		t.Fatalf("read timeout %s: the stall below must outlast it", opts.ReadTimeout)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	st := redisstore.New(rdb, "late:")
	ctx := context.Background()

	t.Run("take", func(t *testing.T) {
		rule := []limit.Take{{Key: "n:late", Limit: 5, Window: time.Hour}}
		if r, err := st.Take(ctx, rule); err != nil || !r.Allowed { // loads the script
			t.Fatalf("first take: %+v %v", r, err)
		}
		done := stall(t, addr, 2500*time.Millisecond)
		if r, err := st.Take(ctx, rule); err == nil {
			t.Fatalf("take during the stall: %+v, want the timeout", r)
		}
		<-done
		n, err := rdb.ZCard(ctx, "late:{l:n:late}:w").Result()
		if err != nil || n != 2 {
			t.Fatalf("counter holds %d takes (%v), want 2: the late take ran more than once", n, err)
		}
	})

	t.Run("verify", func(t *testing.T) {
		lateVerifyCountsOnce(t, st, func(challenge.Challenge) string { return addr })
	})
}

// TestClientOptionsErrorQuotesNoURL: a URL the client refuses is not
// repeated in the error, whatever its scheme: it may hold the password.
func TestClientOptionsErrorQuotesNoURL(t *testing.T) {
	for _, raw := range []string{
		"redis://:hunter2@[::1/0",
		"rediss://user:hunter2@host:6379/x",
		"unix://:hunter2@/tmp/redis.sock?db=x",
		"redis://:hunter2@host:6379/0?dial_timeout=hunter2",
		"ftp://:hunter2@host/0",
	} {
		_, err := redisstore.ClientOptions(raw)
		if err == nil {
			t.Errorf("%s: accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error quotes the password: %v", raw, err)
		}
	}
}

// lateVerifyCountsOnce: a wrong code whose verify times out on a node
// stalled past the read timeout (stallAddr: the node holding c) is counted
// once, not again by a client re-send: after three wrong codes, two
// attempts are left of five.
func lateVerifyCountsOnce(t *testing.T, st *redisstore.Store, stallAddr func(c challenge.Challenge) string) {
	t.Helper()
	ctx := context.Background()
	key := []byte("0123456789abcdef0123456789abcdef")
	b := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: "late-identity", FlowID: "f1"}
	now := time.Now()
	c := challenge.Challenge{ID: challenge.NewID(b), Purpose: b.Purpose, IdentityID: b.IdentityID, FlowID: b.FlowID,
		Phone: "+79001234567", CodeHash: challenge.HashCode(key, b, "1234"), CodeLength: 4, MaxAttempts: 5,
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute), ResendAfter: now.Add(30 * time.Second), State: challenge.StatePending}
	if _, ok, err := st.Create(ctx, c, "", now); err != nil || !ok {
		t.Fatalf("create: %v %v", ok, err)
	}
	wrong := challenge.VerifyRequest{Binding: b, Sum: challenge.HashCode(key, b, "9999"), Now: time.Now()}
	if rep, err := st.Verify(ctx, wrong); err != nil || rep.Outcome != challenge.OutcomeWrong { // loads the script
		t.Fatalf("first wrong code: %+v %v", rep, err)
	}
	done := stall(t, stallAddr(c), 2500*time.Millisecond)
	wrong.Now = time.Now()
	if rep, err := st.Verify(ctx, wrong); err == nil {
		t.Fatalf("verify during the stall: %+v, want the timeout", rep)
	}
	<-done
	wrong.Now = time.Now()
	rep, err := st.Verify(ctx, wrong)
	if err != nil || rep.Outcome != challenge.OutcomeWrong {
		t.Fatalf("third wrong code: %+v %v", rep, err)
	}
	if got := rep.Challenge.AttemptsLeft(); got != 2 {
		t.Fatalf("after three wrong codes %d attempts are left, want 2: the late verify counted more than once", got)
	}
}
