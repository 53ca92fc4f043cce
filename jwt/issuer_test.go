package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// TestIssuedTokensVerifyWithGoJOSE checks tokens with an independent JOSE
// implementation, using only what a foreign app has: the JWKS over HTTP.
func TestIssuedTokensVerifyWithGoJOSE(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			clock := newClock()
			ks := mustKeySet(t, mustKey(t, alg))
			srv := newJWKSServer(t, ks)
			iss := mustIssuer(t, ks, clock.Now)
			sub := testSubject()
			sub.Methods = []string{"password", "totp"}
			tok, err := iss.Issue(context.Background(), sub)
			if err != nil {
				t.Fatal(err)
			}

			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(body, &set); err != nil {
				t.Fatalf("go-jose cannot parse JWKS: %v", err)
			}

			parsed, err := josejwt.ParseSigned(tok.Raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			h := parsed.Headers[0]
			if h.Algorithm != alg || h.KeyID != ks.Signer().KID() || h.ExtraHeaders["typ"] != "JWT" {
				t.Fatalf("header alg=%s kid=%s typ=%v", h.Algorithm, h.KeyID, h.ExtraHeaders["typ"])
			}
			keys := set.Key(h.KeyID)
			if len(keys) != 1 || !keys[0].IsPublic() {
				t.Fatalf("JWKS has %d public keys for kid", len(keys))
			}
			var std josejwt.Claims
			var ext struct {
				Sid           string   `json:"sid"`
				AuthTime      int64    `json:"auth_time"`
				AMR           []string `json:"amr"`
				Phone         string   `json:"phone_number"`
				PhoneVerified bool     `json:"phone_number_verified"`
			}
			if err := parsed.Claims(keys[0].Key, &std, &ext); err != nil {
				t.Fatalf("go-jose signature check: %v", err)
			}
			if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: testIss, AnyAudience: josejwt.Audience{testAud}, Subject: sub.IdentityID, ID: tok.ID, Time: clock.Now()}, 0); err != nil {
				t.Fatal(err)
			}
			if got := std.Expiry.Time(); !got.Equal(clock.Now().Add(DefaultTTL)) || !got.Equal(tok.ExpiresAt) {
				t.Fatalf("exp %v, token says %v", got, tok.ExpiresAt)
			}
			if ext.Sid != sub.SessionID || ext.Phone != sub.PhoneE164 || !ext.PhoneVerified || ext.AuthTime != clock.Now().Unix() {
				t.Fatalf("claims %+v", ext)
			}
			if want := []string{"pwd", "otp", "tel", "mfa"}; !slices.Equal(ext.AMR, want) {
				t.Fatalf("amr %v, want %v", ext.AMR, want)
			}

			// The same check must fail with a tampered payload.
			bad := tamperPayload(t, tok.Raw, func(m map[string]any) { m["sub"] = "someone-else" })
			p2, err := josejwt.ParseSigned(bad, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			if err := p2.Claims(keys[0].Key, &std); err == nil {
				t.Fatal("go-jose accepted a tampered token")
			}
		})
	}
}

func tamperPayload(t testing.TB, raw string, f func(map[string]any)) string {
	t.Helper()
	m := decodeSegment(t, raw, 1)
	f(m)
	parts := splitToken(raw)
	return parts[0] + "." + encodeSegment(t, m) + "." + parts[2]
}

func TestIssueExpiry(t *testing.T) {
	clock := newClock()
	now := clock.Now()
	ks := mustKeySet(t, mustKey(t, AlgES256))
	iss := mustIssuer(t, ks, clock.Now)
	tests := []struct {
		name    string
		session time.Time
		wantExp time.Time
		wantErr error
	}{
		{"no session expiry", time.Time{}, now.Add(DefaultTTL), nil},
		{"session outlives ttl", now.Add(time.Hour), now.Add(DefaultTTL), nil},
		{"session ends first", now.Add(3 * time.Minute), now.Add(3 * time.Minute), nil},
		{"fractional second rounds down", now.Add(90*time.Second + 900*time.Millisecond), now.Add(90 * time.Second), nil},
		{"session already over", now.Add(-time.Second), time.Time{}, ErrSessionExpired},
		{"session ends this second", now.Add(500 * time.Millisecond), time.Time{}, ErrSessionExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testSubject()
			s.SessionExpiresAt = tc.session
			tok, err := iss.Issue(context.Background(), s)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			exp := int64(decodeSegment(t, tok.Raw, 1)["exp"].(float64))
			if exp != tc.wantExp.Unix() || !tok.ExpiresAt.Equal(tc.wantExp) {
				t.Fatalf("exp %d (%v), want %v", exp, tok.ExpiresAt, tc.wantExp)
			}
			if !tc.session.IsZero() && time.Unix(exp, 0).After(tc.session) {
				t.Fatal("exp after the session expiry")
			}
		})
	}
}

func TestAMR(t *testing.T) {
	tests := []struct {
		methods []string
		want    []string
	}{
		{nil, []string{"tel"}},
		{[]string{"password"}, []string{"pwd", "tel", "mfa"}},
		{[]string{"oidc"}, []string{"tel", "mfa"}},
		{[]string{"webauthn", "passkey", "password"}, []string{"hwk", "pwd", "tel", "mfa"}},
		{[]string{"totp", "lookup_secret", "code"}, []string{"otp", "tel", "mfa"}},
		{[]string{"password", "password", "unknown_thing"}, []string{"pwd", "tel", "mfa"}},
		{[]string{"totp"}, []string{"otp", "tel", "mfa"}},
		{[]string{"webauthn"}, []string{"hwk", "tel", "mfa"}},
		{[]string{"saml"}, []string{"tel", "mfa"}},
		{[]string{"password", "code"}, []string{"pwd", "otp", "tel", "mfa"}},
		// Not independent of the call: a code may be an SMS to the same
		// phone, recovery only proves a mailbox; unknown methods count for nothing.
		{[]string{"code"}, []string{"otp", "tel"}},
		{[]string{"link_recovery"}, []string{"tel"}},
		{[]string{"code_recovery"}, []string{"tel"}},
		{[]string{"code_recovery", "code"}, []string{"otp", "tel"}},
		{[]string{"unknown_thing"}, []string{"tel"}},
	}
	for _, tc := range tests {
		if got := AMR(tc.methods); !slices.Equal(got, tc.want) {
			t.Errorf("AMR(%v) = %v, want %v", tc.methods, got, tc.want)
		}
	}
}

func TestIssueAudienceShape(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgEdDSA))
	tests := []struct {
		aud  []string
		want any
	}{
		{[]string{"one"}, "one"},
		{[]string{"one", "two"}, []any{"one", "two"}},
	}
	for _, tc := range tests {
		iss := mustIssuer(t, ks, nil, func(c *IssuerConfig) { c.Audience = tc.aud })
		tok, err := iss.Issue(context.Background(), testSubject())
		if err != nil {
			t.Fatal(err)
		}
		got := decodeSegment(t, tok.Raw, 1)["aud"]
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(tc.want)
		if string(gb) != string(wb) {
			t.Errorf("aud %v: got %s, want %s", tc.aud, gb, wb)
		}
	}
}

// TestIssueForOneAudience: a token asked for one configured audience names
// that audience alone (the other apps sharing the issuer refuse it), with
// and without a claims mapper; an audience that is not configured is
// refused before anything is signed.
func TestIssueForOneAudience(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgEdDSA))
	mapper, err := NewClaimsMapper("m", `{claims: {aud: "forged", x: 1}}`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ask     string
		want    any
		wantErr error
	}{
		{"every configured audience", "", []any{"app-a", "app-b"}, nil},
		{"one of them", "app-b", "app-b", nil},
		{"not configured", "app-c", nil, ErrAudienceNotAllowed},
		{"case differs", "APP-A", nil, ErrAudienceNotAllowed},
	}
	for _, m := range []*ClaimsMapper{nil, mapper} {
		iss := mustIssuer(t, ks, nil, func(c *IssuerConfig) { c.Audience = []string{"app-a", "app-b"}; c.ClaimsMapper = m })
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/mapper=%v", tc.name, m != nil), func(t *testing.T) {
				if got := iss.AllowsAudience(tc.ask); got != (tc.wantErr == nil && tc.ask != "") {
					t.Errorf("AllowsAudience(%q) = %v", tc.ask, got)
				}
				sub := testSubject()
				sub.Audience = tc.ask
				tok, err := iss.Issue(context.Background(), sub)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Issue: %v, want %v", err, tc.wantErr)
				}
				if err != nil {
					return
				}
				gb, _ := json.Marshal(decodeSegment(t, tok.Raw, 1)["aud"])
				wb, _ := json.Marshal(tc.want)
				if string(gb) != string(wb) {
					t.Errorf("aud %s, want %s", gb, wb)
				}
			})
		}
	}
}

func TestIssueJTIUnique(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgEdDSA))
	iss := mustIssuer(t, ks, nil)
	seen := map[string]bool{}
	for range 2000 {
		tok, err := iss.Issue(context.Background(), testSubject())
		if err != nil {
			t.Fatal(err)
		}
		if seen[tok.ID] || len(tok.ID) != 22 {
			t.Fatalf("jti %q repeated or not 128 bits", tok.ID)
		}
		if decodeSegment(t, tok.Raw, 1)["jti"] != tok.ID {
			t.Fatal("Token.ID differs from the jti claim")
		}
		seen[tok.ID] = true
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgES256))
	iss := mustIssuer(t, ks, nil)
	tests := []struct {
		name string
		mod  func(*Subject)
	}{
		{"no identity", func(s *Subject) { s.IdentityID = "" }},
		{"no plus", func(s *Subject) { s.PhoneE164 = "79991234567" }},
		{"letters", func(s *Subject) { s.PhoneE164 = "+7999123456a" }},
		{"too long", func(s *Subject) { s.PhoneE164 = "+7999123456789012" }},
		{"empty phone", func(s *Subject) { s.PhoneE164 = "" }},
	}
	for _, tc := range tests {
		s := testSubject()
		tc.mod(&s)
		if _, err := iss.Issue(context.Background(), s); !errors.Is(err, ErrSubject) {
			t.Errorf("%s: err %v, want ErrSubject", tc.name, err)
		}
	}
	cfgs := []IssuerConfig{
		{Audience: []string{"a"}, Keys: ks},
		{Issuer: "x", Keys: ks},
		{Issuer: "x", Audience: []string{""}, Keys: ks},
		{Issuer: "x", Audience: []string{"a"}},
		{Issuer: "x", Audience: []string{"a"}, Keys: ks, TTL: time.Millisecond},
	}
	for i, c := range cfgs {
		if _, err := NewIssuer(c); !errors.Is(err, ErrConfig) {
			t.Errorf("config %d: err %v, want ErrConfig", i, err)
		}
	}
}
