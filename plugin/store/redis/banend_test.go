package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// delayHook holds every command for d before it is sent: a slow network or
// a busy Redis, well inside the read timeout.
type delayHook struct{ d time.Duration }

func (h delayHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h delayHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		time.Sleep(h.d)
		return next(ctx, cmd)
	}
}
func (h delayHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		time.Sleep(h.d)
		return next(ctx, cmds)
	}
}

// TestBanEndNeverEarly: the end of a ban the store reports (Retry-After,
// retry_at, the in-process ban memo) is never before Redis really ends it,
// however slow the round trip that read it: Redis counts the ban's time
// left at some moment of the round trip, so the end is taken from the clock
// after the reply. (It was taken before the request, and so was early by
// the latency: a client told to come back found the ban still on.)
func TestBanEndNeverEarly(t *testing.T) {
	addr := testenv.StartRedis(t).Addr
	fast, slow := newClient(t, addr), newClient(t, addr)
	const latency = 150 * time.Millisecond
	slow.AddHook(delayHook{latency})
	ctx := context.Background()
	const prefix = "banend:"
	setter, reader := redisstore.New(fast, prefix), redisstore.New(slow, prefix)
	b := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: "ident-ban", FlowID: "f"}
	banKey := limit.RegulationKey(b.IdentityID)
	realEnd := func(t *testing.T, identity string) int64 {
		t.Helper()
		k := prefix + "{" + challenge.IdentityTag(identity) + "}:b:" + limit.RegulationKey(identity) + ":b"
		end, err := fast.Do(ctx, "PEXPIRETIME", k).Int64()
		if err != nil || end <= 0 {
			t.Fatalf("PEXPIRETIME %s: %d %v", k, end, err)
		}
		return end
	}
	if until, err := setter.Fail(ctx, banKey, time.Minute, 1, time.Minute); err != nil || until.IsZero() {
		t.Fatalf("ban: %v %v", until, err)
	}
	reads := []struct {
		name     string
		identity string
		read     func() (time.Time, error)
	}{
		{"BlockedUntil", b.IdentityID, func() (time.Time, error) { return reader.BlockedUntil(ctx, banKey) }},
		{"Lookup", b.IdentityID, func() (time.Time, error) {
			_, until, err := reader.Lookup(ctx, challenge.LookupRequest{Binding: b, BanKey: banKey})
			if errors.Is(err, challenge.ErrNotFound) {
				err = nil
			}
			return until, err
		}},
		{"Verify", b.IdentityID, func() (time.Time, error) {
			rep, err := reader.Verify(ctx, challenge.VerifyRequest{Binding: b, BanKey: banKey, Sum: []byte("x"), Now: time.Now()})
			return rep.BannedUntil, err
		}},
		{"Fail", "ident-ban-2", func() (time.Time, error) {
			return reader.Fail(ctx, limit.RegulationKey("ident-ban-2"), time.Minute, 1, time.Minute)
		}},
	}
	for _, r := range reads {
		t.Run(r.name, func(t *testing.T) {
			if r.name != "Fail" {
				if _, err := r.read(); err != nil { // warm: connection, script load
					t.Fatal(err)
				}
			}
			until, err := r.read()
			if err != nil {
				t.Fatal(err)
			}
			if end := realEnd(t, r.identity); until.UnixMilli() < end {
				t.Fatalf("ban end told %s early (Redis ends it at %d ms, the store says %d ms)",
					time.Duration(end-until.UnixMilli())*time.Millisecond, end, until.UnixMilli())
			}
		})
	}
}
