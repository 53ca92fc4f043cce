// Package limit enforces the abuse limits around flash calls: counters per
// destination number, identity, client IP and a global daily budget, lists of
// allowed and denied destination prefixes, and "regulation" (a temporary ban of
// an identity after repeated failed verifications).
//
// Every counter is a sliding window: a rule of Limit per Window allows at
// most Limit takes in ANY span of one Window length (a store keeps the time
// of every take still inside the window), so no burst across a window's end
// gets more than Limit. Regulation counts failures the same way: a ban
// follows MaxFailures failures within any FindTime span.
//
// The package only decides; the counting is done by a Counter and a Blocks
// store (plugin/store/memory, plugin/store/redis). Any store error fails
// closed: the call is refused.
package limit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// Kinds of limit, as reported in LimitError.Kind.
const (
	KindNumber   = "number"
	KindIdentity = "identity"
	KindIP       = "ip"
	KindGlobal   = "global"
	// KindPhoneCheckBudget is the part of the global budget that phone
	// checks (registration, settings) may spend.
	KindPhoneCheckBudget = "phone_check_budget"
	KindRegulation       = "regulation"
	KindDestination      = "destination"
)

// ErrLimited is matched (errors.Is) by every *LimitError.
var ErrLimited = errors.New("limit reached")

// ErrUnavailable wraps a counter or block store failure. The limiter fails
// closed, so callers must treat it as "refused".
var ErrUnavailable = errors.New("limit store unavailable")

// LimitError says which limit refused a call and when it frees (0 when it
// never frees by itself, e.g. a denied destination).
type LimitError struct {
	Kind       string
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("limit reached: %s (retry after %s)", e.Kind, e.RetryAfter.Round(time.Second))
	}
	return "limit reached: " + e.Kind
}

// Is makes errors.Is(err, ErrLimited) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimited }

// Take is one rule of an atomic multi-rule take, a sliding window: a take is
// counted under Key only while fewer than Limit takes were counted there in
// the last Window, i.e. at times in (now-Window, now]. Each take leaves the
// window exactly Window after it was counted.
type Take struct {
	Key    string
	Limit  int
	Window time.Duration
}

// TakeResult is the answer of Counter.Take.
type TakeResult struct {
	// Allowed is true when every counter was below its limit and all were
	// incremented.
	Allowed bool
	// Blocked is the index (in the takes slice) of the first rule that
	// refused; -1 when allowed.
	Blocked int
	// RetryAfter is when all refusing rules are free again (the longest
	// wait): for each, when enough of its oldest takes have left its window
	// that one more fits (with Limit takes in the window, when the oldest
	// leaves: its time + Window - now). At least 1 ms.
	RetryAfter time.Duration
	// Counts are the takes within each rule's window after an allowed take,
	// this one included, in takes order (nil when refused). They feed the
	// budget gauge.
	Counts []int
	// Receipt names the entries an allowed take added (opaque, "" when
	// refused), so that Counter.GiveBack can remove exactly them.
	Receipt string
}

// Counter counts sliding-window rules.
type Counter interface {
	// Take counts one take under every rule only if each has fewer than
	// its Limit takes within its Window; otherwise it counts none (net) and
	// reports the blocking rule. Every key it writes expires.
	Take(ctx context.Context, takes []Take) (TakeResult, error)
	// GiveBack removes from each of takes' logs (all or some of the rules
	// of one allowed take) the entry of the take whose TakeResult.Receipt
	// is receipt, as if it had not happened (an entry already gone is no
	// error). For a call that provably was not placed; once per receipt
	// (in the memory store two takes at the same instant share a receipt).
	GiveBack(ctx context.Context, takes []Take, receipt string) error
}

// Blocks stores regulation failures and bans.
type Blocks interface {
	// Fail records one failure under key. When maxFailures failures fall
	// within findTime (a sliding window: any span of findTime, this failure
	// and the ones in (now-findTime, now]) the key is banned for banTime and
	// its failures are forgotten. During a ban a failure is not recorded. It
	// returns the end of the ban, or the zero time when not banned.
	Fail(ctx context.Context, key string, findTime time.Duration, maxFailures int, banTime time.Duration) (time.Time, error)
	// BlockedUntil returns the end of the ban on key, or the zero time.
	BlockedUntil(ctx context.Context, key string) (time.Time, error)
}

// Rule is one sliding-window limit: at most Limit calls in any span of one
// Window. A Limit of 0 disables the rule.
type Rule struct {
	Limit  int           `yaml:"limit" json:"limit"`
	Window time.Duration `yaml:"window" json:"window"`
}

// Regulation bans an identity after MaxFailures failed verifications (a
// challenge locked by wrong codes) within FindTime (a sliding window: any
// FindTime span), for BanTime. MaxFailures 0 disables it.
type Regulation struct {
	MaxFailures int           `yaml:"max_failures" json:"max_failures"`
	FindTime    time.Duration `yaml:"find_time" json:"find_time"`
	BanTime     time.Duration `yaml:"ban_time" json:"ban_time"`
}

// Config holds every limit. Start from DefaultConfig.
type Config struct {
	PerNumber   Rule `yaml:"per_number" json:"per_number"`
	PerIdentity Rule `yaml:"per_identity" json:"per_identity"`
	PerIP       Rule `yaml:"per_ip" json:"per_ip"`
	GlobalDaily Rule `yaml:"global_daily" json:"global_daily"`
	// PhoneCheckPercent is the share of GlobalDaily (in percent, same
	// window) that calls verifying a number (CallKeys.PhoneCheck) may use.
	// Anyone can start a registration with any number, so without it a
	// flood of sign-ups could spend the whole budget and refuse every login
	// (the budget fails closed). 0 or 100: no separate share.
	PhoneCheckPercent int `yaml:"phone_check_percent" json:"phone_check_percent"`
	// AllowPrefixes, when not empty, restricts destinations to E.164 numbers
	// whose digits (without "+") start with one of them.
	AllowPrefixes []string `yaml:"allow_prefixes" json:"allow_prefixes"`
	// DenyPrefixes refuses destinations starting with one of them; deny wins
	// over allow.
	DenyPrefixes []string   `yaml:"deny_prefixes" json:"deny_prefixes"`
	Regulation   Regulation `yaml:"regulation" json:"regulation"`
}

// DefaultConfig returns the limits that are on unless configured otherwise.
func DefaultConfig() Config {
	return Config{
		PerNumber:   Rule{Limit: 5, Window: time.Hour},
		PerIdentity: Rule{Limit: 10, Window: 24 * time.Hour},
		PerIP:       Rule{Limit: 20, Window: time.Hour},
		GlobalDaily: Rule{Limit: 10000, Window: 24 * time.Hour},
		// Half the budget for phone checks: logins and step-up keep at
		// least the other half whatever sign-ups do.
		PhoneCheckPercent: 50,
		Regulation:        Regulation{MaxFailures: 3, FindTime: 10 * time.Minute, BanTime: 15 * time.Minute},
	}
}

// Validate reports every problem at once, each naming the field.
func (c Config) Validate() error {
	var errs []error
	rule := func(name string, r Rule) {
		switch {
		case r.Limit < 0:
			errs = append(errs, fmt.Errorf("limits.%s.limit must be >= 0 (0 disables the rule), got %d", name, r.Limit))
		case r.Limit > 0 && r.Window <= 0:
			errs = append(errs, fmt.Errorf("limits.%s.window must be > 0 when limit is set, got %s", name, r.Window))
		}
	}
	rule("per_number", c.PerNumber)
	rule("per_identity", c.PerIdentity)
	rule("per_ip", c.PerIP)
	rule("global_daily", c.GlobalDaily)
	if c.PhoneCheckPercent < 0 || c.PhoneCheckPercent > 100 {
		errs = append(errs, fmt.Errorf("limits.phone_check_percent must be 0..100 (0 or 100: no separate share), got %d", c.PhoneCheckPercent))
	}
	prefixes := func(name string, ps []string) {
		for i, p := range ps {
			if p == "" || strings.Trim(p, "0123456789") != "" {
				errs = append(errs, fmt.Errorf("limits.%s[%d] must be E.164 digits without '+' (e.g. \"7900\"), got %q", name, i, p))
			}
		}
	}
	prefixes("allow_prefixes", c.AllowPrefixes)
	prefixes("deny_prefixes", c.DenyPrefixes)
	r := c.Regulation
	switch {
	case r.MaxFailures < 0:
		errs = append(errs, fmt.Errorf("limits.regulation.max_failures must be >= 0 (0 disables regulation), got %d", r.MaxFailures))
	case r.MaxFailures > 0 && r.FindTime <= 0:
		errs = append(errs, fmt.Errorf("limits.regulation.find_time must be > 0, got %s", r.FindTime))
	case r.MaxFailures > 0 && r.BanTime <= 0:
		errs = append(errs, fmt.Errorf("limits.regulation.ban_time must be > 0, got %s", r.BanTime))
	}
	return errors.Join(errs...)
}

// CallKeys identifies one call for counting. PhoneE164 must already be
// normalised (phone.Parse(...).E164()) so that re-spelling a number cannot
// reach a fresh counter.
type CallKeys struct {
	PhoneE164  string
	IdentityID string
	// AccountID, when set and not IdentityID, is the Kratos identity a call
	// is made for although another owner is counted (a phone check in
	// settings is owned by the number): its per-identity limit counts the
	// call too, so one account cannot call many numbers.
	AccountID string
	ClientIP  string
	// PhoneCheck marks a call that verifies a number someone entered
	// (registration, settings) rather than one to an account's own number
	// (login, step-up). Such calls count against their own per-number
	// counter and the phone-check share of the budget, so checks started
	// by strangers cannot use up the limits a user's logins need.
	PhoneCheck bool
}

// Limiter applies a Config with a Counter and a Blocks store.
type Limiter struct {
	cfg     Config
	counter Counter
	blocks  Blocks
	now     func() time.Time
	budget  BudgetObserver
	numbers *phone.Hasher
	paid    paidMemo
}

// paidMemo remembers phone.PaidByCaller's answers: it asks libphonenumber
// for the number's type (about 6 µs and 29 allocations) on every call
// start, a refused one included, and a flood of starts repeats its numbers.
// Bounded: full, it starts afresh.
type paidMemo struct {
	mu sync.Mutex
	m  map[string]bool
}

// paidMemoSize bounds paidMemo (a few hundred KiB at most).
const paidMemoSize = 4096

func (p *paidMemo) paidByCaller(e164 string) bool {
	p.mu.Lock()
	v, ok := p.m[e164]
	p.mu.Unlock()
	if ok {
		return v
	}
	v = phone.PaidByCaller(e164)
	p.mu.Lock()
	if p.m == nil || len(p.m) >= paidMemoSize {
		p.m = make(map[string]bool, 64)
	}
	p.m[e164] = v
	p.mu.Unlock()
	return v
}

// Option configures a Limiter.
type Option func(*Limiter)

// BudgetObserver learns how much of the global daily call budget is used
// (internal/metrics sets its callpass_calls_budget_used_ratio gauge).
type BudgetObserver interface {
	// SetBudgetUsed is the share counted by a take (or 1 when the budget
	// refused one).
	SetBudgetUsed(ratio float64)
	// SubBudgetUsed lowers the share by one given-back call's part. It is a
	// difference, not the count, because takes of this or another process
	// may have raised the count since the take given back.
	SubBudgetUsed(ratio float64)
}

// WithBudgetObserver reports the global budget's use after every call taken
// or given back.
func WithBudgetObserver(o BudgetObserver) Option { return func(l *Limiter) { l.budget = o } }

// WithNumberHasher names numbers in counter keys (required). Every instance
// sharing a store must use the same key.
func WithNumberHasher(h *phone.Hasher) Option { return func(l *Limiter) { l.numbers = h } }

// WithClock sets the clock used to turn ban ends into retry-after durations.
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// New validates cfg and returns a Limiter.
func New(cfg Config, counter Counter, blocks Blocks, opts ...Option) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if counter == nil || blocks == nil {
		return nil, errors.New("limit: counter and blocks store are required")
	}
	l := &Limiter{cfg: cfg, counter: counter, blocks: blocks, now: time.Now}
	for _, o := range opts {
		o(l)
	}
	if l.numbers == nil {
		return nil, errors.New("limit: a number hasher is required (WithNumberHasher)")
	}
	return l, nil
}

// Config returns the limiter's configuration.
func (l *Limiter) Config() Config { return l.cfg }

// CheckDestination refuses numbers outside the allow list or inside the deny
// list, and always those the caller pays a premium for (phone.PaidByCaller):
// with no list configured, anyone could register such a number and have it
// called, and no allow list makes a flash call to one useful. It needs no
// store.
func (l *Limiter) CheckDestination(e164 string) error {
	if l.paid.paidByCaller(e164) {
		return &LimitError{Kind: KindDestination}
	}
	digits := strings.TrimPrefix(e164, "+")
	for _, p := range l.cfg.DenyPrefixes {
		if strings.HasPrefix(digits, p) {
			return &LimitError{Kind: KindDestination}
		}
	}
	if len(l.cfg.AllowPrefixes) == 0 {
		return nil
	}
	for _, p := range l.cfg.AllowPrefixes {
		if strings.HasPrefix(digits, p) {
			return nil
		}
	}
	return &LimitError{Kind: KindDestination}
}

// numberKey is the per-number counter key. The number is named by a keyed
// hash (phone.Hasher), so a store dump neither lists the users' numbers nor
// lets them be recovered by hashing every number.
func (l *Limiter) numberKey(e164 string, check bool) string {
	if check {
		return "nc:" + l.numbers.Sum("number-check", e164)
	}
	return "n:" + l.numbers.Sum("number", e164)
}

// ipKey names the client the per-IP counter counts (CallRules hashes it).
// An IPv6 client is counted by its /64: one subscriber usually holds a
// whole /64 and could pick a fresh address for every request. Addresses
// that carry an IPv4 client count as that IPv4 address (IPv4-mapped,
// NAT64's 64:ff9b::/96, 6to4's 2002::/16, whose /48 is one IPv4 site,
// Teredo's 2001::/32, whose last 32 bits are the client's public IPv4
// inverted: the server, flags and port before them are the client's to
// vary, so any other reading gave one IPv4 client endless counters). The
// local-use NAT64 prefix 64:ff9b:1::/48, whose /64 many clients share and
// whose IPv4 position the operator chooses, counts address by address. An
// address that does not parse is counted as given.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() {
		// ParseAddr takes IPv4 only in its canonical dotted form.
		return ip
	}
	a = a.Unmap().WithZone("")
	if !a.Is6() {
		return a.String()
	}
	b := a.As16()
	switch {
	case nat64WellKnown.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])).String()
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])).String()
	case teredo.Contains(a):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}).String()
	case nat64Local.Contains(a):
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")
	teredo         = netip.MustParsePrefix("2001::/32")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

// phoneCheckRule is the phone-check share of the global budget, or a
// disabled rule when there is no separate share.
func (c Config) phoneCheckRule() Rule {
	p := c.PhoneCheckPercent
	if p <= 0 || p >= 100 || c.GlobalDaily.Limit <= 0 {
		return Rule{}
	}
	return Rule{Limit: max(1, c.GlobalDaily.Limit*p/100), Window: c.GlobalDaily.Window}
}

// CallRules are the counters one call is taken from: the takes in the order
// TakeCall takes them, and each one's kind (Kind*) for the refusal.
type CallRules struct {
	Takes []Take
	Kinds []string
}

// callRulesBacking holds both lists of one CallRules: one allocation, not
// two, and room for every rule (number, identity, account, IP, phone-check
// share, global), where a capacity of five grew both for a phone check.
type callRulesBacking struct {
	takes [6]Take
	kinds [6]string
}

// CallRules lists the enabled rules a call to k is counted against.
func (l *Limiter) CallRules(k CallKeys) (CallRules, error) {
	if k.PhoneE164 == "" {
		return CallRules{}, errors.New("limit: phone number is required")
	}
	b := new(callRulesBacking)
	r := CallRules{Takes: b.takes[:0], Kinds: b.kinds[:0]}
	add := func(kind, key string, rule Rule) {
		if rule.Limit > 0 && key != "" {
			r.Takes = append(r.Takes, Take{Key: key, Limit: rule.Limit, Window: rule.Window})
			r.Kinds = append(r.Kinds, kind)
		}
	}
	add(KindNumber, l.numberKey(k.PhoneE164, k.PhoneCheck), l.cfg.PerNumber)
	if k.IdentityID != "" {
		add(KindIdentity, "i:"+k.IdentityID, l.cfg.PerIdentity)
	}
	if k.AccountID != "" && k.AccountID != k.IdentityID {
		add(KindIdentity, "i:"+k.AccountID, l.cfg.PerIdentity)
	}
	if k.ClientIP != "" {
		// Named by a keyed hash like numbers: a store dump need not list
		// the clients' addresses.
		add(KindIP, "ip:"+l.numbers.Sum("ip", ipKey(k.ClientIP)), l.cfg.PerIP)
	}
	if k.PhoneCheck {
		add(KindPhoneCheckBudget, "gc", l.cfg.phoneCheckRule())
	}
	// The global budget stays last: Take reads its count for the gauge.
	add(KindGlobal, "g", l.cfg.GlobalDaily)
	return r, nil
}

// TakeCall counts one call against every enabled rule, atomically: either all
// counters move or none. A refusal is a *LimitError naming the first blocking
// rule.
func (l *Limiter) TakeCall(ctx context.Context, k CallKeys) error {
	rules, err := l.CallRules(k)
	if err != nil {
		return err
	}
	_, err = l.Take(ctx, rules)
	return err
}

// Take is TakeCall for rules already listed by CallRules. The Taken it
// returns (when allowed) can be given back with GiveBack.
func (l *Limiter) Take(ctx context.Context, rules CallRules) (Taken, error) {
	if len(rules.Takes) == 0 {
		return Taken{}, nil
	}
	res, err := l.counter.Take(ctx, rules.Takes)
	if err != nil {
		return Taken{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if res.Allowed {
		kinds := rules.Kinds
		if l.budget != nil && len(res.Counts) == len(rules.Takes) && kinds[len(kinds)-1] == KindGlobal {
			l.budget.SetBudgetUsed(float64(res.Counts[len(rules.Takes)-1]) / float64(l.cfg.GlobalDaily.Limit))
		}
		return Taken{rules: rules, receipt: res.Receipt}, nil
	}
	return Taken{}, l.Refused(res, rules)
}

// Taken is one allowed take of a call's rules.
type Taken struct {
	rules   CallRules
	receipt string
}

// GivesBack reports whether GiveBack of t has store work to do: false for
// the zero Taken (no take, or no rule enabled) and for a take of the
// per-IP rule alone, which is never given back.
func (t Taken) GivesBack() bool {
	if t.receipt == "" {
		return false
	}
	for i := range t.rules.Takes {
		if i >= len(t.rules.Kinds) || t.rules.Kinds[i] != KindIP {
			return true
		}
	}
	return false
}

// GiveBack returns a take for a call that provably was not placed (the
// request never reached the provider, or the provider refused it), so a
// provider refusing every call (a wrong token, an empty balance) does not
// use up the users' limits and the day's budget while it lasts. A call that
// may have been placed is never given back. The per-IP count is kept: it
// is what still slows one source sending starts while the provider refuses
// them (each one is still a request to the provider).
func (l *Limiter) GiveBack(ctx context.Context, t Taken) error {
	if !t.GivesBack() {
		return nil
	}
	var back []Take
	global := false
	for i, tk := range t.rules.Takes {
		if i < len(t.rules.Kinds) && t.rules.Kinds[i] == KindIP {
			continue
		}
		global = global || (i < len(t.rules.Kinds) && t.rules.Kinds[i] == KindGlobal)
		back = append(back, tk)
	}
	if len(back) == 0 {
		return nil
	}
	if err := l.counter.GiveBack(ctx, back, t.receipt); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if global && l.budget != nil && l.cfg.GlobalDaily.Limit > 0 {
		l.budget.SubBudgetUsed(1 / float64(l.cfg.GlobalDaily.Limit))
	}
	return nil
}

// Refused turns the answer of a Take, or of a store's read-only check of the
// same rules (see challenge.CheckingStore), into the *LimitError naming the
// first blocking rule; nil when res allows.
func (l *Limiter) Refused(res TakeResult, rules CallRules) error {
	if res.Allowed {
		return nil
	}
	kinds := rules.Kinds
	if l.budget != nil && res.Blocked >= 0 && res.Blocked < len(kinds) && kinds[res.Blocked] == KindGlobal {
		l.budget.SetBudgetUsed(1)
	}
	kind := KindGlobal
	if res.Blocked >= 0 && res.Blocked < len(kinds) {
		kind = kinds[res.Blocked]
	}
	return &LimitError{Kind: kind, RetryAfter: res.RetryAfter}
}

// Counter is the store the limiter counts in.
func (l *Limiter) Counter() Counter { return l.counter }

// regulationPrefix starts every regulation key.
const regulationPrefix = "r:"

// RegulationKey is the Blocks key holding an identity's regulation failures
// and ban. A store may use RegulationIdentity to keep it next to the
// identity's other keys (one Redis Cluster slot per identity).
func RegulationKey(identityID string) string { return regulationPrefix + identityID }

// RegulationIdentity returns the identity whose RegulationKey key is, or
// false when key is not a regulation key.
func RegulationIdentity(key string) (string, bool) {
	id, ok := strings.CutPrefix(key, regulationPrefix)
	return id, ok && id != ""
}

// Blocks returns the limiter's ban store, so a caller can tell whether
// another store (the challenge store) keeps the same bans and may read them
// itself (BanKey, CheckBan).
func (l *Limiter) Blocks() Blocks { return l.blocks }

// BanKey is the Blocks key to read for the identity's ban, or "" when
// regulation is off (nothing to read). Read it with Blocks().BlockedUntil,
// or in the same round trip as other data when the store allows, and judge
// the answer with CheckBan.
func (l *Limiter) BanKey(identityID string) string {
	if l.cfg.Regulation.MaxFailures == 0 || identityID == "" {
		return ""
	}
	return RegulationKey(identityID)
}

// Blocked returns the end of the identity's regulation ban, or the zero time.
func (l *Limiter) Blocked(ctx context.Context, identityID string) (time.Time, error) {
	key := l.BanKey(identityID)
	if key == "" {
		return time.Time{}, nil
	}
	until, err := l.blocks.BlockedUntil(ctx, key)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return until, nil
}

// CheckBlocked returns a regulation *LimitError while the identity is banned.
func (l *Limiter) CheckBlocked(ctx context.Context, identityID string) error {
	until, err := l.Blocked(ctx, identityID)
	if err != nil {
		return err
	}
	return l.CheckBan(until)
}

// CheckBan returns a regulation *LimitError when a ban ending at until (read
// under BanKey) is still running, else nil.
func (l *Limiter) CheckBan(until time.Time) error {
	if wait := until.Sub(l.now()); !until.IsZero() && wait > 0 {
		return &LimitError{Kind: KindRegulation, RetryAfter: wait}
	}
	return nil
}

// Regulation returns the limiter's regulation parameters (what a store
// that records failures itself, in the same step as a verify, needs).
func (l *Limiter) Regulation() Regulation { return l.cfg.Regulation }

// RecordFailure counts a failed verification of the identity and returns the
// end of the ban it caused (zero when not banned).
func (l *Limiter) RecordFailure(ctx context.Context, identityID string) (time.Time, error) {
	r := l.cfg.Regulation
	if r.MaxFailures == 0 || identityID == "" {
		return time.Time{}, nil
	}
	until, err := l.blocks.Fail(ctx, RegulationKey(identityID), r.FindTime, r.MaxFailures, r.BanTime)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return until, nil
}
