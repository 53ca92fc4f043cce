package challenge_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// callsBound is the most calls the counting rules allow in any half-open
// span: a sliding rule of Limit per Window allows Limit in any span of at
// most one Window; a longer span is whole windows of one rule plus the rest,
// bounded again by every rule. The per-IP rule is left out: rotating client
// IPs evades it (SECURITY.md).
func callsBound(l limit.Config, span time.Duration) int {
	if span <= 0 {
		return 0
	}
	n := math.MaxInt
	for _, r := range []limit.Rule{l.PerNumber, l.PerIdentity, l.GlobalDaily} {
		if span <= r.Window {
			n = min(n, r.Limit)
			continue
		}
		n = min(n, r.Limit*int(span/r.Window)+callsBound(l, span%r.Window))
	}
	return n
}

// guessBound is the most guesses evaluated in any span: a challenge can be
// guessed until it expires, so the calls of the span and of the TTL before
// it, times the attempts of each.
func guessBound(c challenge.Config, l limit.Config, span time.Duration) int {
	return callsBound(l, span+c.TTL) * c.MaxAttempts
}

// maxInSpan is the most times in any half-open span [t, t+span); times are
// in order. A maximal span can start at a time, so only those are tried.
func maxInSpan(times []time.Time, span time.Duration) int {
	best, j := 0, 0
	for i := range times {
		for j < len(times) && times[j].Before(times[i].Add(span)) {
			j++
		}
		best = max(best, j-i)
	}
	return best
}

// attacker holds the identity's password: it starts login challenges (a
// new flow and client IP each) and sends only wrong codes, recording the
// fake time of every guess the service evaluated.
type attacker struct {
	t         *testing.T
	e         *env
	flows     int
	open      []*guessFlow
	evaluated []time.Time
	refused   map[string]int
	first     time.Time // when the first call was placed
}

type guessFlow struct {
	r    challenge.StartRequest
	code int
	sent int // wrong guesses evaluated
	done bool
	at   time.Time // when its call was placed
}

func newAttacker(t *testing.T) *attacker {
	return &attacker{t: t, e: newEnv(t, nil), refused: map[string]int{}} // defaults: mod is nil
}

// start tries one new challenge; false when a limit refused it.
func (a *attacker) start() bool {
	a.t.Helper()
	a.flows++
	r := req(fmt.Sprintf("flow-%d", a.flows))
	r.ClientIP = fmt.Sprintf("198.51.%d.%d", a.flows/250%250, a.flows%250)
	res, err := a.e.svc.Start(context.Background(), r)
	var le *limit.LimitError
	switch {
	case errors.As(err, &le):
		a.refused["start:"+le.Kind]++
		return false
	case err != nil:
		a.t.Fatalf("flow %d: Start: %v", a.flows, err)
	case !res.Placed:
		a.t.Fatalf("flow %d: a new flow placed no call", a.flows)
	}
	code, err := strconv.Atoi(a.e.prov.lastCode())
	if err != nil {
		a.t.Fatal(err)
	}
	if a.first.IsZero() {
		a.first = a.e.clk.Now()
	}
	a.open = append(a.open, &guessFlow{r: r, code: code, at: a.e.clk.Now()})
	return true
}

// guess sends one wrong code to f; false when it could not be evaluated
// (refused by a ban, or f is over).
func (a *attacker) guess(f *guessFlow) bool {
	a.t.Helper()
	// code+k mod 10⁴ (k ≥ 1) is 4 digits and never the code.
	wrong := fmt.Sprintf("%04d", (f.code+f.sent+1)%10000)
	_, err := a.e.svc.Verify(context.Background(), bind(f.r), "", wrong)
	var w *challenge.WrongCodeError
	var le *limit.LimitError
	switch {
	case errors.As(err, &w):
		a.evaluated = append(a.evaluated, a.e.clk.Now())
		f.sent++
		// The service, not the default, says when it locks.
		f.done = w.AttemptsLeft == 0
		return true
	case errors.As(err, &le):
		a.refused["verify:"+le.Kind]++
		return false
	case errors.Is(err, challenge.ErrExpired), errors.Is(err, challenge.ErrNotFound):
		f.done = true
		return false
	default:
		a.t.Fatalf("Verify(%s): %v", wrong, err)
		return false
	}
}

// guessAll guesses round-robin, one code per open challenge at least
// olderThan old per round, until every such challenge is locked or a
// guess is refused. Round-robin takes two guesses from each challenge
// before the locks that cause a ban.
func (a *attacker) guessAll(olderThan time.Duration) {
	for progress := true; progress; {
		progress = false
		for _, f := range a.open {
			if f.done || a.e.clk.Now().Before(f.at.Add(olderThan)) {
				continue
			}
			if !a.guess(f) {
				if !f.done {
					return // banned: every later guess is refused too
				}
				continue
			}
			progress = true
		}
	}
	kept := a.open[:0]
	for _, f := range a.open {
		if !f.done {
			kept = append(kept, f)
		}
	}
	a.open = kept
}

// TestGuessBoundsWithDefaults checks the "Guessing, in numbers" table of
// SECURITY.md against the Service with every limit at its default, over 26
// hours of fake time. Attackers guessing as soon as the call is placed are
// bound by the calls of the span (15 an hour, 30 a day) and reach those
// figures. Guesses deferred until just before the challenge expires also
// count calls of the TTL before the span (30 and 45): the constructions of
// SECURITY.md reach 26 in an hour and 41 in a day, which the ban keeps below
// those bounds.
func TestGuessBoundsWithDefaults(t *testing.T) {
	ccfg, lcfg := challenge.DefaultConfig(), limit.DefaultConfig()
	a := ccfg.MaxAttempts
	month := 30 * 24 * time.Hour
	atOnceHour, atOnceDay := callsBound(lcfg, time.Hour)*a, callsBound(lcfg, 24*time.Hour)*a
	hourBound, dayBound := guessBound(ccfg, lcfg, time.Hour), guessBound(ccfg, lcfg, 24*time.Hour)
	// The figures SECURITY.md states; a change of defaults must update it.
	if atOnceHour != 15 || atOnceDay != 30 || hourBound != 30 || dayBound != 45 || guessBound(ccfg, lcfg, month) != 915 {
		t.Fatalf("bounds from the defaults: %d/%d an hour, %d/%d a day, %d in 30 days; SECURITY.md says 15/30, 30/45, 915",
			atOnceHour, hourBound, atOnceDay, dayBound, guessBound(ccfg, lcfg, month))
	}
	reg, burst := lcfg.Regulation, lcfg.PerNumber.Limit
	// deferred places a burst of calls and guesses them just before they
	// expire, then places the next burst as soon as the first leaves the
	// per-number window and guesses it at once.
	deferred := func(x *attacker, more func(x *attacker)) {
		for range burst {
			if !x.start() {
				t.Fatal("first burst refused")
			}
			x.e.clk.Advance(time.Second)
		}
		x.e.clk.Advance(ccfg.TTL - time.Duration(burst+1)*time.Second) // the first call expires in 1 s
		x.guessAll(0)
		x.e.clk.Advance(lcfg.PerNumber.Window - ccfg.TTL + 5*time.Second)
		more(x)
	}
	burstAtOnce := func(x *attacker) {
		for range burst {
			if !x.start() {
				t.Fatalf("burst refused at %s: %v", x.e.clk.Now(), x.refused)
			}
			x.e.clk.Advance(time.Second)
		}
		x.guessAll(0)
	}
	tests := []struct {
		name     string
		strategy func(x *attacker)
		// The most in one hour and in one day this strategy must get, so
		// the test is not vacuous.
		reachHour, reachDay int
	}{
		// One lock per find_time at most: never banned, only the counters bind.
		{"paced below regulation", func(x *attacker) {
			for end := x.e.clk.Now().Add(26 * time.Hour); x.e.clk.Now().Before(end); x.e.clk.Advance(reg.FindTime + time.Minute) {
				x.start()
				x.guessAll(0)
			}
		}, atOnceHour, atOnceDay},
		// Starts as often as allowed and runs into bans and counters.
		{"greedy every minute", func(x *attacker) {
			for end := x.e.clk.Now().Add(26 * time.Hour); x.e.clk.Now().Before(end); x.e.clk.Advance(time.Minute) {
				x.start()
				x.guessAll(0)
			}
		}, atOnceHour, atOnceDay},
		// 13 deferred (the ban stops the rest), 13 more an hour later.
		{"deferred burst, then a burst at once", func(x *attacker) { deferred(x, burstAtOnce) }, 26, 26},
		// The same, with the calls in between paced below the ban, and a
		// last burst as the first leaves the per-identity window.
		{"deferred burst, paced calls, a burst a day later", func(x *attacker) {
			deferred(x, func(x *attacker) {
				for range lcfg.PerIdentity.Limit - burst {
					if !x.start() {
						t.Fatalf("paced call refused at %s: %v", x.e.clk.Now(), x.refused)
					}
					x.guessAll(0)
					x.e.clk.Advance(reg.FindTime + time.Minute)
				}
				// The first burst leaves the per-identity window.
				x.e.clk.Advance(x.first.Add(lcfg.PerIdentity.Window + time.Duration(burst)*time.Second).Sub(x.e.clk.Now()))
				burstAtOnce(x)
			})
		}, 16, 41},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newAttacker(t)
			tc.strategy(x)
			perHour, perDay := maxInSpan(x.evaluated, time.Hour), maxInSpan(x.evaluated, 24*time.Hour)
			t.Logf("%d guesses evaluated, %d calls; most in any hour %d, in any 24 hours %d; refused %v",
				len(x.evaluated), x.e.prov.numCalls(), perHour, perDay, x.refused)
			if perHour > hourBound || perDay > dayBound {
				t.Errorf("evaluated guesses: %d in some hour (bound %d), %d in some 24 hours (bound %d)",
					perHour, hourBound, perDay, dayBound)
			}
			if perHour < tc.reachHour || perDay < tc.reachDay {
				t.Errorf("attacker got at most %d an hour and %d a day, want at least %d and %d",
					perHour, perDay, tc.reachHour, tc.reachDay)
			}
		})
	}
}
