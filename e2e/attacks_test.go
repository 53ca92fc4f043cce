package e2e_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/redis/go-redis/v9"
)

// Kratos message ids (docs/architecture.md, "Message ids").
const (
	msgCalling     = 1090001
	msgWrongCode   = 4090001
	msgExpired     = 4090002
	msgLocked      = 4090003
	msgRateLimited = 4090004
	msgBlocked     = 4090005
	msgProvider    = 4090009
	msgUnavailable = 4090010
	msgNotAllowed  = 4090012
)

// guessBound is the most code guesses the limits let one identity have
// evaluated within one window of every limit (all counters start empty and
// no window rolls over) without a success, and the most challenges it can get.
//
// Challenges: every call counts against the per-number, per-identity and
// global rules, so at most C = the smallest enabled of them (the per-IP rule
// is left out: an attacker can rotate addresses). Each challenge takes at
// most A = max_attempts evaluated guesses. Regulation bans the identity, for
// verifies and starts alike, at the R-th locked challenge. A locked challenge
// took A failed guesses (A-1 wrong, then the locking one); any other
// challenge took at most A-1 failed guesses, plus possibly one right guess
// that verified it (so A evaluated in all when that came last). So at most
// min(C,R) challenges contribute A failed guesses and the rest A-1: failed
// guesses (wrong + locked) <= guesses, and evaluated guesses (failed +
// verified) <= guesses + the number of successes.
func guessBound(cfg *config.Config) (challenges, guesses int) {
	l := cfg.Limits
	c := math.MaxInt
	for _, r := range []config.Rule{l.PerNumber, l.PerIdentity, l.GlobalDaily} {
		if r.Limit > 0 && r.Limit < c {
			c = r.Limit
		}
	}
	a := cfg.Challenge.MaxAttempts
	locked := c
	if r := l.Regulation.MaxFailures; r > 0 && r < c {
		locked = r
	}
	return c, locked*a + (c-locked)*(a-1)
}

// TestAttackBruteForceBoundedByLimits: 10,000 guesses (every 4-digit code,
// in order) against one identity whose password the attacker holds. The
// attacker opens as many login flows as the limits allow and spreads its
// guesses over them round-robin, which is the strategy that gets the most
// guesses evaluated. Without the attempt limit the enumeration would
// certainly hit the code; with the limits the number of failed guesses the
// service even evaluates stays within the bound computed from the
// configuration (plus one right guess per success), seen both from the
// service's metrics and from the answers the attacker got.
func TestAttackBruteForceBoundedByLimits(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			o := soloOptions{}
			if store == "redis" {
				o.RedisAddr = testenv.StartRedis(t).Addr
			}
			svc := startSolo(t, o)
			cfg := svc.App.Config
			maxChallenges, bound := guessBound(cfg)
			codeSpace := math.Pow10(cfg.CallPass.CodeLength)
			t.Logf("limits: per_number %d/%s, per_identity %d/%s, global %d/%s, max_attempts %d, regulation %d in %s -> ban %s",
				cfg.Limits.PerNumber.Limit, cfg.Limits.PerNumber.Window, cfg.Limits.PerIdentity.Limit, cfg.Limits.PerIdentity.Window,
				cfg.Limits.GlobalDaily.Limit, cfg.Limits.GlobalDaily.Window, cfg.Challenge.MaxAttempts,
				cfg.Limits.Regulation.MaxFailures, cfg.Limits.Regulation.FindTime, cfg.Limits.Regulation.BanTime)
			// Before the first success at most bound failed guesses are
			// evaluated, so at most bound+1 guesses can hit.
			t.Logf("bound: at most %d challenges and %d failed guesses per window; P(success) <= %d/%.0f = %.4f",
				maxChallenges, bound, bound+1, codeSpace, float64(bound+1)/codeSpace)

			const dn = "79001230001"
			hc := newHookClient(svc.URL)
			identity := newID()
			type flow struct {
				id      string
				started bool
			}
			pool := make([]*flow, maxChallenges+3) // more flows than the limits allow
			for i := range pool {
				pool[i] = &flow{id: newID()}
			}
			started := time.Now()
			successes, placed, banningLocks := 0, 0, 0
			answers := map[int64]int{}
			for g := 0; g < 10000; g++ {
				f := pool[g%len(pool)]
				ip := fmt.Sprintf("198.51.%d.%d", (g/250)%250, g%250) // a fresh address per request
				if !f.started {
					a, err := hc.call(hookCall{FlowID: f.id, IdentityID: identity, Phone: "+" + dn, ClientIP: ip})
					if err != nil {
						t.Fatal(err)
					}
					f.started = true
					if a.ID == msgCalling && a.Ctx["placed"] == true {
						placed++
					}
				}
				a, err := hc.call(hookCall{FlowID: f.id, IdentityID: identity, Phone: "+" + dn, ClientIP: ip,
					Code: fmt.Sprintf("%04d", g)})
				if err != nil {
					t.Fatal(err)
				}
				if a.Status == http.StatusOK {
					successes++
				}
				answers[a.ID]++
				if a.ID == msgBlocked && a.Ctx["attempts_left"] != nil {
					// The wrong code that locked a challenge and started the
					// ban: evaluated, and answered with the ban.
					banningLocks++
				}
				switch a.ID {
				case msgWrongCode, msgBlocked, msgRateLimited:
					// keep the flow: more guesses on it, or wait out the ban
				default:
					// verified, locked, expired/not found: a new flow
					pool[g%len(pool)] = &flow{id: newID()}
				}
			}
			elapsed := time.Since(started)
			if w := cfg.Limits.Regulation.FindTime; elapsed >= w {
				t.Fatalf("the attack took %s, longer than the smallest window %s: the bound does not apply", elapsed, w)
			}
			// An evaluated guess is a counted attempt: verified, wrong or locked
			// (the store's one verify step also answers bans and refusals).
			// Failed ones are wrong or locked; a verified one is a success.
			failed := 0
			for _, outcome := range []string{"wrong", "locked"} {
				failed += int(metricSum(t, svc, "callpass_verifications_total", map[string]string{"outcome": outcome}))
			}
			verified := int(metricSum(t, svc, "callpass_verifications_total", map[string]string{"outcome": "verified"}))
			evaluated := failed + verified
			requests := simRequests(t, svc.URL, dn)
			t.Logf("%s: 10000 guesses in %s: %d evaluated (%d failed, %d verified), %d successes, %d calls placed, %d provider requests; answers by message id %v",
				store, elapsed.Round(time.Millisecond), evaluated, failed, verified, successes, placed, requests, answers)
			if failed > bound {
				t.Errorf("service: %d failed guesses (wrong + locked) were evaluated, the limits allow at most %d", failed, bound)
			}
			if evaluated > bound+successes {
				t.Errorf("service: %d guesses were evaluated with %d successes, the limits allow at most %d+%d", evaluated, successes, bound, successes)
			}
			// The attacker's own view: every wrong-code or locked answer is a
			// guess the service evaluated and refused.
			if seen := answers[msgWrongCode] + answers[msgLocked] + banningLocks; seen > bound {
				t.Errorf("attacker: %d wrong-code (%d), locked (%d) and banning (%d) answers, the limits allow at most %d evaluated failures",
					seen, answers[msgWrongCode], answers[msgLocked], banningLocks, bound)
			}
			if seen := answers[msgWrongCode] + answers[msgLocked] + banningLocks; seen != failed {
				t.Errorf("attacker saw %d wrong-code, locked and banning answers, the service counted %d failed guesses", seen, failed)
			}
			if verified != successes {
				t.Errorf("attacker got %d successes, the service counted %d verified guesses", successes, verified)
			}
			if evaluated == 0 {
				t.Error("no guess was evaluated: the attack never reached the verifier")
			}
			if successes > maxChallenges || successes > evaluated {
				t.Errorf("%d successes, more than %d challenges / %d evaluated guesses allow", successes, maxChallenges, evaluated)
			}
			if requests > maxChallenges || placed > maxChallenges {
				t.Errorf("provider got %d start requests (%d calls placed), the limits allow %d", requests, placed, maxChallenges)
			}
			if answers[msgBlocked] == 0 {
				t.Errorf("regulation never blocked the identity: answers %v", answers)
			}
		})
	}
}

// TestAttackRespelledNumberHitsSameCounter: one number typed seven ways in
// the traits of seven different identities, from seven addresses. Only the
// per-number rule is shared, and it must see one number.
func TestAttackRespelledNumberHitsSameCounter(t *testing.T) {
	svc := startSolo(t, soloOptions{})
	limitN := svc.App.Config.Limits.PerNumber.Limit
	const dn = "79001234567"
	spellings := []string{"+79001234567", "89001234567", "+7 (900) 123-45-67", "8 900 123 45 67",
		"7-900-123-4567", "+7.900.123.45.67", "  +7 900 1234567 "}
	if len(spellings) <= limitN {
		t.Fatalf("need more spellings than the per-number limit %d", limitN)
	}
	hc := newHookClient(svc.URL)
	for i, sp := range spellings {
		a := hc.mustCall(t, hookCall{FlowID: newID(), IdentityID: newID(), Phone: sp, ClientIP: fmt.Sprintf("203.0.113.%d", i+1)})
		if i < limitN {
			if a.ID != msgCalling || a.Ctx["phone_masked"] != "+7 900 ***-**-67" {
				t.Errorf("spelling %q (call %d): want 1090001 to +7 900 ***-**-67, got %d %v", sp, i+1, a.ID, a.Ctx)
			}
			continue
		}
		if a.ID != msgRateLimited || a.Ctx["limit"] != "number" {
			t.Errorf("spelling %q (call %d, over the limit of %d): want 4090004 limit=number, got %d %s", sp, i+1, limitN, a.ID, a.Raw)
		}
	}
	if n := simRequests(t, svc.URL, dn); n != limitN {
		t.Errorf("provider got %d start requests for %s, want exactly the per-number limit %d", n, dn, limitN)
	}
}

// TestAttackCodeBoundToItsChallenge: the right code is refused for another
// flow, another identity, another purpose, after a resend, and after it was
// used once. Every other binding holds a live challenge of its own, so the
// refusal is the code check failing against that challenge (a wrong code,
// one attempt used), not "no challenge here"; each is then verified with
// its own code, which proves the refusal used nothing up.
func TestAttackCodeBoundToItsChallenge(t *testing.T) {
	// The limits are not under test: room for every start and redraw on the
	// one number, and resends without waiting. No Kratos runs here: the
	// settings hook's first step, which reads the stored number through
	// Kratos's admin API (TestKratos24RecoverySessionIsNotGated), is off,
	// and its call is the new number's phone proof, as the binding under
	// test needs.
	svc := startSolo(t, soloOptions{Env: []string{"LIMITS_PER_NUMBER_LIMIT=100", "LIMITS_PER_IDENTITY_LIMIT=100",
		"CHALLENGE_RESEND_COOLDOWNS=1ms", "WEBHOOK_SETTINGS_CONFIRM_CURRENT=false"}})
	hc := newHookClient(svc.URL)
	const dn = "79001112299"
	starts := 0
	// start opens (or, with resend, replaces) the challenge of c's binding
	// and returns its code, which the simulator reports as the newest call.
	start := func(name string, c hookCall, resend bool) string {
		t.Helper()
		c.Code, c.Resend = "", resend
		if resend {
			time.Sleep(5 * time.Millisecond) // past the 1ms cooldown
		}
		a := hc.mustCall(t, c)
		if a.Status != http.StatusBadRequest || a.ID != msgCalling || a.Ctx["placed"] != true {
			t.Fatalf("%s: start (resend %v): want 400 with %d and a call placed, got %d %s", name, resend, msgCalling, a.Status, a.Raw)
		}
		starts++
		return lastCode(t, svc.URL, dn)
	}
	// redraw replaces c's challenge until its code differs from avoid.
	redraw := func(name string, c hookCall, code, avoid string) string {
		t.Helper()
		for code == avoid {
			t.Logf("%s: the simulator drew %s again: resend", name, code)
			code = start(name, c, true)
		}
		return code
	}
	wantWrong := func(name string, a hookAnswer) {
		t.Helper()
		if a.Status != http.StatusBadRequest || a.ID != msgWrongCode || a.Type != "error" || a.Ctx["attempts_left"] != float64(2) {
			t.Errorf("%s: want 400 with %d (wrong code, 2 attempts left), got %d %s", name, msgWrongCode, a.Status, a.Raw)
		}
	}
	wantOK := func(name string, a hookAnswer) {
		t.Helper()
		if a.Status != http.StatusOK {
			t.Errorf("%s: want 200, got %d %s", name, a.Status, a.Raw)
		}
	}

	identity, flow := newID(), newID()
	own := hookCall{FlowID: flow, IdentityID: identity, Phone: "+" + dn}
	code := start("its own flow and identity", own, false)

	other := []struct {
		name string
		call hookCall
		code string
	}{
		{name: "another flow of the same identity", call: hookCall{FlowID: newID(), IdentityID: identity, Phone: "+" + dn}},
		{name: "the same flow for another identity", call: hookCall{FlowID: flow, IdentityID: newID(), Phone: "+" + dn}},
		{name: "another flow and identity", call: hookCall{FlowID: newID(), IdentityID: newID(), Phone: "+" + dn}},
		{name: "the same flow and identity in settings (phone proof)", call: hookCall{Path: "/hooks/kratos/settings",
			FlowID: flow, IdentityID: identity, Phone: "+" + dn}},
	}
	for i := range other {
		o := &other[i]
		o.code = redraw(o.name, o.call, start(o.name, o.call, false), code)
	}
	for _, o := range other {
		c := o.call
		c.Code = code
		wantWrong(o.name+": the first challenge's code", hc.mustCall(t, c))
	}
	for _, o := range other {
		c := o.call
		c.Code = o.code
		wantOK(o.name+": its own code", hc.mustCall(t, c))
	}
	c := own
	c.Code = code
	wantOK("its own flow and identity (the refusals elsewhere must not touch it)", hc.mustCall(t, c))
	if a := hc.mustCall(t, c); a.Status != http.StatusBadRequest || a.ID != msgExpired || a.Type != "error" {
		t.Errorf("replay of a used code: want 400 with %d, got %d %s", msgExpired, a.Status, a.Raw)
	}

	// A resend replaces the challenge: the code of the call it replaced is
	// a wrong code for the new one.
	resent := hookCall{FlowID: newID(), IdentityID: identity, Phone: "+" + dn}
	old := start("resend", resent, false)
	fresh := redraw("resend", resent, start("resend", resent, true), old)
	c = resent
	c.Code = old
	wantWrong("the code of the call a resend replaced", hc.mustCall(t, c))
	c.Code = fresh
	wantOK("the resent call's code", hc.mustCall(t, c))

	if n := simRequests(t, svc.URL, dn); n != starts {
		t.Errorf("provider got %d start requests, want %d, one per start (a code try never places a call)", n, starts)
	}
}

// TestAttackStoreHoldsNoCodes dumps Redis after real challenges in three
// states (pending, one wrong guess submitted, verified) and looks for every
// code, every wrong guess and every calling number. The code-hash field is
// left out of the search (its 32 raw bytes can hold any digits; it is
// checked exactly against the keyed HMAC below).
//
// A 4-digit string turns up by chance inside timestamps, ids and the called
// numbers, so one hit proves nothing; a stored code would hit every
// challenge of its state. The challenges are bucketed by state (10 each, and
// the 10 wrong guesses) and each bucket is checked twice:
//
//   - in the challenge's own entries (every key whose name or values carry
//     its challenge, identity or flow id): fail at 3 hits of 10. If those
//     entries hold D distinct 4-digit strings, a random code occurs there
//     by chance with p = D/10^4, and 3 of 10 with P <= C(10,3)·p^3 = 120·p^3;
//     with D around 60 (five millisecond timestamps, three UUIDs and the
//     number) that is about 3e-5 per bucket. The test computes it from the
//     dump and stops if it exceeds 1e-4.
//   - anywhere in the dump, for a code stored under some other key: the
//     whole dump holds about 600 distinct 4-digit strings (p about 0.06),
//     where 3 of 10 happens by chance in about 2% of buckets, so the
//     threshold is the smallest k with C(10,k)·p^k <= 1e-6 (7 at p = 0.06),
//     which a stored code (10 of 10) still crosses.
func TestAttackStoreHoldsNoCodes(t *testing.T) {
	rd := testenv.StartRedis(t)
	svc := startSolo(t, soloOptions{RedisAddr: rd.Addr})
	hc := newHookClient(svc.URL)
	type issued struct{ id, flow, code, guess, caller, challengeID, state string }
	var all []issued
	const n = 30
	const bucket = n / 3
	states := []string{"pending", "wrong guess", "verified"}
	for i := 0; i < n; i++ {
		dn := fmt.Sprintf("7900777%04d", i)
		identity, flow := newID(), newID()
		a := hc.mustCall(t, hookCall{FlowID: flow, IdentityID: identity, Phone: "+" + dn})
		if a.ID != msgCalling {
			t.Fatalf("start %d: %d %s", i, a.ID, a.Raw)
		}
		calls := simCalls(t, svc.URL, dn)
		if len(calls) != 1 {
			t.Fatalf("want one call to %s, got %d", dn, len(calls))
		}
		code := calls[0].Caller[len(calls[0].Caller)-4:]
		is := issued{id: identity, flow: flow, code: code, caller: calls[0].Caller,
			challengeID: a.Ctx["challenge_id"].(string), state: states[i%3]}
		switch is.state {
		case "wrong guess":
			is.guess = wrongCode(code)
			if a := hc.mustCall(t, hookCall{FlowID: flow, IdentityID: identity, Phone: "+" + dn, Code: is.guess}); a.ID != msgWrongCode {
				t.Fatalf("wrong guess %d: %d %s", i, a.ID, a.Raw)
			}
		case "verified":
			if a := hc.mustCall(t, hookCall{FlowID: flow, IdentityID: identity, Phone: "+" + dn, Code: code}); a.Status != http.StatusOK {
				t.Fatalf("verify %d: %d %s", i, a.Status, a.Raw)
			}
		}
		all = append(all, is)
	}
	dump := dumpRedis(t, rd.Addr)
	if len(dump) == 0 {
		t.Fatal("Redis is empty: the test did not store anything")
	}
	// text renders entries for the search, without the code-hash field.
	text := func(entries []redisEntry) string {
		var b strings.Builder
		for _, e := range entries {
			b.WriteString(e.Key + "\n")
			for _, v := range e.Values {
				if e.Type == "hash" && strings.HasPrefix(v, "h=") {
					continue // the code hash: checked exactly below
				}
				b.WriteString(v + "\n")
			}
		}
		return b.String()
	}
	blob := text(dump)
	pAll := float64(len(digitWindows(blob))) / 1e4
	kAll := 0
	for k := 3; k <= bucket && kAll == 0; k++ {
		if binomial(bucket, k)*math.Pow(pAll, float64(k)) <= 1e-6 {
			kAll = k
		}
	}
	t.Logf("whole dump (without code hashes): %d distinct 4-digit strings, p = %.4f: a bucket fails at %d of %d hits",
		len(digitWindows(blob)), pAll, kAll, bucket)
	if kAll == 0 {
		t.Fatalf("the dump holds too many 4-digit strings for the whole-dump check to mean anything")
	}

	ownHits, allHits := map[string]int{}, map[string]int{}
	pOwn := 0.0
	for _, is := range all {
		if strings.Contains(blob, is.caller) || strings.Contains(blob, is.caller[1:]) {
			t.Errorf("the calling number %s is stored", is.caller)
		}
		var mine []redisEntry
		for _, e := range dump {
			if s := text([]redisEntry{e}); strings.Contains(s, is.challengeID) || strings.Contains(s, is.id) || strings.Contains(s, is.flow) {
				mine = append(mine, e)
			}
		}
		if len(mine) == 0 {
			t.Errorf("challenge %s: no entry in the dump", is.challengeID)
		}
		own := text(mine)
		pOwn = max(pOwn, float64(len(digitWindows(own)))/1e4)
		look := func(bucket, digits, what string) {
			if strings.Contains(own, digits) {
				ownHits[bucket]++
				t.Logf("%s %s of challenge %s occurs in its own entries", what, digits, is.challengeID)
			}
			if strings.Contains(blob, digits) {
				allHits[bucket]++
				t.Logf("%s %s of challenge %s occurs in the dump", what, digits, is.challengeID)
			}
		}
		look(is.state+" codes", is.code, "code")
		if is.guess != "" {
			look("wrong guesses", is.guess, "wrong guess")
		}
	}
	chance := binomial(bucket, 3) * math.Pow(pOwn, 3)
	t.Logf("own entries: at most %.0f distinct 4-digit strings, p <= %.4f: 3 of %d by chance with P <= %.2g",
		pOwn*1e4, pOwn, bucket, chance)
	if chance > 1e-4 {
		t.Fatalf("a challenge's own entries hold too many 4-digit strings for the 3-hit check to mean anything")
	}
	for _, st := range states {
		for _, b := range []string{st + " codes", "wrong guesses"} {
			if b == "wrong guesses" && st != "wrong guess" {
				continue
			}
			if ownHits[b] >= 3 {
				t.Errorf("%d of %d %s occur in their own challenge's entries: they are stored", ownHits[b], bucket, b)
			}
			if allHits[b] >= kAll {
				t.Errorf("%d of %d %s occur in the Redis dump: they are stored", allHits[b], bucket, b)
			}
		}
	}
	if t.Failed() {
		t.Logf("dump:\n%v", dump)
	}

	// The hash field holds HMAC-SHA256(code key, binding, code), nothing weaker.
	key := devCodeKey(t, svc)
	checked := 0
	for _, is := range all {
		for _, e := range dump {
			if e.Type != "hash" || !strings.HasSuffix(e.Key, ":c:"+is.challengeID) {
				continue
			}
			var h string
			for _, fv := range e.Values {
				if strings.HasPrefix(fv, "h=") {
					h = strings.TrimPrefix(fv, "h=")
				}
			}
			b := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: is.id, FlowID: is.flow}
			want := challenge.HashCode(key, b, is.code)
			if !bytes.Equal([]byte(h), want) {
				t.Errorf("challenge %s: stored hash %s is not HMAC(code key, binding, code) %s",
					is.challengeID, hex.EncodeToString([]byte(h)), hex.EncodeToString(want))
			}
			checked++
		}
	}
	if checked != n {
		t.Errorf("found %d challenge hashes in the dump, want %d", checked, n)
	}
}

// digitWindows is the set of 4-digit substrings of s.
func digitWindows(s string) map[string]bool {
	w := map[string]bool{}
	for i := 0; i+4 <= len(s); i++ {
		if isDigits(s[i : i+4]) {
			w[s[i:i+4]] = true
		}
	}
	return w
}

// binomial is n choose k.
func binomial(n, k int) float64 {
	r := 1.0
	for i := 0; i < k; i++ {
		r = r * float64(n-i) / float64(i+1)
	}
	return r
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func devCodeKey(t *testing.T, svc *service) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(svc.App.Config.Dev.DataDir, config.DevSecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Key string `json:"challenge_code_key"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Key == "" {
		t.Fatalf("dev secrets: no code key (%v)", err)
	}
	if s.Key != svc.App.Config.Challenge.CodeKey {
		t.Fatal("the service does not use the code key stored in the dev data dir")
	}
	return []byte(s.Key)
}

// TestAttackWebhookRefusedBeforeAnyWork: requests to each of the three hooks
// without the secret, with a wrong one, oversized, malformed or of the wrong
// content type are refused, and neither the provider nor the store sees
// anything: redis-server itself counts no command but the test's own INFO.
// A valid request at the end proves the same setup does reach both.
func TestAttackWebhookRefusedBeforeAnyWork(t *testing.T) {
	rd := testenv.StartRedis(t)
	svc := startSolo(t, soloOptions{RedisAddr: rd.Addr})
	paths := []string{"/hooks/kratos/login", "/hooks/kratos/registration", "/hooks/kratos/settings"}
	// One connection for every INFO: the connect handshake is counted once,
	// before the first reading, and each INFO then adds exactly 1 to the
	// next reading.
	info := redis.NewClient(&redis.Options{Addr: rd.Addr, PoolSize: 1})
	t.Cleanup(func() { info.Close() })
	commands := func() int64 { t.Helper(); return redisCommandsProcessed(t, info) }
	// The service inspects its Redis once at start-up, in the background
	// (PING, INFO, CONFIG GET, TIME): wait until two INFO calls 100 ms
	// apart count only the second.
	for deadline := time.Now().Add(10 * time.Second); ; {
		c0 := commands()
		time.Sleep(100 * time.Millisecond)
		c1 := commands()
		if c1-c0 == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server counted %d commands between two INFO calls with nothing else running, want 1: the count cannot isolate the service", c1-c0)
		}
	}
	valid := hookCall{FlowID: newID(), IdentityID: newID(), Phone: "+79005550001"}.body()
	auth := "Bearer " + webhookSecret
	big := func(n int) []byte {
		// A valid payload whose traits carry padding up to n bytes.
		pad := strings.Repeat("a", n)
		return []byte(strings.Replace(string(valid), `"email":"x@example.com"`, `"email":"x@example.com","pad":"`+pad+`"`, 1))
	}
	cases := []refusedRequest{
		{"no Authorization", "POST", map[string]string{"Content-Type": "application/json"}, valid, false, 401, "unauthorized"},
		{"wrong secret", "POST", map[string]string{"Authorization": "Bearer wrong-" + webhookSecret, "Content-Type": "application/json"}, valid, false, 401, "unauthorized"},
		{"secret prefix only", "POST", map[string]string{"Authorization": auth[:len(auth)-1], "Content-Type": "application/json"}, valid, false, 401, "unauthorized"},
		{"secret without Bearer", "POST", map[string]string{"Authorization": webhookSecret, "Content-Type": "application/json"}, valid, false, 401, "unauthorized"},
		{"basic auth", "POST", map[string]string{"Authorization": "Basic a3JhdG9zOnNlY3JldA==", "Content-Type": "application/json"}, valid, false, 401, "unauthorized"},
		{"secret in a cookie", "POST", map[string]string{"Cookie": "Authorization=" + webhookSecret, "Content-Type": "application/json"}, valid, false, 401, "unauthorized"},
		{"oversized with Content-Length", "POST", map[string]string{"Authorization": auth, "Content-Type": "application/json"}, big(65 << 10), false, 400, "invalid_request"},
		{"oversized chunked", "POST", map[string]string{"Authorization": auth, "Content-Type": "application/json"}, big(65 << 10), true, 400, "invalid_request"},
		{"oversized and unauthenticated", "POST", map[string]string{"Content-Type": "application/json"}, big(1 << 20), false, 401, "unauthorized"},
		{"malformed JSON", "POST", map[string]string{"Authorization": auth, "Content-Type": "application/json"}, []byte(`{"flow_id":`), false, 400, "invalid_request"},
		{"JSON array", "POST", map[string]string{"Authorization": auth, "Content-Type": "application/json"}, []byte(`[1,2]`), false, 400, "invalid_request"},
		{"trailing data", "POST", map[string]string{"Authorization": auth, "Content-Type": "application/json"}, append(append([]byte{}, valid...), []byte(`{}`)...), false, 400, "invalid_request"},
		{"unknown field", "POST", map[string]string{"Authorization": auth, "Content-Type": "application/json"}, []byte(strings.Replace(string(valid), `"flow_type"`, `"evil":1,"flow_type"`, 1)), false, 400, "invalid_request"},
		{"identity id not a UUID", "POST", map[string]string{"Authorization": auth, "Content-Type": "application/json"},
			[]byte(`{"flow_id":"` + newID() + `","identity_id":"../../admin","traits":{"phone":"+79005550001"}}`), false, 400, "invalid_request"},
		{"not UTF-8", "POST", map[string]string{"Authorization": auth, "Content-Type": "application/json"}, []byte("{\"flow_id\":\"\xff\xfe\"}"), false, 400, "invalid_request"},
		{"empty body", "POST", map[string]string{"Authorization": auth, "Content-Type": "application/json"}, nil, false, 400, "invalid_request"},
		{"text/plain", "POST", map[string]string{"Authorization": auth, "Content-Type": "text/plain"}, valid, false, 400, "invalid_request"},
		{"form", "POST", map[string]string{"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}, valid, false, 400, "invalid_request"},
		{"multipart", "POST", map[string]string{"Authorization": auth, "Content-Type": "multipart/form-data; boundary=x"}, valid, false, 400, "invalid_request"},
		{"no content type", "POST", map[string]string{"Authorization": auth}, valid, false, 400, "invalid_request"},
		{"GET (the hook is POST only)", "GET", map[string]string{"Authorization": auth}, nil, false, 405, "method_not_allowed"},
	}
	before := commands()
	for _, path := range paths {
		u := svc.URL + path
		for _, c := range cases {
			refuse(t, u, c)
		}
	}
	if after := commands(); after-before != 1 {
		t.Errorf("redis-server processed %d commands during the refused requests, want 0 (only the test's own INFO)", after-before-1)
	}
	if n := simRequests(t, svc.URL, ""); n != 0 {
		t.Errorf("refused requests reached the provider: %d start requests", n)
	}
	if n := redisDBSize(t, rd.Addr); n != 0 {
		t.Errorf("refused requests wrote %d keys: %v", n, dumpRedis(t, rd.Addr))
	}
	if n := metricSum(t, svc, "callpass_store_operations_total", nil); n != 0 {
		t.Errorf("refused requests made %v store operations", n)
	}

	// Control: the same request with the secret does work.
	ctrl := commands()
	u := svc.URL + paths[0]
	status, raw := rawRequest(t, "POST", u, bytes.NewReader(valid), 0, map[string]string{"Authorization": auth, "Content-Type": "application/json"})
	if status != http.StatusBadRequest || !strings.Contains(string(raw), "1090001") {
		t.Fatalf("valid request: %d %s", status, raw)
	}
	n := commands() - ctrl - 1
	t.Logf("the valid control request made %d Redis commands", n)
	if n <= 0 {
		t.Errorf("the valid control request made %d Redis commands: the command count above proves nothing", n)
	}
	if simRequests(t, svc.URL, "") != 1 || redisDBSize(t, rd.Addr) == 0 {
		t.Error("the valid control request reached neither provider nor store: the checks above prove nothing")
	}
}

// refusedRequest is a hook request that must be refused with want and the
// error code wantCode.
type refusedRequest struct {
	name     string
	method   string
	hdr      map[string]string
	body     []byte
	chunked  bool
	want     int
	wantCode string
}

// refuse sends c to the hook at u and checks the refusal.
func refuse(t *testing.T, u string, c refusedRequest) {
	t.Helper()
	var body *bytes.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	var cl int64
	var status int
	var raw []byte
	if c.chunked {
		cl = -1
	}
	if body == nil {
		status, raw = rawRequest(t, c.method, u, nil, cl, c.hdr)
	} else if c.chunked {
		// Hide the length so the client streams the body in chunks.
		status, raw = rawRequest(t, c.method, u, struct{ *bytes.Reader }{body}, cl, c.hdr)
	} else {
		status, raw = rawRequest(t, c.method, u, body, cl, c.hdr)
	}
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(raw, &e)
	if status != c.want || e.Error != c.wantCode || e.Message == "" {
		t.Errorf("%s %s: got %d %s, want %d with error %q and a message", u, c.name, status, raw, c.want, c.wantCode)
	}
}

// redisCommandsProcessed reads total_commands_processed from INFO stats.
func redisCommandsProcessed(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	return redisStat(t, rdb, "total_commands_processed")
}

// redisStat reads one field of INFO stats.
func redisStat(t *testing.T, rdb *redis.Client, field string) int64 {
	t.Helper()
	s, err := rdb.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatalf("INFO stats: %v", err)
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("INFO stats: %s %q: %v", field, v, err)
			}
			return n
		}
	}
	t.Fatalf("INFO stats has no %s:\n%s", field, s)
	return 0
}

// TestAttackCostProtection: whenever a limit refuses a call, the provider
// receives nothing, with either store keeping the counters.
func TestAttackCostProtection(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		// prime makes the calls that use up the limit; it returns the hook
		// call that must then be refused.
		prime   func(t *testing.T, hc *hookClient) hookCall
		wantID  int64
		wantCtx string
	}{
		{
			name: "daily budget",
			env:  []string{"LIMITS_GLOBAL_DAILY_LIMIT=2"},
			prime: func(t *testing.T, hc *hookClient) hookCall {
				for i := 0; i < 2; i++ {
					if a := hc.mustCall(t, hookCall{FlowID: newID(), IdentityID: newID(), Phone: fmt.Sprintf("+7900888000%d", i)}); a.ID != msgCalling {
						t.Fatalf("call %d within the budget: %d %s", i, a.ID, a.Raw)
					}
				}
				return hookCall{FlowID: newID(), IdentityID: newID(), Phone: "+79008880009"}
			},
			wantID: msgRateLimited, wantCtx: "global",
		},
		{
			name: "per identity",
			env:  []string{"LIMITS_PER_IDENTITY_LIMIT=2"},
			prime: func(t *testing.T, hc *hookClient) hookCall {
				id := newID()
				for i := 0; i < 2; i++ {
					if a := hc.mustCall(t, hookCall{FlowID: newID(), IdentityID: id, Phone: fmt.Sprintf("+7900888001%d", i)}); a.ID != msgCalling {
						t.Fatalf("call %d within the limit: %d %s", i, a.ID, a.Raw)
					}
				}
				return hookCall{FlowID: newID(), IdentityID: id, Phone: "+79008880029"}
			},
			wantID: msgRateLimited, wantCtx: "identity",
		},
		{
			name: "per IP",
			env:  []string{"LIMITS_PER_IP_LIMIT=1"},
			prime: func(t *testing.T, hc *hookClient) hookCall {
				if a := hc.mustCall(t, hookCall{FlowID: newID(), IdentityID: newID(), Phone: "+79008880030", ClientIP: "192.0.2.7"}); a.ID != msgCalling {
					t.Fatalf("first call: %d %s", a.ID, a.Raw)
				}
				return hookCall{FlowID: newID(), IdentityID: newID(), Phone: "+79008880031", ClientIP: "192.0.2.7"}
			},
			wantID: msgRateLimited, wantCtx: "ip",
		},
		{
			name: "denied prefix",
			env:  []string{"LIMITS_DENY_PREFIXES=7999"},
			prime: func(t *testing.T, hc *hookClient) hookCall {
				return hookCall{FlowID: newID(), IdentityID: newID(), Phone: "+79991234567"}
			},
			wantID: msgNotAllowed,
		},
		{
			name: "regulation ban",
			prime: func(t *testing.T, hc *hookClient) hookCall {
				id := newID()
				for i := 0; i < 3; i++ {
					flow, ph := newID(), fmt.Sprintf("+7900888004%d", i)
					if a := hc.mustCall(t, hookCall{FlowID: flow, IdentityID: id, Phone: ph}); a.ID != msgCalling {
						t.Fatalf("start %d: %d %s", i, a.ID, a.Raw)
					}
					// Three wrong codes lock the challenge. A code with a
					// letter can never be right and costs an attempt all the same.
					for j := 0; j < 3; j++ {
						hc.mustCall(t, hookCall{FlowID: flow, IdentityID: id, Phone: ph, Code: "12a4"})
					}
				}
				return hookCall{FlowID: newID(), IdentityID: id, Phone: "+79008880049"}
			},
			wantID: msgBlocked,
		},
	}
	for _, store := range []string{"memory", "redis"} {
		for _, c := range cases {
			t.Run(store+"/"+c.name, func(t *testing.T) {
				o := soloOptions{Env: c.env}
				if store == "redis" {
					rd := testenv.StartRedis(t) // fresh counters per case
					o.RedisAddr = rd.Addr
					t.Cleanup(func() {
						// The service did keep its state in this Redis.
						rdb := redis.NewClient(&redis.Options{Addr: rd.Addr})
						defer rdb.Close()
						if n := redisStat(t, rdb, "keyspace_hits") + redisStat(t, rdb, "keyspace_misses"); n == 0 {
							t.Error("the service never read Redis: this case did not test the Redis store")
						}
					})
				}
				svc := startSolo(t, o)
				hc := newHookClient(svc.URL)
				refused := c.prime(t, hc)
				before := simRequests(t, svc.URL, "")
				a := hc.mustCall(t, refused)
				if a.ID != c.wantID {
					t.Fatalf("want message %d, got %d %s", c.wantID, a.ID, a.Raw)
				}
				if c.wantCtx != "" && a.Ctx["limit"] != c.wantCtx {
					t.Errorf("limit = %v, want %s", a.Ctx["limit"], c.wantCtx)
				}
				// The user repeats the submit; still nothing goes out.
				hc.mustCall(t, refused)
				if after := simRequests(t, svc.URL, ""); after != before {
					t.Errorf("provider received %d start requests after the refusal", after-before)
				}
				if n := metricSum(t, svc, "callpass_calls_total", map[string]string{"outcome": "placed"}); int(n) != before {
					t.Errorf("calls_total{outcome=placed} = %v, want %d", n, before)
				}
			})
		}
	}
}
