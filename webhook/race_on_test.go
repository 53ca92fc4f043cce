//go:build race

package webhook

// raceEnabled: the race detector adds allocations of its own (and sync.Pool
// drops items at random under it), so allocation counts are not asserted.
const raceEnabled = true
