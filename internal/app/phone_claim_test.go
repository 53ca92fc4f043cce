package app

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestPhoneNumberClaimFollowsConfig: jwt.phone_number_claim false leaves
// phone_number out of the tokens (phone_number_verified stays) and out of
// the discovery document's claims; by default both carry it.
func TestPhoneNumberClaimFollowsConfig(t *testing.T) {
	kratosURL := fakeWhoami(t)
	for _, tc := range []struct {
		env  []string
		want bool
	}{
		{nil, true},
		{[]string{"JWT_PHONE_NUMBER_CLAIM=false"}, false},
	} {
		a, _ := simApp(t, append([]string{"KRATOS_PUBLIC_URL=" + kratosURL, "JWT_COOKIE_ENABLED=true"}, tc.env...)...)
		tok := stepUpCookie(t, a).Value
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("not a JWT: %q", tok)
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		_, has := claims["phone_number"]
		if has != tc.want || claims["phone_number_verified"] != true {
			t.Errorf("env %v: phone_number in the token %v (want %v), phone_number_verified %v", tc.env, has, tc.want, claims["phone_number_verified"])
		}
		if has && claims["phone_number"] != wiringPhone {
			t.Errorf("phone_number %v, want %s", claims["phone_number"], wiringPhone)
		}
		code, body := get(t, a.Handler(), "/.well-known/openid-configuration")
		var doc struct {
			Claims []string `json:"claims_supported"`
		}
		if err := json.Unmarshal([]byte(body), &doc); err != nil || code != 200 {
			t.Fatalf("discovery: %d %s", code, body)
		}
		if listed := slices.Contains(doc.Claims, "phone_number"); listed != tc.want || !slices.Contains(doc.Claims, "phone_number_verified") {
			t.Errorf("env %v: discovery lists phone_number %v (want %v): %v", tc.env, listed, tc.want, doc.Claims)
		}
	}
}
