package allocs

import (
	"sync/atomic"
	"testing"
)

var sink []byte

func TestMin(t *testing.T) {
	tests := []struct {
		name string
		f    func()
		want float64
	}{
		{"none", func() {}, 0},
		{"one", func() { sink = make([]byte, 64) }, 1},
		{"three", func() {
			for range 3 {
				sink = make([]byte, 64)
			}
		}, 3},
	}
	for _, tt := range tests {
		if got := Min(50, tt.f); got != tt.want {
			t.Errorf("%s: %v allocations, want %v", tt.name, got, tt.want)
		}
	}
}

// TestMinIgnoresANoisyRound: a round in which something else allocates
// (here f itself, in its first round only) does not raise the result.
func TestMinIgnoresANoisyRound(t *testing.T) {
	var calls atomic.Int64
	got := Min(10, func() {
		if calls.Add(1) <= 11 { // AllocsPerRun's warm-up call and the first round
			for range 100 {
				sink = make([]byte, 64)
			}
		}
	})
	if got != 0 {
		t.Fatalf("%v allocations, want 0 (the quiet rounds)", got)
	}
}
