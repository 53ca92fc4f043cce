package jwt

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestVerifySkipsOddJWKSKeys: a key of the JWKS the verifier cannot use is
// skipped, whatever is wrong with it, and the others still verify: one bad
// entry (a hand-edited JWKS file, a key of a kind this package does not
// know) must not make every token a 503.
func TestVerifySkipsOddJWKSKeys(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgEdDSA))
	doc, err := ks.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	tok, err := mustIssuer(t, ks, nil).Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	odd := []struct{ name, key string }{
		{"symmetric key", `{"kty":"oct","kid":"o","k":"c2VjcmV0"}`},
		{"encryption key", `{"kty":"OKP","crv":"X25519","kid":"x","use":"enc","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`},
		{"kid a number", `{"kty":"OKP","crv":"Ed25519","kid":2024,"x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`},
		{"x an array", `{"kty":"EC","crv":"P-256","kid":"e","x":[1,2],"y":"AA"}`},
		{"alg an object", `{"kty":"RSA","kid":"r","alg":{"name":"RS256"},"n":"AQAB","e":"AQAB"}`},
		{"not an object", `"ES256"`},
		{"null", `null`},
	}
	for _, tc := range odd {
		t.Run(tc.name, func(t *testing.T) {
			for _, order := range []string{"before", "after"} {
				keys := []json.RawMessage{json.RawMessage(tc.key), set.Keys[0]}
				if order == "after" {
					keys[0], keys[1] = keys[1], keys[0]
				}
				body, err := json.Marshal(map[string]any{"keys": keys})
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(t.TempDir(), "jwks.json")
				if err := writeFile(path, body); err != nil {
					t.Fatal(err)
				}
				v, err := NewVerifier(VerifierConfig{JWKSFile: path, Issuer: testIss, Audience: testAud})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := v.Verify(context.Background(), tok.Raw); err != nil {
					t.Fatalf("odd key %s ours: %v", order, err)
				}
			}
		})
	}
}
