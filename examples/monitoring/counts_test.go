package monitoring_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// delta is how much the callpass_ series of after grew over before.
func delta(before, after map[string]string, series string) float64 {
	b, _ := strconv.ParseFloat(before[series], 64)
	a, _ := strconv.ParseFloat(after[series], 64)
	return a - b
}

// TestVerificationsCountEachTryOnce drives the real service's login hook
// through code entries and checks by scraping /metrics that each is counted
// once, under the outcome it had: a code that locks the challenge is
// `locked` once; tries on a challenge already locked compare no code and
// are `exhausted`, not more failed codes (CallPassFailedCodesSurge and the
// "failed codes per verified code" query count wrong + locked as guesses).
func TestVerificationsCountEachTryOnce(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			var env []string
			if store == "redis" {
				r := testenv.StartRedis(t)
				env = []string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://" + r.Addr + "/0"}
			}
			verificationsCountEachTryOnce(t, startService(t, env))
		})
	}
}

func verificationsCountEachTryOnce(t *testing.T, s *service) {
	tests := []struct {
		name string
		run  func(u *user)
		want map[string]float64 // outcome → increase
	}{
		{"right code", func(u *user) {
			s.start(u, msgCalling)
			if st, _ := s.hook(u, s.code(u), hookSecret); st != http.StatusOK {
				t.Fatalf("right code: %d", st)
			}
		}, map[string]float64{"verified": 1}},
		{"one wrong then right", func(u *user) {
			s.start(u, msgCalling)
			s.hook(u, wrongCode(s.code(u)), hookSecret)
			if st, _ := s.hook(u, s.code(u), hookSecret); st != http.StatusOK {
				t.Fatalf("right code: %d", st)
			}
		}, map[string]float64{"wrong": 1, "verified": 1}},
		{"locked, then tries on the locked challenge", func(u *user) {
			s.guess(u, 3) // two wrong, the third locks
			s.hook(u, wrongCode(s.code(u)), hookSecret)
			if st, _ := s.hook(u, s.code(u), hookSecret); st == http.StatusOK {
				t.Fatal("the right code was let through on a locked challenge")
			}
		}, map[string]float64{"wrong": 2, "locked": 1, "exhausted": 2}},
	}
	outcomes := []string{"verified", "wrong", "locked", "exhausted", "expired", "used", "not_found", "invalid", "blocked", "error"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.scrape()
			tt.run(newUser())
			after := s.scrape()
			for _, o := range outcomes {
				series := `callpass_verifications_total{outcome="` + o + `"}`
				if _, ok := after[series]; !ok {
					t.Errorf("no series %s", series)
					continue
				}
				if got := delta(before, after, series); got != tt.want[o] {
					t.Errorf("%s grew by %v, want %v", series, got, tt.want[o])
				}
			}
		})
	}
}
