package bench

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
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
