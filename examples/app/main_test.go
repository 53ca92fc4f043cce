package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/jwt"
)

func TestApp(t *testing.T) {
	key, err := jwt.GenerateKey(jwt.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := jwt.NewKeySet([]*jwt.Key{key}, "")
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(jwt.JWKSHandler(ks, time.Minute))
	defer jwks.Close()
	mapper, err := jwt.NewClaimsMapper("m", `{claims: {nickname: std.extVar("claims").traits.nick}}`)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := jwt.NewIssuer(jwt.IssuerConfig{Issuer: "http://issuer.test", Audience: []string{"demo"}, Keys: ks, ClaimsMapper: mapper})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(context.Background(), jwt.Subject{
		IdentityID: "id-1", SessionID: "sess-1", Methods: []string{"password"}, PhoneE164: "+79991234567",
		Traits: json.RawMessage(`{"nick":"<script>alert(1)</script>"}`),
	})
	if err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	e, err := newServer(config{JWKSURL: jwks.URL, Issuer: "http://issuer.test", Audience: "demo", Cookie: "callpass_jwt"},
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	do := func(path, header, cookie string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "callpass_jwt", Value: cookie})
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}

	tests := []struct {
		name, path, header, cookie string
		want                       int
		contains                   []string
	}{
		{"json via header", "/api/me", "Bearer " + tok.Raw, "", 200, []string{`"sub":"id-1"`, `"flash_call_passed":true`, `"phone_number":"+79991234567"`}},
		{"html via cookie", "/", "", tok.Raw, 200, []string{"Hello, id-1", "flash-call factor", "pwd, tel, mfa", "&lt;script&gt;"}},
		{"no token", "/api/me", "", "", 401, nil},
		{"wrong token", "/", "Bearer " + tok.Raw + "x", "", 401, nil},
		{"health open", "/healthz", "", "", 200, []string{"ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(tc.path, tc.header, tc.cookie)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			for _, s := range tc.contains {
				if !strings.Contains(rec.Body.String(), s) {
					t.Errorf("body lacks %q: %s", s, rec.Body)
				}
			}
			if strings.Contains(rec.Body.String(), "<script>") {
				t.Error("claim value not escaped")
			}
			if rec.Code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without Bearer challenge: %v", rec.Header())
			}
		})
	}

	// A token without the number (jwt.phone_number_claim: false) says so.
	noPhone, err := jwt.NewIssuer(jwt.IssuerConfig{Issuer: "http://issuer.test", Audience: []string{"demo"}, Keys: ks, OmitPhoneNumber: true})
	if err != nil {
		t.Fatal(err)
	}
	tok2, err := noPhone.Issue(context.Background(), jwt.Subject{IdentityID: "id-2", SessionID: "sess-2", Methods: []string{"password"}, PhoneE164: "+79991234567"})
	if err != nil {
		t.Fatal(err)
	}
	if body := do("/", "", tok2.Raw).Body.String(); !strings.Contains(body, "not in the token (verified)") || strings.Contains(body, "+7999") {
		t.Errorf("page for a token without the number:\n%s", body)
	}
	if body := do("/api/me", "Bearer "+tok2.Raw, "").Body.String(); strings.Contains(body, "phone_number\"") || !strings.Contains(body, `"phone_number_verified":true`) {
		t.Errorf("/api/me for a token without the number: %s", body)
	}

	var got me
	if err := json.Unmarshal(do("/api/me", "Bearer "+tok.Raw, "").Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.SessionID != "sess-1" || !slices.Equal(got.AMR, []string{"pwd", "tel", "mfa"}) || got.Extra["nickname"] != "<script>alert(1)</script>" {
		t.Fatalf("me %+v", got)
	}
	if strings.Contains(logs.String(), tok.Raw) {
		t.Fatal("token logged")
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{"CALLPASS_APP_AUDIENCE": "from-env", "CALLPASS_APP_LISTEN": "127.0.0.1:1"}
	cfg, err := parseConfig([]string{"--listen", "127.0.0.1:2", "--cookie", ""}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := config{Listen: "127.0.0.1:2", JWKSURL: "http://127.0.0.1:4477/.well-known/jwks.json", Issuer: "http://127.0.0.1:4477", Audience: "from-env",
		Algorithms: "ES256", Cookie: "", LoginURL: "http://127.0.0.1:4455/welcome"}
	if cfg != want {
		t.Fatalf("cfg %+v, want %+v", cfg, want)
	}
	if _, err := parseConfig([]string{"--nope"}, func(string) string { return "" }, &bytes.Buffer{}); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if _, err := parseConfig([]string{"--algorithms", " , "}, func(string) string { return "" }, &bytes.Buffer{}); err == nil {
		t.Fatal("empty algorithm list accepted")
	}
	env = map[string]string{"CALLPASS_APP_ALGORITHMS": "EdDSA, ES256", "CALLPASS_APP_LOGIN_URL": "https://ui.example/welcome"}
	cfg, err = parseConfig(nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil || cfg.Algorithms != "EdDSA, ES256" || cfg.LoginURL != "https://ui.example/welcome" ||
		!slices.Equal(algorithms(cfg.Algorithms), []string{"EdDSA", "ES256"}) {
		t.Fatalf("from env: %+v %v", cfg, err)
	}
}
