package factor

import (
	"reflect"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
)

// TestPassTimes: the exchange's candidate times are authenticated_at, then
// the methods' completion times newest first, without zero times or
// repeats; a session listing very many methods is tried with its newest ones.
func TestPassTimes(t *testing.T) {
	at := time.Date(2026, 11, 26, 19, 57, 43, 958960469, time.UTC)
	pwd := time.Date(2026, 11, 26, 19, 57, 41, 826774126, time.UTC)
	got := passTimes(&kratos.Session{AuthenticatedAt: at, MethodTimes: []time.Time{pwd, {}, at, pwd}})
	if want := []time.Time{at, pwd}; !reflect.DeepEqual(got, want) {
		t.Errorf("passTimes = %v, want %v", got, want)
	}
	// A refresh added a second password entry: the newer is tried first.
	pwd2 := pwd.Add(20 * time.Minute)
	got = passTimes(&kratos.Session{AuthenticatedAt: pwd2, MethodTimes: []time.Time{pwd, pwd2, at.Add(time.Hour)}})
	if want := []time.Time{pwd2, at.Add(time.Hour), pwd}; !reflect.DeepEqual(got, want) {
		t.Errorf("after a refresh: passTimes = %v, want %v", got, want)
	}
	if got := passTimes(&kratos.Session{}); len(got) != 0 {
		t.Errorf("a session without times: %v", got)
	}
	var many []time.Time
	for i := range 100 {
		many = append(many, pwd.Add(time.Duration(i)*time.Minute))
	}
	got = passTimes(&kratos.Session{AuthenticatedAt: at, MethodTimes: many})
	if len(got) != maxPassTimes || !got[0].Equal(at) || !got[1].Equal(many[99]) || !got[len(got)-1].Equal(many[100-(maxPassTimes-1)]) {
		t.Errorf("100 methods: %d candidates %v ... %v", len(got), got[:2], got[len(got)-1])
	}
}

// TestPassTTLOnTheServiceClock: a pass lasts as long as its session by the
// service's clock and one session length more (Kratos may extend the
// session by that much), for a step-up as for a login; the configured
// PassTTL only when the session's end is unknown or past.
func TestPassTTLOnTheServiceClock(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) // far from the real clock
	s := &Service{cfg: Config{PassTTL: 24 * time.Hour}, now: func() time.Time { return now }}
	tests := []struct {
		name          string
		authenticated time.Time
		expires       time.Time
		want          time.Duration
	}{
		{"a 2-hour session ends in an hour", now.Add(-time.Hour), now.Add(time.Hour), 3 * time.Hour},
		{"authenticated_at unknown", time.Time{}, now.Add(time.Hour), time.Hour},
		{"end unknown", now.Add(-time.Hour), time.Time{}, 24 * time.Hour},
		{"ended", now.Add(-time.Hour), now.Add(-time.Second), 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := s.passTTL(&kratos.Session{AuthenticatedAt: tt.authenticated, ExpiresAt: tt.expires}); got != tt.want {
			t.Errorf("%s: step-up pass TTL %s, want %s", tt.name, got, tt.want)
		}
		if got := s.loginPassTTL(tt.expires, tt.authenticated); got != tt.want {
			t.Errorf("%s: login pass TTL %s, want %s", tt.name, got, tt.want)
		}
	}
}
