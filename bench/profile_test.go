package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// BenchmarkHookWrongCodeInProcess measures the reject path (a wrong code
// through the login hook, memory store) without the network, so a CPU
// profile shows the service's own cost:
//
//	go test -run '^$' -bench HookWrongCode -cpuprofile cpu.out ./bench/
func BenchmarkHookWrongCodeInProcess(b *testing.B) {
	in := startInstance(b, "prof", listen(b), raisedLimits, nil)
	pending := in.startLogins(b, 1)
	h := pending[0].Hook
	h.Code = wrongCode(h.Code)
	body := h.body()
	handler := in.App.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serveOnce(b, handler, http.MethodPost, "/hooks/kratos/login", body, hookHeader, http.StatusBadRequest)
	}
}

// BenchmarkTokenExchangeInProcess profiles /v1/token against a real Kratos
// (whoami runs in the Kratos process; the profile shows this service's share):
//
//	go test -run '^$' -bench TokenExchange -cpuprofile cpu.out ./bench/
func BenchmarkTokenExchangeInProcess(b *testing.B) {
	k := testenv.StartKratos(b, testenv.KratosOptions{})
	in := startInstance(b, "prof", listen(b), append([]string{"KRATOS_PUBLIC_URL=" + k.PublicURL, "KRATOS_ADMIN_URL=" + k.AdminURL}, raisedLimits...), nil)
	users := createUsers(b, k, "p", 1)
	sessions := loginSessions(b, k, users, 1)
	ps := in.startStepUps(b, sessions)
	tg := in.verifyTarget(ps[0], ps[0].Code)
	if st, body, err := do(context.Background(), tg.Method, tg.URL, tg.Body, tg.Header); err != nil || st != http.StatusOK {
		b.Fatalf("step-up verify: %d %s %v", st, body, err)
	}
	handler := in.App.Handler()
	tokenHeader := http.Header{"X-Session-Token": {ps[0].Session.Token}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serveOnce(b, handler, http.MethodPost, "/v1/token", nil, tokenHeader, http.StatusOK)
	}
}

// BenchmarkStepUpVerifyInProcess profiles the verify + mint path
// (POST /v1/challenges/{id}/verify → ES256 token) with the session cache on,
// so Kratos is asked once per session and the profile shows this service:
//
//	go test -run '^$' -bench StepUpVerify -cpuprofile cpu.out ./bench/
func BenchmarkStepUpVerifyInProcess(b *testing.B) {
	k := testenv.StartKratos(b, testenv.KratosOptions{})
	in := startInstance(b, "prof", listen(b), append([]string{"KRATOS_PUBLIC_URL=" + k.PublicURL, "KRATOS_ADMIN_URL=" + k.AdminURL,
		"KRATOS_SESSION_CACHE_TTL=1m"}, raisedLimits...), nil)
	sessions := loginSessions(b, k, createUsers(b, k, "p", 40), 5)
	handler := in.App.Handler()
	var pool []vegeta.Target
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(pool) == 0 {
			b.StopTimer()
			for _, p := range in.startStepUps(b, sessions) {
				pool = append(pool, in.verifyTarget(p, p.Code))
			}
			b.StartTimer()
		}
		tg := pool[len(pool)-1]
		pool = pool[:len(pool)-1]
		serveOnce(b, handler, tg.Method, tg.URL, tg.Body, tg.Header, http.StatusOK)
	}
}

// BenchmarkHookStartInProcess profiles the gate's start path (a new login:
// limits, a call placed through the built-in simulator over loopback HTTP,
// the challenge stored, the interrupt answered):
//
//	go test -run '^$' -bench HookStart -cpuprofile cpu.out ./bench/
func BenchmarkHookStartInProcess(b *testing.B) {
	in := startInstance(b, "prof", listen(b), raisedLimits, nil)
	handler := in.App.Handler()
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = newLoginHook().body()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		serveOnce(b, handler, http.MethodPost, "/hooks/kratos/login", bodies[i], hookHeader, http.StatusBadRequest)
	}
}

// serveOnce serves one request to handler in process and fails b unless it
// is answered with want.
func serveOnce(b *testing.B, handler http.Handler, method, target string, body []byte, hdr http.Header, want int) {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	req.Header = hdr.Clone()
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, req)
	if w.Code != want {
		b.Fatalf("%s %s: status %d: %s", method, target, w.Code, w.Body)
	}
}

// BenchmarkHookBlockedInProcess profiles the reject path for an identity
// banned by regulation (default limits, memory store):
//
//	go test -run '^$' -bench HookBlocked -cpuprofile cpu.out ./bench/
func BenchmarkHookBlockedInProcess(b *testing.B) {
	in := startInstance(b, "prof", listen(b), nil, nil)
	handler := in.App.Handler()
	ident := newLoginHook().Identity
	for range 3 { // three challenges locked by three wrong codes each
		h := newLoginHook()
		h.Identity = ident
		serveOnce(b, handler, http.MethodPost, "/hooks/kratos/login", h.body(), hookHeader, http.StatusBadRequest)
		h.Code = "0000"
		for range 3 {
			serveOnce(b, handler, http.MethodPost, "/hooks/kratos/login", h.body(), hookHeader, http.StatusBadRequest)
		}
	}
	h := newLoginHook()
	h.Identity, h.Code = ident, "1234"
	body := h.body()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serveOnce(b, handler, http.MethodPost, "/hooks/kratos/login", body, hookHeader, http.StatusBadRequest)
	}
}

// BenchmarkHookLimitedStartInProcess profiles a start refused by the
// per-number call limit (default limits, memory store): a new flow each
// time, the provider never asked.
//
//	go test -run '^$' -bench HookLimitedStart -cpuprofile cpu.out ./bench/
func BenchmarkHookLimitedStartInProcess(b *testing.B) {
	in := startInstance(b, "prof", listen(b), nil, nil)
	handler := in.App.Handler()
	h := newLoginHook()
	for range 5 { // the per-number budget
		h.Flow = newLoginHook().Flow
		serveOnce(b, handler, http.MethodPost, "/hooks/kratos/login", h.body(), hookHeader, http.StatusBadRequest)
	}
	bodies := make([][]byte, 64)
	for i := range bodies {
		h.Flow = newLoginHook().Flow
		bodies[i] = h.body()
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		serveOnce(b, handler, http.MethodPost, "/hooks/kratos/login", bodies[i%len(bodies)], hookHeader, http.StatusBadRequest)
		i++
	}
}
