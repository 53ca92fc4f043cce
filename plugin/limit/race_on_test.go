//go:build race

package limit_test

// raceEnabled: the race detector adds allocations of its own (and sync.Pool
// drops items at random under it), so allocation counts are not asserted.
const raceEnabled = true
