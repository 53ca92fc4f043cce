package challenge

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// Provider places flash calls (plugin/callpass.Client implements it). Errors
// must wrap one flashcall.Err* sentinel.
type Provider interface {
	Name() string
	StartCall(ctx context.Context, n phone.Number) (flashcall.Call, error)
	// CallStatus gets n, the number the call was placed to, so a status
	// text echoing it is masked as the start answer's is: Raw is stored
	// and shown.
	CallStatus(ctx context.Context, callID string, n phone.Number) (flashcall.Status, error)
}

// Observer receives metrics events (internal/metrics implements it). A nil
// Observer is fine.
type Observer interface {
	// ObserveCallPlaced: outcome is "placed" or the provider error's kind.
	ObserveCallPlaced(provider, outcome string)
	// ObserveCallStatus: whether a placed call rang, once per call: the
	// final status (returned by a synchronous start, or learned by
	// polling), or the last status polled when polling gave up (pending or
	// unknown). Calls that are never polled (API v1, or past MaxPollers)
	// are not reported.
	ObserveCallStatus(provider string, class flashcall.Class)
	// ObserveCallUnpolled: a call left unpolled because MaxPollers calls
	// were being polled (whether it rang stays unknown).
	ObserveCallUnpolled(provider string)
	// ObserveVerify: "verified", "wrong", "locked", "exhausted", "invalid",
	// "expired", "used", "not_found", "blocked", "error".
	ObserveVerify(outcome string)
	// ObserveLimit: a limit refused a call or verify (limit.Kind*).
	ObserveLimit(kind string)
	// ObserveBan: regulation banned an identity (a new ban, once; the
	// requests it refuses afterwards are ObserveLimit(limit.KindRegulation)).
	ObserveBan()
	// ObserveStore: one store operation, its error (nil on success) and latency.
	ObserveStore(op string, err error, d time.Duration)
}

// Config tunes the service. Start from DefaultConfig and set CodeKey.
type Config struct {
	// TTL is how long a code can be verified.
	TTL time.Duration
	// MaxAttempts is the number of codes a challenge accepts.
	MaxAttempts int
	// ResendCooldowns[i] is the wait before resend i+1 (the last value
	// repeats); non-decreasing.
	ResendCooldowns []time.Duration
	// MaxResends bounds resends of one challenge.
	MaxResends int
	// CodeKey keys the code hash (HMAC-SHA256); at least 32 bytes.
	CodeKey []byte
	// PollInterval and PollTimeout bound the background polling of an
	// asynchronous call's status.
	PollInterval time.Duration
	PollTimeout  time.Duration
	// MaxPollers bounds concurrent background polls; beyond it a call is not
	// polled (its status stays pending).
	MaxPollers int
	// StartTimeout bounds the paid part of a start (take the limits, place
	// the call), which runs on even when the caller goes away: longer than
	// the provider's request timeout. Recording the outcome then has a bound
	// of its own (recordTimeout).
	StartTimeout time.Duration
	// StartLeaseTTL is how long a start's lease on its flow lasts without
	// being renewed (it is renewed while the start runs; see leaseStart):
	// how long a start whose instance or store died mid-way holds its
	// flow's next start off. Zero: 5 s.
	StartLeaseTTL time.Duration
}

// DefaultConfig returns defaults; CodeKey must still be set.
func DefaultConfig() Config {
	return Config{
		TTL:             5 * time.Minute,
		MaxAttempts:     3,
		ResendCooldowns: []time.Duration{30 * time.Second, 60 * time.Second, 120 * time.Second, 300 * time.Second},
		MaxResends:      5,
		PollInterval:    2 * time.Second,
		PollTimeout:     2 * time.Minute,
		MaxPollers:      1000,
		StartTimeout:    time.Minute,
	}
}

// recordTimeout bounds each store write that goes on after the caller hangs
// up: recording a placed call, giving back the limits of one that was not,
// counting a locked challenge's failure toward a ban. It is longer than one
// Redis operation can take with the store's client options (pool wait,
// dial, write and read: about 6 s).
const recordTimeout = 10 * time.Second

// MinCodeKeyLen is the shortest accepted CodeKey.
const MinCodeKeyLen = 32

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.TTL <= 0 {
		errs = append(errs, fmt.Errorf("challenge.ttl must be > 0, got %s", c.TTL))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("challenge.max_attempts must be >= 1, got %d", c.MaxAttempts))
	}
	if len(c.ResendCooldowns) == 0 {
		errs = append(errs, errors.New("challenge.resend_cooldowns must list at least one duration"))
	}
	for i, d := range c.ResendCooldowns {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("challenge.resend_cooldowns[%d] must be > 0, got %s", i, d))
		} else if i > 0 && d < c.ResendCooldowns[i-1] {
			errs = append(errs, fmt.Errorf("challenge.resend_cooldowns[%d] (%s) must not be shorter than the one before (%s)", i, d, c.ResendCooldowns[i-1]))
		}
	}
	if c.MaxResends < 0 {
		errs = append(errs, fmt.Errorf("challenge.max_resends must be >= 0, got %d", c.MaxResends))
	}
	if len(c.CodeKey) < MinCodeKeyLen {
		errs = append(errs, fmt.Errorf("challenge.code_key must be at least %d bytes, got %d", MinCodeKeyLen, len(c.CodeKey)))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("challenge.poll_interval must be > 0, got %s", c.PollInterval))
	}
	if c.PollTimeout <= 0 {
		errs = append(errs, fmt.Errorf("challenge.poll_timeout must be > 0, got %s", c.PollTimeout))
	}
	if c.MaxPollers < 0 {
		errs = append(errs, fmt.Errorf("challenge.max_pollers must be >= 0, got %d", c.MaxPollers))
	}
	if c.StartTimeout <= 0 {
		errs = append(errs, fmt.Errorf("challenge start timeout must be > 0, got %s", c.StartTimeout))
	}
	return errors.Join(errs...)
}

// cooldown is the wait before the next resend after resends resends.
func (c Config) cooldown(resends int) time.Duration {
	return c.ResendCooldowns[min(resends, len(c.ResendCooldowns)-1)]
}

// HashCode is what stores keep instead of the code, and what a verify
// compares: HMAC-SHA256(key, "callpass-code-v2" 0x00 purpose 0x00 identity
// 0x00 flow 0x00 code). Binding the binding in makes a hash useless for any
// other binding, and lets a verify compute the candidate hash before it
// reads anything — the store then checks ban, challenge and code in one
// step.
func HashCode(key []byte, b Binding, code string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(appendCodeInput(nil, b, code))
	return m.Sum(nil)
}

// appendCodeInput appends HashCode's message to buf.
func appendCodeInput(buf []byte, b Binding, code string) []byte {
	buf = append(buf, codeHashDomain...)
	for _, part := range [...]string{string(b.Purpose), b.IdentityID, b.FlowID, code} {
		buf = append(buf, 0)
		buf = append(buf, part...)
	}
	return buf
}

// codeHasher is a keyed HMAC with a scratch buffer, reused through a pool.
type codeHasher struct {
	mac hash.Hash
	buf []byte
}

// hashCode is HashCode with a pooled HMAC: Reset keeps the keyed state, so
// the key schedule is not redone on every verify.
func (s *Service) hashCode(b Binding, code string) []byte {
	h := s.hmacs.Get().(*codeHasher)
	h.mac.Reset()
	h.buf = appendCodeInput(h.buf[:0], b, code)
	h.mac.Write(h.buf)
	sum := h.mac.Sum(nil)
	s.hmacs.Put(h)
	return sum
}

// codeHashDomain versions HashCode's input.
const codeHashDomain = "callpass-code-v2"

// Service runs challenges. It is safe for concurrent use.
type Service struct {
	cfg      Config
	store    Store
	provider Provider
	limiter  *limit.Limiter
	obs      Observer
	log      *slog.Logger
	tracer   trace.Tracer
	// tracing: a TracerProvider was given (timed makes spans only then).
	tracing bool
	hmacs   sync.Pool // of *codeHasher (hashCode)
	now     func() time.Time
	// callTimeout bounds one status request of the poller.
	callTimeout time.Duration
	// sharedBans: the store also keeps the limiter's regulation bans, so
	// Lookup and Verify read the ban in the same round trip as the
	// challenge.
	sharedBans bool
	// checker: the store also keeps the limiter's counters and bans and
	// reads them with the challenge in one round trip (lookup for Start).
	checker CheckingStore
	// bans remembers the regulation bans the store reported (banmemo.go).
	bans *banMemo

	base    context.Context
	cancel  context.CancelFunc
	pollers chan struct{}
	wg      sync.WaitGroup
	// unpolled counts the calls left unpolled since the last warning about
	// it, unpolledWarned is when that warning was written (Unix ns): under a
	// flood of starts it is one line a second, not one per start.
	unpolled       atomic.Int64
	unpolledWarned atomic.Int64
}

// Option configures a Service.
type Option func(*Service)

// WithObserver sets the metrics observer.
func WithObserver(o Observer) Option { return func(s *Service) { s.obs = o } }

// WithLogger sets the logger (default: none, lines are dropped).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithTracerProvider makes a span around every store operation (default:
// none). Spans name the operation and its outcome, never a number or code.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Service) {
		if tp != nil {
			s.tracer = tp.Tracer("github.com/callpass-kratos/callpass-kratos/plugin/challenge")
			s.tracing = true
		}
	}
}

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// NewService validates cfg and returns a Service. Call Close to stop
// background polling.
func NewService(cfg Config, store Store, provider Provider, limiter *limit.Limiter, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || provider == nil || limiter == nil {
		return nil, errors.New("challenge: store, provider and limiter are required")
	}
	s := &Service{
		cfg: cfg, store: store, provider: provider, limiter: limiter,
		log: slog.New(slog.DiscardHandler), now: time.Now, callTimeout: 10 * time.Second,
		pollers: make(chan struct{}, cfg.MaxPollers),
		bans:    newBanMemo(),
	}
	s.cfg.CodeKey = append([]byte(nil), cfg.CodeKey...)
	key := s.cfg.CodeKey
	s.hmacs.New = func() any { return &codeHasher{mac: hmac.New(sha256.New, key), buf: make([]byte, 0, 256)} }
	s.cfg.ResendCooldowns = append([]time.Duration(nil), cfg.ResendCooldowns...)
	for _, o := range opts {
		o(s)
	}
	if s.tracer == nil {
		s.tracer = noop.NewTracerProvider().Tracer("")
	}
	s.sharedBans = sameStore(store, limiter.Blocks())
	if cs, ok := store.(CheckingStore); ok && s.sharedBans && sameStore(store, limiter.Counter()) {
		s.checker = cs
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// ForgetBans drops the regulation bans remembered in process, so a ban
// lifted (`callpass-kratos bans lift`) or deleted from the store by hand
// stops refusing at once (SIGHUP), not at the next 30 s re-read. The bans
// still in the store are read again on the next request.
func (s *Service) ForgetBans() { s.bans.forget() }

// rememberedBan returns the regulation refusal for a ban of identityID that
// the store reported earlier and that still runs, or nil: a flood against a
// banned identity is then refused without a store round trip. Once per
// banRecheckEvery one request reads the ban from the store again: a ban
// lifted there (`bans lift`) is forgotten and the request goes on. If that
// read fails, the remembered ban still refuses (fail closed).
func (s *Service) rememberedBan(ctx context.Context, identityID string) error {
	now := s.now()
	b, ok := s.bans.get(identityID, now)
	if !ok {
		return nil
	}
	until := b.until
	if b.stale(now) && s.bans.claimRecheck(identityID, now) {
		// The claim is spent whatever the read says: read on a context of
		// its own, so a request that hung up (or an attacker's, sent to hang
		// up) does not fail the read and keep a lifted ban refusing.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), banRecheckTimeout)
		t, err := s.readBan(rctx, identityID)
		cancel()
		switch {
		case err != nil:
			s.log.WarnContext(ctx, "could not read a remembered ban again; it still refuses", "err", err)
		case t.IsZero() || !now.Before(t):
			s.bans.drop(identityID)
			return nil
		default:
			s.bans.add(identityID, t, now)
			until, _ = s.bans.until(identityID, now)
		}
	}
	return s.limiter.CheckBan(until)
}

// blocked reads the identity's ban from the limiter (a store that does not
// keep the bans itself), remembers it, and returns the refusal while it runs.
func (s *Service) blocked(ctx context.Context, identityID string) error {
	until, err := s.readBan(ctx, identityID)
	if err != nil {
		return err
	}
	s.bans.add(identityID, until, s.now())
	return s.limiter.CheckBan(until)
}

// readBan reads the identity's regulation ban from the limiter's store, as
// a store operation ("ban") in the metrics and traces like the challenge
// store's own: in Redis Cluster the limiter's keys may live on another node
// than the challenge's, and their failures must show. Nothing is read (and
// nothing observed) while regulation is off.
func (s *Service) readBan(ctx context.Context, identityID string) (until time.Time, err error) {
	if s.limiter.BanKey(identityID) == "" {
		return time.Time{}, nil
	}
	err = s.timed(ctx, "ban", func() (err error) { until, err = s.limiter.Blocked(ctx, identityID); return err })
	return until, err
}

// Polling is the number of calls whose status is being polled in the
// background right now.
func (s *Service) Polling() int { return len(s.pollers) }

// Close stops background polling and waits for it.
func (s *Service) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// Ping checks the store.
func (s *Service) Ping(ctx context.Context) error {
	if err := s.timed(ctx, "ping", func() error { return s.store.Ping(ctx) }); err != nil {
		return storeErr("ping", err)
	}
	return nil
}

// StartRequest asks for a challenge.
type StartRequest struct {
	Purpose    Purpose
	IdentityID string
	FlowID     string
	// Phone is the destination; E.164 expected (it is parsed again here so a
	// non-canonical spelling cannot reach fresh limit counters).
	Phone string
	// Number, when not zero, is the destination already parsed and is used
	// instead of Phone: only phone.Parse makes a Number, so it is canonical
	// and the second parse (libphonenumber's regular expressions) is saved.
	Number   phone.Number
	ClientIP string
	// AccountID is the Kratos identity the call is made for when the
	// binding's owner is another (a phone check is owned by the number):
	// the per-identity limit counts the call against it too.
	AccountID string
	// Resend asks for a new call replacing the pending one.
	Resend bool
	// KeepVerified: a challenge of the binding confirmed within its code's
	// lifetime is returned (Placed false) instead of placing a call, even
	// one confirmed while this start runs: the challenge a resend replaces
	// is retired (Retirer) before the call, so a confirmation either comes
	// first and no call is placed, or finds it retired. For a step-up
	// page's "call me again" while another tab types the code.
	KeepVerified bool
}

// StartResult is the active challenge; Placed says whether this request
// placed a call.
type StartResult struct {
	Challenge Challenge
	Placed    bool
}

// VerifyResult is the verified challenge (or, with an error, the challenge as
// far as known).
type VerifyResult struct {
	Challenge    Challenge
	AttemptsLeft int
}

func validBinding(b Binding) error {
	if !b.Purpose.Valid() {
		return fmt.Errorf("%w: unknown purpose %q", ErrInvalidRequest, b.Purpose)
	}
	if b.IdentityID == "" || b.FlowID == "" {
		return fmt.Errorf("%w: identity and flow are required", ErrInvalidRequest)
	}
	return nil
}

// Start returns the binding's pending challenge, or places a call and creates
// one. Order: regulation ban, idempotency/cooldown, destination and counters,
// then the provider — so a refused request never reaches the provider.
func (s *Service) Start(ctx context.Context, req StartRequest) (StartResult, error) {
	b := Binding{Purpose: req.Purpose, IdentityID: req.IdentityID, FlowID: req.FlowID}
	if err := validBinding(b); err != nil {
		return StartResult{}, err
	}
	num := req.Number
	if num.IsZero() {
		var err error
		if num, err = phone.Parse(req.Phone); err != nil {
			return StartResult{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
	}
	e164 := num.E164()
	rules, err := s.limiter.CallRules(limit.CallKeys{PhoneE164: e164, IdentityID: b.IdentityID, AccountID: req.AccountID,
		ClientIP: req.ClientIP, PhoneCheck: b.Purpose == PurposeVerifyPhone})
	if err != nil {
		return StartResult{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	look, err := s.lookup(ctx, LookupRequest{Binding: b}, rules.Takes)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return StartResult{}, err
	}
	cur, check := look.Challenge, look.Check
	now := s.now()
	if req.KeepVerified && err == nil && cur.State == StateVerified && now.Before(cur.ExpiresAt) {
		return StartResult{Challenge: cur}, nil
	}
	expect, resends := "", 0
	if err == nil && cur.Live(now) {
		var done bool
		var res StartResult
		if expect, resends, done, res, err = s.replacing(cur, now, req.Resend, e164); done {
			return res, err
		}
	}

	// The challenge this start saw as the binding's, for the lease to tell
	// whether another start has changed it since. An active challenge that
	// is superseded was retired by a start placing its call (only a retire
	// leaves the active one so): that start may yet give it back, live, if
	// its call is not placed, and this one must then show it, not place a
	// second call; so it counts as not seen.
	seenID := cur.ID
	if cur.State == StateSuperseded {
		seenID = ""
	}
	if err := s.limitErr(s.limiter.CheckDestination(e164)); err != nil {
		return StartResult{}, err
	}
	// A rule the store already reported exhausted refuses here, without
	// touching a counter: a refused start costs the one round trip.
	if err := s.limitErr(s.limiter.Refused(check, rules)); err != nil {
		if look.StartLeased {
			// Another start of this flow is placing its call, and what
			// refuses this one may be that start's own take (a double
			// submit on the last call a limit allows): show its call.
			if other := s.awaitOtherStart(ctx, b, seenID, e164); other != nil {
				return StartResult{Challenge: *other}, nil
			}
		}
		return StartResult{}, err
	}
	var lease *leaseHold // this start's lease on b, if the store has leases
	if l, ok := s.store.(StartLeaser); ok {
		// One start of a binding at a time: a concurrent one waits, then
		// shows this one's challenge and places no call of its own.
		hold, other, seen, revived, err := s.leaseStart(ctx, l, b, seenID, e164) // "": none
		if err != nil {
			return StartResult{}, err
		}
		if other != nil {
			return StartResult{Challenge: *other}, nil
		}
		lease = hold
		defer hold.release()
		if revived != nil {
			// The binding's challenge, given back from a retire its start
			// left: decided as if this start had read it live.
			cur = *revived
			var done bool
			var res StartResult
			if expect, resends, done, res, err = s.replacing(cur, s.now(), req.Resend, e164); done {
				return res, err
			}
		} else if seen != seenID {
			// Another start made a challenge while this one waited (dead,
			// or another number's), or gave back one it had retired
			// (another number's): this start replaces it.
			expect = seen
		}
	}
	// A ban may have landed since the lookup read none (this instance
	// locking another challenge of the identity meanwhile, or while this
	// start waited for the lease): the memo knows it without a round trip.
	// The call would be paid for, and its code could not be tried until
	// the ban ends.
	if err := s.rememberedBan(ctx, b.IdentityID); err != nil {
		return StartResult{}, s.limitErr(err)
	}
	// The challenge this start retired (KeepVerified), until its call is
	// placed: a call not placed (a limit, the provider) gives it back to
	// the user, code and all. Restored before the lease is released.
	retired := ""
	defer func() {
		if retired != "" {
			s.restore(context.WithoutCancel(ctx), b, retired)
		}
	}()
	if req.KeepVerified && expect != "" {
		kept, done, err := s.retire(ctx, b, expect)
		if err != nil {
			return StartResult{}, err
		}
		if kept != nil {
			return StartResult{Challenge: *kept}, nil
		}
		if done {
			retired = expect
		}
	}
	// From here on the call costs money: take, place and record it even if
	// the caller goes away (Kratos giving up on a slow hook, a client
	// disconnecting), so the retry finds the challenge instead of placing a
	// second call. StartTimeout still bounds the take and the call,
	// whatever the timeouts of the limiter's store and the provider client;
	// recording what happened (the challenge, or the limits given back) has
	// a bound of its own, so a slow take or call cannot leave a placed call
	// unrecorded.
	detached := context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(detached, s.cfg.StartTimeout)
	defer cancel()
	record := func() (context.Context, context.CancelFunc) { return context.WithTimeout(detached, recordTimeout) }
	// The take is what counts (and what holds under concurrency).
	var taken limit.Taken
	var takeErr error
	if len(rules.Takes) > 0 { // no store round trip with every limit off
		takeErr = s.timed(ctx, "take", func() (err error) { taken, err = s.limiter.Take(ctx, rules); return err })
	}
	if err := s.limitErr(takeErr); err != nil {
		return StartResult{}, err
	}

	call, err := s.provider.StartCall(ctx, num)
	if errors.Is(err, flashcall.ErrNotDelivered) {
		// Placed, and over without reaching the phone (a synchronous
		// start): counted as a placed call whose status is not_delivered,
		// as one that came with a code is; its limits stay taken. Nothing
		// is stored, so the next start calls at once.
		s.observeCall("placed")
		if s.obs != nil {
			s.obs.ObserveCallStatus(s.provider.Name(), flashcall.ClassNotDelivered)
		}
		s.log.InfoContext(ctx, "flash call did not reach the phone", "provider", s.provider.Name(), "phone", num.Masked(), "err", err)
		return StartResult{}, fmt.Errorf("challenge: start call via %s: %w", s.provider.Name(), err)
	}
	if err != nil {
		s.observeCall(providerOutcome(err))
		s.log.WarnContext(ctx, "flash call failed", "provider", s.provider.Name(), "phone", num.Masked(), "err", err)
		rctx, rcancel := record()
		s.giveBack(rctx, taken, err)
		rcancel()
		return StartResult{}, fmt.Errorf("challenge: start call via %s: %w", s.provider.Name(), err)
	}
	if call.Code == "" || len(call.Code) > flashcall.MaxCodeLen || !phone.AllDigits(call.Code) || call.ID == "" {
		s.observeCall("bad_response")
		return StartResult{}, fmt.Errorf("challenge: provider %s returned a call without a usable id or code: %w", s.provider.Name(), flashcall.ErrBadResponse)
	}
	s.observeCall("placed")
	retired = "" // its call is out: it stays replaced
	if call.Status.Final() && s.obs != nil {
		// A synchronous start answers with the call's outcome.
		s.obs.ObserveCallStatus(s.provider.Name(), call.Status.Class)
	}

	now = s.now()
	id := NewID(b)
	c := Challenge{
		ID: id, Purpose: b.Purpose, IdentityID: b.IdentityID, FlowID: b.FlowID,
		Phone: e164, CodeHash: s.hashCode(b, call.Code), CodeLength: len(call.Code),
		Provider: s.provider.Name(), CallID: call.ID, CallStatus: call.Status.Raw, CallClass: call.Status.Class,
		MaxAttempts: s.cfg.MaxAttempts, Resends: resends,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.TTL), ResendAfter: now.Add(s.cfg.cooldown(resends)),
		State: StatePending,
	}
	if expect != "" && expect == cur.ID && cur.Phone == e164 {
		// A resend to the same number: remember the replaced call's code
		// (and those it replaced), so its digits typed now are told apart.
		c.EarlierCodeHashes = earlierCodeHashes(cur)
	}
	var active Challenge
	var created bool
	ctx, rcancel := record()
	defer rcancel()
	err = s.timed(ctx, "create", func() (err error) {
		if lease != nil {
			// The lease ends with the challenge's record, in its step; no
			// renewal may recreate it after.
			lease.stopRenewing()
			active, created, err = lease.l.CreateLeased(ctx, c, expect, now, lease.token)
			lease.released = err == nil
			return err
		}
		active, created, err = s.store.Create(ctx, c, expect, now)
		return err
	})
	if err != nil {
		s.log.ErrorContext(ctx, "placed call could not be stored", "phone", num.Masked(), "err", err)
		return StartResult{}, storeErr("create", err)
	}
	if !created {
		// A concurrent Start (or resend) for the same binding stored its
		// challenge first, or replaced the one this resend read, past the
		// start lease (a store without leases, an instance of an older
		// version, a lease outlived): its call stands and this one is
		// wasted (the user may get two calls; the stored one counts).
		s.log.InfoContext(ctx, "concurrent start: kept the other challenge", "phone", num.Masked())
		return StartResult{Challenge: active}, nil
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "flash call placed", slog.String("challenge", c.ID),
		slog.String("purpose", string(b.Purpose)), slog.String("phone", num.Masked()), slog.Int("resend", resends),
		slog.String("provider", s.provider.Name()), slog.String("call_id", call.ID),
		slog.String("call_status", call.Status.Class.String()))
	if !call.Status.Final() && reportsStatus(s.provider) {
		s.startPoll(c.ID, call.ID, num, c.ExpiresAt)
	}
	return StartResult{Challenge: c, Placed: true}, nil
}

// replacing decides a start for cur, the binding's live challenge: done
// with res and err (cur shown, or the resend refused), or a new call
// replacing cur (expect), its resends counted on from cur's.
func (s *Service) replacing(cur Challenge, now time.Time, resend bool, e164 string) (expect string, resends int, done bool, res StartResult, err error) {
	switch {
	case cur.Phone != e164:
		// The identity's number changed since the call (an admin replaced
		// a lost phone: login, step-up; a phone check's binding names its
		// number). A call to the new number replaces the old challenge as
		// its first call: the old number's resends are not the new one's,
		// and carrying them refused the only call that can help until the
		// old code expired. Every call still counts against the limits.
		return cur.ID, 0, false, StartResult{}, nil
	case !resend:
		return "", 0, true, StartResult{Challenge: cur}, nil
	case cur.Resends >= s.cfg.MaxResends:
		return "", 0, true, StartResult{Challenge: cur}, &CooldownError{RetryAfter: cur.ExpiresAt.Sub(now), ResendsExhausted: true}
	case now.Before(cur.ResendAfter) && cur.CallClass != flashcall.ClassNotDelivered:
		// A call that did not reach the phone may be retried at once.
		return "", 0, true, StartResult{Challenge: cur}, &CooldownError{RetryAfter: cur.ResendAfter.Sub(now)}
	}
	if cur.Resends+1 > s.cfg.MaxResends {
		return "", 0, true, StartResult{Challenge: cur}, &CooldownError{RetryAfter: cur.ExpiresAt.Sub(now), ResendsExhausted: true}
	}
	return cur.ID, cur.Resends + 1, false, StartResult{}, nil
}

// The start lease is short and renewed while its start runs, so a start
// whose instance or store died mid-way holds its flow off for seconds, not
// for the minute a start may take (a flow whose start was cut by a Redis
// outage is usable again right after Redis is back).
//
// A waiting start looks again after startLeaseWait, then twice as long each
// time up to startLeaseMaxWait: a double submit usually finds the other
// start done within a few looks, while one waiting out a synchronous call
// (up to callpass.timeout) costs a few store round trips a second, not 50
// (many concurrent starts of one flow were a lever on a shared store).
const (
	defaultStartLeaseTTL = 5 * time.Second
	startLeaseWait       = 20 * time.Millisecond
	startLeaseMaxWait    = 250 * time.Millisecond
)

// leaseTTL is the start lease's TTL; it is renewed every third of it.
func (c Config) leaseTTL() time.Duration {
	if c.StartLeaseTTL > 0 {
		return c.StartLeaseTTL
	}
	return defaultStartLeaseTTL
}

// leaseStart takes b's start lease, waiting while another start holds it
// (at most StartTimeout: that start's own bound). seen is the active
// challenge id this start read before ("" for none). If another start has
// since made a live challenge for the same number, that challenge is
// returned and no lease is held: this start must place nothing. Else the
// lease is held, and renewed, until release is called; revived is b's
// challenge if this start gave it back from a retire a gone start left
// (see revive), live: the start decides on it as on one it read live.
func (s *Service) leaseStart(ctx context.Context, l StartLeaser, b Binding, seen, e164 string) (hold *leaseHold, other *Challenge, _ string, revived *Challenge, err error) {
	token := rand.Text()
	deadline := s.now().Add(s.cfg.StartTimeout)
	wait := startLeaseWait
	var h *leaseHold // the lease taken, if any
	held := false    // h handed to the caller
	defer func() {
		if h != nil && !held {
			h.release() // every other way out, a panic included
		}
	}()
	for {
		var taken bool
		var active string
		err := s.timed(ctx, "lease", func() (err error) { taken, active, err = l.LeaseStart(ctx, b, token, s.cfg.leaseTTL()); return err })
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, "", nil, &CooldownError{RetryAfter: time.Second}
			}
			return nil, nil, "", nil, storeErr("lease", err)
		}
		if taken && h == nil {
			h = s.holdLease(ctx, l, b, token)
		}
		if active != "" && active != seen {
			// Another start created a challenge after this one looked
			// (and may still hold the lease, recording it).
			var c Challenge
			gctx, gcancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
			err := s.timed(gctx, "get", func() (err error) { c, err = s.store.Get(gctx, active); return err })
			gcancel()
			if err != nil && !errors.Is(err, ErrNotFound) {
				// Not known dead: placing a call now may be a second one.
				return nil, nil, "", nil, storeErr("get", err)
			}
			if err == nil && c.Binding() == b && c.Phone == e164 && c.Live(s.now()) {
				return nil, &c, "", nil, nil
			}
			if err == nil && taken && c.State == StateSuperseded && c.Binding() == b {
				// Retired (only a retire leaves the active one so) by a start
				// that is gone: it held this lease until it gave the
				// challenge back or replaced it, and this start holds it now
				// (its instance died, or its give back failed). Given back,
				// as that start would have: its call is the user's, and a
				// start reading it as replaced placed a call only to show
				// one, and counted resends again from 0.
				if r := s.revive(ctx, b, c.ID); r != nil {
					held = true
					return h, nil, active, r, nil
				}
			}
			if err != nil || taken || c.State != StateSuperseded {
				seen = active // dead or another number's: this start goes on
			}
			// Else retired by the start holding the lease, which gives it
			// back if its call is not placed: looked at again once that
			// start is done.
		}
		if taken {
			held = true
			return h, nil, seen, nil, nil
		}
		if !s.now().Before(deadline) {
			// The other start is stuck past its own bound.
			return nil, nil, "", nil, &CooldownError{RetryAfter: time.Second}
		}
		t := time.NewTimer(wait)
		wait = min(2*wait, startLeaseMaxWait)
		select {
		case <-ctx.Done():
			t.Stop()
			// The caller went away while another start ran: not a store failure.
			return nil, nil, "", nil, &CooldownError{RetryAfter: time.Second}
		case <-t.C:
		}
	}
}

// awaitOtherStart waits for the start holding b's lease and returns the
// challenge it made for e164, or nil (it made none, or the wait failed).
// The lease, if this start gets it, is released at once: this start places
// nothing.
func (s *Service) awaitOtherStart(ctx context.Context, b Binding, seen, e164 string) *Challenge {
	l, ok := s.store.(StartLeaser)
	if !ok {
		return nil
	}
	hold, other, _, revived, err := s.leaseStart(ctx, l, b, seen, e164)
	if hold != nil {
		hold.release()
	}
	if err != nil {
		return nil
	}
	if revived != nil && revived.Phone == e164 {
		return revived // given back, live: the call to show
	}
	return other
}

// AwaitStart waits for the start holding b's lease (at most StartTimeout)
// and returns the challenge it made for e164 or gave back; ok is false when
// it made none to show or the wait failed. It places no call. A page naming
// a challenge that a resend retired while its call is placed shows that
// call once the start is done, not the retired one as expired meanwhile.
func (s *Service) AwaitStart(ctx context.Context, b Binding, e164 string) (_ Challenge, ok bool) {
	if validBinding(b) != nil {
		return Challenge{}, false
	}
	c := s.awaitOtherStart(ctx, b, "", e164)
	if c == nil {
		return Challenge{}, false
	}
	return *c, true
}

// leaseHold is a start lease this start holds: renewed until stopRenewing,
// ended by release (or by the store, in CreateLeased).
type leaseHold struct {
	s        *Service
	l        StartLeaser
	b        Binding
	token    string
	bg       context.Context
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	// released: the store ended the lease (CreateLeased answered).
	released bool
}

// holdLease renews a taken start lease until it is released or its
// renewal is stopped. A renewal that fails (the store is down) is tried
// again; one that finds the lease taken by another start stops.
func (s *Service) holdLease(ctx context.Context, l StartLeaser, b Binding, token string) *leaseHold {
	h := &leaseHold{s: s, l: l, b: b, token: token, bg: context.WithoutCancel(ctx),
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		ttl := s.cfg.leaseTTL()
		t := time.NewTicker(max(ttl/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
			rctx, cancel := context.WithTimeout(h.bg, max(ttl/3, time.Millisecond))
			taken, _, err := l.LeaseStart(rctx, b, token, ttl)
			cancel()
			if err == nil && !taken {
				// It ran out (renewals failed for a whole TTL) and another
				// start took it: that start may place a second call.
				s.log.WarnContext(h.bg, "start lease lost to another start while this one ran")
				return
			}
		}
	}()
	return h
}

// stopRenewing ends the renewals (no renewal runs once it returns).
func (h *leaseHold) stopRenewing() {
	h.stopOnce.Do(func() {
		close(h.stop)
		<-h.done
	})
}

// release stops the renewals and ends the lease, unless the store already
// did (CreateLeased).
func (h *leaseHold) release() {
	h.stopRenewing()
	if h.released {
		return
	}
	h.released = true
	rctx, cancel := context.WithTimeout(h.bg, recordTimeout)
	defer cancel()
	if err := h.s.timed(rctx, "release", func() error { return h.l.ReleaseStart(rctx, h.b, h.token) }); err != nil {
		// It ends by its TTL; until then this flow's starts wait.
		h.s.log.WarnContext(rctx, "could not release a start lease", "err", err)
	}
}

// retire takes id, the live challenge of b a KeepVerified start is about
// to replace, out of use before the call (Retirer). kept is the challenge
// to show instead of placing a call: id confirmed within its code's
// lifetime. done: id is retired (Restore gives it back). A store without
// Retirer, or an id no longer there, retires nothing and the start goes
// on. A store failure is returned: not knowing whether id was just
// confirmed, the start places no call (fail closed), and id is given back
// in case the retire ran.
func (s *Service) retire(ctx context.Context, b Binding, id string) (kept *Challenge, done bool, err error) {
	r, ok := s.store.(Retirer)
	if !ok {
		return nil, false, nil
	}
	var c Challenge
	now := s.now()
	err = s.timed(ctx, "retire", func() (err error) { c, done, err = r.Retire(ctx, b, id, now); return err })
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, false, nil
	case err != nil:
		// It may have run and only its answer been lost: give id back
		// (Restore changes nothing it did not do), then place no call.
		s.restore(context.WithoutCancel(ctx), b, id)
		return nil, false, storeErr("retire", err)
	case !done && c.State == StateVerified && now.Before(c.ExpiresAt):
		return &c, false, nil
	}
	return nil, done, nil
}

// revive gives back b's challenge id, left retired by a start that is
// gone, for a start that holds b's lease now; it returns the challenge if
// it is live again (nil: the start goes on as with a dead one).
func (s *Service) revive(ctx context.Context, b Binding, id string) *Challenge {
	r, ok := s.store.(Retirer)
	if !ok {
		return nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := s.timed(rctx, "restore", func() error { return r.Restore(rctx, b, id) }); err != nil {
		s.log.WarnContext(rctx, "could not give back a challenge a gone start left retired", "err", err)
		return nil
	}
	var c Challenge
	if err := s.timed(rctx, "get", func() (err error) { c, err = s.store.Get(rctx, id); return err }); err != nil ||
		c.Binding() != b || !c.Live(s.now()) {
		return nil
	}
	s.log.InfoContext(rctx, "gave back a challenge a gone start left retired", "challenge", id)
	return &c
}

// giveBackLeft gives back id, b's active challenge found retired, if no
// start holds b's lease: the start that retired it is gone, and its call
// was never placed or never recorded (Retirer.RestoreUnleased). While one
// holds it, that start may still place its call, and the code must count
// nothing. It reports whether it gave id back; a failure is logged and
// leaves id retired (the code is refused as expired, as before).
func (s *Service) giveBackLeft(ctx context.Context, b Binding, id string) bool {
	r, ok := s.store.(Retirer)
	if !ok {
		return false
	}
	var done bool
	if err := s.timed(ctx, "restore", func() (err error) { done, err = r.RestoreUnleased(ctx, b, id); return err }); err != nil {
		s.log.WarnContext(ctx, "could not give back a challenge a gone start left retired", "err", err)
		return false
	}
	if done {
		s.log.InfoContext(ctx, "gave back a challenge a gone start left retired", "challenge", id)
	}
	return done
}

// restore gives back a challenge retire took out of use when its
// replacing call was not placed.
func (s *Service) restore(ctx context.Context, b Binding, id string) {
	r, ok := s.store.(Retirer)
	if !ok {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	if err := s.timed(rctx, "restore", func() error { return r.Restore(rctx, b, id) }); err != nil {
		// It stays superseded: the user asks for a new call again.
		s.log.WarnContext(rctx, "could not give back a challenge whose replacing call was not placed", "err", err)
	}
}

// giveBack returns the limits taken for a call that was not placed because
// of the account or the way to the provider (credentials refused, balance
// too low, the request never left), so such an outage does not use up the
// users' limits and the day's budget: once it is fixed, they can sign in.
// The per-IP count stays (Limiter.GiveBack), so one source still cannot
// send the provider requests without end while it refuses them. Throttling
// stays counted (giving it back would let a flood keep the provider
// throttled), so does a refusal of this number or request (destination not
// allowed, invalid request), and so does anything that may have placed a
// call (cost protection).
func (s *Service) giveBack(ctx context.Context, taken limit.Taken, err error) {
	if !flashcall.NotPlaced(err) {
		return
	}
	if !errors.Is(err, flashcall.ErrUnauthorized) && !errors.Is(err, flashcall.ErrInsufficientBalance) &&
		!(errors.Is(err, flashcall.ErrUnavailable) && flashcall.NotSent(err)) {
		return
	}
	if !taken.GivesBack() {
		return // nothing taken that is given back: no store work to report
	}
	if gerr := s.timed(ctx, "give_back", func() error { return s.limiter.GiveBack(ctx, taken) }); gerr != nil {
		s.log.WarnContext(ctx, "could not give back the limits of a call that was not placed", "err", gerr)
	}
}

// Get returns the challenge with id.
func (s *Service) Get(ctx context.Context, id string) (Challenge, error) {
	var c Challenge
	err := s.timed(ctx, "get", func() (err error) { c, err = s.store.Get(ctx, id); return err })
	switch {
	case errors.Is(err, ErrNotFound):
		return Challenge{}, ErrNotFound
	case err != nil:
		return Challenge{}, storeErr("get", err)
	}
	return c, nil
}

// Current returns b's current challenge: the one its latest start made
// active, whatever its state (ErrNotFound when none is kept). A binding
// that holds one challenge at a time (a step-up: one per session) shows it
// on a page whose own challenge a newer call replaced, as a code posted
// from that page is tried on it (VerifyAndPassFollowing).
func (s *Service) Current(ctx context.Context, b Binding) (Challenge, error) {
	if err := validBinding(b); err != nil {
		return Challenge{}, err
	}
	var c Challenge
	err := s.timed(ctx, "lookup", func() (err error) {
		c, _, err = s.store.Lookup(ctx, LookupRequest{Binding: b})
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return Challenge{}, ErrNotFound
	case err != nil:
		return Challenge{}, storeErr("lookup", err)
	}
	if c.Binding() != b {
		// A store answers for the binding's own pointer; fail closed all
		// the same, as Verify's step 2 does.
		return Challenge{}, ErrNotFound
	}
	if c.State == StateSuperseded && s.giveBackLeft(ctx, b, c.ID) {
		// Retired by a start that is gone: its page offers its code again.
		c.State = StatePending
	}
	return c, nil
}

// Spend ends the proof b's active challenge gives, if it is verified
// (Spender): the registration it proved was saved, and a resubmit of the
// flow must find the number unproven. It reports whether it ended one. A
// store without Spender ends nothing.
func (s *Service) Spend(ctx context.Context, b Binding) (bool, error) {
	sp, ok := s.store.(Spender)
	if !ok {
		return false, nil
	}
	c, err := s.Current(ctx, b)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	case c.State != StateVerified:
		return false, nil
	}
	var done bool
	err = s.timed(ctx, "spend", func() (err error) { done, err = sp.Spend(ctx, b, c.ID); return err })
	if err != nil {
		return false, storeErr("spend", err)
	}
	return done, nil
}

// IdentityOf reports whether id is a well-formed challenge id of b's
// identity (its tag), the only ids a page of b can have been shown.
func IdentityOf(id string, b Binding) bool {
	tag, ok := IDTag(id)
	return ok && tag == b.Tag()
}

// Verify checks code against the binding's challenge (challengeID "" means
// the active one). A code is accepted once, before the TTL, within the
// attempt limit, and only for its own binding; anything else looks like
// ErrNotFound so nothing leaks about other challenges. An empty code is a bad
// request and costs nothing; any other wrong input costs an attempt; a
// banned identity gets a regulation *limit.LimitError and nothing is
// counted.
func (s *Service) Verify(ctx context.Context, b Binding, challengeID, code string) (VerifyResult, error) {
	return s.VerifyAndPass(ctx, b, challengeID, code, nil)
}

// VerifyAndPass is Verify that, when pass is not nil, also records the gate
// pass in the same atomic store step that accepts the code: a verified
// challenge always has its pass, and a refused one never does. An empty
// pass.IdentityID means the binding's identity; another identity, a zero
// AuthenticatedAt or a TTL ≤ 0 is ErrInvalidRequest.
//
// With a store that also keeps the regulation bans (the usual wiring) this
// is one store round trip (Store.Verify: ban, challenge, code, pass and,
// for the attempt that locks a challenge, the regulation failure in one
// atomic step, so concurrent verifies of the identity see the ban as soon
// as the failure causing it is recorded). Otherwise a lock records the
// failure after the step (limit.RecordFailure).
func (s *Service) VerifyAndPass(ctx context.Context, b Binding, challengeID, code string, pass *Pass) (VerifyResult, error) {
	return s.verifyAndPass(ctx, b, challengeID, code, "", pass, s.observeVerify)
}

// VerifyAndPassNumber is VerifyAndPass for a code that proves only the
// number e164 (E.164): a challenge whose call went to another number is
// ErrNumberChanged, nothing counted, checked in the same store step (the
// login gate: an admin changed the identity's number after the call, and
// the old number's code must not open a session). Counted "expired" in
// callpass_verifications_total: the challenge no longer stands.
func (s *Service) VerifyAndPassNumber(ctx context.Context, b Binding, challengeID, code, e164 string, pass *Pass) (VerifyResult, error) {
	if e164 == "" {
		return VerifyResult{}, fmt.Errorf("%w: the number the code must prove is empty", ErrInvalidRequest)
	}
	return s.verifyAndPass(ctx, b, challengeID, code, e164, pass, s.observeVerify)
}

// VerifyAndPassFollowing is VerifyAndPass for a binding that holds one
// challenge at a time (a step-up: one per session), whose pages may still
// name one that can no longer take a code. When challengeID names such a
// challenge of b (replaced by a newer start, expired, verified, or locked
// by earlier wrong codes, after which a new call may be on), the code is
// tried once against b's current challenge instead, and that answer is
// returned; with no current one, the named challenge's. (A locked one that
// is still current answers locked again, counting nothing.) The dead challenge
// counts nothing, so one code is one attempt on one challenge, and
// callpass_verifications_total counts it once, under the answer returned.
//
// An id of b's identity that finds no challenge of b is followed too: the
// store drops a replaced challenge a grace past its own expiry, while the
// call that replaced it may be on for minutes more, and the page naming it
// must not turn "not found" then. Whether such an id was b's cannot be told
// once it is gone, and need not be: the current challenge is b's own, the
// one a form without an id verifies, so nothing of another binding is read
// or counted, and the answer does not depend on the id's challenge.
func (s *Service) VerifyAndPassFollowing(ctx context.Context, b Binding, challengeID, code string, pass *Pass) (VerifyResult, error) {
	return s.verifyAndPassFollowing(ctx, b, challengeID, code, "", pass)
}

// VerifyAndPassFollowingNumber is VerifyAndPassFollowing for a code that
// proves only the number e164 (E.164), as VerifyAndPassNumber: a step-up
// whose identity's number an admin changed after the call. The named
// challenge called at another number counts nothing and is followed like a
// dead one (a newer call may have gone to the current number); a current
// challenge called at another number is ErrNumberChanged.
func (s *Service) VerifyAndPassFollowingNumber(ctx context.Context, b Binding, challengeID, code, e164 string, pass *Pass) (VerifyResult, error) {
	if e164 == "" {
		return VerifyResult{}, fmt.Errorf("%w: the number the code must prove is empty", ErrInvalidRequest)
	}
	return s.verifyAndPassFollowing(ctx, b, challengeID, code, e164, pass)
}

func (s *Service) verifyAndPassFollowing(ctx context.Context, b Binding, challengeID, code, e164 string, pass *Pass) (VerifyResult, error) {
	if challengeID == "" {
		return s.verifyAndPass(ctx, b, challengeID, code, e164, pass, s.observeVerify)
	}
	var named, current string // the outcome each try would have counted
	res, err := s.verifyAndPass(ctx, b, challengeID, code, e164, pass, func(o string) { named = o })
	// A wrong code that used the named challenge's last attempt matches
	// ErrLocked too, but it was counted there: it is the answer (no
	// attempts left, the ban it started), not a dead challenge to follow.
	_, counted := errors.AsType[*WrongCodeError](err)
	if !counted && (errors.Is(err, ErrExpired) || errors.Is(err, ErrAlreadyUsed) || errors.Is(err, ErrLocked) ||
		errors.Is(err, ErrNumberChanged) || errors.Is(err, ErrNotFound) && IdentityOf(challengeID, b)) {
		cres, cerr := s.verifyAndPass(ctx, b, "", code, e164, pass, func(o string) { current = o })
		if !errors.Is(cerr, ErrNotFound) {
			res, err, named = cres, cerr, current
		}
	}
	if named != "" {
		s.observeVerify(named)
	}
	return res, err
}

// verifyAndPass is VerifyAndPass, reporting the try's outcome to observe.
func (s *Service) verifyAndPass(ctx context.Context, b Binding, challengeID, code, e164 string, pass *Pass, observe func(string)) (VerifyResult, error) {
	if err := validBinding(b); err != nil {
		return VerifyResult{}, err
	}
	if pass != nil {
		p := *pass
		if p.IdentityID == "" {
			p.IdentityID = b.IdentityID
		}
		if p.IdentityID != b.IdentityID || p.AuthenticatedAt.IsZero() || p.TTL <= 0 {
			return VerifyResult{}, fmt.Errorf("%w: a gate pass needs the binding's identity, authenticated_at and a TTL", ErrInvalidRequest)
		}
		pass = &p
	}
	code = strings.TrimSpace(foldDigits(code))
	digitsOf, written := writtenCode(code)
	if written {
		code = digitsOf
	}
	if code == "" {
		observe("invalid")
		return VerifyResult{}, ErrInvalidCode
	}

	req := VerifyRequest{ID: challengeID, Binding: b, Pass: pass, Phone: e164}
	if err := s.rememberedBan(ctx, b.IdentityID); err != nil {
		observe("blocked")
		return VerifyResult{}, s.limitErr(err)
	}
	if s.sharedBans {
		req.BanKey = s.limiter.BanKey(b.IdentityID)
		if req.BanKey != "" {
			// The store records the failure of a lock in the same step.
			req.Regulation = s.limiter.Regulation()
		}
	} else if err := s.limitErr(s.blocked(ctx, b.IdentityID)); err != nil {
		if errors.Is(err, limit.ErrLimited) {
			observe("blocked")
		} else {
			observe("error")
		}
		return VerifyResult{}, err
	}

	if written {
		// Only the challenge knows how many of a number's digits are the
		// code: read it (a rare input, so the usual verify keeps its one
		// store step). A failed read leaves the digits whole; the verify
		// then reports the store.
		var c Challenge
		if s.timed(ctx, "lookup", func() (err error) {
			c, _, err = s.store.Lookup(ctx, LookupRequest{ID: challengeID, Binding: b})
			return err
		}) == nil && c.Binding() == b && c.CodeLength > 0 && len(code) > c.CodeLength {
			// Only b's own challenge says it: Lookup by id checks the
			// identity part alone, and another session's (a step-up tab
			// naming it is followed to b's current one) is not read.
			code = code[len(code)-c.CodeLength:]
		}
	}

	// The candidate hash is computed before the challenge (and so its code
	// length) is known. The HMAC is computed for every input so a malformed
	// code takes the same path as a wrong one; a code that cannot be one
	// (too long, not all digits) is sent as a sum no stored hash equals, so
	// it is counted as wrong and never matches.
	digits := len(code) <= flashcall.MaxCodeLen && phone.AllDigits(code)
	sum := s.hashCode(b, code[:min(len(code), flashcall.MaxCodeLen)])
	if !digits {
		sum = make([]byte, len(sum))
	}
	req.Sum = sum
	req.Now = s.now()

	var rep VerifyReply
	err := s.timed(ctx, "verify", func() (err error) { rep, err = s.store.Verify(ctx, req); return err })
	if err == nil && rep.Outcome == OutcomeSuperseded && req.ID == "" && rep.Challenge.Binding() == b &&
		s.giveBackLeft(ctx, b, rep.Challenge.ID) {
		// The active challenge, retired by a start that is gone (only a
		// retire leaves the active one superseded), given back: the code
		// is tried on it, as if that start had never run.
		err = s.timed(ctx, "verify", func() (err error) { rep, err = s.store.Verify(ctx, req); return err })
	}
	switch {
	case errors.Is(err, ErrNotFound):
		observe("not_found")
		return VerifyResult{}, ErrNotFound
	case err != nil:
		observe("error")
		return VerifyResult{}, storeErr("verify", err)
	}
	if rep.Outcome == OutcomeBanned {
		observe("blocked")
		s.bans.add(b.IdentityID, rep.BannedUntil, s.now())
		berr := s.limiter.CheckBan(rep.BannedUntil)
		if berr == nil {
			// The store saw the ban running; it ended on the limiter's clock
			// since. Nothing was counted: fail closed, briefly.
			berr = &limit.LimitError{Kind: limit.KindRegulation, RetryAfter: time.Second}
		}
		return VerifyResult{}, s.limitErr(berr)
	}
	c := rep.Challenge
	// A matching sum implies the code had the stored length (the hash binds
	// the whole code), so Format only describes counted mismatches.
	formatOK := digits && len(code) == c.CodeLength
	res := VerifyResult{Challenge: c, AttemptsLeft: c.AttemptsLeft()}
	switch rep.Outcome {
	case OutcomeVerified:
		observe("verified")
		s.log.InfoContext(ctx, "challenge verified", "challenge", c.ID, "purpose", string(b.Purpose))
		return res, nil
	case OutcomeWrong:
		observe("wrong")
		earlier := digits && isEarlierCode(c.EarlierCodeHashes, sum)
		return res, &WrongCodeError{AttemptsLeft: res.AttemptsLeft, Format: !formatOK && !earlier, EarlierCall: earlier}
	case OutcomeLocked:
		observe("locked")
		until, ferr := rep.LockBannedUntil, error(nil)
		var bannedFor time.Duration
		if req.BanKey == "" && s.limiter.BanKey(b.IdentityID) != "" {
			// The store did not record the failure: it does not keep the
			// limiter's bans (with regulation off there is nothing to
			// record, and no store operation to report). The attempt is
			// already counted in the store: count the failure too even if
			// the caller hung up meanwhile, or hanging up would be a way
			// around the ban.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
			ferr = s.timed(rctx, "record_failure", func() (err error) { until, err = s.limiter.RecordFailure(rctx, b.IdentityID); return err })
			cancel()
		}
		switch {
		case ferr != nil:
			// The verify failed anyway; a store error here is logged.
			s.log.ErrorContext(ctx, "could not record regulation failure", "err", ferr)
		case !until.IsZero():
			now := s.now()
			bannedFor = max(until.Sub(now), time.Second)
			s.bans.add(b.IdentityID, until, now)
			s.observeLimit(limit.KindRegulation)
			if s.obs != nil {
				s.obs.ObserveBan()
			}
			s.log.WarnContext(ctx, "identity banned after failed verifications", ownerAttr(b, c), "until", until)
		}
		s.log.InfoContext(ctx, "challenge locked", "challenge", c.ID, ownerAttr(b, c))
		return res, &WrongCodeError{AttemptsLeft: 0, Format: !formatOK, BannedFor: bannedFor}
	case OutcomeUsed:
		observe("used")
		return res, ErrAlreadyUsed
	case OutcomeExhausted:
		observe("exhausted") // no code compared: not a failed code
		return res, ErrLocked
	case OutcomeExpired, OutcomeSuperseded:
		observe("expired")
		return res, ErrExpired
	case OutcomeNumberChanged:
		observe("expired")
		return res, ErrNumberChanged
	default:
		observe("error")
		return VerifyResult{}, storeErr("verify", fmt.Errorf("unknown outcome %d", rep.Outcome))
	}
}

// earlierCodeHashes returns the EarlierCodeHashes of a challenge replacing
// cur by a resend: cur's own, then its CodeHash. One per resend, so at most
// MaxResends (a resend beyond it is refused before).
func earlierCodeHashes(cur Challenge) []byte {
	if len(cur.CodeHash) != sha256.Size || len(cur.EarlierCodeHashes)%sha256.Size != 0 {
		return nil
	}
	out := make([]byte, 0, len(cur.EarlierCodeHashes)+sha256.Size)
	return append(append(out, cur.EarlierCodeHashes...), cur.CodeHash...)
}

// isEarlierCode reports whether sum is one of the hashes in earlier, every
// one compared in constant time whatever matches.
func isEarlierCode(earlier, sum []byte) bool {
	if len(sum) != sha256.Size {
		return false
	}
	match := 0
	for i := 0; i+sha256.Size <= len(earlier); i += sha256.Size {
		match |= subtle.ConstantTimeCompare(earlier[i:i+sha256.Size], sum)
	}
	return match == 1
}

// lookup reads the challenge req names and checks the identity's
// regulation ban first: a banned identity gets the regulation *LimitError
// whatever the challenge. When the store keeps the limiter's bans, the ban
// is read in the same round trip (req.BanKey); otherwise the limiter reads
// it before. A ban the store reported earlier is remembered and refuses
// without asking the store (banMemo). Errors: the ban, ErrNotFound, or a
// store failure (ErrStoreUnavailable).
//
// With checks and a store that also keeps the limiter's counters
// (CheckingStore), the counters are read in the same round trip and check
// says whether they would refuse; otherwise check allows and the take alone
// decides.
func (s *Service) lookup(ctx context.Context, req LookupRequest, checks []limit.Take) (CheckedLookup, error) {
	out := CheckedLookup{Check: limit.TakeResult{Allowed: true, Blocked: -1}}
	if err := s.rememberedBan(ctx, req.Binding.IdentityID); err != nil {
		return out, s.limitErr(err)
	}
	if s.sharedBans {
		req.BanKey = s.limiter.BanKey(req.Binding.IdentityID)
	} else if err := s.limitErr(s.blocked(ctx, req.Binding.IdentityID)); err != nil {
		return out, err
	}
	err := s.timed(ctx, "lookup", func() (err error) {
		if s.checker != nil && len(checks) > 0 {
			out, err = s.checker.LookupAndCheck(ctx, req, checks)
			return err
		}
		out.Challenge, out.BannedUntil, err = s.store.Lookup(ctx, req)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return CheckedLookup{Check: out.Check}, storeErr("lookup", err)
	}
	s.bans.add(req.Binding.IdentityID, out.BannedUntil, s.now())
	if berr := s.limitErr(s.limiter.CheckBan(out.BannedUntil)); berr != nil {
		return CheckedLookup{Check: out.Check}, berr
	}
	if err != nil {
		out.Challenge = Challenge{}
		return out, ErrNotFound
	}
	return out, nil
}

// sameStore reports whether a and b are the same store value (comparing
// interfaces holding uncomparable types would panic).
func sameStore(a, b any) bool {
	if a == nil || b == nil {
		return false
	}
	t := reflect.TypeOf(a)
	if t != reflect.TypeOf(b) || !t.Comparable() {
		return false
	}
	return a == b
}

// writtenCode reads a code written the way a phone number is: digits with at
// least one of the separators a number is written with (spaces, "+", "-",
// parentheses, dots), the code alone ("46 10") or the whole calling number
// as pasted ("+7 (495) 123-46-10"), whose last code-length digits are the
// code; or more plain digits than any code has (the number typed without
// separators, "74951234610"), up to a number's 15. It returns the digits and true; for plain
// digits of a code's length or any other text it returns false and the text
// stays as typed (counted wrong if it is not the code), so the usual code
// keeps its single store step. The code step reads its field the same way
// (code.js, /2fa, examples/ui).
func writtenCode(s string) (string, bool) {
	// A first pass decides without allocating: the usual input, a code's
	// plain digits, is on every verify's path.
	n, sep := 0, false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			n++
		case unicode.IsSpace(r) || strings.ContainsRune("+-().", r):
			sep = true
		default:
			return "", false
		}
	}
	if n > maxNumberDigits || !sep && n <= longestCode {
		return "", false
	}
	if !sep {
		return s, true
	}
	b := make([]byte, 0, n)
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b), true
}

// foldDigits writes as ASCII the digits an IME or another script's
// keyboard types (fullwidth, Arabic-Indic, Persian) and the fullwidth forms
// of a number's separators, as code.js does: a code typed so and posted
// without JavaScript or by an API client was counted a wrong code. ASCII
// input, every verify's, is returned as it is, without allocating.
func foldDigits(s string) string {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	if i == len(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '\uff10' && r <= '\uff19':
			return '0' + r - '\uff10'
		case r >= '\u0660' && r <= '\u0669':
			return '0' + r - '\u0660'
		case r >= '\u06f0' && r <= '\u06f9':
			return '0' + r - '\u06f0'
		case r == '\uff0b':
			return '+'
		case r == '\uff0d':
			return '-'
		case r == '\uff08':
			return '('
		case r == '\uff09':
			return ')'
		case r == '\u3000':
			return ' '
		}
		return r
	}, s)
}

// maxNumberDigits: E.164 numbers have at most 15 digits; longer input is no
// number and stays as typed.
const maxNumberDigits = 15

// longestCode is the most digits a code is shown with (CallPass's v3 code
// length goes up to 7; its v1/v2 pins are 4). Longer plain digits are read
// as a number; the challenge's own code length then decides, so a longer
// code would still be compared whole.
const longestCode = 7

// limitErr passes limit refusals through and maps limit store failures to
// ErrStoreUnavailable (fail closed).
func (s *Service) limitErr(err error) error {
	if err == nil {
		return nil
	}
	var le *limit.LimitError
	if errors.As(err, &le) {
		s.observeLimit(le.Kind)
		return err
	}
	if errors.Is(err, limit.ErrUnavailable) {
		return storeErr("limit", err)
	}
	return err
}

func providerOutcome(err error) string {
	kinds := []struct {
		err  error
		name string
	}{
		{flashcall.ErrUnauthorized, "unauthorized"},
		{flashcall.ErrInsufficientBalance, "insufficient_balance"},
		{flashcall.ErrDestinationNotAllowed, "destination_not_allowed"},
		{flashcall.ErrInvalidRequest, "invalid_request"},
		{flashcall.ErrUnavailable, "unavailable"},
		{flashcall.ErrBadResponse, "bad_response"},
		{flashcall.ErrCallNotFound, "call_not_found"},
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "error"
}

// timed runs a store operation and reports it to the observer and as a span.
func (s *Service) timed(ctx context.Context, op string, f func() error) error {
	start := time.Now()
	if !s.tracing {
		err := f()
		s.observeStore(op, err, start)
		return err
	}
	_, span := s.tracer.Start(ctx, "store "+op, trace.WithAttributes(attribute.String("store.operation", op)))
	err := f()
	outcome := storeOutcome(err)
	span.SetAttributes(attribute.String("store.outcome", outcome))
	if outcome == "error" {
		// No message: a store error is not ours to vouch for.
		span.SetStatus(codes.Error, "store error")
	}
	span.End()
	s.observeStore(op, err, start)
	return err
}

// ownerAttr names whom a log line is about: the identity id, or for a
// phone check (owned by a keyed hash of the number, which tells a reader
// nothing) the masked number.
func ownerAttr(b Binding, c Challenge) slog.Attr {
	if strings.HasPrefix(b.IdentityID, "phone:") {
		return slog.String("phone", phone.MaskE164(c.Phone))
	}
	return slog.String("identity_id", b.IdentityID)
}

// storeOutcome names what a store operation's error stands for: a miss
// ("not_found") and a limit's refusal ("limited", a take the rules refused)
// are the store's answers, not its failures ("error").
func storeOutcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	}
	if _, ok := errors.AsType[*limit.LimitError](err); ok {
		return "limited"
	}
	return "error"
}

func (s *Service) observeStore(op string, err error, start time.Time) {
	if s.obs != nil {
		if err != nil && storeOutcome(err) != "error" {
			err = nil // an answer, not a store failure
		}
		s.obs.ObserveStore(op, err, time.Since(start))
	}
}

func (s *Service) observeCall(outcome string) {
	if s.obs != nil {
		s.obs.ObserveCallPlaced(s.provider.Name(), outcome)
	}
}

func (s *Service) observeVerify(outcome string) {
	if s.obs != nil {
		s.obs.ObserveVerify(outcome)
	}
}

func (s *Service) observeLimit(kind string) {
	if s.obs != nil {
		s.obs.ObserveLimit(kind)
	}
}

// StatusReporter is an optional Provider capability: a provider that
// cannot ask for a call's status (CallPass API v1) returns false, and its
// calls are never polled. A Provider without the method is polled.
type StatusReporter interface {
	CanReportStatus() bool
}

// reportsStatus reports whether p's calls can be polled. Asked per placed
// call: a type assertion is nothing next to the call just placed.
func reportsStatus(p Provider) bool {
	r, ok := p.(StatusReporter)
	return !ok || r.CanReportStatus()
}

// startPoll polls an asynchronous call's status in the background until it
// is final, PollTimeout passes, the challenge expires or Close is called.
func (s *Service) startPoll(id, callID string, num phone.Number, expiresAt time.Time) {
	select {
	case s.pollers <- struct{}{}:
	default:
		s.unpolled.Add(1)
		if s.obs != nil {
			s.obs.ObserveCallUnpolled(s.provider.Name())
		}
		now, last := s.now().UnixNano(), s.unpolledWarned.Load()
		if now-last >= int64(time.Second) && s.unpolledWarned.CompareAndSwap(last, now) {
			s.log.Warn("too many calls being polled; the status of these calls stays pending",
				"calls", s.unpolled.Swap(0), "max_pollers", cap(s.pollers), "challenge", id)
		}
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.pollers }()
		s.poll(id, callID, num, expiresAt)
	}()
}

func (s *Service) poll(id, callID string, num phone.Number, expiresAt time.Time) {
	ctx, cancel := context.WithTimeout(s.base, min(s.cfg.PollTimeout, max(expiresAt.Sub(s.now()), 0)))
	defer cancel()
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	last := ""
	// lastClass is reported once if polling gives up before a final
	// status (a shutdown reports nothing: the call was not given up on).
	var lastClass flashcall.Class
	polled := false
	for {
		select {
		case <-ctx.Done():
			if polled && s.base.Err() == nil && s.obs != nil {
				s.obs.ObserveCallStatus(s.provider.Name(), lastClass)
			}
			return
		case <-t.C:
		}
		rctx, rcancel := context.WithTimeout(ctx, s.callTimeout)
		st, err := s.provider.CallStatus(rctx, callID, num)
		rcancel()
		if err != nil {
			// Refusals that asking again cannot change; a request refused
			// before sending (ErrInvalidRequest) would be refused every time.
			if errors.Is(err, flashcall.ErrCallNotFound) || errors.Is(err, flashcall.ErrUnauthorized) ||
				errors.Is(err, flashcall.ErrInvalidRequest) {
				s.log.Warn("call status polling stopped", "challenge", id, "err", err)
				if polled && s.obs != nil {
					s.obs.ObserveCallStatus(s.provider.Name(), lastClass)
				}
				return
			}
			// Retry-After is not scheduled here: the provider client holds
			// every status request until it ends (one hold for all calls
			// polled), so the ticks meanwhile send nothing and the first
			// after it asks again (TestPollerWaitsOutRetryAfter).
			s.log.Debug("call status poll failed; retrying", "challenge", id, "err", err)
			continue
		}
		polled, lastClass = true, st.Class
		if st.Final() && s.obs != nil {
			s.obs.ObserveCallStatus(s.provider.Name(), st.Class)
		}
		if st.Raw != last || st.Final() {
			last = st.Raw
			uctx, ucancel := context.WithTimeout(ctx, s.callTimeout)
			err := s.timed(uctx, "update_call", func() error { return s.store.UpdateCall(uctx, id, st) })
			ucancel()
			if err != nil {
				s.log.Warn("could not store call status", "challenge", id, "err", err)
			}
		}
		if st.Final() {
			return
		}
	}
}
