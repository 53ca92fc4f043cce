package jwt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
	refreshing := make(chan struct{}) // closed when the background refresh reaches the server
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := hits.Add(1); n > 1 { // answers once, then hangs like an unreachable upstream
			if n == 2 {
				close(refreshing)
			}
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
	// The refresh runs in its own goroutine: wait until it reached the
	// server rather than assume it did within the subtests' time.
	select {
	case <-refreshing:
	case <-time.After(10 * time.Second):
		t.Fatal("the background refresh never reached the JWKS endpoint")
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
			// The hung server's fetch ends at FetchTimeout; let no waiter
			// give up on it first, however slow this machine, so both
			// failures are logged before Refresh and Verify return.
			v.fetchGrace = time.Minute
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

// TestNewVerifierMaxStaleDefault: an unset MaxStale is DefaultMaxStale, or
// twice RefreshInterval when that is longer, so a RefreshInterval above a
// day is no error; only an explicit MaxStale below RefreshInterval is.
func TestNewVerifierMaxStaleDefault(t *testing.T) {
	tests := []struct {
		name                      string
		refresh, maxStale, wantMS time.Duration
		wantErr                   bool
	}{
		{"defaults", 0, 0, DefaultMaxStale, false},
		{"short refresh", time.Hour, 0, DefaultMaxStale, false},
		{"refresh of 48h, MaxStale unset", 48 * time.Hour, 0, 96 * time.Hour, false},
		{"explicit MaxStale kept", 25 * time.Hour, 30 * time.Hour, 30 * time.Hour, false},
		{"explicit MaxStale below refresh", 48 * time.Hour, DefaultMaxStale, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(VerifierConfig{JWKSURL: "http://x/jwks", Issuer: testIss, Audience: testAud,
				RefreshInterval: tc.refresh, MaxStale: tc.maxStale})
			if tc.wantErr {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("err %v, want ErrConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.cfg.MaxStale != tc.wantMS {
				t.Fatalf("MaxStale %s, want %s", v.cfg.MaxStale, tc.wantMS)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestVerifyFetchNeverEnds: a fetch that ignores its deadline (a JWKS file
// on a FIFO or a hung mount, an HTTPClient that ignores the context) holds
// no request past FetchTimeout and its grace, even one with a context that
// never ends; no second fetch piles up behind it (one blocked goroutine at
// most, however long it hangs); and when it finally answers, however late,
// its keys are used: a slow source still works.
func TestVerifyFetchNeverEnds(t *testing.T) {
	key := mustKey(t, AlgES256)
	good, err := mustKeySet(t, key).PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	const fetchTimeout, grace = 100 * time.Millisecond, 100 * time.Millisecond

	tests := []struct {
		name  string
		setup func(cfg *VerifierConfig, src func() ([]byte, error))
		after func(v *Verifier, src func() ([]byte, error))
	}{
		{"JWKS file that blocks", func(cfg *VerifierConfig, _ func() ([]byte, error)) {
			cfg.JWKSURL, cfg.JWKSFile = "", "/jwks.json"
		}, func(v *Verifier, src func() ([]byte, error)) {
			v.readFile = func(string) ([]byte, error) { return src() }
		}},
		{"HTTPClient ignoring the context", func(cfg *VerifierConfig, src func() ([]byte, error)) {
			cfg.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				body, err := src()
				if err != nil {
					return nil, err
				}
				return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
			})}
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			var once sync.Once
			t.Cleanup(func() { once.Do(func() { close(release) }) })
			var calls atomic.Int64
			// The first fetch hangs until release, then answers; any other
			// answers at once.
			src := func() ([]byte, error) {
				if calls.Add(1) == 1 {
					<-release
				}
				return good, nil
			}
			clock := newClock()
			var logs bytes.Buffer
			cfg := VerifierConfig{JWKSURL: "http://jwks.test/jwks", Issuer: testIss, Audience: testAud,
				Clock: clock.Now, FetchTimeout: fetchTimeout, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			tc.setup(&cfg, src)
			v, err := NewVerifier(cfg)
			if err != nil {
				t.Fatal(err)
			}
			v.fetchGrace = grace
			if tc.after != nil {
				tc.after(v, src)
			}
			// verify runs Verify with a context that never ends, and fails
			// the test if it is still waiting after 10 s.
			verify := func(raw string) (time.Duration, error) {
				t.Helper()
				type result struct {
					took time.Duration
					err  error
				}
				done := make(chan result, 1)
				go func() {
					start := time.Now()
					_, err := v.Verify(context.Background(), raw)
					done <- result{time.Since(start), err}
				}()
				select {
				case r := <-done:
					return r.took, r.err
				case <-time.After(10 * time.Second):
					t.Fatalf("Verify still waiting after 10 s (FetchTimeout %s)", fetchTimeout)
				}
				return 0, nil
			}
			tok := signES256(t, key, clock.Now(), time.Hour)

			// No keys, the first fetch hangs: the request waits about
			// FetchTimeout and its grace, then gets 503's error.
			took, err := verify(tok)
			if !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("while the first fetch hangs: err %v, want ErrKeysUnavailable", err)
			}
			if took < fetchTimeout {
				t.Fatalf("gave up after %s, before FetchTimeout %s", took, fetchTimeout)
			}
			// Later requests (rate limit permitting) do not wait for it any
			// more, and start no second fetch while it runs.
			for range 3 {
				clock.Advance(emptyRetryInterval)
				if _, err := verify(tok); !errors.Is(err, ErrKeysUnavailable) {
					t.Fatalf("while the fetch still hangs: err %v, want ErrKeysUnavailable", err)
				}
			}
			if got := calls.Load(); got != 1 {
				t.Fatalf("%d fetches while the first one hangs, want 1", got)
			}
			if n := strings.Count(logs.String(), "JWKS fetch still running past its timeout"); n != 1 {
				t.Fatalf("%d warnings about the hung fetch, want 1:\n%s", n, logs.String())
			}

			// It answers at last: its keys are used.
			once.Do(func() { close(release) })
			deadline := time.Now().Add(10 * time.Second)
			for {
				v.mu.Lock()
				c := v.inflight
				v.mu.Unlock()
				if c == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the released fetch did not finish")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if _, err := verify(tok); err != nil {
				t.Fatalf("after the slow fetch answered: %v", err)
			}
			if got := calls.Load(); got != 1 {
				t.Fatalf("%d fetches, want the slow one only", got)
			}
		})
	}
}
