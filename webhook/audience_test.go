package webhook_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// TestTokenAudienceRequest: /v1/token and the step-up verify pass the body's
// audience to the factor (an empty body or none asks for every configured
// audience); malformed bodies are refused before the factor is asked; the
// factor's refusal of an audience is a 400 invalid_target naming the key.
func TestTokenAudienceRequest(t *testing.T) {
	tests := []struct {
		name, path, body string
		factorErr        error
		wantStatus       int
		wantCode         string
		wantAsked        []factor.TokenOptions
	}{
		{"no body", "/v1/token", "", nil, http.StatusOK, "", []factor.TokenOptions{{}}},
		{"empty object", "/v1/token", `{}`, nil, http.StatusOK, "", []factor.TokenOptions{{}}},
		{"one audience", "/v1/token", `{"audience":"app-a"}`, nil, http.StatusOK, "", []factor.TokenOptions{{Audience: "app-a"}}},
		{"verify with an audience", "/v1/challenges/c1/verify", `{"code":"1234","audience":"app-a"}`, nil, http.StatusOK, "", []factor.TokenOptions{{Audience: "app-a"}}},
		{"not configured", "/v1/token", `{"audience":"app-c"}`, jwt.ErrAudienceNotAllowed, http.StatusBadRequest, "invalid_target", []factor.TokenOptions{{Audience: "app-c"}}},
		{"unknown field", "/v1/token", `{"aud":"app-a"}`, nil, http.StatusBadRequest, "invalid_request", nil},
		{"not an object", "/v1/token", `["app-a"]`, nil, http.StatusBadRequest, "invalid_request", nil},
		{"audience not a string", "/v1/token", `{"audience":["app-a","app-b"]}`, nil, http.StatusBadRequest, "invalid_request", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{err: tt.factorErr}
			h := newServer(t, rec, nil)
			hdr := map[string]string{"X-Session-Token": "t"}
			if tt.body != "" {
				hdr["Content-Type"] = "application/json"
			}
			w := do(h, reqSpec{method: http.MethodPost, path: tt.path, hdr: hdr, body: strings.NewReader(tt.body)})
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantCode != "" {
				var e apiErr
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error != tt.wantCode || e.Message == "" {
					t.Fatalf("body %s, want error %q with a message", w.Body, tt.wantCode)
				}
				if tt.wantCode == "invalid_target" && !strings.Contains(e.Message, "jwt.audience") {
					t.Errorf("message %q does not name the setting", e.Message)
				}
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.opts) != len(tt.wantAsked) {
				t.Fatalf("factor asked %v, want %v", rec.opts, tt.wantAsked)
			}
			for i := range rec.opts {
				if rec.opts[i] != tt.wantAsked[i] {
					t.Errorf("factor asked %v, want %v", rec.opts, tt.wantAsked)
				}
			}
		})
	}
}
