package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestClientHangUpIsNoServerError: a request whose caller hung up before
// the store or Kratos answered (its context cancelled: Kratos giving up on
// a hook, a closed tab) is counted and logged as 499, client closed
// request, with the store's read as canceled and the hook's decision as
// canceled. It was a 503 store_unavailable (or kratos_unavailable), counted
// among the server errors, so a flood of aborted requests could page
// CallPassServerErrors and CallPassStoreErrors, and the log said the store
// or Kratos had failed.
func TestClientHangUpIsNoServerError(t *testing.T) {
	a, logs := simApp(t)
	h := a.Handler()
	gone, cancel := context.WithCancel(context.Background())
	cancel()

	body, _ := json.Marshal(map[string]any{
		"flow_id": "5733f754-6db6-4b46-83b8-1d6e6cd69fbc", "flow_type": "api", "identity_id": wiringIdentity,
		"traits": map[string]any{"phone": wiringPhone}, "transient_payload": map[string]any{"callpass_code": "1234"},
		"session":   map[string]any{"authenticated_at": time.Now().UTC().Format(time.RFC3339Nano), "aal": "aal1"},
		"client_ip": "203.0.113.9",
	})
	req := httptest.NewRequestWithContext(gone, http.MethodPost, "/hooks/kratos/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+wiringSecret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != statusClientClosed {
		t.Errorf("hook answered %d %s, want %d", rec.Code, rec.Body, statusClientClosed)
	}

	req = httptest.NewRequestWithContext(gone, http.MethodPost, "/v1/token", nil)
	req.Header.Set("X-Session-Token", "ory_st_test")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != statusClientClosed {
		t.Errorf("/v1/token answered %d %s, want %d", rec.Code, rec.Body, statusClientClosed)
	}

	_, m := get(t, h, "/metrics")
	metrics := string(m)
	for _, want := range []string{
		`callpass_http_requests_total{code="499",method="POST",route="/hooks/kratos/login"} 1`,
		`callpass_http_requests_total{code="499",method="POST",route="/v1/token"} 1`,
		`callpass_hook_decisions_total{decision="canceled",hook="login"} 1`,
		`callpass_hook_decisions_total{decision="error",hook="login"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "callpass_http_requests_total{code=\"5") {
			t.Errorf("counted as a server error: %s", line)
		}
		if strings.HasPrefix(line, "callpass_store_operations_total{") && strings.Contains(line, `result="error"`) && !strings.HasSuffix(line, " 0") {
			t.Errorf("counted as a store error: %s", line)
		}
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a hang-up logged as an error:\n%s", logs.String())
	}
}

// statusClientClosed is nginx's 499, what webhook answers a hung-up caller.
const statusClientClosed = 499
