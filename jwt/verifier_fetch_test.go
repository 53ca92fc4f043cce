package jwt

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"
)

// signES256 signs a token for the test issuer and audience, valid for ttl from now.
func signES256(t testing.TB, k *Key, now time.Time, ttl time.Duration) string {
	t.Helper()
	return signRaw(t, gojwt.SigningMethodES256, k.priv, map[string]any{"kid": k.KID()}, gojwt.MapClaims{
		"iss": testIss, "aud": testAud, "sub": "u1", "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	})
}

// TestVerifyCachedKeyDuringOutage: after RefreshInterval, a token whose key
// is cached is answered at once while the refresh hangs in the background;
// a token with an unknown kid waits for that refresh only as long as its own
// context allows, not FetchTimeout.
func TestVerifyCachedKeyDuringOutage(t *testing.T) {
	clock := newClock()
	key := mustKey(t, AlgES256)
	jwks := JWKSHandler(mustKeySet(t, key), time.Minute)
	release := make(chan struct{})
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) > 1 { // answers once, then hangs like an unreachable upstream
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		jwks.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })     // runs first, so Close does not wait for the hung handler
	v := mustVerifier(t, srv.URL, clock.Now) // default FetchTimeout: 10 s
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(DefaultRefreshInterval + time.Second)
	stranger := mustKey(t, AlgES256)

	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"known kid: cached key, refresh in the background", signES256(t, key, clock.Now(), time.Hour), nil},
		{"known kid while the refresh hangs", signES256(t, key, clock.Now(), time.Hour), nil},
		{"unknown kid: waits no longer than its context", signES256(t, stranger, clock.Now(), time.Hour), context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			c, err := v.Verify(ctx, tc.raw)
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("Verify took %s (FetchTimeout is %s)", took, DefaultFetchTimeout)
			}
			if tc.want == nil {
				if err != nil || c.Subject != "u1" {
					t.Fatalf("claims %+v, err %v", c, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if got := hits.Load(); got != 2 {
		t.Fatalf("%d fetches, want 2 (the first and one refresh in flight)", got)
	}
}

// TestVerifyMaxStale: while refreshes fail, cached keys are trusted for
// MaxStale after the last successful fetch, then refused until one succeeds.
func TestVerifyMaxStale(t *testing.T) {
	clock := newClock()
	key := mustKey(t, AlgES256)
	jwks := JWKSHandler(mustKeySet(t, key), time.Minute)
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		jwks.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	v := mustVerifier(t, srv.URL, clock.Now)
	raw := signES256(t, key, clock.Now(), 72*time.Hour)
	verify := func() error { _, err := v.Verify(context.Background(), raw); return err }
	if err := verify(); err != nil {
		t.Fatal(err)
	}
	down.Store(true)

	steps := []struct {
		name    string
		advance time.Duration
		want    error
	}{
		{"refresh due and failing: cached key", DefaultRefreshInterval, nil},
		{"a second before MaxStale", DefaultMaxStale - DefaultRefreshInterval - time.Second, nil},
		{"MaxStale since the last successful fetch", time.Second, ErrKeysUnavailable},
		{"still failing", DefaultMinRefreshInterval, ErrKeysUnavailable},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		if err := verify(); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("%s: err %v, want %v", s.name, err, s.want)
		}
	}
	down.Store(false)
	clock.Advance(emptyRetryInterval)
	if err := verify(); err != nil {
		t.Fatalf("after the JWKS is back: %v", err)
	}
}

// TestJWKSRedirect: the default client does not follow a redirect (the keys
// would come from another host, or over http after https); a client the
// caller supplies decides for itself.
func TestJWKSRedirect(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgES256))
	target := newJWKSServer(t, ks)
	redirector := httptest.NewServer(http.RedirectHandler(target.URL+JWKSPath, http.StatusFound))
	t.Cleanup(redirector.Close)
	tok, err := mustIssuer(t, ks, nil).Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		client   *http.Client
		want     error
		wantHits int64
	}{
		{"default client refuses", nil, ErrKeysUnavailable, 0},
		{"own client follows", &http.Client{}, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := target.hits.Load()
			v := mustVerifier(t, redirector.URL+JWKSPath, nil, func(c *VerifierConfig) { c.HTTPClient = tc.client })
			_, err := v.Verify(context.Background(), tok.Raw)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if got := target.hits.Load() - before; got != tc.wantHits {
				t.Fatalf("redirect target fetched %d times, want %d", got, tc.wantHits)
			}
		})
	}
	v := mustVerifier(t, redirector.URL+JWKSPath, nil)
	if err := v.Refresh(context.Background()); !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, errRedirectRefused) {
		t.Fatalf("Refresh: %v", err)
	}
}

// TestJWKSErrorsHideURLSecrets: a failed fetch is logged and returned
// without the URL's query or userinfo, which may hold a credential.
func TestJWKSErrorsHideURLSecrets(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	tests := []struct {
		name, url, host string
	}{
		{"connection refused, key in the query", "http://127.0.0.1:1/jwks?apikey=S3CRET", "http://127.0.0.1:1/jwks"},
		{"userinfo", "http://S3CRET:S3CRET@127.0.0.1:1/jwks", "http://127.0.0.1:1/jwks"},
		{"timeout", hang.URL + "/jwks?apikey=S3CRET", hang.URL + "/jwks"},
		{"HTTP 500", failing.URL + "/jwks?apikey=S3CRET", failing.URL + "/jwks"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			clock := newClock()
			v := mustVerifier(t, tc.url, clock.Now, func(c *VerifierConfig) {
				c.Logger = slog.New(slog.NewTextHandler(&buf, nil))
				c.FetchTimeout = 200 * time.Millisecond
			})
			refreshErr := v.Refresh(context.Background())
			clock.Advance(emptyRetryInterval) // let Verify fetch again
			_, verifyErr := v.Verify(context.Background(), signES256(t, mustKey(t, AlgES256), clock.Now(), time.Hour))
			for _, err := range []error{refreshErr, verifyErr} {
				if !errors.Is(err, ErrKeysUnavailable) {
					t.Fatalf("err %v, want ErrKeysUnavailable", err)
				}
				if strings.Contains(err.Error(), "S3CRET") {
					t.Fatalf("error shows the secret: %v", err)
				}
			}
			if !strings.Contains(refreshErr.Error(), tc.host) {
				t.Fatalf("error %q does not name %s", refreshErr, tc.host)
			}
			log := buf.String()
			if strings.Count(log, "JWKS refresh failed") != 2 || !strings.Contains(log, tc.host) {
				t.Fatalf("log does not report both failures with the endpoint: %s", log)
			}
			if strings.Contains(log, "S3CRET") {
				t.Fatalf("log shows the secret: %s", log)
			}
		})
	}
}
