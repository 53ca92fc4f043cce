// Package redisstore keeps challenges, limit counters, regulation bans and
// gate passes in Redis (go-redis v9), so several instances share them. Every
// atomic step is one Lua script; every key has a TTL.
//
// Every key of one identity carries the identity's hash tag
// (T = challenge.IdentityTag, which challenge.Binding.Tag returns and every
// challenge ID embeds), so they all live in one Redis Cluster slot and a
// verify is one round trip: one Verify script checks the identity's ban,
// reads the challenge (by ID or through the binding's active pointer),
// compares the candidate code hash in constant time, counts, consumes, and
// on success records the gate pass.
//
// Key layout (P is the prefix):
//
//	P{T}:c:<challenge id>            hash: one challenge
//	P{T}:a:<binding hash>            string: the binding's active challenge id
//	P{T}:a:<binding hash>:s          string: the binding's start lease (a start's
//	                                 token, a short TTL; see lease.go)
//	P{T}:p:<identity id>             hash: gate passes, field authenticated_at ms,
//	                                 value "<expires ms>:<claiming session id or ''>"
//	P{T}:p:<identity id>:n           hash: the E.164 number each pass's call went to,
//	                                 same fields, value "<the pass's expires ms>:<number>"
//	P{T}:b:r:<identity id>:fw / :b   regulation failure log / ban (limit.RegulationKey)
//	P{l:<key>}:w                     sorted set: a limit counter's sliding log
//	P{b:<key>}:fw / P{b:<key>}:b     failure log / ban of any other Blocks key
//
// Limit counters and failure counts are sliding windows: a sorted set whose
// members are the takes (or failures), each scored with its time in ms from
// the store's clock and named by 8 random bytes. Every take or failure first
// drops the members that left the window (ZREMRANGEBYSCORE), then counts
// (ZCARD) and adds itself (ZADD), O(log n) each, and sets the key to expire
// one window later, when every member has left. (The ":w" and ":fw" suffixes
// are new with sliding windows: a fixed-window string counter left by an
// older version is never read as a sorted set; it expires by itself.)
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
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

// WithClock sets the clock the store counts limit and failure windows with
// (and reads bans against); tests use a fake one. Default time.Now. Key
// expiry stays Redis's own (real time).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

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

// passNumberKey is the hash of the numbers the passes' calls went to, one
// field per pass (the same field as in passKey). Kept apart from the pass
// values, whose form ("<expires>:<session>") instances of the version
// before read: old and new instances share one Redis during a rolling
// upgrade or a rollback, and claim each other's passes.
func (s *Store) passNumberKey(identityID string) string {
	return s.passKey(identityID) + ":n"
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
	f := []any{
		"id", c.ID, "p", string(c.Purpose), "i", c.IdentityID, "f", c.FlowID,
		"ph", c.Phone, "h", c.CodeHash, "cl", c.CodeLength,
		"pr", c.Provider, "ci", c.CallID, "cs", c.CallStatus, "cc", int(c.CallClass),
		"a", c.Attempts, "ma", c.MaxAttempts, "r", c.Resends,
		"ca", ms(c.CreatedAt), "ea", ms(c.ExpiresAt), "ra", ms(c.ResendAfter),
		"s", string(c.State), "va", ms(c.VerifiedAt),
	}
	if len(c.EarlierCodeHashes) > 0 {
		// Only after a resend: a first challenge keeps no empty field.
		f = append(f, "eh", c.EarlierCodeHashes)
	}
	return f
}

func decode(m map[string]string) (challenge.Challenge, error) {
	return decodeBy(func(k string) string { return m[k] })
}

// decodeBy builds a challenge from its hash fields as get returns them
// ("" for a missing one).
func decodeBy(get func(string) string) (challenge.Challenge, error) {
	if get("id") == "" {
		return challenge.Challenge{}, challenge.ErrNotFound
	}
	atoi := func(k string) int { n, _ := strconv.Atoi(get(k)); return n }
	c := challenge.Challenge{
		ID: get("id"), Purpose: challenge.Purpose(get("p")), IdentityID: get("i"), FlowID: get("f"),
		Phone: get("ph"), CodeLength: atoi("cl"),
		Provider: get("pr"), CallID: get("ci"), CallStatus: get("cs"), CallClass: flashcall.Class(atoi("cc")),
		Attempts: atoi("a"), MaxAttempts: atoi("ma"), Resends: atoi("r"),
		CreatedAt: fromMS(get("ca")), ExpiresAt: fromMS(get("ea")), ResendAfter: fromMS(get("ra")),
		State: challenge.State(get("s")), VerifiedAt: fromMS(get("va")),
	}
	if h := get("h"); h != "" {
		c.CodeHash = []byte(h)
	}
	if h := get("eh"); h != "" {
		c.EarlierCodeHashes = []byte(h)
	}
	return c, nil
}

// decodeFields decodes the verify script's reply: the values of
// challengeFields by position, nil for a field the hash lacks.
func decodeFields(v []any) (challenge.Challenge, error) {
	if len(v) != len(challengeFields) {
		return challenge.Challenge{}, &Error{Op: "verify", Err: fmt.Errorf("unexpected script reply: %d fields", len(v))}
	}
	return decodeBy(func(k string) string {
		s, _ := v[fieldPos[k]].(string)
		return s
	})
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
// ARGV: expected active id ("" = none), now ms, expire-at ms, challenge key
// prefix, id, fields... A live active challenge other than ARGV[1] is
// returned unchanged.
// The old challenge key is built from the prefix: it has the same hash tag
// as KEYS[1], so the script stays in one slot.
var createScript = newScript(fmt.Sprintf(createSrc, "", "#ARGV"))

// createLeasedScript is createScript for the start holding the binding's
// start lease (KEYS[3]), named by the last ARGV: the lease is released in
// the same step (LeaseStart, CreateLeased), whatever the outcome.
var createLeasedScript = newScript(fmt.Sprintf(createSrc,
	"if redis.call('GET', KEYS[3]) == ARGV[#ARGV] then redis.call('DEL', KEYS[3]) end\n", "#ARGV - 1"))

// createSrc is the body of both create scripts: %[1]s runs first, and
// the challenge's fields are ARGV[6] to ARGV[%[2]s].
const createSrc = `%[1]s
local cur = redis.call('GET', KEYS[1])
if cur then
  local ck = ARGV[4] .. cur
  local st = redis.call('HMGET', ck, 's', 'ea')
  if st[1] == 'pending' and tonumber(ARGV[2]) < tonumber(st[2]) then
    if ARGV[1] == '' or ARGV[1] ~= cur then return {0, redis.call('HGETALL', ck)} end
    redis.call('HSET', ck, 's', 'superseded')
  end
end
redis.call('HSET', KEYS[2], unpack(ARGV, 6, %[2]s))
redis.call('PEXPIREAT', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[5], 'PXAT', ARGV[3])
return {1}
`

// lookupScript: KEYS[1] the challenge, or (ARGV[1] == 'a') the binding's
// active pointer; KEYS[2] (optional) a ban. ARGV[2]: challenge key prefix.
// Returns {ban pttl, HGETALL, start leased (1/0, with 'a' only)}; the
// pointed-to challenge key and the start lease (leaseKey) share KEYS[1]'s
// hash tag, so the script stays in one slot.
var lookupScript = newScript(`
local ban = -2
if KEYS[2] then ban = redis.call('PTTL', KEYS[2]) end
local ck, leased = KEYS[1], 0
if ARGV[1] == 'a' then
  leased = redis.call('EXISTS', KEYS[1] .. ':s')
  local cur = redis.call('GET', KEYS[1])
  if not cur then return {ban, {}, leased} end
  ck = ARGV[2] .. cur
end
return {ban, redis.call('HGETALL', ck), leased}
`)

// challengeFields are the hash fields of a challenge in the order the verify
// script reads and returns them (decodeFields reads them by position).
var challengeFields = []string{"id", "p", "i", "f", "ph", "h", "cl", "pr", "ci", "cs", "cc",
	"a", "ma", "r", "ca", "ea", "ra", "s", "va", "eh"}

// fieldPos maps a challenge field to its position in challengeFields.
var fieldPos = func() map[string]int {
	m := make(map[string]int, len(challengeFields))
	for i, f := range challengeFields {
		m[f] = i
	}
	return m
}()

// verifyScript: KEYS[1] the challenge, or (ARGV[1] == 'a') the binding's
// active pointer; then optionally the identity's ban and its gate passes, at
// the KEYS indexes ARGV[3] and ARGV[4] (0: absent); with regulation
// (ARGV[11] > 0, only with a ban) the identity's failure log follows the ban,
// and the passes' numbers (passNumberKey) follow the passes.
// ARGV: mode, challenge key prefix, ban index, pass index, now ms, purpose,
// identity id, flow id, candidate hash, then the regulation: find ms, max
// failures (0: off), ban ms, failure time ms, member; and with a pass:
// authenticated_at ms, session id, pass TTL ms, max passes kept; then
// optionally (ARGV[19], the pass's four placeholders before it when there
// is no pass) the number the code must prove: another one's challenge
// answers OutcomeNumberChanged with its fields, nothing written.
// Returns {banned outcome, ban pttl}, {0} when missing (or of another
// binding), or {outcome, fields, lock ban}: every challenge field in the order of
// challengeFields, as the script left them (one HMGET, read once and
// returned; a second HGETALL cost more than the rest of the script). Every
// key shares KEYS[1]'s hash tag (the pointed-to challenge key is built from
// the prefix), so the script stays in one slot. The hash comparison reads
// every byte whatever differs. On a verified outcome the pass is written in
// the same step; expired passes are dropped, and beyond the maximum the
// oldest. A lock records the regulation failure as failScript does (fail,
// failLua) in the same step; lock ban is the ban's remaining ms (0: none).
var verifySrc = failLua + fieldReplacer().Replace(fmt.Sprintf(`
local bi, pi = tonumber(ARGV[3]), tonumber(ARGV[4])
if bi > 0 then
  local ban = redis.call('PTTL', KEYS[bi])
  if ban > 0 then return {%[8]d, ban} end
end
local ck = KEYS[1]
if ARGV[1] == 'a' then
  local cur = redis.call('GET', KEYS[1])
  if not cur then return {0} end
  ck = ARGV[2] .. cur
end
local f = redis.call('HMGET', ck, {{fields}})
if not f[{{s}}] or f[{{p}}] ~= ARGV[6] or f[{{i}}] ~= ARGV[7] or f[{{f}}] ~= ARGV[8] then return {0} end
if ARGV[19] and ARGV[19] ~= '' and f[{{ph}}] ~= ARGV[19] then return {%[9]d, f, 0} end
local s, ea, a, ma = f[{{s}}], tonumber(f[{{ea}}]), tonumber(f[{{a}}]), tonumber(f[{{ma}}])
local now = tonumber(ARGV[5])
local out, lockban = nil, 0
if s == 'verified' then out = %[1]d
elseif s == 'locked' then out = %[2]d
elseif s == 'superseded' then out = %[3]d
elseif s == 'expired' then out = %[4]d
elseif now >= ea then
  redis.call('HSET', ck, 's', 'expired'); f[{{s}}] = 'expired'; out = %[4]d
elseif a >= ma then
  redis.call('HSET', ck, 's', 'locked'); f[{{s}}] = 'locked'; out = %[2]d
else
  a = a + 1
  f[{{a}}] = tostring(a)
  local h, sum = f[{{h}}] or '', ARGV[9]
  local diff = 0
  if #h == 0 or #h ~= #sum then diff = 1; sum = h end
  for i = 1, #h do
    diff = bit.bor(diff, bit.bxor(string.byte(h, i), string.byte(sum, i)))
  end
  if diff == 0 then
    redis.call('HSET', ck, 'a', a, 's', 'verified', 'va', ARGV[5]); out = %[5]d
    f[{{s}}] = 'verified'; f[{{va}}] = ARGV[5]
    if pi > 0 then
      local pk, at, ttl = KEYS[pi], ARGV[15], tonumber(ARGV[17])
      local left, oldest = 0, nil
      local all = redis.call('HGETALL', pk)
      local nk = KEYS[pi + 1]
      for i = 1, #all, 2 do
        local sep = string.find(all[i+1], ':', 1, true)
        if not sep or tonumber(string.sub(all[i+1], 1, sep - 1)) <= now then
          redis.call('HDEL', pk, all[i]); redis.call('HDEL', nk, all[i])
        elseif all[i] ~= at then
          left = left + 1
          if not oldest or tonumber(all[i]) < tonumber(oldest) then oldest = all[i] end
        end
      end
      if left >= tonumber(ARGV[18]) then redis.call('HDEL', pk, oldest); redis.call('HDEL', nk, oldest) end
      redis.call('HSET', pk, at, (now + ttl) .. ':' .. ARGV[16])
      if redis.call('PTTL', pk) < ttl then redis.call('PEXPIRE', pk, ttl) end
      local ph = f[{{ph}}]
      if ph and ph ~= '' then
        -- With the pass's expiry: a number is only read for the pass it
        -- was written with, not for one an older instance wrote over it.
        redis.call('HSET', nk, at, (now + ttl) .. ':' .. ph)
        if redis.call('PTTL', nk) < ttl then redis.call('PEXPIRE', nk, ttl) end
      else
        redis.call('HDEL', nk, at)
      end
    end
  elseif a >= ma then
    redis.call('HSET', ck, 'a', a, 's', 'locked'); f[{{s}}] = 'locked'; out = %[6]d
    if bi > 0 and tonumber(ARGV[11]) > 0 then
      lockban = fail(KEYS[bi + 1], KEYS[bi], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14])
    end
  else
    redis.call('HSET', ck, 'a', a); out = %[7]d
  end
end
return {out, f, lockban}
`, challenge.OutcomeUsed, challenge.OutcomeExhausted, challenge.OutcomeSuperseded, challenge.OutcomeExpired,
	challenge.OutcomeVerified, challenge.OutcomeLocked, challenge.OutcomeWrong, challenge.OutcomeBanned,
	challenge.OutcomeNumberChanged))

var verifyScript = newScript(verifySrc)

// fieldReplacer fills the verify script's placeholders: {{fields}} with the
// quoted challengeFields, {{name}} with that field's Lua (1-based) index in
// the HMGET reply.
func fieldReplacer() *strings.Replacer {
	pairs := []string{"{{fields}}", "'" + strings.Join(challengeFields, "', '") + "'"}
	for i, f := range challengeFields {
		pairs = append(pairs, "{{"+f+"}}", strconv.Itoa(i+1))
	}
	return strings.NewReplacer(pairs...)
}

// updateCallScript: KEYS[1] challenge; ARGV: raw status, class.
var updateCallScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'cs', ARGV[1], 'cc', ARGV[2])
end
return 1
`)

// --- challenge.Store ---

// Create implements challenge.Store.
func (s *Store) Create(ctx context.Context, c challenge.Challenge, expectActive string, now time.Time) (challenge.Challenge, bool, error) {
	return s.create(ctx, c, expectActive, now, "")
}

// CreateLeased implements challenge.StartLeaser: Create, and the release of
// the binding's start lease held under token, in one step.
func (s *Store) CreateLeased(ctx context.Context, c challenge.Challenge, expectActive string, now time.Time, token string) (challenge.Challenge, bool, error) {
	return s.create(ctx, c, expectActive, now, token)
}

// create is Create, releasing the start lease token holds ("": none).
func (s *Store) create(ctx context.Context, c challenge.Challenge, expectActive string, now time.Time, token string) (challenge.Challenge, bool, error) {
	key, ok := s.challengeKey(c.ID)
	if !ok {
		return challenge.Challenge{}, false, &Error{Op: "create", Err: errors.New("malformed challenge id")}
	}
	if tag, _ := challenge.IDTag(c.ID); tag != c.Binding().Tag() {
		return challenge.Challenge{}, false, &Error{Op: "create", Err: errors.New("challenge id does not match its binding")}
	}
	tag, _ := challenge.IDTag(c.ID)
	args := append([]any{expectActive, ms(now), c.ExpiresAt.Add(s.grace).UnixMilli(), s.challengeKeyPrefix(tag), c.ID}, fields(c)...)
	script, keys := createScript, []string{s.activeKey(c.Binding()), key}
	if token != "" {
		script, keys, args = createLeasedScript, append(keys, s.leaseKey(c.Binding())), append(args, token)
	}
	res, err := s.run(ctx, script, keys, args...).Slice()
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
	banKey, err := s.identityBanKey("lookup", req.BanKey, req.Binding)
	if err != nil {
		return challenge.Challenge{}, time.Time{}, err
	}
	first, mode := s.firstKey(req.ID, req.Binding)
	if first == "" {
		// Not an ID of this binding: nothing to read but the ban.
		until, err := s.banOnly(ctx, "lookup", banKey)
		if err != nil {
			return challenge.Challenge{}, time.Time{}, err
		}
		return challenge.Challenge{}, until, challenge.ErrNotFound
	}
	keys := []string{first}
	if banKey != "" {
		keys = append(keys, banKey)
	}
	res, err := s.run(ctx, lookupScript, keys, mode, s.challengeKeyPrefix(req.Binding.Tag())).Slice()
	if err != nil {
		return challenge.Challenge{}, time.Time{}, wrap("lookup", err)
	}
	if len(res) < 2 {
		return challenge.Challenge{}, time.Time{}, &Error{Op: "lookup", Err: errors.New("unexpected script reply")}
	}
	left, _ := res[0].(int64)
	until := s.banEnd(time.Duration(left) * time.Millisecond)
	flat, _ := res[1].([]any)
	c, err := decodeFlat(flat)
	return c, until, err
}

// counterCheck is the read-only check of one counter's sliding log: one
// plain command in the caller's pipeline (cheaper for redis-server than a
// script per counter; it reads one key, so one slot), which reads the
// Limit-th newest take by rank:
//
//	ZRANGE key -limit -limit WITHSCORES
//
// The takes inside the window ending at now are the newest ones, so the
// window holds Limit takes or more (a take would be refused) exactly when
// that take exists and is still inside it, and a take fits again once it
// has left. The take script judges the same members (after dropping the
// ones that left, which this read only skips), so check and take agree.
// By rank the read costs O(log n) in redis-server whatever the limit: an
// offset into a score range (BYSCORE … LIMIT limit-1 1) walks the offset,
// which for a large global budget meant every call of the day per start.
type counterCheck struct {
	limit    int64
	window   int64 // ms
	now      int64 // ms, the store's clock
	nthNewer *redis.ZSliceCmd
}

func (s *Store) queueChecks(ctx context.Context, p redis.Pipeliner, checks []limit.Take) []counterCheck {
	now := s.now().UnixMilli()
	out := make([]counterCheck, len(checks))
	for i, t := range checks {
		w := t.Window.Milliseconds()
		out[i] = counterCheck{limit: int64(t.Limit), window: w, now: now,
			nthNewer: p.ZRangeWithScores(ctx, s.counterKey(t.Key), -int64(t.Limit), -int64(t.Limit))}
	}
	return out
}

// LookupAndCheck implements challenge.CheckingStore: the lookup script and
// a read-only check of every counter go in one pipeline, so a start that a
// call limit refuses costs one round trip (the counters live in their own
// cluster slots; a cluster client sends the pipeline's parts to their nodes
// in parallel).
func (s *Store) LookupAndCheck(ctx context.Context, req challenge.LookupRequest, checks []limit.Take) (challenge.CheckedLookup, error) {
	banKey, err := s.identityBanKey("lookup", req.BanKey, req.Binding)
	if err != nil {
		return challenge.CheckedLookup{}, err
	}
	first, mode := s.firstKey(req.ID, req.Binding)
	if len(checks) == 0 {
		c, until, err := s.Lookup(ctx, req)
		return challenge.CheckedLookup{Challenge: c, BannedUntil: until, Check: limit.TakeResult{Allowed: true, Blocked: -1}}, err
	}
	if first == "" {
		// An ID that cannot be the binding's: Lookup reads only the ban, and
		// the counters are checked after it (Start never asks by ID).
		c, until, err := s.Lookup(ctx, req)
		if err != nil && !errors.Is(err, challenge.ErrNotFound) {
			return challenge.CheckedLookup{Challenge: c, BannedUntil: until}, err
		}
		check, cerr := s.check(ctx, checks)
		if cerr != nil {
			return challenge.CheckedLookup{}, cerr
		}
		return challenge.CheckedLookup{Challenge: c, BannedUntil: until, Check: check}, err
	}
	keys := []string{first}
	if banKey != "" {
		keys = append(keys, banKey)
	}
	var look *scriptCmd
	var cmds []counterCheck
	// When the lookup answered, a counter read's own error is judged (and
	// refused) by checkResult.
	err = s.scriptPipeline(ctx, func(p redis.Pipeliner) {
		look = evalSha(ctx, p, lookupScript, keys, mode, s.challengeKeyPrefix(req.Binding.Tag()))
		cmds = s.queueChecks(ctx, p, checks)
	})
	if err == nil || look.Err() == nil {
		err = look.Err()
	}
	if err != nil {
		return challenge.CheckedLookup{}, wrap("lookup", err)
	}
	check, err := checkResult(cmds)
	if err != nil {
		return challenge.CheckedLookup{}, err
	}
	res, err := look.Slice()
	if err != nil || len(res) != 3 {
		return challenge.CheckedLookup{}, &Error{Op: "lookup", Err: fmt.Errorf("unexpected script reply: %v", err)}
	}
	left, _ := res[0].(int64)
	flat, _ := res[1].([]any)
	leased, _ := res[2].(int64)
	c, err := decodeFlat(flat)
	return challenge.CheckedLookup{Challenge: c, BannedUntil: s.banEnd(time.Duration(left) * time.Millisecond),
		Check: check, StartLeased: leased == 1}, err
}

// check reads every take's counter in one pipeline.
func (s *Store) check(ctx context.Context, checks []limit.Take) (limit.TakeResult, error) {
	var cmds []counterCheck
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		cmds = s.queueChecks(ctx, p, checks)
		return nil
	})
	if err != nil {
		return limit.TakeResult{}, wrap("check", err)
	}
	return checkResult(cmds)
}

// checkResult reads the counters into a TakeResult (no Counts), as Take
// would judge them: a window holding its limit of takes refuses until the
// take that makes room leaves it (at least 1 ms).
func checkResult(cmds []counterCheck) (limit.TakeResult, error) {
	res := limit.TakeResult{Allowed: true, Blocked: -1}
	for i, c := range cmds {
		z, err := c.nthNewer.Result()
		if err != nil {
			return limit.TakeResult{}, wrap("check", fmt.Errorf("counter: %w", err))
		}
		if len(z) == 0 || int64(z[0].Score) <= c.now-c.window {
			continue // fewer than limit takes in the window
		}
		if res.Allowed {
			res.Allowed, res.Blocked = false, i
		}
		res.RetryAfter = max(res.RetryAfter, retryMS(int64(z[0].Score)+c.window-c.now))
	}
	return res, nil
}

// retryMS is a wait in ms as a duration of at least 1 ms.
func retryMS(ms int64) time.Duration { return time.Duration(max(ms, 1)) * time.Millisecond }

// identityBanKey is the Redis key of the ban on banKey ("" for none), which
// must be b's identity's regulation key: that is what puts it in the
// identity's slot.
func (s *Store) identityBanKey(op, banKey string, b challenge.Binding) (string, error) {
	if banKey == "" {
		return "", nil
	}
	if id, ok := limit.RegulationIdentity(banKey); !ok || id != b.IdentityID {
		return "", &Error{Op: op, Err: errors.New("ban key is not the binding identity's regulation key")}
	}
	_, k := s.blockKeys(banKey)
	return k, nil
}

// firstKey is the key a script starts from for a challenge ID of b ("c") or,
// with id "", b's active pointer ("a"); "" when id cannot be one of b's
// challenges.
func (s *Store) firstKey(id string, b challenge.Binding) (key, mode string) {
	if id == "" {
		return s.activeKey(b), "a"
	}
	if tag, ok := challenge.IDTag(id); ok && tag == b.Tag() {
		return s.challengeKeyPrefix(tag) + id, "c"
	}
	return "", ""
}

// banOnly reads the end of the ban at banKey ("": none, no round trip).
func (s *Store) banOnly(ctx context.Context, op, banKey string) (time.Time, error) {
	if banKey == "" {
		return time.Time{}, nil
	}
	left, err := s.rdb.PTTL(ctx, banKey).Result()
	if err != nil {
		return time.Time{}, wrap(op, err)
	}
	return s.banEnd(left), nil
}

// banEnd turns a ban's PTTL, just read, into its end (zero: no ban). The
// clock is read after the reply: Redis counted left down at some moment of
// the round trip, so the end is never told early by the round trip's
// latency (a client told to come back must not find the ban still on).
func (s *Store) banEnd(left time.Duration) time.Time {
	if left <= 0 {
		return time.Time{}
	}
	return s.now().Add(left)
}

// maxPasses bounds the gate passes kept per identity.
const maxPasses = 16

// errPassIdentity: a pass for another identity than the binding's.
var errPassIdentity = errors.New("gate pass for another identity than the binding's")

// Verify implements challenge.Store in one round trip: one script checks
// the ban, reads the challenge (by ID or through the active pointer), checks
// its binding, compares the hash, counts, with a pass writes the gate pass
// and on a lock records the regulation failure (req.Regulation) — every key
// under the binding identity's hash tag.
func (s *Store) Verify(ctx context.Context, req challenge.VerifyRequest) (challenge.VerifyReply, error) {
	if req.Pass != nil && req.Pass.IdentityID != req.Binding.IdentityID {
		return challenge.VerifyReply{}, &Error{Op: "verify", Err: errPassIdentity}
	}
	banKey, err := s.identityBanKey("verify", req.BanKey, req.Binding)
	if err != nil {
		return challenge.VerifyReply{}, err
	}
	first, mode := s.firstKey(req.ID, req.Binding)
	start := s.now()
	if first == "" {
		// Not an ID of this binding: only the ban can still answer.
		until, err := s.banOnly(ctx, "verify", banKey)
		switch {
		case err != nil:
			return challenge.VerifyReply{}, err
		case !until.IsZero():
			return challenge.VerifyReply{Outcome: challenge.OutcomeBanned, BannedUntil: until}, nil
		}
		return challenge.VerifyReply{}, challenge.ErrNotFound
	}
	keys := []string{first}
	banIdx, passIdx := 0, 0
	r := req.Regulation
	if banKey == "" || r.MaxFailures <= 0 {
		r = limit.Regulation{}
	}
	if banKey != "" {
		keys = append(keys, banKey)
		banIdx = len(keys)
		if r.MaxFailures > 0 {
			// The failure log: after the ban, same slot (blockKeys).
			failKey, _ := s.blockKeys(req.BanKey)
			keys = append(keys, failKey)
		}
	}
	if req.Pass != nil {
		// The passes, then the numbers their calls went to (same slot).
		keys = append(keys, s.passKey(req.Pass.IdentityID), s.passNumberKey(req.Pass.IdentityID))
		passIdx = len(keys) - 1
	}
	b := req.Binding
	args := []any{mode, s.challengeKeyPrefix(b.Tag()), banIdx, passIdx, ms(req.Now),
		string(b.Purpose), b.IdentityID, b.FlowID, req.Sum,
		r.FindTime.Milliseconds(), r.MaxFailures, r.BanTime.Milliseconds(), start.UnixMilli(), member()}
	if p := req.Pass; p != nil {
		args = append(args, p.AuthenticatedAt.UnixMilli(), p.SessionID, p.TTL.Milliseconds(), maxPasses)
	} else if req.Phone != "" {
		args = append(args, 0, "", 0, 0) // no pass: read only when the pass index is set
	}
	if req.Phone != "" {
		args = append(args, req.Phone) // ARGV[19]
	}
	res, err := s.run(ctx, verifyScript, keys, args...).Slice()
	if err != nil {
		return challenge.VerifyReply{}, wrap("verify", err)
	}
	out, _ := res[0].(int64)
	switch {
	case out == 0:
		return challenge.VerifyReply{}, challenge.ErrNotFound
	case challenge.Outcome(out) == challenge.OutcomeBanned && len(res) == 2:
		left, _ := res[1].(int64)
		return challenge.VerifyReply{Outcome: challenge.OutcomeBanned, BannedUntil: s.banEnd(time.Duration(left) * time.Millisecond)}, nil
	case len(res) != 3:
		return challenge.VerifyReply{}, &Error{Op: "verify", Err: errors.New("unexpected script reply")}
	}
	fields, _ := res[1].([]any)
	c, err := decodeFields(fields)
	if err != nil {
		return challenge.VerifyReply{}, err
	}
	lockBan, _ := res[2].(int64)
	return challenge.VerifyReply{Challenge: c, Outcome: challenge.Outcome(out),
		LockBannedUntil: s.banEnd(time.Duration(lockBan) * time.Millisecond)}, nil
}

// UpdateCall implements challenge.Store.
func (s *Store) UpdateCall(ctx context.Context, id string, st flashcall.Status) error {
	key, ok := s.challengeKey(id)
	if !ok {
		return nil
	}
	return wrap("update call", s.run(ctx, updateCallScript, []string{key}, st.Raw, int(st.Class)).Err())
}

// Ping implements challenge.Store. On a cluster every master is pinged (a
// cluster client's PING goes to one node): with one master down the
// identities of its slots fail closed, and readiness says so.
func (s *Store) Ping(ctx context.Context) error {
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		return wrap("ping", cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			if err := m.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("%s: %w", m.Options().Addr, err)
			}
			return nil
		}))
	}
	return wrap("ping", s.rdb.Ping(ctx).Err())
}

// --- limit.Counter ---

// takeScript: KEYS[1] a counter's sliding log; ARGV: limit, window ms, now
// ms, member. Drops the takes that left the window (now-window, now], and
// adds member at now if fewer than limit are left. Returns {1, 0, count
// after} or, refused, {0, ms until the take making room leaves, count}: the
// (count-limit+1)-th oldest, the oldest when count == limit. A key without
// TTL (should not exist) gets one, so nothing lives forever.
var takeScript = newScript(`
local lim, win, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
local n = redis.call('ZCARD', KEYS[1])
if n >= lim then
  local e = redis.call('ZRANGE', KEYS[1], n - lim, n - lim, 'WITHSCORES')
  if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], win) end
  return {0, tonumber(e[2]) + win - now, n}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], win)
return {1, 0, n + 1}
`)

func (s *Store) counterKey(k string) string { return s.prefix + "{l:" + k + "}:w" }

// member names one take or failure in a sliding log: 8 random bytes, so
// takes in the same millisecond stay distinct and a compensation removes
// exactly its own.
func member() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return string(b[:])
}

// Take implements limit.Counter. Each rule's key may live in its own cluster
// slot, so the rules are taken by per-key scripts in one pipeline and, if any
// rule refused, the taken ones are given back (ZREM of exactly the member
// each added). Between the two steps a concurrent take may see a window one
// take too full and be refused: the error is on the safe side.
func (s *Store) Take(ctx context.Context, takes []limit.Take) (limit.TakeResult, error) {
	res := limit.TakeResult{Allowed: true, Blocked: -1}
	if len(takes) == 0 {
		return res, nil
	}
	now := s.now().UnixMilli()
	cmds := make([]*scriptCmd, len(takes))
	// One member names the take in every rule's log (each log is its own
	// key): it is the receipt GiveBack removes.
	m := member()
	err := s.scriptPipeline(ctx, func(p redis.Pipeliner) {
		for i, t := range takes {
			cmds[i] = evalSha(ctx, p, takeScript, []string{s.counterKey(t.Key)}, t.Limit, t.Window.Milliseconds(), now, m)
		}
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
		wait, _ := v[1].(int64)
		n, _ := v[2].(int64)
		counts[i] = int(n)
		if ok == 1 {
			taken = append(taken, i)
			continue
		}
		if res.Allowed {
			res.Allowed, res.Blocked = false, i
		}
		res.RetryAfter = max(res.RetryAfter, retryMS(wait))
	}
	if res.Allowed {
		res.Counts = counts
		res.Receipt = m
		return res, nil
	}
	if len(taken) == 0 {
		return res, nil
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, i := range taken {
			p.ZRem(ctx, s.counterKey(takes[i].Key), m)
		}
		return nil
	})
	if err != nil {
		return limit.TakeResult{}, wrap("take compensate", err)
	}
	return res, nil
}

// GiveBack implements limit.Counter: one ZREM of the take's member per
// rule, in one pipeline.
func (s *Store) GiveBack(ctx context.Context, takes []limit.Take, receipt string) error {
	if len(takes) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, t := range takes {
			p.ZRem(ctx, s.counterKey(t.Key), receipt)
		}
		return nil
	})
	return wrap("give back", err)
}

// --- limit.Blocks ---

// failScript: KEYS[1] failure log (sliding), KEYS[2] ban; ARGV: find ms,
// max, ban ms, now ms, member. During a ban nothing is recorded. Otherwise
// the failures that left (now-find, now] are dropped and this one added; at
// max failures the ban is set and the log forgotten. Returns the ban's
// remaining ms, or 0.
var failScript = newScript(failLua + `
return fail(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
`)

// failLua defines fail(log, ban, find ms, max, ban ms, now ms, member), the
// body of failScript, shared with verifyScript (which records the failure of
// a lock in the same step): the arguments and return value are
// failScript's.
const failLua = `
local function fail(fk, bk, find, max, banms, now, member)
  local b = redis.call('PTTL', bk)
  if b > 0 then return b end
  find, now = tonumber(find), tonumber(now)
  redis.call('ZREMRANGEBYSCORE', fk, '-inf', now - find)
  redis.call('ZADD', fk, now, member)
  if redis.call('ZCARD', fk) >= tonumber(max) then
    redis.call('SET', bk, '1', 'PX', banms)
    redis.call('DEL', fk)
    return tonumber(banms)
  end
  redis.call('PEXPIRE', fk, find)
  return 0
end
`

// blockKeys names the failure log and ban of a Blocks key. An
// identity's regulation key goes under the identity's hash tag, so Lookup
// and Verify read the ban in the same script as the challenge.
func (s *Store) blockKeys(k string) (fail, ban string) {
	base := s.prefix + "{b:" + k + "}"
	if id, ok := limit.RegulationIdentity(k); ok {
		base = s.prefix + "{" + challenge.IdentityTag(id) + "}:b:" + k
	}
	return base + ":fw", base + ":b"
}

// Fail implements limit.Blocks.
func (s *Store) Fail(ctx context.Context, key string, findTime time.Duration, maxFailures int, banTime time.Duration) (time.Time, error) {
	f, b := s.blockKeys(key)
	start := s.now()
	left, err := s.run(ctx, failScript, []string{f, b}, findTime.Milliseconds(), maxFailures, banTime.Milliseconds(),
		start.UnixMilli(), member()).Int64()
	if err != nil {
		return time.Time{}, wrap("fail", err)
	}
	if left <= 0 {
		return time.Time{}, nil
	}
	return s.banEnd(time.Duration(left) * time.Millisecond), nil
}

// BlockedUntil implements limit.Blocks.
func (s *Store) BlockedUntil(ctx context.Context, key string) (time.Time, error) {
	_, b := s.blockKeys(key)
	left, err := s.rdb.PTTL(ctx, b).Result()
	if err != nil {
		return time.Time{}, wrap("blocked until", err)
	}
	return s.banEnd(left), nil
}
