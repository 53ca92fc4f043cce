package webhook_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/webhook"
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
		// Bodies that are not JSON were always ignored by /v1/token, and still are.
		{"text/plain body", "/v1/token", "{}", nil, http.StatusOK, "", []factor.TokenOptions{{}}},
		{"form body", "/v1/token", "grant_type=x", nil, http.StatusOK, "", []factor.TokenOptions{{}}},
		// ... unless it asks for an audience, which would be silently lost.
		{"text/plain body with an audience", "/v1/token", `{"audience":"app-a"}`, nil, http.StatusBadRequest, "invalid_request", nil},
		{"form body with an audience", "/v1/token", "audience=app-a", nil, http.StatusBadRequest, "invalid_request", nil},
		{"form body with an audience among others", "/v1/token", "grant_type=x&audience=app-a", nil, http.StatusBadRequest, "invalid_request", nil},
		{"text/plain body with an audience, spaced", "/v1/token", `{ "audience" : "app-a" }`, nil, http.StatusBadRequest, "invalid_request", nil},
		{"form body with an encoded audience", "/v1/token", "grant_type=x&%61udience=app-a", nil, http.StatusBadRequest, "invalid_request", nil},
		{"multipart body with an audience", "/v1/token", "--b\r\nContent-Disposition: form-data; name=\"audience\"\r\n\r\napp-a\r\n--b--\r\n", nil, http.StatusBadRequest, "invalid_request", nil},
		// The word elsewhere in a body that is not JSON asks for nothing:
		// still ignored, as before.
		{"form body with the word in a value", "/v1/token", "grant_type=x&client_id=audience-service", nil, http.StatusOK, "", []factor.TokenOptions{{}}},
		{"form body with the word in another field's name", "/v1/token", "grant_type=x&audience_hint=none", nil, http.StatusOK, "", []factor.TokenOptions{{}}},
		{"text/plain body with the word", "/v1/token", "token for the whole audience", nil, http.StatusOK, "", []factor.TokenOptions{{}}},
		{"text/plain body with the word in a JSON value", "/v1/token", `{"note":"audience-service"}`, nil, http.StatusOK, "", []factor.TokenOptions{{}}},
		// An audience in the query string would be ignored just the same.
		{"audience in the query", "/v1/token?audience=app-a", "", nil, http.StatusBadRequest, "invalid_request", nil},
		{"audience in the query with a JSON body", "/v1/token?audience=app-a", `{}`, nil, http.StatusBadRequest, "invalid_request", nil},
		{"verify with an audience in the query", "/v1/challenges/c1/verify?audience=app-a", `{"code":"1234"}`, nil, http.StatusBadRequest, "invalid_request", nil},
		{"not an object", "/v1/token", `["app-a"]`, nil, http.StatusBadRequest, "invalid_request", nil},
		{"audience not a string", "/v1/token", `{"audience":["app-a","app-b"]}`, nil, http.StatusBadRequest, "invalid_request", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{err: tt.factorErr}
			h := newServer(t, rec, nil)
			hdr := map[string]string{"X-Session-Token": "t"}
			switch {
			case strings.HasPrefix(tt.name, "text/plain"):
				hdr["Content-Type"] = "text/plain;charset=UTF-8" // fetch() with a string body and no headers
			case strings.HasPrefix(tt.name, "form"):
				hdr["Content-Type"] = "application/x-www-form-urlencoded"
			case strings.HasPrefix(tt.name, "multipart"):
				hdr["Content-Type"] = "multipart/form-data; boundary=b"
			case tt.body != "":
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

// TestTokenForOneAppSetsNoCookie: with jwt.cookie on, a token asked for one
// audience is returned in the body only: the cookie is shared by every app,
// and one app's token in it would lock the others out.
func TestTokenForOneAppSetsNoCookie(t *testing.T) {
	s, err := webhook.New(webhook.Config{WebhookSecret: secret, JWTCookie: webhook.CookieConfig{Name: "callpass_jwt"}},
		webhook.Deps{Factor: &tokenFactor{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path, body string
		wantCookie bool
	}{
		{"/v1/token", `{}`, true},
		{"/v1/token", `{"audience":"app-a"}`, false},
		{"/v1/challenges/c1/verify", `{"code":"1234"}`, true},
		{"/v1/challenges/c1/verify", `{"code":"1234","audience":"app-a"}`, false},
	} {
		w := do(s.Handler(), reqSpec{method: http.MethodPost, path: tt.path, body: strings.NewReader(tt.body),
			hdr: map[string]string{"X-Session-Token": "t", "Content-Type": "application/json"}})
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "eyJ.test.token") {
			t.Fatalf("%s %s: %d %s", tt.path, tt.body, w.Code, w.Body)
		}
		if got := w.Header().Get("Set-Cookie") != ""; got != tt.wantCookie {
			t.Errorf("%s %s: cookie set %v, want %v", tt.path, tt.body, got, tt.wantCookie)
		}
	}
}
