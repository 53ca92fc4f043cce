package redisstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
)

// claimScriptBefore is the claim script of the version before passes kept
// the number called (49a8353), verbatim: an instance of that version may
// share the Redis during a rolling upgrade or after a rollback.
var claimScriptBefore = redis.NewScript(`
local fields = redis.call('HGETALL', KEYS[1])
local at, tol, sid, now = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
for i = 1, #fields, 2 do
  local v = fields[i+1]
  local sep = string.find(v, ':', 1, true)
  if sep and tonumber(string.sub(v, 1, sep - 1)) > now then
    local d = tonumber(fields[i]) - at
    if d >= -tol and d <= tol then
      local owner = string.sub(v, sep + 1)
      if owner == sid then return 1 end
      if owner == '' then
        redis.call('HSET', KEYS[1], fields[i], string.sub(v, 1, sep - 1) .. ':' .. sid)
        return 1
      end
    end
  end
end
return 0
`)

// TestPassesAcrossVersions: a pass this version records is claimed by an
// instance of the version before (its value keeps that form; the number
// sits beside it), and a pass the version before recorded (no number) is
// claimed here and reports no number, so the exchange falls back to the
// trait. A pass recorded here reports the number called.
func TestPassesAcrossVersions(t *testing.T) {
	rdb, s, now := passEnv(t)
	ctx := context.Background()
	record := func(t *testing.T) (challenge.Challenge, time.Time) { return recordPass(t, s, now) }

	t.Run("recorded here, claimed by the version before", func(t *testing.T) {
		c, authAt := record(t)
		n, err := claimScriptBefore.Run(ctx, rdb, []string{s.passKey(c.IdentityID)},
			authAt.UnixMilli(), 1000, "s-old", now.UnixMilli()).Int()
		if err != nil || n != 1 {
			t.Fatalf("the version before claims %d (%v), want 1", n, err)
		}
		// The same session exchanging here next gets the number called.
		num, ok, err := s.ClaimPass(ctx, c.IdentityID, []time.Time{authAt}, time.Second, "s-old")
		if err != nil || !ok || num != c.Phone {
			t.Fatalf("claim here after: %q %v %v, want %q", num, ok, err, c.Phone)
		}
	})
	t.Run("recorded here, claimed here", func(t *testing.T) {
		c, authAt := record(t)
		num, ok, err := s.ClaimPass(ctx, c.IdentityID, []time.Time{authAt}, time.Second, "s1")
		if err != nil || !ok || num != c.Phone {
			t.Fatalf("claim: %q %v %v, want %q", num, ok, err, c.Phone)
		}
		if num, ok, _ := s.ClaimPass(ctx, c.IdentityID, []time.Time{authAt}, time.Second, "s2"); ok || num != "" {
			t.Fatalf("another session claimed the pass: %q", num)
		}
		for _, k := range []string{s.passKey(c.IdentityID), s.passNumberKey(c.IdentityID)} {
			if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
				t.Errorf("%s: TTL %s, want the pass's hour", k, ttl)
			}
		}
	})
	t.Run("recorded here, rewritten by the version before", func(t *testing.T) {
		// An old instance records a pass for the same session time again
		// (its own verify, another expiry): the number written here with
		// the first pass must not be read for it.
		c, authAt := record(t)
		field := strconv.FormatInt(authAt.UnixMilli(), 10)
		if err := rdb.HSet(ctx, s.passKey(c.IdentityID), field, strconv.FormatInt(now.Add(2*time.Hour).UnixMilli(), 10)+":").Err(); err != nil {
			t.Fatal(err)
		}
		num, ok, err := s.ClaimPass(ctx, c.IdentityID, []time.Time{authAt}, time.Second, "s1")
		if err != nil || !ok || num != "" {
			t.Fatalf("claim: %q %v %v, want held with no number", num, ok, err)
		}
	})
	t.Run("recorded by the version before, claimed here", func(t *testing.T) {
		id := "identity-old"
		authAt := now.Add(-time.Minute)
		field := strconv.FormatInt(authAt.UnixMilli(), 10)
		if err := rdb.HSet(ctx, s.passKey(id), field, strconv.FormatInt(now.Add(time.Hour).UnixMilli(), 10)+":").Err(); err != nil {
			t.Fatal(err)
		}
		num, ok, err := s.ClaimPass(ctx, id, []time.Time{authAt}, time.Second, "s1")
		if err != nil || !ok || num != "" {
			t.Fatalf("claim: %q %v %v, want held with no number", num, ok, err)
		}
	})
}

// recordPass records, through a verify, a login pass of a new identity
// under authenticated_at a minute before now.
func recordPass(t *testing.T, s *Store, now time.Time) (challenge.Challenge, time.Time) {
	t.Helper()
	b := storetest.Bind("pass")
	c := storetest.New(b, now, 5*time.Minute)
	if _, ok, err := s.Create(context.Background(), c, "", now); err != nil || !ok {
		t.Fatalf("create: %v %v", ok, err)
	}
	authAt := now.Add(-time.Minute)
	rep, err := s.Verify(context.Background(), storetest.ReqPass(c, true, now, &challenge.Pass{IdentityID: b.IdentityID, AuthenticatedAt: authAt, TTL: time.Hour}))
	if err != nil || rep.Outcome != challenge.OutcomeVerified {
		t.Fatalf("verify: %v %v", rep.Outcome, err)
	}
	return c, authAt
}

// passEnv is a store on a fresh redis-server, its client, and a now in
// whole milliseconds (as the store keeps times), for the tests that run a
// previous version's scripts against the same data.
func passEnv(t *testing.T) (*redis.Client, *Store, time.Time) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.StartRedis(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, New(rdb, "t:"), time.UnixMilli(time.Now().UnixMilli())
}

// TestClaimKeepsThePassKeys: a claim that keeps a pass past the longest
// pass's expiry keeps the keys holding it and its number as long (Redis
// drops a key at its TTL, whatever the expiries written in it).
func TestClaimKeepsThePassKeys(t *testing.T) {
	rdb, s, now := passEnv(t)
	ctx := context.Background()
	c, authAt := recordPass(t, s, now) // kept an hour
	keep := now.Add(3 * time.Hour)
	if num, ok, err := s.ClaimPassUntil(ctx, c.IdentityID, []time.Time{authAt}, time.Second, "s1", keep); err != nil || !ok || num != c.Phone {
		t.Fatalf("claim: %q %v %v", num, ok, err)
	}
	for _, k := range []string{s.passKey(c.IdentityID), s.passNumberKey(c.IdentityID)} {
		if ttl := rdb.PTTL(ctx, k).Val(); ttl < 2*time.Hour {
			t.Errorf("%s: TTL %s after a claim keeping its pass 3 h, want about 3 h", k, ttl)
		}
	}
}
