package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

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
		req := httptest.NewRequest(http.MethodPost, "/hooks/kratos/login", bytes.NewReader(body))
		req.Header = hookHeader.Clone()
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		if w.Code != http.StatusBadRequest {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
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
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/token", nil)
		req.Header.Set("X-Session-Token", ps[0].Session.Token)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
