package memory

import (
	"context"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

var _ challenge.Retirer = (*Store)(nil)

// Retire implements challenge.Retirer.
func (s *Store) Retire(ctx context.Context, b challenge.Binding, id string, now time.Time) (challenge.Challenge, bool, error) {
	if err := ctx.Err(); err != nil {
		return challenge.Challenge{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.find(id, b)
	if !ok || e.c.Binding() != b {
		return challenge.Challenge{}, false, challenge.ErrNotFound
	}
	if s.active[b] != id || e.c.State != challenge.StatePending || !now.Before(e.c.ExpiresAt) {
		return clone(e.c), false, nil
	}
	e.c.State = challenge.StateSuperseded
	return clone(e.c), true, nil
}

// Restore implements challenge.Retirer.
func (s *Store) Restore(ctx context.Context, b challenge.Binding, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[b] != id {
		return nil
	}
	if e, ok := s.find(id, b); ok && e.c.Binding() == b && e.c.State == challenge.StateSuperseded {
		e.c.State = challenge.StatePending
	}
	return nil
}

// RestoreUnleased implements challenge.Retirer.
func (s *Store) RestoreUnleased(ctx context.Context, b challenge.Binding, id string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[b]; ok && now.Before(l.until) {
		return false, nil
	}
	if s.active[b] != id {
		return false, nil
	}
	if e, ok := s.find(id, b); ok && e.c.Binding() == b && e.c.State == challenge.StateSuperseded {
		e.c.State = challenge.StatePending
		return true, nil
	}
	return false, nil
}

var _ challenge.Spender = (*Store)(nil)

// Spend implements challenge.Spender.
func (s *Store) Spend(ctx context.Context, b challenge.Binding, id string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[b] != id {
		return false, nil
	}
	e, ok := s.find(id, b)
	if !ok || e.c.Binding() != b || e.c.State != challenge.StateVerified {
		return false, nil
	}
	e.c.State = challenge.StateExpired
	return true, nil
}
