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
	_, tok, v := tokenAndVerifier(t, clock.Now, func(c *VerifierConfig) { c.Leeway = -1 })
	clock.Advance(DefaultTTL - time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("before exp: %v", err)
	}
	clock.Advance(2 * time.Second)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("1 s after exp with no leeway: %v, want expired", err)
	}
}

// TestVerifyRefusesBeforeKeyLookup: tokens refused on their header alone
// never make the verifier fetch the JWKS (a flood of them must not cost
// fetches): one over maxTokenBytes (malformed, not even parsed; were it parsed,
// its unknown kid would start a fetch) and one without a kid.
func TestVerifyRefusesBeforeKeyLookup(t *testing.T) {
	tests := []struct {
		name   string
		header func(map[string]any)
		want   Reason
	}{
		{"over maxTokenBytes", func(h map[string]any) {
			h["kid"] = "unknown"
			h["pad"] = strings.Repeat("p", maxTokenBytes)
		}, ReasonMalformed},
		{"no kid", func(h map[string]any) { delete(h, "kid") }, ReasonUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, tok, v := tokenAndVerifier(t, time.Now)
			_, err := v.Verify(context.Background(), reheader(t, tok, tt.header))
			var te *TokenError
			if !errors.As(err, &te) || te.Reason != tt.want {
				t.Fatalf("%v, want %s", err, tt.want)
			}
			if n := srv.hits.Load(); n != 0 {
				t.Errorf("the JWKS was fetched %d times", n)
			}
		})
	}
}

// reheader returns tok with its header changed by edit, the payload and
// signature kept.
func reheader(t *testing.T, tok string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	hdr := decodeSegment(t, tok, 0)
	edit(hdr)
	return encodeSegment(t, hdr) + "." + parts[1] + "." + parts[2]
}

// tokenAndVerifier issues an ES256 token at clock's time and returns its
// JWKS server (nothing fetched yet) and a verifier of it.
func tokenAndVerifier(t *testing.T, clock func() time.Time, mod ...func(*VerifierConfig)) (*jwksServer, string, *Verifier) {
	t.Helper()
	ks := mustKeySet(t, mustKey(t, AlgES256))
	srv := newJWKSServer(t, ks)
	tok, err := mustIssuer(t, ks, clock).Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	return srv, tok.Raw, mustVerifier(t, srv.URL, clock, mod...)
}

// TestTokenErrorDetailBounded: a refusal's Detail names the header's alg or
// kid only cut short, quoted, so a token cannot put kilobytes of its own
// text (up to the 32 KiB a token may have) into every error an app logs.
func TestTokenErrorDetailBounded(t *testing.T) {
	long := strings.Repeat("A", 8<<10) + "\nmarker"
	tests := []struct {
		name   string
		header func(map[string]any)
		want   Reason
	}{
		{"long alg", func(h map[string]any) { h["alg"] = long }, ReasonDisallowedAlg},
		{"long unknown kid", func(h map[string]any) { h["kid"] = long }, ReasonUnknownKey},
		{"long kid, alg of another key", func(h map[string]any) { h["alg"] = AlgRS256; h["kid"] = long }, ReasonUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, tok, v := tokenAndVerifier(t, time.Now, func(c *VerifierConfig) { c.Algorithms = []string{AlgES256, AlgRS256} })
			_, err := v.Verify(context.Background(), reheader(t, tok, tt.header))
			var te *TokenError
			if !errors.As(err, &te) || te.Reason != tt.want {
				t.Fatalf("%v, want %s", err, tt.want)
			}
			if n := len(err.Error()); n > 200 {
				t.Errorf("error text is %d bytes long: %.120s…", n, err.Error())
			}
			if strings.Contains(err.Error(), "marker") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error text carries the header's value: %.120s…", err.Error())
			}
		})
	}
}
