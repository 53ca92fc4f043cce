package jwt

import (
	"context"
	"encoding/json"
	"testing"
)

// TestVerifyKeepsExtraNumbersExact: the issuer puts an integer of
// metadata_public that a float64 cannot hold into a mapper claim exactly
// (TestClaimsMapperKeepsMetadataIntegersExact); the verifier hands it to the
// app exactly too, as a json.Number, like every number of Extra.
func TestVerifyKeepsExtraNumbersExact(t *testing.T) {
	clock := newClock()
	ks := mustKeySet(t, mustKey(t, AlgES256))
	srv := newJWKSServer(t, ks)
	m, err := NewClaimsMapper("m", `local p = std.extVar("claims").metadata_public;
		{claims: {tenant_id: p.tenant_id, org: {ids: [p.a, 7]}, small: 12, half: 0.5, neg: p.neg}}`)
	if err != nil {
		t.Fatal(err)
	}
	iss := mustIssuer(t, ks, clock.Now, func(c *IssuerConfig) { c.ClaimsMapper = m })
	s := testSubject()
	s.MetadataPublic = json.RawMessage(`{"tenant_id":1234567890123456789,"a":18446744073709551615,"neg":-9007199254740993}`)
	tok, err := iss.Issue(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := mustVerifier(t, srv.URL, clock.Now).Verify(context.Background(), tok.Raw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  any
		want json.Number
	}{
		{"tenant_id", c.Extra["tenant_id"], "1234567890123456789"},
		{"nested", func() any {
			org, _ := c.Extra["org"].(map[string]any)
			ids, _ := org["ids"].([]any)
			if len(ids) != 2 {
				return org
			}
			return ids[0]
		}(), "18446744073709551615"},
		{"negative", c.Extra["neg"], "-9007199254740993"},
		{"small", c.Extra["small"], "12"},
		{"fraction", c.Extra["half"], "0.5"},
	}
	for _, tc := range tests {
		if n, ok := tc.got.(json.Number); !ok || n != tc.want {
			t.Errorf("%s: %T %v, want json.Number %s", tc.name, tc.got, tc.got, tc.want)
		}
	}
	// The registered claims keep their types.
	if !c.ExpiresAt.Equal(tok.ExpiresAt) || !c.IssuedAt.Equal(clock.Now()) || !c.NotBefore.Equal(clock.Now()) ||
		!c.AuthTime.Equal(clock.Now()) || !c.PhoneNumberVerified || !c.HasAMR(AMRPhone) {
		t.Fatalf("claims %+v", c)
	}
}
