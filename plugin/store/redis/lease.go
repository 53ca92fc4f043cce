package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// leaseScript: KEYS[1] a binding's start lease, KEYS[2] its active pointer
// (same hash tag); ARGV: token, TTL ms. Takes the lease unless another
// token holds it, and reads the active pointer in the same step. Returns
// {1 taken or 0 held by another, active id or ""}. A lease key without a
// TTL (never written so; set by hand or restored) is taken over, as it
// would otherwise block the flow's starts for ever.
var leaseScript = newScript(`
local active = redis.call('GET', KEYS[2]) or ''
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] and redis.call('PTTL', KEYS[1]) ~= -1 then return {0, active} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, active}
`)

// releaseScript: KEYS[1] a start lease; ARGV[1] its holder's token. Deletes
// the lease only if that token still holds it (one that timed out and was
// taken by another start is that start's).
var releaseScript = newScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`)

func (s *Store) leaseKey(b challenge.Binding) string { return s.activeKey(b) + ":s" }

// LeaseStart implements challenge.StartLeaser.
func (s *Store) LeaseStart(ctx context.Context, b challenge.Binding, token string, ttl time.Duration) (bool, string, error) {
	res, err := s.run(ctx, leaseScript, []string{s.leaseKey(b), s.activeKey(b)}, token, max(ttl.Milliseconds(), 1)).Slice()
	if err != nil {
		return false, "", wrap("lease", err)
	}
	if len(res) != 2 {
		return false, "", &Error{Op: "lease", Err: errors.New("unexpected script reply")}
	}
	taken, _ := res[0].(int64)
	active, _ := res[1].(string)
	return taken == 1, active, nil
}

// ReleaseStart implements challenge.StartLeaser.
func (s *Store) ReleaseStart(ctx context.Context, b challenge.Binding, token string) error {
	return wrap("release", s.run(ctx, releaseScript, []string{s.leaseKey(b)}, token).Err())
}
