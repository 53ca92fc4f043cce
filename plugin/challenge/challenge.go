// Package challenge runs flash-call challenges: it places a call through a
// Provider, stores only a keyed hash of the code, and verifies what the user
// types with a constant-time comparison, a single use, a TTL and an attempt
// limit. Abuse limits come from plugin/limit; storage from a Store
// (plugin/store/memory, plugin/store/redis).
package challenge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// Purpose says what a challenge protects.
type Purpose string

const (
	PurposeLogin       Purpose = "login"
	PurposeStepUp      Purpose = "stepup"
	PurposeVerifyPhone Purpose = "verify_phone"
)

// Valid reports whether p is a known purpose.
func (p Purpose) Valid() bool {
	return p == PurposeLogin || p == PurposeStepUp || p == PurposeVerifyPhone
}

// State is a challenge's life-cycle state.
type State string

const (
	StatePending    State = "pending"
	StateVerified   State = "verified"
	StateLocked     State = "locked"
	StateExpired    State = "expired"
	StateSuperseded State = "superseded"
)

// Binding ties a challenge to what it protects. A code is valid only for the
// challenge of its own binding.
type Binding struct {
	Purpose    Purpose
	IdentityID string
	// FlowID is the Kratos flow id; for step-up the session id.
	FlowID string
}

// Tag is the short stable hash of the binding's identity (IdentityTag).
// Every challenge ID of the binding ends with it, so a Redis store can put
// all keys of one identity — its challenges, their active pointers, its
// regulation ban and its gate passes — in one cluster slot (hash tag) and
// still find a challenge by ID alone. Purpose and flow are left out on
// purpose: one slot per identity is what lets a verify check the ban, the
// challenge and the code and record the gate pass in one round trip.
func (b Binding) Tag() string { return IdentityTag(b.IdentityID) }

// IdentityTag is the hash tag of every store key of one identity.
func IdentityTag(identityID string) string {
	sum := sha256.Sum256([]byte("callpass-identity\x00" + identityID))
	return hex.EncodeToString(sum[:5])
}

// tagLen is the length of Binding.Tag.
const tagLen = 10

// NewID returns a new challenge ID: 128 random bits (base64url, 22 chars),
// a dot and the binding's tag. All characters are URL-safe.
func NewID(b Binding) string {
	var buf [16]byte
	_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(buf[:]) + "." + b.Tag()
}

// IDTag returns the binding tag embedded in a challenge ID, or false when id
// is not a well-formed challenge ID.
func IDTag(id string) (string, bool) {
	head, tag, ok := strings.Cut(id, ".")
	if !ok || len(head) != 22 || len(tag) != tagLen {
		return "", false
	}
	for _, r := range head {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "", false
		}
	}
	for _, r := range tag {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return "", false
		}
	}
	return tag, true
}

// Challenge is one placed call and its verification state. CodeHash is
// HashCode(key, binding, code), a keyed hash bound to the challenge's
// binding: the code itself is never stored.
type Challenge struct {
	ID         string
	Purpose    Purpose
	IdentityID string
	FlowID     string
	// Phone is the destination in E.164 form.
	Phone      string
	CodeHash   []byte
	CodeLength int
	Provider   string
	CallID     string
	// CallStatus is the provider's raw status; CallClass its meaning.
	CallStatus  string
	CallClass   flashcall.Class
	Attempts    int
	MaxAttempts int
	Resends     int
	CreatedAt   time.Time
	ExpiresAt   time.Time
	ResendAfter time.Time
	State       State
	VerifiedAt  time.Time
	// EarlierCodeHashes are the CodeHashes of the challenges this one
	// replaced by resends to the same number, concatenated, newest last
	// (one per resend). They never verify: they only let a
	// wrong code be told apart as an earlier call's (a first call that
	// rang late is easily taken for the newest), so the user hears to
	// use the most recent call.
	EarlierCodeHashes []byte
}

// Binding returns the challenge's binding.
func (c *Challenge) Binding() Binding {
	return Binding{Purpose: c.Purpose, IdentityID: c.IdentityID, FlowID: c.FlowID}
}

// Live reports whether the challenge can still be verified at now.
func (c *Challenge) Live(now time.Time) bool {
	return c.State == StatePending && now.Before(c.ExpiresAt) && c.Attempts < c.MaxAttempts
}

// AttemptsLeft is how many more codes may be tried.
func (c *Challenge) AttemptsLeft() int { return max(0, c.MaxAttempts-c.Attempts) }

// Outcome is the result of Store.Verify.
type Outcome int

const (
	// OutcomeVerified: the attempt matched and consumed the challenge.
	OutcomeVerified Outcome = iota + 1
	// OutcomeWrong: a counted mismatch; attempts remain.
	OutcomeWrong
	// OutcomeLocked: a counted mismatch that used the last attempt.
	OutcomeLocked
	// The rest are refusals: nothing was counted.

	// OutcomeUsed: already verified.
	OutcomeUsed
	// OutcomeExhausted: already locked (no attempts left).
	OutcomeExhausted
	// OutcomeExpired: past ExpiresAt (the state is set to expired).
	OutcomeExpired
	// OutcomeSuperseded: a resend replaced this challenge.
	OutcomeSuperseded
	// OutcomeBanned: the identity's regulation ban (VerifyRequest.BanKey)
	// is running; the challenge was not even read.
	OutcomeBanned
	// OutcomeNumberChanged: the challenge's call went to another number
	// than VerifyRequest.Phone; its state is left as it was.
	OutcomeNumberChanged
)

var outcomeNames = map[Outcome]string{
	OutcomeVerified: "verified", OutcomeWrong: "wrong", OutcomeLocked: "locked",
	OutcomeUsed: "used", OutcomeExhausted: "exhausted", OutcomeExpired: "expired",
	OutcomeSuperseded: "superseded", OutcomeBanned: "banned", OutcomeNumberChanged: "number_changed",
}

func (o Outcome) String() string {
	if n, ok := outcomeNames[o]; ok {
		return n
	}
	return "unknown"
}

// Pass is a gate pass (docs/architecture.md, "Binding a Kratos session to a
// passed gate"): the identity passed the second factor for the session
// authenticated at AuthenticatedAt. Store.Verify records it in the same
// atomic step that verifies the challenge.
type Pass struct {
	// IdentityID must be the challenge's identity.
	IdentityID string
	// AuthenticatedAt is the session's authenticated_at (kept to the
	// millisecond).
	AuthenticatedAt time.Time
	// SessionID is the session already holding the pass (step-up), or ""
	// until a token exchange claims it (login hook).
	SessionID string
	// TTL bounds how long the pass is kept.
	TTL time.Duration
}

// LookupRequest says which challenge Store.Lookup reads.
type LookupRequest struct {
	// ID is the challenge to read; "" reads Binding's active challenge.
	ID string
	// Binding is the caller's binding (required). An ID whose tag is not the
	// binding's cannot be the binding's challenge and is not found.
	Binding Binding
	// BanKey, when not "", is the regulation key of Binding's identity
	// (limit.Limiter.BanKey); the end of its ban is returned with the
	// challenge, read in the same round trip. Only meaningful when the store
	// also keeps the limiter's bans (limit.Blocks).
	BanKey string
}

// VerifyRequest says which challenge Store.Verify checks, and against what.
type VerifyRequest struct {
	// ID is the challenge to check; "" checks Binding's active challenge.
	ID string
	// Binding is the caller's binding (required). The challenge must have
	// exactly this binding: an ID whose tag is not the binding's, or a
	// challenge of another purpose, identity or flow, is not found.
	Binding Binding
	// BanKey, when not "", is the regulation key of Binding's identity
	// (limit.Limiter.BanKey); a running ban there refuses the verify before
	// anything else. Only meaningful when the store also keeps the
	// limiter's bans (limit.Blocks).
	BanKey string
	// Regulation, when its MaxFailures is > 0 and BanKey is set, is the
	// limiter's regulation (limit.Limiter.Regulation): an attempt that
	// locks the challenge (OutcomeLocked) also records a regulation failure
	// under BanKey in the same atomic step, exactly as limit.Blocks.Fail
	// with these parameters, so a concurrent verify of the identity sees
	// the ban as soon as the failure causing it is recorded. The ban is
	// returned in VerifyReply.LockBannedUntil.
	Regulation limit.Regulation
	// Sum is the candidate code hash (HashCode of the typed code with
	// Binding), compared in constant time with the stored CodeHash.
	Sum []byte
	// Now is the time of the attempt (expiry, VerifiedAt, ban check).
	Now time.Time
	// Pass, when not nil, is the gate pass recorded in the same step when
	// the code matches. Its IdentityID must be Binding's.
	Pass *Pass
	// Phone, when not "", is the number (E.164) the code must prove: a
	// challenge whose call went to another one answers
	// OutcomeNumberChanged in the same step, nothing counted (the login
	// gate: an admin changed the identity's number since the call).
	Phone string
}

// VerifyReply is what Store.Verify did.
type VerifyReply struct {
	// Challenge is the challenge after the step (zero when OutcomeBanned).
	Challenge Challenge
	Outcome   Outcome
	// BannedUntil is the end of the running ban when Outcome is
	// OutcomeBanned, else zero.
	BannedUntil time.Time
	// LockBannedUntil is, when Outcome is OutcomeLocked and the step
	// recorded a regulation failure (VerifyRequest.Regulation), the end of
	// the identity's ban after it (the failure reached MaxFailures), else
	// zero.
	LockBannedUntil time.Time
}

// Store keeps challenges. Implementations must make Create and Verify atomic
// and give every key a TTL (ExpiresAt plus a small grace).
type Store interface {
	// Create saves c and makes it the active challenge of its binding, unless
	// the active one is pending and unexpired at now and its ID is not
	// expectActive: then that one is returned with created=false and c is not
	// saved. So expectActive "" creates only when no live challenge is active,
	// and expectActive = the ID the caller read replaces that challenge (it
	// becomes superseded) only if it is still the active one — a concurrent
	// replacement wins and is returned instead (compare-and-replace).
	Create(ctx context.Context, c Challenge, expectActive string, now time.Time) (active Challenge, created bool, err error)
	// Get returns the challenge with id, or ErrNotFound.
	Get(ctx context.Context, id string) (Challenge, error)
	// Lookup is one read: the challenge req names (by ID, or the binding's
	// active one whatever its state) and the end of the ban on req.BanKey
	// (zero when none or no BanKey). A missing challenge is ErrNotFound, and
	// bannedUntil is still set then.
	Lookup(ctx context.Context, req LookupRequest) (c Challenge, bannedUntil time.Time, err error)
	// Verify is one atomic step (one round trip), in this order:
	//  1. a ban on req.BanKey running after req.Now: OutcomeBanned with
	//     BannedUntil, nil error, nothing read or changed;
	//  2. the challenge req names (by ID, or the binding's active one), which
	//     must have req.Binding: else ErrNotFound, nothing counted;
	//  3. refuse unless pending, unexpired at req.Now and under MaxAttempts
	//     (a refusal outcome, nil error, nothing counted; pending→expired is
	//     stored; no pass recorded);
	//  4. count the attempt and compare req.Sum with CodeHash in constant
	//     time: a match sets state verified (VerifiedAt=req.Now) and, with
	//     req.Pass, records the gate pass; a mismatch reaching MaxAttempts
	//     sets state locked and, with req.BanKey and req.Regulation (its
	//     MaxFailures > 0), records a regulation failure under req.BanKey
	//     as limit.Blocks.Fail does (LockBannedUntil: the ban it set).
	// A pass for another identity than req.Binding's is an error and
	// changes nothing.
	Verify(ctx context.Context, req VerifyRequest) (VerifyReply, error)
	// UpdateCall stores the provider's call status; a missing id is a no-op.
	UpdateCall(ctx context.Context, id string, status flashcall.Status) error
	// Ping checks the store is reachable.
	Ping(ctx context.Context) error
}

// StartLeaser is a Store that can hold a binding's concurrent starts off
// one another, across every instance sharing it (both stores do). Without
// it two starts of one flow at once (a double submit, a hook delivered
// twice, two clicks on "call me again") both pass the idempotency and
// cooldown checks, and each places a paid call before Create keeps only
// one: the user gets several calls, and the digits of all but the stored
// one are refused.
type StartLeaser interface {
	// LeaseStart takes b's start lease under token for ttl, unless another
	// start holds it (taken false). active is the binding's active
	// challenge id ("" for none), read in the same atomic step, whether
	// the lease was taken or not.
	LeaseStart(ctx context.Context, b Binding, token string, ttl time.Duration) (taken bool, active string, err error)
	// ReleaseStart ends b's lease if token still holds it.
	ReleaseStart(ctx context.Context, b Binding, token string) error
	// CreateLeased is Store.Create by the start holding c's binding's
	// lease under token, which it releases in the same step, whatever the
	// outcome (one round trip less than Create and ReleaseStart).
	CreateLeased(ctx context.Context, c Challenge, expectActive string, now time.Time, token string) (Challenge, bool, error)
}

// Retirer is a Store that can take a binding's live challenge out of use
// before the call that is to replace it is placed (both stores can). A
// start that must place no call once that challenge is confirmed (a
// step-up page's "call me again" while another tab types the code:
// StartRequest.KeepVerified) retires it first: the retire and a verify are
// each one atomic step on the challenge, so either the verify confirmed it
// and the start sees that and places nothing, or the verify finds it
// superseded and counts nothing, and the call goes out. Checking the state
// and then placing the call would let a confirmation land in between.
type Retirer interface {
	// Retire sets challenge id superseded if it is b's active challenge,
	// pending and unexpired at now, in one atomic step; it returns the
	// challenge as the step left it and whether it retired it. An id that
	// is not one of b's challenges is ErrNotFound.
	Retire(ctx context.Context, b Binding, id string, now time.Time) (c Challenge, retired bool, err error)
	// Restore undoes a Retire whose call was not placed: id is pending
	// again if it is still b's active challenge and superseded (only a
	// Retire leaves the active one so: a Create supersedes the challenge
	// it replaces and moves the pointer in the same step).
	Restore(ctx context.Context, b Binding, id string) error
	// RestoreUnleased is Restore for anyone but a start: it gives id back
	// only while no start holds b's start lease (StartLeaser), in the same
	// atomic step, and says whether it did. A retiring start holds the
	// lease until it gives id back or replaces it, so a retired active
	// challenge with no lease held was left by a start that is gone (its
	// instance died, its give back failed); while one is held, that start
	// may still place its call.
	RestoreUnleased(ctx context.Context, b Binding, id string) (bool, error)
}

// Spender is a Store that can end the proof a verified challenge gives
// (both stores can). A number proven in a registration flow stays proven
// for that flow while its code would have lived, so that a resubmit after
// Kratos refused the save needs no second call; once Kratos has saved the
// registration, a resubmit of the same flow would save a second account
// with the number, and the proof must end.
type Spender interface {
	// Spend sets challenge id expired if it is b's active challenge and
	// verified, in one atomic step, and says whether it did. An id that is
	// not b's active challenge changes nothing.
	Spend(ctx context.Context, b Binding, id string) (bool, error)
}

// CheckingStore is a Store that also keeps the limiter's counters and bans
// (limit.Counter, limit.Blocks) and can read them in the same round trip as
// Lookup: a start refused by a call limit then costs one round trip and
// changes nothing. The check is advisory (Counter.Take still decides, under
// concurrency); stores that cannot do it simply do not implement it.
type CheckingStore interface {
	// LookupAndCheck is Lookup plus a read-only check of checks: check
	// reports, like Counter.Take, whether every counter is below its limit,
	// the first that is not and how long until all refusing ones are free,
	// but increments nothing (Counts is nil).
	LookupAndCheck(ctx context.Context, req LookupRequest, checks []limit.Take) (CheckedLookup, error)
}

// CheckedLookup is what CheckingStore.LookupAndCheck read in its one round
// trip; with ErrNotFound, all but Challenge.
type CheckedLookup struct {
	Challenge   Challenge
	BannedUntil time.Time
	Check       limit.TakeResult
	// StartLeased: another start holds the binding's start lease
	// (StartLeaser), i.e. is placing a call; read only for the binding's
	// active challenge (LookupRequest.ID ""). A start the check refuses
	// then waits for that start's challenge: the refusal is that start's
	// own take (a double submit on the last call a limit allows).
	StartLeased bool
}
