package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

var _ challenge.Retirer = (*Store)(nil)

// retireScript: KEYS[1] a binding's active pointer, KEYS[2] one of its
// challenges (same hash tag); ARGV: the challenge id, now ms. Sets the
// challenge superseded if the pointer names it and it is pending and
// unexpired. Returns {1 retired or 0, HGETALL after the step}.
var retireScript = newScript(`
local st = redis.call('HMGET', KEYS[2], 's', 'ea')
if st[1] == 'pending' and tonumber(ARGV[2]) < tonumber(st[2]) and redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('HSET', KEYS[2], 's', 'superseded')
  return {1, redis.call('HGETALL', KEYS[2])}
end
return {0, redis.call('HGETALL', KEYS[2])}
`)

// restoreScript: the keys and id as retireScript's. Sets the challenge
// pending again if the pointer still names it and it is superseded.
var restoreScript = newScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('HGET', KEYS[2], 's') == 'superseded' then
  redis.call('HSET', KEYS[2], 's', 'pending')
end
return 1
`)

// restoreUnleasedScript: KEYS[1] and KEYS[2] as retireScript's, KEYS[3]
// the binding's start lease (same hash tag); ARGV[1] the challenge id.
// restoreScript's step, unless a start holds the lease (a lease key
// without a TTL is not held: leaseScript takes it over). Returns 1 if it
// gave the challenge back.
var restoreUnleasedScript = newScript(`
if redis.call('EXISTS', KEYS[3]) == 1 and redis.call('PTTL', KEYS[3]) ~= -1 then return 0 end
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('HGET', KEYS[2], 's') == 'superseded' then
  redis.call('HSET', KEYS[2], 's', 'pending')
  return 1
end
return 0
`)

// Retire implements challenge.Retirer in one round trip.
func (s *Store) Retire(ctx context.Context, b challenge.Binding, id string, now time.Time) (challenge.Challenge, bool, error) {
	key, mode := s.firstKey(id, b)
	if id == "" || mode != "c" {
		return challenge.Challenge{}, false, challenge.ErrNotFound
	}
	res, err := s.run(ctx, retireScript, []string{s.activeKey(b), key}, id, ms(now)).Slice()
	if err != nil {
		return challenge.Challenge{}, false, wrap("retire", err)
	}
	if len(res) != 2 {
		return challenge.Challenge{}, false, &Error{Op: "retire", Err: errors.New("unexpected script reply")}
	}
	flat, _ := res[1].([]any)
	c, err := decodeFlat(flat)
	if err != nil {
		return challenge.Challenge{}, false, err // ErrNotFound: no such challenge
	}
	if c.Binding() != b {
		// The tag is the identity's alone: another flow's challenge.
		return challenge.Challenge{}, false, challenge.ErrNotFound
	}
	retired, _ := res[0].(int64)
	return c, retired == 1, nil
}

// Restore implements challenge.Retirer.
func (s *Store) Restore(ctx context.Context, b challenge.Binding, id string) error {
	key, mode := s.firstKey(id, b)
	if id == "" || mode != "c" {
		return nil
	}
	return wrap("restore", s.run(ctx, restoreScript, []string{s.activeKey(b), key}, id).Err())
}

// RestoreUnleased implements challenge.Retirer.
func (s *Store) RestoreUnleased(ctx context.Context, b challenge.Binding, id string) (bool, error) {
	key, mode := s.firstKey(id, b)
	if id == "" || mode != "c" {
		return false, nil
	}
	n, err := s.run(ctx, restoreUnleasedScript, []string{s.activeKey(b), key, s.leaseKey(b)}, id).Int()
	if err != nil {
		return false, wrap("restore", err)
	}
	return n == 1, nil
}

var _ challenge.Spender = (*Store)(nil)

// spendScript: the keys and id as retireScript's. Sets the challenge
// expired if the pointer names it and it is verified. Returns 1 if it did.
var spendScript = newScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('HGET', KEYS[2], 's') == 'verified' then
  redis.call('HSET', KEYS[2], 's', 'expired')
  return 1
end
return 0
`)

// Spend implements challenge.Spender in one round trip.
func (s *Store) Spend(ctx context.Context, b challenge.Binding, id string) (bool, error) {
	key, mode := s.firstKey(id, b)
	if id == "" || mode != "c" {
		return false, nil
	}
	n, err := s.run(ctx, spendScript, []string{s.activeKey(b), key}, id).Int()
	if err != nil {
		return false, wrap("spend", err)
	}
	return n == 1, nil
}
