package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// TestGoOIDCDiscoversTheService: an app finds the service as OIDC libraries
// do, with coreos/go-oidc: NewProvider(iss) reads
// <iss>/.well-known/openid-configuration, refuses it unless its issuer is
// iss exactly, takes the algorithms and the jwks_uri from it; the
// provider's verifier then checks the step-up's token as an ID token whose
// audience is the app's client id. It does, for a key of every algorithm,
// for a serve.base_url written with or without its trailing slash and for
// a jwt.issuer set with one; a tampered token and another audience are
// refused. After a rotation (a new key published and signing, SIGHUP) the
// same verifier, its keys cached, accepts the new key's token (it refetches
// the JWKS on the unknown kid) and still the old key's.
func TestGoOIDCDiscoversTheService(t *testing.T) {
	kratosURL := fakeWhoami(t)
	for _, tc := range []struct {
		name, alg string
		slash     bool // serve.base_url ends with "/"
		issSlash  bool // jwt.issuer set to serve.base_url with "/"
	}{
		{name: "ES256", alg: jwt.AlgES256},
		{name: "EdDSA", alg: jwt.AlgEdDSA},
		{name: "RS256", alg: jwt.AlgRS256},
		{name: "base_url with slash", alg: jwt.AlgES256, slash: true},
		{name: "issuer with slash", alg: jwt.AlgES256, issSlash: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Handler
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
			t.Cleanup(front.Close)
			base := front.URL
			if tc.slash {
				base += "/"
			}
			env := []string{"DEV_DATA_DIR=" + t.TempDir(), "KRATOS_ADMIN_URL=http://127.0.0.1:1", "KRATOS_PUBLIC_URL=" + kratosURL,
				"WEBHOOK_SECRET=" + wiringSecret, "SIM_ENABLED=true", "CALLPASS_BASE_URL=" + front.URL + "/",
				"SERVE_BASE_URL=" + base, "JWT_ALGORITHM=" + tc.alg, "JWT_COOKIE_ENABLED=true"}
			if tc.issSlash {
				env = append(env, "JWT_ISSUER="+front.URL+"/")
			}
			a, _ := loggedApp(t, env, true)
			h = a.Handler()
			iss := a.Config.JWT.Issuer
			if want := map[bool]string{false: front.URL, true: front.URL + "/"}[tc.issSlash]; iss != want {
				t.Fatalf("jwt.issuer %q, want %q", iss, want)
			}

			ctx := context.Background()
			provider, err := oidc.NewProvider(ctx, iss)
			if err != nil {
				t.Fatalf("go-oidc refuses the discovery document of issuer %q: %v", iss, err)
			}
			var doc struct {
				Algs []string `json:"id_token_signing_alg_values_supported"`
			}
			if err := provider.Claims(&doc); err != nil || !slices.Contains(doc.Algs, tc.alg) {
				t.Fatalf("discovery algorithms %v (%v), want %s among them", doc.Algs, err, tc.alg)
			}
			aud := a.Config.JWT.Audience[0]
			verifier := provider.Verifier(&oidc.Config{ClientID: aud})

			tok := stepUpCookie(t, a).Value
			idt, err := verifier.Verify(ctx, tok)
			if err != nil {
				t.Fatalf("go-oidc refuses the %s token: %v", tc.alg, err)
			}
			var claims struct {
				AMR   []string `json:"amr"`
				Phone string   `json:"phone_number"`
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if idt.Issuer != iss || idt.Subject != wiringIdentity || !slices.Contains(idt.Audience, aud) ||
				!slices.Contains(claims.AMR, "tel") || claims.Phone != wiringPhone {
				t.Errorf("claims as go-oidc reads them: iss %q sub %q aud %v amr %v phone %q", idt.Issuer, idt.Subject, idt.Audience, claims.AMR, claims.Phone)
			}

			if _, err := verifier.Verify(ctx, tamperSub(t, tok)); err == nil {
				t.Error("go-oidc accepted a tampered token")
			}
			if _, err := provider.Verifier(&oidc.Config{ClientID: "another-app"}).Verify(ctx, tok); err == nil {
				t.Error("go-oidc accepted the token for another audience")
			}

			// Rotation: a new key of the same algorithm, published and
			// signing after one reload (the verifier's cached JWKS lacks it).
			k := rotateKey(t, a, tc.alg)
			fresh := exchangeToken(t, a)
			if kid := header(t, fresh)["kid"]; kid != k.KID() {
				t.Fatalf("after the reload kid %v signs, want %s", kid, k.KID())
			}
			if _, err := verifier.Verify(ctx, fresh); err != nil {
				t.Errorf("go-oidc refuses the new key's token: %v", err)
			}
			if _, err := verifier.Verify(ctx, tok); err != nil {
				t.Errorf("go-oidc refuses the old key's token after the rotation: %v", err)
			}
		})
	}
}

// exchangeToken asks /v1/token for a token of the session stepUpCookie
// verified.
func exchangeToken(t *testing.T, a *App) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/token", nil)
	req.Header.Set("X-Session-Token", "session-token")
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK || out.AccessToken == "" {
		t.Fatalf("/v1/token: %d %s", rec.Code, rec.Body)
	}
	return out.AccessToken
}

// rotateKey makes a new key of alg, puts it first in a's key file (it
// signs) and reloads the keys, as SIGHUP does.
func rotateKey(t *testing.T, a *App, alg string) *jwt.Key {
	t.Helper()
	k, err := jwt.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	if err := jwt.AppendKey(a.Config.JWT.KeysFile, k, true); err != nil {
		t.Fatal(err)
	}
	if err := a.ReloadKeys(); err != nil {
		t.Fatal(err)
	}
	return k
}

// header decodes a compact JWS's protected header.
func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// tamperSub is tok with another sub and the original signature.
func tamperSub(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["sub"] = "someone-else"
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}
