package jwt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var allAlgs = []string{AlgES256, AlgEdDSA, AlgRS256}

// fakeClock is a settable clock for issuer and verifier.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func mustKey(t testing.TB, alg string) *Key {
	t.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKeySet(t testing.TB, keys ...*Key) *KeySet {
	t.Helper()
	ks, err := NewKeySet(keys, "")
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

const (
	testIss = "https://callpass.example.test"
	testAud = "app"
)

func mustIssuer(t testing.TB, ks *KeySet, clock func() time.Time, mod ...func(*IssuerConfig)) *Issuer {
	t.Helper()
	cfg := IssuerConfig{Issuer: testIss, Audience: []string{testAud}, Keys: ks, Clock: clock}
	for _, m := range mod {
		m(&cfg)
	}
	iss, err := NewIssuer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func testSubject() Subject {
	return Subject{
		IdentityID: "7f3c1d9e-0000-4000-8000-000000000001",
		SessionID:  "5a1b2c3d-0000-4000-8000-000000000002",
		Methods:    []string{"password"},
		PhoneE164:  "+79991234567",
		Traits:     json.RawMessage(`{"email":"a@example.test","phone":"+79991234567"}`),
	}
}

// jwksServer serves ks through JWKSHandler and counts requests.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newJWKSServer(t testing.TB, ks *KeySet) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	h := JWKSHandler(ks, time.Minute)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// decodeSegment decodes one part of a compact JWS into a map.
func decodeSegment(t testing.TB, raw string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encodeSegment(t testing.TB, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func splitToken(raw string) []string { return strings.Split(raw, ".") }

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }

// clockedToken is an ES256 token issued at clock's time and a verifier of
// its JWKS on the same clock, for tests that move the clock.
func clockedToken(t testing.TB) (*fakeClock, Token, *Verifier) {
	t.Helper()
	clock := newClock()
	ks := mustKeySet(t, mustKey(t, AlgES256))
	srv := newJWKSServer(t, ks)
	tok, err := mustIssuer(t, ks, clock.Now).Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	return clock, tok, mustVerifier(t, srv.URL, clock.Now)
}
