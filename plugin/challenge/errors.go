package challenge

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Match them with errors.Is; structured errors below match
// the sentinel that describes them.
var (
	// ErrNotFound: no such challenge for this binding (also returned when a
	// challenge exists but belongs to another binding, so nothing leaks).
	ErrNotFound = errors.New("challenge not found")
	// ErrExpired: the challenge timed out or was replaced by a resend.
	ErrExpired = errors.New("challenge expired")
	// ErrLocked: no attempts left.
	ErrLocked = errors.New("challenge locked: too many wrong codes")
	// ErrAlreadyUsed: the challenge was already verified (codes are single use).
	ErrAlreadyUsed = errors.New("challenge already used")
	// ErrNumberChanged: the challenge's call went to another number than
	// the one the code must prove (VerifyAndPassNumber); nothing counted.
	ErrNumberChanged = errors.New("challenge called another number")
	// ErrWrongCode is matched by *WrongCodeError.
	ErrWrongCode = errors.New("wrong code")
	// ErrCooldown is matched by *CooldownError.
	ErrCooldown = errors.New("resend not allowed yet")
	// ErrTooManyResends: the challenge used all its resends (matched by a
	// *CooldownError with ResendsExhausted).
	ErrTooManyResends = errors.New("too many resends")
	// ErrInvalidCode: the code is empty, or (inside a *WrongCodeError) not
	// made of the expected number of digits.
	ErrInvalidCode = errors.New("invalid code format")
	// ErrInvalidRequest: a request field is missing or malformed.
	ErrInvalidRequest = errors.New("invalid challenge request")
	// ErrStoreUnavailable wraps every store (and limit store) failure: the
	// service fails closed.
	ErrStoreUnavailable = errors.New("challenge store unavailable")
)

// WrongCodeError is a counted failed attempt.
type WrongCodeError struct {
	AttemptsLeft int
	// Format is true when the code was not the expected number of digits; it
	// still counted, so format tricks cannot probe for free.
	Format bool
	// BannedFor, when > 0, says this attempt (the one that locked the
	// challenge) also started the identity's regulation ban, for this long:
	// what the user needs to hear is the ban, not "ask for a new call".
	BannedFor time.Duration
	// EarlierCall is true when the code is that of a call this challenge
	// replaced (Challenge.EarlierCodeHashes): still a counted wrong code,
	// but the user needs to hear to use the most recent call.
	EarlierCall bool
}

func (e *WrongCodeError) Error() string {
	if e.AttemptsLeft == 0 {
		return "wrong code: no attempts left"
	}
	return fmt.Sprintf("wrong code: %d attempts left", e.AttemptsLeft)
}

// Is matches ErrWrongCode, ErrLocked when no attempts are left, and
// ErrInvalidCode for a format failure.
func (e *WrongCodeError) Is(target error) bool {
	switch target {
	case ErrWrongCode:
		return true
	case ErrLocked:
		return e.AttemptsLeft == 0
	case ErrInvalidCode:
		return e.Format
	}
	return false
}

// CooldownError refuses a resend that comes too early, or (ResendsExhausted)
// any resend of this challenge: then RetryAfter is when it expires and a new
// challenge may be started.
type CooldownError struct {
	RetryAfter       time.Duration
	ResendsExhausted bool
}

func (e *CooldownError) Error() string {
	if e.ResendsExhausted {
		return fmt.Sprintf("too many resends: retry after %s", e.RetryAfter.Round(time.Second))
	}
	return fmt.Sprintf("resend not allowed yet: retry after %s", e.RetryAfter.Round(time.Second))
}

// Is matches ErrCooldown, and ErrTooManyResends when ResendsExhausted.
func (e *CooldownError) Is(target error) bool {
	return target == ErrCooldown || (target == ErrTooManyResends && e.ResendsExhausted)
}

// storeErr wraps a store failure so it matches ErrStoreUnavailable and still
// unwraps to the cause.
func storeErr(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrStoreUnavailable, op, err)
}
