package jwt

import (
	"context"
	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
	"testing"
)

// TestIssueAllocs: an ES256 token without a claims mapper (the default
// issuer, minted on every step-up verify and token exchange) stays within
// its allocations: the claims written without reflection, the signature
// made from the digest without big integers.
func TestIssueAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	iss := mustIssuer(t, mustKeySet(t, mustKey(t, AlgES256)), nil)
	s := testSubject()
	ctx := context.Background()
	n := allocs.Min(200, func() {
		if _, err := iss.Issue(ctx, s); err != nil {
			t.Fatal(err)
		}
	})
	// 65, 48 of them crypto/ecdsa's own (its nonce's HMAC-DRBG); 74 through
	// json.Marshal and golang-jwt's signer.
	if n > 65 {
		t.Errorf("an ES256 token makes %v allocations, want at most 65", n)
	}
}
