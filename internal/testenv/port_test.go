package testenv

import (
	"net"
	"strconv"
	"testing"
)

// TestFreePortBelowTheEphemeralRange: FreePort's ports are never ones the
// kernel hands out by itself, and can be bound.
func TestFreePortBelowTheEphemeralRange(t *testing.T) {
	lo := ephemeralLow()
	seen := map[int]bool{}
	for range 50 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if p >= lo || p < 1024 {
			t.Fatalf("FreePort() = %d, want below the ephemeral range (from %d)", p, lo)
		}
		seen[p] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d: %v", p, err)
		}
		_ = l.Close()
	}
	if len(seen) < 40 {
		t.Errorf("50 calls gave only %d ports: not spread", len(seen))
	}
}
