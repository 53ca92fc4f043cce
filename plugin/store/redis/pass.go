package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Gate passes (docs/architecture.md, "Binding a Kratos session to a passed
// gate") are one hash per identity under the identity's hash tag, written by
// the Verify script that verifies the challenge: field = the session's
// authenticated_at in Unix milliseconds, value = "<expires ms>:<claiming
// session id>" (the id is "" until claimed). The E.164 number each pass's
// call went to is in a second hash (passNumberKey), same field, value
// "<the pass's expires ms>:<number>": read only while that expiry matches
// the pass's, so a number never outlives the pass it was written with (an
// instance of the version before may rewrite a pass, not its number). The
// keys' TTL is the longest pass's; each pass also carries its own expiry.

// claimScript binds the first unclaimed, unexpired field within tolerance to
// the session (or finds it already bound to it), atomically, and returns
// {1, number called} (empty for a pass recorded without one) or {0}.
// KEYS[1] passes, KEYS[2] their numbers; ARGV: authenticated_at ms,
// tolerance ms, session id, now ms.
var claimScript = redis.NewScript(`
local fields = redis.call('HGETALL', KEYS[1])
local at, tol, sid, now = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
for i = 1, #fields, 2 do
  local v = fields[i+1]
  local sep = string.find(v, ':', 1, true)
  if sep and tonumber(string.sub(v, 1, sep - 1)) > now then
    local d = tonumber(fields[i]) - at
    if d >= -tol and d <= tol then
      local owner = string.sub(v, sep + 1)
      if owner == sid or owner == '' then
        if owner == '' then redis.call('HSET', KEYS[1], fields[i], string.sub(v, 1, sep) .. sid) end
        local n, num = redis.call('HGET', KEYS[2], fields[i]), ''
        if n and string.sub(n, 1, sep) == string.sub(v, 1, sep) then num = string.sub(n, sep + 1) end
        return {1, num}
      end
    end
  end
end
return {0}
`)

// ClaimPass implements factor.PassStore: an unclaimed pass within tolerance
// of authAt is bound to sessionID; a pass already bound to sessionID counts.
// It returns the number the pass's call went to.
func (s *Store) ClaimPass(ctx context.Context, identityID string, authAt time.Time, tolerance time.Duration, sessionID string) (string, bool, error) {
	res, err := claimScript.Run(ctx, s.rdb, []string{s.passKey(identityID), s.passNumberKey(identityID)},
		authAt.UnixMilli(), tolerance.Milliseconds(), sessionID, ms(s.now())).Slice()
	if err != nil {
		return "", false, wrap("claim pass", err)
	}
	if n, _ := res[0].(int64); n != 1 {
		return "", false, nil
	}
	if len(res) < 2 {
		return "", false, &Error{Op: "claim pass", Err: errors.New("unexpected script reply")}
	}
	num, _ := res[1].(string)
	return num, true, nil
}
