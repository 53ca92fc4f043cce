package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// RegulationBan is what the store holds about one identity's regulation
// (limit.RegulationKey): the end of its ban (zero: not banned) and the
// failures recorded within find_time. A ban deletes its failure log when it
// starts, so a banned identity shows no failures.
type RegulationBan struct {
	BannedUntil time.Time
	Failures    int64
}

// Banned reports whether the ban was running when it was read.
func (b RegulationBan) Banned() bool { return !b.BannedUntil.IsZero() }

// banReadScript reads a regulation ban and failure log in one step:
// KEYS = failure log, ban; ARGV = find ms, now ms. Returns {ban PTTL,
// failures within find_time}.
var banReadScript = newScript(`
local b = redis.call('PTTL', KEYS[2])
local n = redis.call('ZCOUNT', KEYS[1], '(' .. (tonumber(ARGV[2]) - tonumber(ARGV[1])), '+inf')
return {b, n}
`)

// banLiftScript deletes a regulation ban and its failure log in one step
// (both keys carry the identity's hash tag: one slot, also in a cluster):
// KEYS and ARGV as banReadScript's; returns what was there before.
var banLiftScript = newScript(`
local b = redis.call('PTTL', KEYS[2])
local n = redis.call('ZCOUNT', KEYS[1], '(' .. (tonumber(ARGV[2]) - tonumber(ARGV[1])), '+inf')
redis.call('DEL', KEYS[1], KEYS[2])
return {b, n}
`)

// errBanIdentity: an empty identity id has no regulation key.
var errBanIdentity = errors.New("an identity id is needed")

// RegulationBan reads identityID's regulation ban and the failures in its
// failure log within findTime (limits.regulation.find_time), from the same
// keys Fail and Verify use (blockKeys of limit.RegulationKey). For
// operators (`callpass-kratos bans show`); the service itself reads bans
// with the challenge.
func (s *Store) RegulationBan(ctx context.Context, identityID string, findTime time.Duration) (RegulationBan, error) {
	return s.banScript(ctx, "regulation ban", banReadScript, identityID, findTime)
}

// LiftRegulationBan deletes identityID's regulation ban and failure log
// atomically and returns what they held (findTime as for RegulationBan).
// Lifting an identity that is not banned only clears its failures.
// Instances that remembered the ban (the challenge service's ban memo)
// refuse it until they read it again (within 30 s) or forget it (SIGHUP).
func (s *Store) LiftRegulationBan(ctx context.Context, identityID string, findTime time.Duration) (RegulationBan, error) {
	return s.banScript(ctx, "lift regulation ban", banLiftScript, identityID, findTime)
}

func (s *Store) banScript(ctx context.Context, op string, sc *script, identityID string, findTime time.Duration) (RegulationBan, error) {
	if identityID == "" {
		return RegulationBan{}, &Error{Op: op, Err: errBanIdentity}
	}
	f, b := s.blockKeys(limit.RegulationKey(identityID))
	vals, err := s.run(ctx, sc, []string{f, b}, findTime.Milliseconds(), s.now().UnixMilli()).Int64Slice()
	if err != nil {
		return RegulationBan{}, wrap(op, err)
	}
	if len(vals) != 2 {
		return RegulationBan{}, &Error{Op: op, Err: errors.New("unexpected script reply")}
	}
	return RegulationBan{
		BannedUntil: s.banEnd(time.Duration(vals[0]) * time.Millisecond),
		Failures:    vals[1],
	}, nil
}
