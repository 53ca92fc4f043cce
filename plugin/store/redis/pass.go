package redisstore

import (
	"context"
	"errors"
	"time"
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

// claimScript binds to the session an unexpired field within tolerance of
// one of the candidate times, atomically, trying the candidates in order:
// for each, a field already bound to the session first, else an unclaimed
// one (a field bound to another session is never taken). It returns {1, number called} (empty for a pass recorded
// without one) or {0}. A keep time later than the pass's expiry becomes its
// expiry, and its number's, and the keys live at least that long. KEYS[1]
// passes, KEYS[2] their numbers; ARGV: tolerance ms, session id, now ms,
// keep ms (0: none), then the candidate times (Unix ms).
var claimScript = newScript(`
local fields = redis.call('HGETALL', KEYS[1])
local tol, sid, now, keep = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local at = {}
for j = 5, #ARGV do at[#at + 1] = tonumber(ARGV[j]) end
for j = 1, #at do
  for round = 1, 2 do
    local want = sid
    if round == 2 then want = '' end
    for i = 1, #fields, 2 do
      local v = fields[i+1]
      local sep = string.find(v, ':', 1, true)
      local exp = sep and tonumber(string.sub(v, 1, sep - 1))
      if sep and string.sub(v, sep + 1) == want and exp > now then
        local d = tonumber(fields[i]) - at[j]
        if d >= -tol and d <= tol then
          local n, num = redis.call('HGET', KEYS[2], fields[i]), ''
          if n and string.sub(n, 1, sep) == string.sub(v, 1, sep) then num = string.sub(n, sep + 1) end
          if keep > exp then
            redis.call('HSET', KEYS[1], fields[i], keep .. ':' .. sid)
            if redis.call('PTTL', KEYS[1]) < keep - now then redis.call('PEXPIRE', KEYS[1], keep - now) end
            if num ~= '' then
              redis.call('HSET', KEYS[2], fields[i], keep .. ':' .. num)
              if redis.call('PTTL', KEYS[2]) < keep - now then redis.call('PEXPIRE', KEYS[2], keep - now) end
            end
          elseif want == '' then
            redis.call('HSET', KEYS[1], fields[i], string.sub(v, 1, sep) .. sid)
          end
          return {1, num}
        end
      end
    end
  end
end
return {0}
`)

// ClaimPass implements factor.PassStore as the memory store does (the
// candidates in order; for each, the session's own pass first, else an
// unclaimed one; never another session's). It returns the number the
// pass's call went to. One round trip, whatever the number of candidates.
func (s *Store) ClaimPass(ctx context.Context, identityID string, at []time.Time, tolerance time.Duration, sessionID string) (string, bool, error) {
	return s.ClaimPassUntil(ctx, identityID, at, tolerance, sessionID, time.Time{})
}

// ClaimPassUntil is ClaimPass that also keeps the pass it finds, and its
// number, until keepUntil when that is later than the pass's own expiry (a
// session Kratos extended; zero keeps it as it is), in the same round trip.
func (s *Store) ClaimPassUntil(ctx context.Context, identityID string, at []time.Time, tolerance time.Duration, sessionID string, keepUntil time.Time) (string, bool, error) {
	if len(at) == 0 {
		return "", false, nil
	}
	var keep int64
	if !keepUntil.IsZero() {
		keep = keepUntil.UnixMilli()
	}
	args := make([]any, 0, 4+len(at))
	args = append(args, tolerance.Milliseconds(), sessionID, ms(s.now()), keep)
	for _, t := range at {
		args = append(args, t.UnixMilli())
	}
	res, err := s.run(ctx, claimScript, []string{s.passKey(identityID), s.passNumberKey(identityID)}, args...).Slice()
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
