// Package redisstore keeps challenges, limit counters, regulation bans and
// gate passes in Redis (go-redis v9), so several instances share them. Every
// atomic step is one Lua script; every key has a TTL.
//
// Every key of one identity carries the identity's hash tag
// (T = challenge.IdentityTag, which challenge.Binding.Tag returns and every
// challenge ID embeds), so they all live in one Redis Cluster slot and a
// verify is two round trips: Lookup (the challenge — by ID or through the
// binding's active pointer — and the identity's ban, one script) and Attempt
// (count, consume, and on success record the gate pass, one script).
//
// Key layout (P is the prefix):
//
//	P{T}:c:<challenge id>            hash: one challenge
//	P{T}:a:<binding hash>            string: the binding's active challenge id
//	P{T}:p:<identity id>             hash: gate passes, field authenticated_at ms,
//	                                 value "<expires ms>:<claiming session id or ''>"
//	P{T}:b:r:<identity id>:f / :b    regulation failure counter / ban (limit.RegulationKey)
//	P{l:<key>}                       string: a limit counter (fixed window)
//	P{b:<key>}:f / P{b:<key>}:b      failure counter / ban of any other Blocks key
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// Store implements challenge.Store, limit.Counter, limit.Blocks and the gate
// pass claims of factor.PassStore on Redis.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	grace  time.Duration
	now    func() time.Time
}

var (
	_ challenge.Store = (*Store)(nil)
	_ limit.Counter   = (*Store)(nil)
	_ limit.Blocks    = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithGrace sets how long a challenge key outlives ExpiresAt (default 1m), so
// a late verify gets "expired" rather than "not found".
func WithGrace(d time.Duration) Option { return func(s *Store) { s.grace = d } }

// New returns a Store using client; every key starts with prefix (e.g.
// "cpk:"). Timeouts come from the client's options (ReadTimeout,
// WriteTimeout) and the caller's context.
func New(client redis.UniversalClient, prefix string, opts ...Option) *Store {
	s := &Store{rdb: client, prefix: prefix, grace: time.Minute, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Error is a Redis failure; the challenge service reports it as
// challenge.ErrStoreUnavailable.
type Error struct {
	Op  string
	Err error
}

func (e *Error) Error() string { return "redis store: " + e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Err: err}
}

// --- keys ---

func (s *Store) challengeKeyPrefix(tag string) string { return s.prefix + "{" + tag + "}:c:" }

func (s *Store) challengeKey(id string) (string, bool) {
	tag, ok := challenge.IDTag(id)
	if !ok {
		return "", false
	}
	return s.challengeKeyPrefix(tag) + id, true
}

func (s *Store) activeKey(b challenge.Binding) string {
	sum := sha256.Sum256([]byte(string(b.Purpose) + "\x00" + b.IdentityID + "\x00" + b.FlowID))
	return s.prefix + "{" + b.Tag() + "}:a:" + hex.EncodeToString(sum[:16])
}

// passKey is the hash of an identity's gate passes.
func (s *Store) passKey(identityID string) string {
	return s.prefix + "{" + challenge.IdentityTag(identityID) + "}:p:" + identityID
}

// Keys returns the Redis keys holding challenge id and its binding's active
// pointer (tests, MEMORY USAGE reports).
func (s *Store) Keys(c challenge.Challenge) []string {
	k, _ := s.challengeKey(c.ID)
	return []string{k, s.activeKey(c.Binding())}
}

// --- encoding ---

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v string) time.Time {
	n, _ := strconv.ParseInt(v, 10, 64)
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

// fields lists the hash fields and values of c (short names keep memory low).
func fields(c challenge.Challenge) []any {
	return []any{
		"id", c.ID, "p", string(c.Purpose), "i", c.IdentityID, "f", c.FlowID,
		"ph", c.Phone, "h", c.CodeHash, "cl", c.CodeLength,
		"pr", c.Provider, "ci", c.CallID, "cs", c.CallStatus, "cc", int(c.CallClass),
		"a", c.Attempts, "ma", c.MaxAttempts, "r", c.Resends,
		"ca", ms(c.CreatedAt), "ea", ms(c.ExpiresAt), "ra", ms(c.ResendAfter),
		"s", string(c.State), "va", ms(c.VerifiedAt),
	}
}

func decode(m map[string]string) (challenge.Challenge, error) {
	if m["id"] == "" {
		return challenge.Challenge{}, challenge.ErrNotFound
	}
	atoi := func(k string) int { n, _ := strconv.Atoi(m[k]); return n }
	c := challenge.Challenge{
		ID: m["id"], Purpose: challenge.Purpose(m["p"]), IdentityID: m["i"], FlowID: m["f"],
		Phone: m["ph"], CodeLength: atoi("cl"),
		Provider: m["pr"], CallID: m["ci"], CallStatus: m["cs"], CallClass: flashcall.Class(atoi("cc")),
		Attempts: atoi("a"), MaxAttempts: atoi("ma"), Resends: atoi("r"),
		CreatedAt: fromMS(m["ca"]), ExpiresAt: fromMS(m["ea"]), ResendAfter: fromMS(m["ra"]),
		State: challenge.State(m["s"]), VerifiedAt: fromMS(m["va"]),
	}
	if h := m["h"]; h != "" {
		c.CodeHash = []byte(h)
	}
	return c, nil
}

// decodeFlat decodes a flat [field, value, ...] reply (HGETALL inside Lua).
func decodeFlat(v []any) (challenge.Challenge, error) {
	m := make(map[string]string, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		k, _ := v[i].(string)
		val, _ := v[i+1].(string)
		m[k] = val
	}
	return decode(m)
}

// --- scripts ---

// createScript: KEYS[1] active pointer, KEYS[2] new challenge.
// ARGV: replace, now ms, expire-at ms, challenge key prefix, id, fields...
// The old challenge key is built from the prefix: it has the same hash tag
// as KEYS[1], so the script stays in one slot.
var createScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local ck = ARGV[4] .. cur
  local st = redis.call('HMGET', ck, 's', 'ea')
  if st[1] == 'pending' and tonumber(ARGV[2]) < tonumber(st[2]) then
    if ARGV[1] ~= '1' then return {0, redis.call('HGETALL', ck)} end
    redis.call('HSET', ck, 's', 'superseded')
  end
end
redis.call('HSET', KEYS[2], unpack(ARGV, 6))
redis.call('PEXPIREAT', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[5], 'PXAT', ARGV[3])
return {1}
`)

// lookupScript: KEYS[1] the challenge, or (ARGV[1] == 'a') the binding's
// active pointer; KEYS[2] (optional) a ban. ARGV[2]: challenge key prefix.
// Returns {ban pttl, HGETALL}; the pointed-to challenge key shares KEYS[1]'s
// hash tag, so the script stays in one slot.
var lookupScript = redis.NewScript(`
local ban = -2
if KEYS[2] then ban = redis.call('PTTL', KEYS[2]) end
local ck = KEYS[1]
if ARGV[1] == 'a' then
  local cur = redis.call('GET', KEYS[1])
  if not cur then return {ban, {}} end
  ck = ARGV[2] .. cur
end
return {ban, redis.call('HGETALL', ck)}
`)

// attemptScript: KEYS[1] challenge, KEYS[2] (optional) the identity's gate
// passes. ARGV: matched, now ms, and with KEYS[2]: identity id, pass
// authenticated_at ms, session id, pass TTL ms, max passes kept.
// Returns {outcome, HGETALL} or {0} when missing. On a verified outcome the
// pass is written in the same step; expired passes are dropped, and beyond
// the maximum the oldest.
var attemptScript = redis.NewScript(fmt.Sprintf(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local f = redis.call('HMGET', KEYS[1], 's', 'ea', 'a', 'ma', 'i')
if KEYS[2] and f[5] ~= ARGV[3] then
  return redis.error_reply("gate pass for another identity than the challenge's")
end
local s, ea, a, ma = f[1], tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
local now = tonumber(ARGV[2])
local out
if s == 'verified' then out = %[1]d
elseif s == 'locked' then out = %[2]d
elseif s == 'superseded' then out = %[3]d
elseif s == 'expired' then out = %[4]d
elseif now >= ea then
  redis.call('HSET', KEYS[1], 's', 'expired'); out = %[4]d
elseif a >= ma then
  redis.call('HSET', KEYS[1], 's', 'locked'); out = %[2]d
else
  a = a + 1
  if ARGV[1] == '1' then
    redis.call('HSET', KEYS[1], 'a', a, 's', 'verified', 'va', ARGV[2]); out = %[5]d
    if KEYS[2] then
      local ttl = tonumber(ARGV[6])
      local left, oldest = 0, nil
      local all = redis.call('HGETALL', KEYS[2])
      for i = 1, #all, 2 do
        local sep = string.find(all[i+1], ':', 1, true)
        if not sep or tonumber(string.sub(all[i+1], 1, sep - 1)) <= now then
          redis.call('HDEL', KEYS[2], all[i])
        elseif all[i] ~= ARGV[4] then
          left = left + 1
          if not oldest or tonumber(all[i]) < tonumber(oldest) then oldest = all[i] end
        end
      end
      if left >= tonumber(ARGV[7]) then redis.call('HDEL', KEYS[2], oldest) end
      redis.call('HSET', KEYS[2], ARGV[4], (now + ttl) .. ':' .. ARGV[5])
      if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
    end
  elseif a >= ma then
    redis.call('HSET', KEYS[1], 'a', a, 's', 'locked'); out = %[6]d
  else
    redis.call('HSET', KEYS[1], 'a', a); out = %[7]d
  end
end
return {out, redis.call('HGETALL', KEYS[1])}
`, challenge.OutcomeUsed, challenge.OutcomeExhausted, challenge.OutcomeSuperseded, challenge.OutcomeExpired,
	challenge.OutcomeVerified, challenge.OutcomeLocked, challenge.OutcomeWrong))

// updateCallScript: KEYS[1] challenge; ARGV: raw status, class.
var updateCallScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'cs', ARGV[1], 'cc', ARGV[2])
end
return 1
`)

// --- challenge.Store ---

// Create implements challenge.Store.
func (s *Store) Create(ctx context.Context, c challenge.Challenge, replace bool, now time.Time) (challenge.Challenge, bool, error) {
	key, ok := s.challengeKey(c.ID)
	if !ok {
		return challenge.Challenge{}, false, &Error{Op: "create", Err: errors.New("malformed challenge id")}
	}
	if tag, _ := challenge.IDTag(c.ID); tag != c.Binding().Tag() {
		return challenge.Challenge{}, false, &Error{Op: "create", Err: errors.New("challenge id does not match its binding")}
	}
	rep := "0"
	if replace {
		rep = "1"
	}
	tag, _ := challenge.IDTag(c.ID)
	args := append([]any{rep, ms(now), c.ExpiresAt.Add(s.grace).UnixMilli(), s.challengeKeyPrefix(tag), c.ID}, fields(c)...)
	res, err := createScript.Run(ctx, s.rdb, []string{s.activeKey(c.Binding()), key}, args...).Slice()
	if err != nil {
		return challenge.Challenge{}, false, wrap("create", err)
	}
	if n, _ := res[0].(int64); n == 1 {
		return c, true, nil
	}
	if len(res) < 2 {
		return challenge.Challenge{}, false, &Error{Op: "create", Err: errors.New("unexpected script reply")}
	}
	flat, _ := res[1].([]any)
	cur, err := decodeFlat(flat)
	if err != nil {
		return challenge.Challenge{}, false, &Error{Op: "create", Err: fmt.Errorf("active challenge vanished: %w", err)}
	}
	return cur, false, nil
}

// Get implements challenge.Store.
func (s *Store) Get(ctx context.Context, id string) (challenge.Challenge, error) {
	key, ok := s.challengeKey(id)
	if !ok {
		return challenge.Challenge{}, challenge.ErrNotFound
	}
	m, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return challenge.Challenge{}, wrap("get", err)
	}
	return decode(m)
}

// Lookup implements challenge.Store in one round trip: one script reads the
// challenge (by ID or through the active pointer) and the ban, both under
// the binding identity's hash tag.
func (s *Store) Lookup(ctx context.Context, req challenge.LookupRequest) (challenge.Challenge, time.Time, error) {
	tag := req.Binding.Tag()
	var banKey string
	if req.BanKey != "" {
		// One slot: the ban must be the binding identity's own.
		if id, ok := limit.RegulationIdentity(req.BanKey); !ok || id != req.Binding.IdentityID {
			return challenge.Challenge{}, time.Time{}, &Error{Op: "lookup", Err: errors.New("ban key is not the binding identity's regulation key")}
		}
		_, banKey = s.blockKeys(req.BanKey)
	}
	var first, mode string
	switch idTag, ok := challenge.IDTag(req.ID); {
	case req.ID == "":
		first, mode = s.activeKey(req.Binding), "a"
	case ok && idTag == tag:
		first, mode = s.challengeKeyPrefix(tag)+req.ID, "c"
	}
	start := s.now()
	if first == "" {
		// Not an ID of this binding: nothing to read but the ban.
		if banKey == "" {
			return challenge.Challenge{}, time.Time{}, challenge.ErrNotFound
		}
		left, err := s.rdb.PTTL(ctx, banKey).Result()
		if err != nil {
			return challenge.Challenge{}, time.Time{}, wrap("lookup", err)
		}
		return challenge.Challenge{}, banEnd(start, left), challenge.ErrNotFound
	}
	keys := []string{first}
	if banKey != "" {
		keys = append(keys, banKey)
	}
	res, err := lookupScript.Run(ctx, s.rdb, keys, mode, s.challengeKeyPrefix(tag)).Slice()
	if err != nil {
		return challenge.Challenge{}, time.Time{}, wrap("lookup", err)
	}
	if len(res) != 2 {
		return challenge.Challenge{}, time.Time{}, &Error{Op: "lookup", Err: errors.New("unexpected script reply")}
	}
	left, _ := res[0].(int64)
	until := banEnd(start, time.Duration(left)*time.Millisecond)
	flat, _ := res[1].([]any)
	c, err := decodeFlat(flat)
	return c, until, err
}

// banEnd turns a ban's PTTL read at start into its end (zero: no ban).
func banEnd(start time.Time, left time.Duration) time.Time {
	if left <= 0 {
		return time.Time{}
	}
	return start.Add(left)
}

// maxPasses bounds the gate passes kept per identity.
const maxPasses = 16

// errPassIdentity: a pass for another identity than the challenge's.
var errPassIdentity = errors.New("gate pass for another identity than the challenge's")

// Attempt implements challenge.Store; with pass, the gate pass is written by
// the same script (the pass hash shares the challenge's hash tag).
func (s *Store) Attempt(ctx context.Context, id string, matched bool, now time.Time, pass *challenge.Pass) (challenge.Challenge, challenge.Outcome, error) {
	key, ok := s.challengeKey(id)
	if !ok {
		return challenge.Challenge{}, 0, challenge.ErrNotFound
	}
	m := "0"
	if matched {
		m = "1"
	}
	keys, args := []string{key}, []any{m, ms(now)}
	if pass != nil {
		if tag, _ := challenge.IDTag(id); challenge.IdentityTag(pass.IdentityID) != tag {
			return challenge.Challenge{}, 0, &Error{Op: "attempt", Err: errPassIdentity}
		}
		keys = append(keys, s.passKey(pass.IdentityID))
		args = append(args, pass.IdentityID, pass.AuthenticatedAt.UnixMilli(), pass.SessionID, pass.TTL.Milliseconds(), maxPasses)
	}
	res, err := attemptScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return challenge.Challenge{}, 0, wrap("attempt", err)
	}
	out, _ := res[0].(int64)
	if out == 0 || len(res) < 2 {
		return challenge.Challenge{}, 0, challenge.ErrNotFound
	}
	flat, _ := res[1].([]any)
	c, err := decodeFlat(flat)
	if err != nil {
		return challenge.Challenge{}, 0, err
	}
	return c, challenge.Outcome(out), nil
}

// UpdateCall implements challenge.Store.
func (s *Store) UpdateCall(ctx context.Context, id string, st flashcall.Status) error {
	key, ok := s.challengeKey(id)
	if !ok {
		return nil
	}
	return wrap("update call", updateCallScript.Run(ctx, s.rdb, []string{key}, st.Raw, int(st.Class)).Err())
}

// Ping implements challenge.Store.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.rdb.Ping(ctx).Err())
}

// --- limit.Counter ---

// takeScript: KEYS[1] counter; ARGV: limit, window ms. Returns {allowed, pttl, count}.
// A counter without TTL (should not exist) gets one, so nothing lives forever.
const takeScript = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
  local t = redis.call('PTTL', KEYS[1])
  if t < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); t = tonumber(ARGV[2]) end
  return {0, t, n}
end
n = redis.call('INCR', KEYS[1])
local t = redis.call('PTTL', KEYS[1])
if t < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); t = tonumber(ARGV[2]) end
return {1, t, n}
`

// untakeScript compensates a take whose sibling rule refused.
const untakeScript = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 1
`

func (s *Store) counterKey(k string) string { return s.prefix + "{l:" + k + "}" }

// Take implements limit.Counter. Each rule's key may live in its own cluster
// slot, so the rules are taken by per-key scripts in one pipeline and the
// taken ones are given back if any rule refused. Between the two steps a
// concurrent take may see a counter one too high and be refused: the error is
// on the safe side.
func (s *Store) Take(ctx context.Context, takes []limit.Take) (limit.TakeResult, error) {
	res := limit.TakeResult{Allowed: true, Blocked: -1}
	if len(takes) == 0 {
		return res, nil
	}
	cmds := make([]*redis.Cmd, len(takes))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range takes {
			cmds[i] = p.Eval(ctx, takeScript, []string{s.counterKey(t.Key)}, t.Limit, t.Window.Milliseconds())
		}
		return nil
	})
	if err != nil {
		return limit.TakeResult{}, wrap("take", err)
	}
	var taken []int
	counts := make([]int, len(takes))
	for i, c := range cmds {
		v, err := c.Slice()
		if err != nil || len(v) != 3 {
			return limit.TakeResult{}, wrap("take", fmt.Errorf("bad reply %v: %w", v, err))
		}
		ok, _ := v[0].(int64)
		pttl, _ := v[1].(int64)
		n, _ := v[2].(int64)
		counts[i] = int(n)
		if ok == 1 {
			taken = append(taken, i)
			continue
		}
		if res.Allowed {
			res.Allowed, res.Blocked = false, i
		}
		res.RetryAfter = max(res.RetryAfter, time.Duration(pttl)*time.Millisecond)
	}
	if res.Allowed {
		res.Counts = counts
		return res, nil
	}
	if len(taken) == 0 {
		return res, nil
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, i := range taken {
			p.Eval(ctx, untakeScript, []string{s.counterKey(takes[i].Key)})
		}
		return nil
	})
	if err != nil {
		return limit.TakeResult{}, wrap("take compensate", err)
	}
	return res, nil
}

// --- limit.Blocks ---

// failScript: KEYS[1] failure counter, KEYS[2] ban; ARGV: find ms, max, ban ms.
// Returns the ban's remaining ms, or 0.
var failScript = redis.NewScript(`
local b = redis.call('PTTL', KEYS[2])
if b > 0 then return b end
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return tonumber(ARGV[3])
end
return 0
`)

// blockKeys names the failure counter and ban of a Blocks key. An
// identity's regulation key goes under the identity's hash tag, so Lookup
// reads the ban in the same script as the challenge.
func (s *Store) blockKeys(k string) (fail, ban string) {
	base := s.prefix + "{b:" + k + "}"
	if id, ok := limit.RegulationIdentity(k); ok {
		base = s.prefix + "{" + challenge.IdentityTag(id) + "}:b:" + k
	}
	return base + ":f", base + ":b"
}

// Fail implements limit.Blocks.
func (s *Store) Fail(ctx context.Context, key string, findTime time.Duration, maxFailures int, banTime time.Duration) (time.Time, error) {
	f, b := s.blockKeys(key)
	start := s.now()
	left, err := failScript.Run(ctx, s.rdb, []string{f, b}, findTime.Milliseconds(), maxFailures, banTime.Milliseconds()).Int64()
	if err != nil {
		return time.Time{}, wrap("fail", err)
	}
	if left <= 0 {
		return time.Time{}, nil
	}
	return start.Add(time.Duration(left) * time.Millisecond), nil
}

// BlockedUntil implements limit.Blocks.
func (s *Store) BlockedUntil(ctx context.Context, key string) (time.Time, error) {
	_, b := s.blockKeys(key)
	start := s.now()
	left, err := s.rdb.PTTL(ctx, b).Result()
	if err != nil {
		return time.Time{}, wrap("blocked until", err)
	}
	return banEnd(start, left), nil
}
