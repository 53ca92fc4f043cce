package limit_test

import (
	"errors"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// TestPaidDestinationsRefused: a number whose calls the caller pays extra
// for, and the number's holder may share in (Russian premium-rate 8-803 and
// 8-809), is never called, with no prefix list configured and whatever the
// allow list says: a flash call to it is toll fraud's classic payout
// (register with the number, have the service call it), and nobody reads a
// code from such a line. Ordinary numbers of every other kind stay callable.
func TestPaidDestinationsRefused(t *testing.T) {
	tests := []struct {
		name    string
		allow   []string
		number  string
		allowed bool
	}{
		{"premium rate 809", nil, "+78095553535", false},
		{"premium rate 803", nil, "+78031234567", false},
		{"premium rate, allow list naming it", []string{"7809"}, "+78095553535", false},
		{"premium rate, allow all of +7", []string{"7"}, "+78035553535", false},
		{"mobile", nil, "+79001234567", true},
		{"fixed line Moscow", nil, "+74951234567", true},
		{"fixed line other region", nil, "+73022123456", true},
		{"toll free (the callee pays)", nil, "+78005553535", true},
		{"Kazakhstan mobile", nil, "+77001234567", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := limit.DefaultConfig()
			cfg.AllowPrefixes = tc.allow
			l, _ := newLimiter(t, cfg)
			err := l.CheckDestination(tc.number)
			if (err == nil) != tc.allowed {
				t.Fatalf("%s: err %v, want allowed=%v", tc.number, err, tc.allowed)
			}
			if err != nil && (limitKind(err) != limit.KindDestination || !errors.Is(err, limit.ErrLimited)) {
				t.Fatalf("%s: %v, want a destination refusal", tc.number, err)
			}
		})
	}
}

// TestPaidDestinationsRemembered: the type lookup behind a paid-number
// refusal costs libphonenumber about 29 allocations, on every call start
// (a rate-limited one included); the limiter remembers each number's
// answer, so a repeated number checks without allocating, and the answer
// is the same the second time.
func TestPaidDestinationsRemembered(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	l, _ := newLimiter(t, limit.DefaultConfig())
	for _, tc := range []struct {
		number  string
		allowed bool
	}{{"+79001234567", true}, {"+78095553535", false}} {
		for range 2 {
			if err := l.CheckDestination(tc.number); (err == nil) != tc.allowed {
				t.Fatalf("%s: err %v, want allowed=%v", tc.number, err, tc.allowed)
			}
		}
		if n := allocs.Min(100, func() { _ = l.CheckDestination("+79001234567") }); n != 0 {
			t.Errorf("a repeated allowed number's check makes %v allocations, want 0", n)
		}
	}
}
