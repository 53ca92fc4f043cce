package jwt

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestIssuedTokensFitTheVerifier: whatever a claims mapper within its limits
// adds, the Issuer signs only tokens its own Verifier accepts. A mapper
// result under mapperMaxOutput made a token past the Verifier's size limit
// (base64 adds a third), which Go apps refused as malformed while PyJWT
// took it; and characters json.Marshal escapes (<, >, & as \u003c…) grow
// six-fold, so what no verifier should have to take is refused at issue
// with ErrClaimsMapper, not signed.
func TestIssuedTokensFitTheVerifier(t *testing.T) {
	tests := []struct {
		name    string
		snippet string
		want    error // nil: issued, and the Verifier accepts it
	}{
		{"small", `{claims: {blob: "a"}}`, nil},
		{"12 KiB string", `{claims: {blob: std.join("", std.makeArray(12 * 1024, function(i) "a"))}}`, nil},
		{"just under the mapper's limit", fmt.Sprintf(`{claims: {blob: std.join("", std.makeArray(%d, function(i) "a"))}}`, mapperMaxOutput-64), nil},
		{"escaped characters", `{claims: {blob: std.join("", std.makeArray(15 * 1024, function(i) "<"))}}`, ErrClaimsMapper},
	}
	for _, alg := range allAlgs {
		ks := mustKeySet(t, mustKey(t, alg))
		srv := newJWKSServer(t, ks)
		for _, tc := range tests {
			t.Run(alg+" "+tc.name, func(t *testing.T) {
				clock := newClock()
				iss := mustIssuer(t, ks, clock.Now, func(c *IssuerConfig) {
					m, err := NewClaimsMapper(tc.name, tc.snippet)
					if err != nil {
						t.Fatal(err)
					}
					// Sizes are the point here, not time: building a 16 KiB
					// string in jsonnet took past the 1 s limit on a loaded
					// CI machine (TestClaimsMapperBounded tests the limit).
					m.limit = time.Minute
					c.ClaimsMapper = m
				})
				tok, err := iss.Issue(context.Background(), testSubject())
				if tc.want != nil {
					if !errors.Is(err, tc.want) {
						t.Fatalf("Issue error %v (token of %d bytes), want %v", err, len(tok.Raw), tc.want)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if _, err := mustVerifier(t, srv.URL, clock.Now).Verify(context.Background(), tok.Raw); err != nil {
					t.Fatalf("token of %d bytes: %v", len(tok.Raw), err)
				}
			})
		}
	}
}
