package webhook

import (
	"sync"
	"testing"
	"time"
)

func TestRefusalSampler(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	wrong := refusalKind{route: "/hooks/kratos/login", code: "wrong_code", status: 400}
	banned := refusalKind{route: "/hooks/kratos/login", code: "blocked", status: 429}
	type step struct {
		kind    refusalKind
		at      time.Duration // after t0
		ok      bool
		skipped int64
	}
	tests := []struct {
		name      string
		perSecond int
		steps     []step
	}{
		{"off: every line", 0, []step{
			{wrong, 0, true, 0}, {wrong, 0, true, 0}, {wrong, 0, true, 0},
		}},
		{"cap per second, count carried to the next line", 2, []step{
			{wrong, 0, true, 0},
			{wrong, 100 * time.Millisecond, true, 0},
			{wrong, 200 * time.Millisecond, false, 0},
			{wrong, 999 * time.Millisecond, false, 0},
			{wrong, time.Second, true, 2},
			{wrong, 1500 * time.Millisecond, true, 0},
			{wrong, 1600 * time.Millisecond, false, 0},
			{wrong, 5 * time.Second, true, 1},
		}},
		{"kinds counted apart", 1, []step{
			{wrong, 0, true, 0},
			{wrong, 0, false, 0},
			{banned, 0, true, 0},
			{banned, 0, false, 0},
			{banned, 0, false, 0},
			{wrong, time.Second, true, 1},
			{banned, time.Second, true, 2},
		}},
		{"same route and code, other status", 1, []step{
			{wrong, 0, true, 0},
			{refusalKind{route: wrong.route, code: wrong.code, status: 423}, 0, true, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRefusalSampler(tt.perSecond)
			for i, st := range tt.steps {
				ok, skipped := s.admit(st.kind, t0.Add(st.at))
				if ok != st.ok || skipped != st.skipped {
					t.Fatalf("step %d (%v at +%v): admit = %v, %d; want %v, %d", i, st.kind, st.at, ok, skipped, st.ok, st.skipped)
				}
			}
		})
	}
}

// TestRefusalSamplerConcurrent: under a concurrent flood within one second
// exactly perSecond lines are admitted, and every other one is counted.
func TestRefusalSamplerConcurrent(t *testing.T) {
	const perSecond, workers, each = 50, 8, 1000
	s := newRefusalSampler(perSecond)
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	k := refusalKind{route: "/v1/challenges/:id/verify", code: "wrong_code", status: 400}
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			n := 0
			for range each {
				if ok, _ := s.admit(k, now); ok {
					n++
				}
			}
			mu.Lock()
			admitted += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if admitted != perSecond {
		t.Errorf("%d lines admitted within one second, want %d", admitted, perSecond)
	}
	if ok, skipped := s.admit(k, now.Add(time.Second)); !ok || skipped != workers*each-perSecond {
		t.Errorf("next second: admit = %v, skipped %d; want true, %d", ok, skipped, workers*each-perSecond)
	}
}
