package jwt

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestVerifyNegativeLeewayIsNone: a negative Leeway means no clock skew
// allowed (zero means the default): a token is refused the second after
// its exp.
func TestVerifyNegativeLeewayIsNone(t *testing.T) {
	clock := newClock()
	ks := mustKeySet(t, mustKey(t, AlgES256))
	srv := newJWKSServer(t, ks)
	tok, err := mustIssuer(t, ks, clock.Now).Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, srv.URL, clock.Now, func(c *VerifierConfig) { c.Leeway = -1 })
	clock.Advance(DefaultTTL - time.Second)
	if _, err := v.Verify(context.Background(), tok.Raw); err != nil {
		t.Fatalf("before exp: %v", err)
	}
	clock.Advance(2 * time.Second)
	if _, err := v.Verify(context.Background(), tok.Raw); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("1 s after exp with no leeway: %v, want expired", err)
	}
}

// TestVerifyRefusesOversizedTokenUnread: a token over 16 KiB is refused as
// malformed before it is parsed or any key is fetched (a flood of huge
// tokens must not cost JWKS fetches).
func TestVerifyRefusesOversizedTokenUnread(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgES256))
	srv := newJWKSServer(t, ks)
	v := mustVerifier(t, srv.URL, time.Now)
	tok, err := mustIssuer(t, ks, time.Now).Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	// A well-formed token with an unknown kid, padded in its header: were
	// it parsed, the unknown kid would make the verifier fetch the JWKS.
	parts := strings.Split(tok.Raw, ".")
	hdr := decodeSegment(t, tok.Raw, 0)
	hdr["kid"] = "unknown"
	hdr["pad"] = strings.Repeat("p", maxTokenBytes)
	big := encodeSegment(t, hdr) + "." + parts[1] + "." + parts[2]
	_, err = v.Verify(context.Background(), big)
	var te *TokenError
	if !errors.As(err, &te) || te.Reason != ReasonMalformed {
		t.Fatalf("a %d-byte token: %v, want malformed", len(big), err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("the JWKS was fetched %d times for an oversized token", n)
	}
}

// TestVerifyKidlessTokenFetchesNothing: a token without a kid is refused
// before the key lookup, so it cannot make the verifier fetch the JWKS.
func TestVerifyKidlessTokenFetchesNothing(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgES256))
	srv := newJWKSServer(t, ks)
	v := mustVerifier(t, srv.URL, time.Now)
	tok, err := mustIssuer(t, ks, time.Now).Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.Raw, ".")
	hdr := decodeSegment(t, tok.Raw, 0)
	delete(hdr, "kid")
	kidless := encodeSegment(t, hdr) + "." + parts[1] + "." + parts[2]
	_, err = v.Verify(context.Background(), kidless)
	var te *TokenError
	if !errors.As(err, &te) || te.Reason != ReasonUnknownKey {
		t.Fatalf("a token without kid: %v, want unknown_key", err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("the JWKS was fetched %d times for a token without kid", n)
	}
}
