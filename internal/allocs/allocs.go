// Package allocs measures a function's allocations for tests that bound
// them.
package allocs

import "testing"

// Min returns the fewest average allocations of f over three rounds of
// testing.AllocsPerRun(runs, f). AllocsPerRun counts every allocation in
// the process, a background goroutine's too (a test's abandoned work, a
// timer, the runtime's own), so noise only ever adds: the least of three
// is f's own count, and a real regression shows in every round.
func Min(runs int, f func()) float64 {
	least := testing.AllocsPerRun(runs, f)
	for range 2 {
		least = min(least, testing.AllocsPerRun(runs, f))
	}
	return least
}
