package memory

import (
	"context"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// lease is a binding's start lease (challenge.StartLeaser).
type lease struct {
	token string
	until time.Time
}

// LeaseStart implements challenge.StartLeaser.
func (s *Store) LeaseStart(ctx context.Context, b challenge.Binding, token string, ttl time.Duration) (bool, string, error) {
	if err := ctx.Err(); err != nil {
		return false, "", err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[b]; ok && now.Before(l.until) && l.token != token {
		return false, s.active[b], nil
	}
	s.leases[b] = lease{token: token, until: now.Add(ttl)}
	return true, s.active[b], nil
}

// ReleaseStart implements challenge.StartLeaser.
func (s *Store) ReleaseStart(ctx context.Context, b challenge.Binding, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[b]; ok && l.token == token {
		delete(s.leases, b)
	}
	return nil
}
