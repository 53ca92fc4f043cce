package memory

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// Gate passes (docs/architecture.md, "Binding a Kratos session to a passed
// gate") live in the Store beside the challenges: Verify records one when
// it verifies a challenge, ClaimPass binds it to a session. Entries expire;
// at most maxPerIdentity are kept per identity so a flood of logins cannot
// grow them without bound.

type pass struct {
	authAt    time.Time
	sessionID string
	phone     string // E.164 of the number the verified call went to
	expires   time.Time
}

const maxPerIdentity = 16

// errPassIdentity: Verify was asked to record a pass for another identity
// than the binding's (a caller bug; nothing is changed).
var errPassIdentity = errors.New("memory: gate pass for another identity than the challenge's")

// recordPass adds p to its identity's passes, with the number the verified
// challenge called; the caller holds mu.
func (s *Store) recordPass(p challenge.Pass, phoneE164 string) {
	now := s.now()
	at := time.UnixMilli(p.AuthenticatedAt.UnixMilli())
	// As the Redis store: one pass per login time (a new one replaces it),
	// and at the cap the earliest login's pass goes, not the first one
	// recorded (a step-up records a pass for a session older than the
	// latest login).
	list := slices.DeleteFunc(s.livePasses(p.IdentityID, now), func(e pass) bool { return e.authAt.Equal(at) })
	if len(list) >= maxPerIdentity {
		oldest := 0
		for i := range list {
			if list[i].authAt.Before(list[oldest].authAt) {
				oldest = i
			}
		}
		list = slices.Delete(list, oldest, oldest+1)
	}
	s.passes[p.IdentityID] = append(list, pass{authAt: at, sessionID: p.SessionID, phone: phoneE164, expires: now.Add(p.TTL)})
}

// ClaimPass implements factor.PassStore. The candidate times at are tried
// in their order (the session's latest login first): for each, a pass
// within tolerance that is bound to sessionID counts, else an unclaimed one
// within tolerance is bound to it. So a session logged in again through the
// gate (a refresh) gets its newest pass, and the number of its newest call.
// A pass bound to another session is never taken. It returns the number the
// pass's call went to.
func (s *Store) ClaimPass(ctx context.Context, identityID string, at []time.Time, tolerance time.Duration, sessionID string) (string, bool, error) {
	return s.ClaimPassUntil(ctx, identityID, at, tolerance, sessionID, time.Time{})
}

// ClaimPassUntil is ClaimPass that also keeps the pass it finds until
// keepUntil when that is later than the pass's own expiry (a session Kratos
// extended; zero keeps it as it is).
func (s *Store) ClaimPassUntil(ctx context.Context, identityID string, at []time.Time, tolerance time.Duration, sessionID string, keepUntil time.Time) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.livePasses(identityID, s.now())
	if len(list) == 0 || len(at) == 0 {
		return "", false, nil
	}
	for _, t := range at {
		c := time.UnixMilli(t.UnixMilli())
		near := func(p pass) bool { d := p.authAt.Sub(c); return d >= -tolerance && d <= tolerance }
		for i := range list {
			if list[i].sessionID == sessionID && near(list[i]) {
				return list[i].keep(keepUntil), true, nil
			}
		}
		for i := range list {
			if list[i].sessionID == "" && near(list[i]) {
				list[i].sessionID = sessionID
				return list[i].keep(keepUntil), true, nil
			}
		}
	}
	return "", false, nil
}

// keep moves the pass's expiry to until when that is later, and returns
// its number; the caller holds mu.
func (p *pass) keep(until time.Time) string {
	if until.After(p.expires) {
		p.expires = until
	}
	return p.phone
}

// livePasses drops expired passes of one identity and returns the rest;
// the caller holds mu.
func (s *Store) livePasses(identityID string, now time.Time) []pass {
	list := s.passes[identityID]
	out := list[:0]
	for _, e := range list {
		if now.Before(e.expires) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		delete(s.passes, identityID)
		return nil
	}
	s.passes[identityID] = out
	return out
}
