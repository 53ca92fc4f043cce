package webhook

import (
	"sync"
	"time"
)

// refusalSampler bounds the access-log lines of refused requests. A guessing
// or start flood refuses thousands of requests a second with the same
// answer; a line for each would cost more than refusing them and would fill
// the log pipeline an attacker can thus flood. Per kind of refusal (route,
// status, error code) the first perSecond lines of each second are written;
// the rest are counted, and the next line written for that kind says how
// many were skipped. Successes, and failures of ours or of a dependency
// (even those the hook answers Kratos with as a 400 interrupt), are never
// sampled; the metrics count every request.
type refusalSampler struct {
	perSecond int64
	mu        sync.RWMutex
	kinds     map[refusalKind]*refusalWindow
}

// refusalKind is one kind of refusal. Its parts are bounded sets (the route
// patterns and "unmatched", the statuses and error codes classify gives),
// so the map stays small.
type refusalKind struct {
	route, code string
	status      int
}

type refusalWindow struct {
	mu      sync.Mutex
	second  int64 // Unix second the counts are for
	written int64 // lines written in that second
	skipped int64 // lines skipped since the last one written
}

// newRefusalSampler returns nil (log every refusal) when perSecond ≤ 0.
func newRefusalSampler(perSecond int) *refusalSampler {
	if perSecond <= 0 {
		return nil
	}
	return &refusalSampler{perSecond: int64(perSecond), kinds: map[refusalKind]*refusalWindow{}}
}

// admit reports whether the line of a refusal of kind k at now is written,
// and when it is, how many lines of that kind were skipped before it.
func (s *refusalSampler) admit(k refusalKind, now time.Time) (ok bool, skipped int64) {
	if s == nil {
		return true, 0
	}
	s.mu.RLock()
	w := s.kinds[k]
	s.mu.RUnlock()
	if w == nil {
		s.mu.Lock()
		if w = s.kinds[k]; w == nil {
			w = &refusalWindow{}
			s.kinds[k] = w
		}
		s.mu.Unlock()
	}
	sec := now.Unix()
	w.mu.Lock()
	defer w.mu.Unlock()
	if sec != w.second {
		w.second, w.written = sec, 0
	}
	if w.written >= s.perSecond {
		w.skipped++
		return false, 0
	}
	w.written++
	skipped, w.skipped = w.skipped, 0
	return true, skipped
}
