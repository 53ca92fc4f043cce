package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"
)

func mustVerifier(t testing.TB, url string, clock func() time.Time, mod ...func(*VerifierConfig)) *Verifier {
	t.Helper()
	cfg := VerifierConfig{JWKSURL: url, Issuer: testIss, Audience: testAud, Clock: clock}
	for _, m := range mod {
		m(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyAccepts(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			clock := newClock()
			ks := mustKeySet(t, mustKey(t, alg))
			srv := newJWKSServer(t, ks)
			sub := testSubject()
			mapper, err := NewClaimsMapper("m", `{claims: {email: std.extVar("claims").traits.email}}`)
			if err != nil {
				t.Fatal(err)
			}
			iss := mustIssuer(t, ks, clock.Now, func(c *IssuerConfig) {
				c.Audience = []string{"other", testAud}
				c.ClaimsMapper = mapper
			})
			tok, err := iss.Issue(context.Background(), sub)
			if err != nil {
				t.Fatal(err)
			}
			c, err := mustVerifier(t, srv.URL, clock.Now).Verify(context.Background(), tok.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != sub.IdentityID || c.Sid != sub.SessionID || c.ID != tok.ID || c.Issuer != testIss ||
				!slices.Equal(c.Audience, []string{"other", testAud}) || !c.ExpiresAt.Equal(tok.ExpiresAt) ||
				!c.IssuedAt.Equal(clock.Now()) || !c.NotBefore.Equal(clock.Now()) || !c.AuthTime.Equal(clock.Now()) ||
				c.PhoneNumber != sub.PhoneE164 || !c.PhoneNumberVerified || !c.HasAMR("tel") || !c.HasAMR("mfa") || !c.HasAMR("pwd") {
				t.Fatalf("claims %+v", c)
			}
			if c.Extra["email"] != "a@example.test" || len(c.Extra) != 1 {
				t.Fatalf("extra %v", c.Extra)
			}
		})
	}
}

// signRaw builds a token by hand so tests can produce what the Issuer never would.
func signRaw(t testing.TB, method gojwt.SigningMethod, key any, header map[string]any, claims gojwt.MapClaims) string {
	t.Helper()
	tok := gojwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestVerifyRefuses(t *testing.T) {
	clock := newClock()
	now := clock.Now()
	es := mustKey(t, AlgES256)
	ed := mustKey(t, AlgEdDSA)
	rs := mustKey(t, AlgRS256)
	ks := mustKeySet(t, es, ed, rs)
	srv := newJWKSServer(t, ks)
	stranger := mustKey(t, AlgES256)

	good := func() gojwt.MapClaims {
		return gojwt.MapClaims{"iss": testIss, "aud": testAud, "sub": "u1", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	}
	with := func(mod func(gojwt.MapClaims)) gojwt.MapClaims { c := good(); mod(c); return c }
	kid := func(k *Key) map[string]any { return map[string]any{"kid": k.KID()} }
	pubPEM := func(k *Key) []byte {
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	valid := signRaw(t, gojwt.SigningMethodES256, es.priv, kid(es), good())

	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"alg none", signRaw(t, gojwt.SigningMethodNone, gojwt.UnsafeAllowNoneSignatureType, kid(es), good()), ErrTokenDisallowedAlg},
		{"alg none header on a signed token", func() string {
			p := splitToken(valid)
			return encodeSegment(t, map[string]any{"alg": "none", "kid": es.KID()}) + "." + p[1] + "." + p[2]
		}(), ErrTokenDisallowedAlg},
		{"HS256 with ES public key PEM", signRaw(t, gojwt.SigningMethodHS256, pubPEM(es), kid(es), good()), ErrTokenDisallowedAlg},
		{"HS256 with RSA public key PEM", signRaw(t, gojwt.SigningMethodHS256, pubPEM(rs), kid(rs), good()), ErrTokenDisallowedAlg},
		{"unknown alg", func() string {
			p := splitToken(valid)
			return encodeSegment(t, map[string]any{"alg": "XY512", "kid": es.KID()}) + "." + p[1] + "." + p[2]
		}(), ErrTokenDisallowedAlg},
		{"ES256 header on EdDSA key", signRaw(t, gojwt.SigningMethodES256, es.priv, kid(ed), good()), ErrTokenDisallowedAlg},
		{"wrong aud", signRaw(t, gojwt.SigningMethodES256, es.priv, kid(es), with(func(c gojwt.MapClaims) { c["aud"] = "other" })), ErrTokenWrongAudience},
		{"no aud", signRaw(t, gojwt.SigningMethodES256, es.priv, kid(es), with(func(c gojwt.MapClaims) { delete(c, "aud") })), ErrTokenInvalid},
		{"wrong iss", signRaw(t, gojwt.SigningMethodEdDSA, ed.priv, kid(ed), with(func(c gojwt.MapClaims) { c["iss"] = "https://evil.test" })), ErrTokenWrongIssuer},
		{"expired beyond leeway", signRaw(t, gojwt.SigningMethodRS256, rs.priv, kid(rs), with(func(c gojwt.MapClaims) { c["exp"] = now.Add(-31 * time.Second).Unix() })), ErrTokenExpired},
		{"nbf in the future", signRaw(t, gojwt.SigningMethodES256, es.priv, kid(es), with(func(c gojwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })), ErrTokenNotYetValid},
		{"iat in the future", signRaw(t, gojwt.SigningMethodES256, es.priv, kid(es), with(func(c gojwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() })), ErrTokenNotYetValid},
		{"no exp", signRaw(t, gojwt.SigningMethodES256, es.priv, kid(es), with(func(c gojwt.MapClaims) { delete(c, "exp") })), ErrTokenMalformed},
		{"no sub", signRaw(t, gojwt.SigningMethodES256, es.priv, kid(es), with(func(c gojwt.MapClaims) { delete(c, "sub") })), ErrTokenMalformed},
		{"amr not a list", signRaw(t, gojwt.SigningMethodES256, es.priv, kid(es), with(func(c gojwt.MapClaims) { c["amr"] = "tel" })), ErrTokenMalformed},
		{"unknown kid", signRaw(t, gojwt.SigningMethodES256, stranger.priv, kid(stranger), good()), ErrTokenUnknownKey},
		{"no kid", signRaw(t, gojwt.SigningMethodES256, es.priv, nil, good()), ErrTokenUnknownKey},
		{"tampered payload", tamperPayload(t, valid, func(m map[string]any) { m["sub"] = "admin" }), ErrTokenBadSignature},
		{"tampered header kid", func() string {
			// Re-point a valid ES256 token at another ES256 key: signature must fail.
			other := mustKey(t, AlgES256)
			if err := ks.Add(other); err != nil {
				t.Fatal(err)
			}
			p := splitToken(valid)
			return encodeSegment(t, map[string]any{"alg": "ES256", "kid": other.KID(), "typ": "JWT"}) + "." + p[1] + "." + p[2]
		}(), ErrTokenBadSignature},
		{"signed by a stranger under our kid", signRaw(t, gojwt.SigningMethodES256, stranger.priv, kid(es), good()), ErrTokenBadSignature},
		// RFC 7515 §4.1.11: correctly signed by a published key, but with
		// critical extensions this verifier does not understand.
		{"crit with an unknown extension", signRaw(t, gojwt.SigningMethodES256, es.priv,
			map[string]any{"kid": es.KID(), "crit": []string{"exp"}, "exp": now.Unix()}, good()), ErrTokenMalformed},
		{"crit b64 (RFC 7797)", signRaw(t, gojwt.SigningMethodEdDSA, ed.priv,
			map[string]any{"kid": ed.KID(), "crit": []string{"b64"}, "b64": true}, good()), ErrTokenMalformed},
		{"crit empty list", signRaw(t, gojwt.SigningMethodRS256, rs.priv,
			map[string]any{"kid": rs.KID(), "crit": []string{}}, good()), ErrTokenMalformed},
		{"two segments", "abc.def", ErrTokenMalformed},
		{"garbage", "not a token", ErrTokenMalformed},
		{"empty", "", ErrTokenMalformed},
		{"bad base64 payload", func() string { p := splitToken(valid); return p[0] + ".!!!." + p[2] }(), ErrTokenMalformed},
	}
	v := mustVerifier(t, srv.URL, clock.Now)
	if _, err := v.Verify(context.Background(), valid); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tc.raw)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	clock, tok, v := clockedToken(t)
	clock.Advance(DefaultTTL + 29*time.Second) // inside the 30 s leeway
	if _, err := v.Verify(context.Background(), tok.Raw); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	clock.Advance(2 * time.Second)
	if _, err := v.Verify(context.Background(), tok.Raw); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("after leeway: %v", err)
	}
}

func TestNewVerifierRefusesUnsafeConfig(t *testing.T) {
	base := VerifierConfig{JWKSURL: "http://x/jwks", Issuer: "i", Audience: "a"}
	tests := []struct {
		name string
		mod  func(*VerifierConfig)
	}{
		{"alg none", func(c *VerifierConfig) { c.Algorithms = []string{"none"} }},
		{"HS256", func(c *VerifierConfig) { c.Algorithms = []string{"ES256", "HS256"} }},
		{"no source", func(c *VerifierConfig) { c.JWKSURL = "" }},
		{"two sources", func(c *VerifierConfig) { c.JWKSFile = "/tmp/x" }},
		{"file URL", func(c *VerifierConfig) { c.JWKSURL = "file:///etc/passwd" }},
		{"no issuer", func(c *VerifierConfig) { c.Issuer = "" }},
		{"no audience", func(c *VerifierConfig) { c.Audience = "" }},
		{"URL without host", func(c *VerifierConfig) { c.JWKSURL = "http:///jwks" }},
		{"relative URL", func(c *VerifierConfig) { c.JWKSURL = "/jwks" }},
		{"MaxStale below RefreshInterval", func(c *VerifierConfig) { c.MaxStale = time.Minute }},
		{"negative MaxStale", func(c *VerifierConfig) { c.MaxStale = -time.Hour }},
	}
	for _, tc := range tests {
		c := base
		tc.mod(&c)
		if _, err := NewVerifier(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", tc.name, err)
		}
	}
	if _, err := NewVerifier(base); err != nil {
		t.Fatalf("base config refused: %v", err)
	}
}

func TestVerifyAlgorithmAllowList(t *testing.T) {
	clock := newClock()
	ks := mustKeySet(t, mustKey(t, AlgRS256))
	srv := newJWKSServer(t, ks)
	tok, err := mustIssuer(t, ks, clock.Now).Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, srv.URL, clock.Now, func(c *VerifierConfig) { c.Algorithms = []string{AlgES256} })
	if _, err := v.Verify(context.Background(), tok.Raw); !errors.Is(err, ErrTokenDisallowedAlg) {
		t.Fatalf("RS256 token with ES256-only verifier: %v", err)
	}
}

func TestRotation(t *testing.T) {
	clock := newClock()
	a := mustKey(t, AlgES256)
	ks := mustKeySet(t, a)
	srv := newJWKSServer(t, ks)
	iss := mustIssuer(t, ks, clock.Now)
	v := mustVerifier(t, srv.URL, clock.Now)
	ctx := context.Background()
	issue := func() (string, string) {
		tok, err := iss.Issue(ctx, testSubject())
		if err != nil {
			t.Fatal(err)
		}
		return tok.Raw, decodeSegment(t, tok.Raw, 0)["kid"].(string)
	}
	verify := func(raw string) error { _, err := v.Verify(ctx, raw); return err }

	tokA, kid := issue()
	if kid != a.KID() || verify(tokA) != nil {
		t.Fatal("A does not sign or verify")
	}
	if srv.hits.Load() != 1 {
		t.Fatalf("fetches %d, want 1", srv.hits.Load())
	}

	// Step 1: publish B; A still signs.
	b := mustKey(t, AlgEdDSA)
	if err := ks.Add(b); err != nil {
		t.Fatal(err)
	}
	if tok, kid := issue(); kid != a.KID() || verify(tok) != nil {
		t.Fatal("after adding B, A must still sign")
	}

	// Step 2: B signs. The verifier has never seen B: the unknown kid
	// triggers one refresh (no rate limit hit yet: 31 s since the first fetch).
	if err := ks.Activate(b.KID()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(31 * time.Second)
	tokB, kid := issue()
	if kid != b.KID() {
		t.Fatal("B does not sign after Activate")
	}
	if err := verify(tokB); err != nil {
		t.Fatalf("B token: %v", err)
	}
	if srv.hits.Load() != 2 {
		t.Fatalf("fetches %d, want 2", srv.hits.Load())
	}
	if err := verify(tokA); err != nil {
		t.Fatalf("A token while A is still published: %v", err)
	}
	if err := ks.Remove(b.KID()); err == nil {
		t.Fatal("removed the active signer")
	}

	// Step 3: remove A. Cached keys still know A until the next refresh,
	// which the first request after RefreshInterval starts in the background
	// (it is answered from the cache); once it is done, A's tokens fail with
	// unknown key.
	if err := ks.Remove(a.KID()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(DefaultRefreshInterval)
	tokA2 := signRaw(t, gojwt.SigningMethodES256, a.priv, map[string]any{"kid": a.KID()}, gojwt.MapClaims{
		"iss": testIss, "aud": testAud, "sub": "u", "iat": clock.Now().Unix(), "exp": clock.Now().Add(time.Minute).Unix(),
	})
	if err := verify(tokA2); err != nil {
		t.Fatalf("A token from the cache while the refresh runs: %v", err)
	}
	if err := v.Refresh(ctx); err != nil { // joins the background fetch (or fetches again)
		t.Fatal(err)
	}
	if err := verify(tokA2); !errors.Is(err, ErrTokenUnknownKey) {
		t.Fatalf("A token after removal: %v", err)
	}
	if tok, kid := issue(); kid != b.KID() || verify(tok) != nil {
		t.Fatal("fresh B token after removing A does not verify")
	}
}

func TestRefreshRateLimit(t *testing.T) {
	clock := newClock()
	ks := mustKeySet(t, mustKey(t, AlgEdDSA))
	srv := newJWKSServer(t, ks)
	v := mustVerifier(t, srv.URL, clock.Now)
	ctx := context.Background()
	stranger := mustKey(t, AlgEdDSA)
	unknown := signRaw(t, gojwt.SigningMethodEdDSA, stranger.priv, map[string]any{"kid": stranger.KID()}, gojwt.MapClaims{
		"iss": testIss, "aud": testAud, "sub": "u", "iat": clock.Now().Unix(), "exp": clock.Now().Add(time.Hour).Unix(),
	})

	steps := []struct {
		advance   time.Duration
		wantFetch int64
	}{
		{0, 1},                // first use fetches
		{0, 1},                // same instant: rate-limited
		{10 * time.Second, 1}, // still inside 30 s
		{19 * time.Second, 1},
		{time.Second, 2}, // 30 s after the last attempt: one more fetch
		{time.Second, 2},
		{30 * time.Second, 3},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		for range 5 {
			if _, err := v.Verify(ctx, unknown); !errors.Is(err, ErrTokenUnknownKey) {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		if got := srv.hits.Load(); got != s.wantFetch {
			t.Fatalf("step %d: %d fetches, want %d", i, got, s.wantFetch)
		}
	}

	// The stranger's key appears in the JWKS: picked up at the next allowed refresh.
	if err := ks.Add(stranger); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, unknown); !errors.Is(err, ErrTokenUnknownKey) {
		t.Fatalf("inside the rate limit the new key must not be fetched yet: %v", err)
	}
	clock.Advance(DefaultMinRefreshInterval)
	if _, err := v.Verify(ctx, unknown); err != nil {
		t.Fatalf("new key after refresh: %v", err)
	}
	if got := srv.hits.Load(); got != 4 {
		t.Fatalf("%d fetches, want 4", got)
	}
}

func TestRefreshSingleFlight(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgES256))
	release := make(chan struct{})
	var hits atomic.Int64
	jwks := JWKSHandler(ks, time.Minute)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release // hold the fetch so all callers pile up on it
		jwks.ServeHTTP(w, r)
	}))
	defer srv.Close()
	tok, err := mustIssuer(t, ks, nil).Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, srv.URL, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), tok.Raw)
			errs <- err
		})
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := hits.Load(); got != 1 {
		t.Fatalf("%d fetches for 20 concurrent callers, want 1", got)
	}
}

func TestVerifyKeysUnavailable(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgES256))
	tok, err := mustIssuer(t, ks, nil).Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t, ks)
	srv.Close() // nothing listens any more
	v := mustVerifier(t, srv.URL, nil, func(c *VerifierConfig) { c.FetchTimeout = time.Second })
	_, err = v.Verify(context.Background(), tok.Raw)
	if !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("err %v, want ErrKeysUnavailable and not a token error", err)
	}
}

func TestVerifyFromJWKSFile(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgEdDSA))
	doc, _ := ks.PublicJWKS()
	path := t.TempDir() + "/jwks.json"
	if err := writeFile(path, doc); err != nil {
		t.Fatal(err)
	}
	tok, err := mustIssuer(t, ks, nil).Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{JWKSFile: path, Issuer: testIss, Audience: testAud})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok.Raw); err != nil {
		t.Fatal(err)
	}
}

// Keep the typed-key imports honest: the Verifier must hand golang-jwt the
// exact public key types for each algorithm.
func TestParsedKeyTypes(t *testing.T) {
	for _, alg := range allAlgs {
		ks := mustKeySet(t, mustKey(t, alg))
		doc, _ := ks.PublicJWKS()
		v := mustVerifier(t, "http://unused/", nil)
		keys, err := v.parseJWKS(doc)
		if err != nil {
			t.Fatal(err)
		}
		k := keys[ks.Signer().KID()]
		switch k.Public().(type) {
		case *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey:
		default:
			t.Fatalf("%s: key type %T", alg, k.Public())
		}
		if k.Algorithm() != alg {
			t.Fatalf("alg %s, want %s", k.Algorithm(), alg)
		}
	}
}
