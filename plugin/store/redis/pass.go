package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Passes remembers which Kratos sessions passed the gate (factor.PassStore)
// in Redis, shared by every instance. One hash per identity: field = the
// session's authenticated_at in Unix milliseconds, value = the claiming
// session id ("" until claimed). The key's TTL is refreshed on every write.
type Passes struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewPasses returns a pass store with the given key prefix.
func NewPasses(client redis.UniversalClient, prefix string) *Passes {
	return &Passes{rdb: client, prefix: prefix}
}

func (p *Passes) key(identityID string) string { return p.prefix + "{p:" + identityID + "}" }

// RecordPass implements factor.PassStore.
func (p *Passes) RecordPass(ctx context.Context, identityID string, authAt time.Time, sessionID string, ttl time.Duration) error {
	k := p.key(identityID)
	pipe := p.rdb.TxPipeline()
	pipe.HSet(ctx, k, strconv.FormatInt(authAt.UnixMilli(), 10), sessionID)
	pipe.PExpire(ctx, k, ttl)
	_, err := pipe.Exec(ctx)
	return wrap("record pass", err)
}

// claimScript binds the first unclaimed field within tolerance to the session
// (or finds it already bound to it), atomically.
var claimScript = redis.NewScript(`
local fields = redis.call('HGETALL', KEYS[1])
local at, tol, sid = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i = 1, #fields, 2 do
  local d = tonumber(fields[i]) - at
  if d >= -tol and d <= tol then
    if fields[i+1] == sid then return 1 end
    if fields[i+1] == '' then
      redis.call('HSET', KEYS[1], fields[i], sid)
      return 1
    end
  end
end
return 0
`)

// ClaimPass implements factor.PassStore.
func (p *Passes) ClaimPass(ctx context.Context, identityID string, authAt time.Time, tolerance time.Duration, sessionID string) (bool, error) {
	n, err := claimScript.Run(ctx, p.rdb, []string{p.key(identityID)},
		authAt.UnixMilli(), tolerance.Milliseconds(), sessionID).Int()
	if err != nil {
		return false, wrap("claim pass", err)
	}
	return n == 1, nil
}
