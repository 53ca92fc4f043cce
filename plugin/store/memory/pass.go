package memory

import (
	"context"
	"sync"
	"time"
)

// Passes remembers which Kratos sessions passed the gate (factor.PassStore)
// in process memory. Entries expire; at most maxPerIdentity are kept per
// identity so a flood of logins cannot grow it without bound.
type Passes struct {
	mu   sync.Mutex
	byID map[string][]pass
	now  func() time.Time
}

type pass struct {
	authAt    time.Time
	sessionID string
	expires   time.Time
}

const maxPerIdentity = 16

// NewPasses returns an empty pass store.
func NewPasses() *Passes {
	return &Passes{byID: map[string][]pass{}, now: time.Now}
}

// RecordPass implements factor.PassStore.
func (p *Passes) RecordPass(ctx context.Context, identityID string, authAt time.Time, sessionID string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	list := p.live(identityID, now)
	list = append(list, pass{authAt: authAt, sessionID: sessionID, expires: now.Add(ttl)})
	if len(list) > maxPerIdentity {
		list = list[len(list)-maxPerIdentity:]
	}
	p.byID[identityID] = list
	return nil
}

// ClaimPass implements factor.PassStore: an unclaimed pass within tolerance
// of authAt is bound to sessionID; a pass already bound to sessionID counts.
func (p *Passes) ClaimPass(ctx context.Context, identityID string, authAt time.Time, tolerance time.Duration, sessionID string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.live(identityID, p.now())
	p.byID[identityID] = list
	for i := range list {
		d := list[i].authAt.Sub(authAt)
		if d < -tolerance || d > tolerance {
			continue
		}
		switch list[i].sessionID {
		case sessionID:
			return true, nil
		case "":
			list[i].sessionID = sessionID
			return true, nil
		}
	}
	return false, nil
}

// live drops expired passes of one identity (caller holds mu).
func (p *Passes) live(identityID string, now time.Time) []pass {
	list := p.byID[identityID]
	out := list[:0]
	for _, e := range list {
		if now.Before(e.expires) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		delete(p.byID, identityID)
		return nil
	}
	return out
}
