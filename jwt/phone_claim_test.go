package jwt

import (
	"context"
	"slices"
	"testing"
)

// TestOmitPhoneNumber: an issuer told to leave phone_number out signs no
// phone_number, with or without a claims mapper (which cannot put it
// back), keeps phone_number_verified, and lists no phone_number among its
// claims; by default every token carries the called number.
func TestOmitPhoneNumber(t *testing.T) {
	m, err := NewClaimsMapper("m", `{claims: {phone_number: "+70000000000", team: "a"}}`)
	if err != nil {
		t.Fatal(err)
	}
	ks := mustKeySet(t, mustKey(t, AlgES256))
	tests := []struct {
		name   string
		omit   bool
		mapper *ClaimsMapper
	}{
		{"default", false, nil},
		{"default, mapper", false, m},
		{"omitted", true, nil},
		{"omitted, mapper tries to add it", true, m},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := mustIssuer(t, ks, nil, func(c *IssuerConfig) { c.OmitPhoneNumber, c.ClaimsMapper = tt.omit, tt.mapper })
			s := testSubject()
			tok, err := iss.Issue(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			claims := decodeSegment(t, tok.Raw, 1)
			got, has := claims["phone_number"]
			switch {
			case tt.omit && has:
				t.Errorf("phone_number %v signed although left out", got)
			case !tt.omit && got != s.PhoneE164:
				t.Errorf("phone_number %v, want %s", got, s.PhoneE164)
			}
			if claims["phone_number_verified"] != true {
				t.Errorf("phone_number_verified %v", claims["phone_number_verified"])
			}
			if listed := slices.Contains(iss.ClaimsSupported(), "phone_number"); listed == tt.omit {
				t.Errorf("ClaimsSupported lists phone_number: %v", listed)
			}
		})
	}
}
