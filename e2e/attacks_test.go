package e2e_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
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
// no window rolls over), and the most challenges it can get.
//
// Challenges: every call counts against the per-number, per-identity and
// global rules, so at most C = the smallest enabled of them (the per-IP rule
// is left out: an attacker can rotate addresses). Each challenge takes at
// most A = max_attempts evaluated guesses. Regulation bans the identity, for
// verifies and starts alike, at the R-th locked challenge; a challenge that
// is not locked took at most A-1 guesses. So at most min(C,R) challenges
// contribute A and the rest A-1.
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
// certainly hit the code; with the limits the number of guesses the service
// even evaluates stays under the bound computed from the configuration.
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
			t.Logf("bound: at most %d challenges and %d evaluated guesses per window; P(success) <= %d/%.0f = %.4f",
				maxChallenges, bound, bound, codeSpace, float64(bound)/codeSpace)

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
			successes, placed := 0, 0
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
			evaluated := 0
			for _, outcome := range []string{"verified", "wrong", "locked"} {
				evaluated += int(metricSum(t, svc, "callpass_verifications_total", map[string]string{"outcome": outcome}))
			}
			requests := simRequests(t, svc.URL, dn)
			t.Logf("%s: 10000 guesses in %s: %d evaluated, %d successes, %d calls placed, %d provider requests; answers by message id %v",
				store, elapsed.Round(time.Millisecond), evaluated, successes, placed, requests, answers)
			if evaluated > bound {
				t.Errorf("%d guesses were evaluated, the limits allow at most %d", evaluated, bound)
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
// flow, another identity, another purpose, and after it was used once.
func TestAttackCodeBoundToItsChallenge(t *testing.T) {
	svc := startSolo(t, soloOptions{})
	hc := newHookClient(svc.URL)
	const dn = "79001112299"
	identity, flow := newID(), newID()
	a := hc.mustCall(t, hookCall{FlowID: flow, IdentityID: identity, Phone: "+" + dn})
	if a.ID != msgCalling {
		t.Fatalf("start: %d %s", a.ID, a.Raw)
	}
	code := lastCode(t, svc.URL, dn)
	other := []struct {
		name string
		call hookCall
	}{
		{"another flow of the same identity", hookCall{FlowID: newID(), IdentityID: identity, Phone: "+" + dn, Code: code}},
		{"the same flow for another identity", hookCall{FlowID: flow, IdentityID: newID(), Phone: "+" + dn, Code: code}},
		{"another flow and identity", hookCall{FlowID: newID(), IdentityID: newID(), Phone: "+" + dn, Code: code}},
		{"the same flow and identity at registration (phone proof)", hookCall{Path: "/hooks/kratos/registration",
			FlowID: flow, IdentityID: identity, Phone: "+" + dn, Code: code}},
	}
	for _, o := range other {
		if a := hc.mustCall(t, o.call); a.Status == http.StatusOK {
			t.Errorf("%s: the code was accepted: %s", o.name, a.Raw)
		}
	}
	if a := hc.mustCall(t, hookCall{FlowID: flow, IdentityID: identity, Phone: "+" + dn, Code: code}); a.Status != http.StatusOK {
		t.Fatalf("its own flow and identity: want 200 (the refusals elsewhere must not touch it), got %d %s", a.Status, a.Raw)
	}
	if a := hc.mustCall(t, hookCall{FlowID: flow, IdentityID: identity, Phone: "+" + dn, Code: code}); a.Status == http.StatusOK {
		t.Errorf("replay of a used code was accepted")
	}
	if n := simRequests(t, svc.URL, dn); n != 1 {
		t.Errorf("provider got %d start requests, want 1 (a code try never places a call)", n)
	}
}

// TestAttackStoreHoldsNoCodes dumps Redis after real challenges (pending,
// one wrong try, verified) and looks for every code and calling number.
// A 4-digit string can turn up by chance inside timestamps and ids, so a
// code counts as leaked when it shows up for several challenges; a stored
// code would show up for every one. The stored hash must be the keyed HMAC.
func TestAttackStoreHoldsNoCodes(t *testing.T) {
	rd := testenv.StartRedis(t)
	svc := startSolo(t, soloOptions{RedisAddr: rd.Addr})
	hc := newHookClient(svc.URL)
	type issued struct{ id, flow, code, caller, challengeID string }
	var all []issued
	const n = 8
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
		switch i % 3 {
		case 1:
			hc.mustCall(t, hookCall{FlowID: flow, IdentityID: identity, Phone: "+" + dn, Code: wrongCode(code)})
		case 2:
			if a := hc.mustCall(t, hookCall{FlowID: flow, IdentityID: identity, Phone: "+" + dn, Code: code}); a.Status != http.StatusOK {
				t.Fatalf("verify %d: %d %s", i, a.Status, a.Raw)
			}
		}
		all = append(all, issued{id: identity, flow: flow, code: code, caller: calls[0].Caller, challengeID: a.Ctx["challenge_id"].(string)})
	}
	dump := dumpRedis(t, rd.Addr)
	if len(dump) == 0 {
		t.Fatal("Redis is empty: the test did not store anything")
	}
	var text strings.Builder
	for _, e := range dump {
		text.WriteString(e.Key + "\n" + strings.Join(e.Values, "\n") + "\n")
	}
	blob := text.String()
	codeHits := 0
	for _, is := range all {
		if strings.Contains(blob, is.caller) || strings.Contains(blob, is.caller[1:]) {
			t.Errorf("the calling number %s is stored", is.caller)
		}
		if strings.Contains(blob, is.code) {
			codeHits++
			t.Logf("code %s of challenge %s occurs in the dump", is.code, is.challengeID)
		}
	}
	if codeHits >= 3 {
		t.Errorf("%d of %d codes occur in the Redis dump: codes are stored\n%v", codeHits, n, dump)
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

// TestAttackWebhookRefusedBeforeAnyWork: requests without the secret, with a
// wrong one, oversized, malformed or of the wrong content type are refused,
// and neither the provider nor the store sees anything. A valid request at
// the end proves the same setup does reach both.
func TestAttackWebhookRefusedBeforeAnyWork(t *testing.T) {
	rd := testenv.StartRedis(t)
	svc := startSolo(t, soloOptions{RedisAddr: rd.Addr})
	u := svc.URL + "/hooks/kratos/login"
	valid := hookCall{FlowID: newID(), IdentityID: newID(), Phone: "+79005550001"}.body()
	auth := "Bearer " + webhookSecret
	big := func(n int) []byte {
		// A valid payload whose traits carry padding up to n bytes.
		pad := strings.Repeat("a", n)
		return []byte(strings.Replace(string(valid), `"email":"x@example.com"`, `"email":"x@example.com","pad":"`+pad+`"`, 1))
	}
	cases := []struct {
		name     string
		method   string
		hdr      map[string]string
		body     []byte
		chunked  bool
		want     int
		wantCode string
	}{
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
	for _, c := range cases {
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
			t.Errorf("%s: got %d %s, want %d with error %q and a message", c.name, status, raw, c.want, c.wantCode)
		}
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
	status, raw := rawRequest(t, "POST", u, bytes.NewReader(valid), 0, map[string]string{"Authorization": auth, "Content-Type": "application/json"})
	if status != http.StatusBadRequest || !strings.Contains(string(raw), "1090001") {
		t.Fatalf("valid request: %d %s", status, raw)
	}
	if simRequests(t, svc.URL, "") != 1 || redisDBSize(t, rd.Addr) == 0 {
		t.Error("the valid control request reached neither provider nor store: the checks above prove nothing")
	}
}

// TestAttackCostProtection: whenever a limit refuses a call, the provider
// receives nothing.
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
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := startSolo(t, soloOptions{Env: c.env})
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
