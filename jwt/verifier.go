package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	gojwt "github.com/golang-jwt/jwt/v5"
)

// Verifier defaults.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultRefreshInterval    = 15 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultFetchTimeout       = 10 * time.Second
	// DefaultMaxStale is how long cached keys are trusted without a
	// successful fetch. Refreshes failing for this long mean the issuer is
	// gone or the verifier is cut off from it; a key it has since removed
	// (e.g. after a leak) must not stay valid for ever.
	DefaultMaxStale = 24 * time.Hour
	maxJWKSBytes    = 1 << 20
	// maxTokenBytes bounds a token Verify reads, and Issue signs none
	// larger: room for a claims mapper's largest result (mapperMaxOutput)
	// once base64 has added its third, with the claims, header and an RSA
	// signature around it.
	maxTokenBytes = 32 << 10
	// fetchGrace is how long past FetchTimeout a request waits for a fetch.
	// An HTTP fetch honours its context and ends by FetchTimeout; one that
	// does not (a JWKS file on a FIFO or hung mount, an HTTPClient that
	// ignores the context) is not waited for any longer. It stays the one
	// fetch in flight until it ends (no second one piles up behind it), and
	// whatever it brings, however late, is the newest answer there is.
	fetchGrace = time.Second
	// emptyRetryInterval limits fetches while no keys are cached at all
	// (e.g. the app started before the issuer): short, so a late issuer is
	// picked up quickly, but never a fetch per request.
	emptyRetryInterval = time.Second
)

// DefaultAlgorithms returns a new copy of the verifier's allow-list when
// none is configured; changing it changes nothing else. "none" and the HMAC
// algorithms can never be allowed.
func DefaultAlgorithms() []string { return []string{AlgES256, AlgEdDSA, AlgRS256} }

// Reason says why a token was refused.
type Reason string

// Reasons for ErrTokenInvalid.
const (
	ReasonMalformed     Reason = "malformed"
	ReasonDisallowedAlg Reason = "disallowed_alg"
	ReasonUnknownKey    Reason = "unknown_key"
	ReasonBadSignature  Reason = "bad_signature"
	ReasonExpired       Reason = "expired"
	ReasonNotYetValid   Reason = "not_yet_valid"
	ReasonWrongAudience Reason = "wrong_audience"
	ReasonWrongIssuer   Reason = "wrong_issuer"
)

// Token errors: every *TokenError matches ErrTokenInvalid and the sentinel
// of its reason with errors.Is.
var (
	ErrTokenInvalid       = errors.New("jwt: token invalid")
	ErrTokenMalformed     = errors.New("jwt: token malformed")
	ErrTokenDisallowedAlg = errors.New("jwt: token algorithm not allowed")
	ErrTokenUnknownKey    = errors.New("jwt: token signed with an unknown key")
	ErrTokenBadSignature  = errors.New("jwt: token signature invalid")
	ErrTokenExpired       = errors.New("jwt: token expired")
	ErrTokenNotYetValid   = errors.New("jwt: token not yet valid")
	ErrTokenWrongAudience = errors.New("jwt: token audience mismatch")
	ErrTokenWrongIssuer   = errors.New("jwt: token issuer mismatch")

	// ErrKeysUnavailable means no verification keys could be obtained: the
	// token was not judged, so this is a 503, not a 401.
	ErrKeysUnavailable = errors.New("jwt: verification keys unavailable")

	// ErrTokenMissing means the request carried no token (no Authorization
	// header, one that is not Bearer, or no cookie): EchoMiddleware's 401
	// for it wraps this, not ErrTokenInvalid.
	ErrTokenMissing = errors.New("jwt: no token")
)

var reasonSentinel = map[Reason]error{
	ReasonMalformed:     ErrTokenMalformed,
	ReasonDisallowedAlg: ErrTokenDisallowedAlg,
	ReasonUnknownKey:    ErrTokenUnknownKey,
	ReasonBadSignature:  ErrTokenBadSignature,
	ReasonExpired:       ErrTokenExpired,
	ReasonNotYetValid:   ErrTokenNotYetValid,
	ReasonWrongAudience: ErrTokenWrongAudience,
	ReasonWrongIssuer:   ErrTokenWrongIssuer,
}

// TokenError is a refused token. Detail never contains the token's claims or
// signature; of its header, only alg or kid, quoted and cut to 64 bytes.
type TokenError struct {
	Reason Reason
	Detail string
}

func (e *TokenError) Error() string {
	if e.Detail == "" {
		return ErrTokenInvalid.Error() + ": " + string(e.Reason)
	}
	return ErrTokenInvalid.Error() + ": " + string(e.Reason) + ": " + e.Detail
}

// Is matches ErrTokenInvalid and the reason's sentinel.
func (e *TokenError) Is(target error) bool {
	return target == ErrTokenInvalid || target == reasonSentinel[e.Reason]
}

// Description is a short, safe text for WWW-Authenticate error_description.
func (e *TokenError) Description() string {
	switch e.Reason {
	case ReasonExpired:
		return "the token expired"
	case ReasonNotYetValid:
		return "the token is not valid yet"
	case ReasonWrongAudience:
		return "the token is not for this audience"
	case ReasonWrongIssuer:
		return "the token is from another issuer"
	case ReasonUnknownKey:
		return "the token was signed with an unknown key"
	case ReasonBadSignature:
		return "the token signature is invalid"
	case ReasonDisallowedAlg:
		return "the token algorithm is not allowed"
	}
	return "the token is malformed"
}

func tokenErr(r Reason, detail string) *TokenError { return &TokenError{Reason: r, Detail: detail} }

// maxHeaderDetail is how much of a header value (alg, kid) a Detail quotes.
const maxHeaderDetail = 64

// quoteHeader quotes a token header's value for a Detail, cut to
// maxHeaderDetail bytes: the token is the sender's, and its text (up to
// maxTokenBytes) must not ride on every error an app logs.
func quoteHeader(v string) string {
	if len(v) <= maxHeaderDetail {
		return strconv.Quote(v)
	}
	cut := v[:maxHeaderDetail]
	for i := 1; i < utf8.UTFMax && len(cut) > 0 && !utf8.ValidString(cut); i++ {
		cut = cut[:len(cut)-1] // not in the middle of a character
	}
	return strconv.Quote(cut) + "…"
}

// Claims are a verified token's claims.
type Claims struct {
	Issuer              string
	Subject             string
	Audience            []string
	ExpiresAt           time.Time
	NotBefore           time.Time
	IssuedAt            time.Time
	ID                  string // jti
	Sid                 string // Kratos session id
	AuthTime            time.Time
	AMR                 []string
	PhoneNumber         string
	PhoneNumberVerified bool
	// Extra holds the claims from the claims mapper, as encoding/json
	// decodes them but for numbers, which are json.Number (at any depth): the
	// issuer writes large integers of metadata_public exactly, and a float64
	// would round them.
	Extra map[string]any
}

// VerifierConfig configures a Verifier. Exactly one of JWKSURL and JWKSFile.
//
// The JWKS decides which signatures are trusted: fetch it over https, or
// over plain http only inside a network you trust (e.g. a private compose
// network), never across the internet.
type VerifierConfig struct {
	JWKSURL    string
	JWKSFile   string // a JWKS document on disk (re-read on refresh)
	Issuer     string // required: exact iss
	Audience   string // required: must be one of aud
	Algorithms []string
	Leeway     time.Duration // clock skew for exp/nbf/iat; DefaultLeeway when zero, none when negative
	// HTTPClient fetches the JWKS. The default follows no redirects (a
	// redirect is ErrKeysUnavailable), so the keys come only from JWKSURL's
	// host; a client given here is used as it is.
	HTTPClient *http.Client
	// FetchTimeout bounds each JWKS fetch; DefaultFetchTimeout when zero. A
	// fetch that does not end by then (plus a second's grace: a file read
	// cannot be cancelled, a custom HTTPClient may ignore the context) is no
	// longer waited for; no other fetch starts until it ends.
	FetchTimeout       time.Duration
	RefreshInterval    time.Duration // keys older than this are refetched; DefaultRefreshInterval when zero
	MinRefreshInterval time.Duration // at most one fetch per this interval; DefaultMinRefreshInterval when zero
	// MaxStale: keys not confirmed by a successful fetch for this long are
	// no longer trusted and Verify answers ErrKeysUnavailable until a fetch
	// succeeds. When zero, DefaultMaxStale or twice RefreshInterval,
	// whichever is longer; when set, at least RefreshInterval.
	MaxStale time.Duration
	Clock    func() time.Time
	Logger   *slog.Logger
}

// Verifier checks tokens against the issuer's JWKS. Keys are fetched on
// first use, refetched when older than RefreshInterval and, rate-limited by
// MinRefreshInterval, when a token names an unknown kid. A token whose kid
// is cached is checked at once, while a due refresh runs in the background,
// so a slow or failing JWKS endpoint does not stall it; only a token with an
// unknown kid, or a verifier without usable keys, waits for a fetch, and no
// longer than its own context or FetchTimeout allows. At most one fetch is
// in flight. A failed refresh
// keeps the previous keys, for at most MaxStale. Safe for concurrent use.
type Verifier struct {
	cfg    VerifierConfig
	algs   []string
	parser *gojwt.Parser
	log    *slog.Logger
	source string // the JWKS URL without userinfo and query, or the file: safe to log

	mu        sync.Mutex
	keys      map[string]*Key
	fetchedAt time.Time // last successful fetch
	attemptAt time.Time // last fetch attempt
	etag      string
	inflight  *fetchCall

	fetchGrace time.Duration                // fetchGrace; tests shorten it
	readFile   func(string) ([]byte, error) // readJWKSFile; tests replace it
}

type fetchCall struct {
	start   time.Time // wall clock with monotonic reading, not cfg.Clock: FetchTimeout is real time
	done    chan struct{}
	err     error
	overdue atomic.Bool // a waiter gave up on it (logged once)
}

// wait returns c's error, ctx's if ctx ends first, or ErrKeysUnavailable
// once c has run past FetchTimeout and its grace: a fetch that never ends
// (a file read, an HTTPClient ignoring its context) must not hold its
// waiters for ever.
func (v *Verifier) wait(ctx context.Context, c *fetchCall) error {
	t := time.NewTimer(time.Until(c.start.Add(v.cfg.FetchTimeout + v.fetchGrace)))
	defer t.Stop()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		if !c.overdue.Swap(true) {
			v.log.WarnContext(ctx, "JWKS fetch still running past its timeout; no new fetch starts until it ends",
				slog.String("jwks", v.source), slog.Duration("running", time.Since(c.start).Round(time.Millisecond)))
		}
		return fmt.Errorf("%w: fetch from %s did not finish within %s", ErrKeysUnavailable, v.source, v.cfg.FetchTimeout)
	}
}

// errRedirectRefused is the default client's answer to a redirect: the keys
// must come from the configured host, not from wherever it points (another
// host, or http after https).
var errRedirectRefused = errors.New("JWKS endpoint redirected; redirects are not followed (VerifierConfig.HTTPClient can allow them)")

func refuseRedirect(*http.Request, []*http.Request) error { return errRedirectRefused }

// redactURL keeps scheme, host and path: a query or userinfo may carry a
// credential (?apikey=…) that must not reach logs or errors.
func redactURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}

// withoutURL drops the *url.Error layers net/http adds, which quote the full
// request URL (query included), and keeps their cause.
func withoutURL(err error) error {
	var ue *url.Error
	for errors.As(err, &ue) {
		err = ue.Err
	}
	return err
}

// NewVerifier validates cfg. It does not fetch: call Refresh to warm up.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if (cfg.JWKSURL == "") == (cfg.JWKSFile == "") {
		return nil, fmt.Errorf("%w: set exactly one of JWKS URL and JWKS file", ErrConfig)
	}
	v := &Verifier{source: cfg.JWKSFile, fetchGrace: fetchGrace, readFile: readJWKSFile}
	if cfg.JWKSURL != "" {
		// The URL itself stays out of the error: its query may hold a secret.
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: JWKS URL must be an absolute http(s) URL", ErrConfig)
		}
		v.source = redactURL(u)
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, fmt.Errorf("%w: issuer and audience are required", ErrConfig)
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms()
	}
	for _, a := range algs {
		n, err := NormalizeAlg(a) // refuses none, HS*, anything unknown
		if err != nil {
			return nil, fmt.Errorf("%w: algorithm %q is not allowed", ErrConfig, a)
		}
		if !slices.Contains(v.algs, n) {
			v.algs = append(v.algs, n)
		}
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0:
		cfg.Leeway = 0
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{CheckRedirect: refuseRedirect}
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.MaxStale == 0 {
		// Long enough for a refresh to fail once and be retried: a
		// RefreshInterval above a day must not make the default invalid.
		cfg.MaxStale = max(DefaultMaxStale, 2*cfg.RefreshInterval)
	}
	if cfg.MaxStale < cfg.RefreshInterval {
		return nil, fmt.Errorf("%w: MaxStale (%s) must be at least RefreshInterval (%s)", ErrConfig, cfg.MaxStale, cfg.RefreshInterval)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	v.cfg, v.log = cfg, cfg.Logger
	v.parser = gojwt.NewParser(
		gojwt.WithIssuer(cfg.Issuer),
		gojwt.WithAudience(cfg.Audience),
		gojwt.WithLeeway(cfg.Leeway),
		gojwt.WithExpirationRequired(),
		gojwt.WithIssuedAt(),
		gojwt.WithTimeFunc(cfg.Clock),
		gojwt.WithStrictDecoding(),
		gojwt.WithJSONNumber(), // Extra's numbers stay exact
	)
	return v, nil
}

// Verify checks raw and returns its claims, a *TokenError (errors.Is
// ErrTokenInvalid), ErrKeysUnavailable, or the context's error.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) > maxTokenBytes {
		return nil, tokenErr(ReasonMalformed, "token too large")
	}
	var kerr error // a non-token error from the key lookup
	tok, err := v.parser.ParseWithClaims(raw, gojwt.MapClaims{}, func(t *gojwt.Token) (any, error) {
		// RFC 7515 §4.1.11: extensions listed in crit must be understood or
		// the token rejected. This verifier understands none (and golang-jwt
		// does not check crit), so any crit header, even empty, is refused.
		if _, ok := t.Header["crit"]; ok {
			return nil, tokenErr(ReasonMalformed, "crit header present: critical extensions are not supported")
		}
		alg, _ := t.Header["alg"].(string)
		if !slices.Contains(v.algs, alg) {
			return nil, tokenErr(ReasonDisallowedAlg, "alg "+quoteHeader(alg))
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, tokenErr(ReasonUnknownKey, "no kid in header")
		}
		k, err := v.key(ctx, kid)
		if err != nil {
			kerr = err
			return nil, err
		}
		if k.alg != alg {
			return nil, tokenErr(ReasonDisallowedAlg, fmt.Sprintf("alg %s does not match key %s (%s)", quoteHeader(alg), quoteHeader(kid), k.alg))
		}
		return k.pub, nil
	})
	if err != nil {
		var te *TokenError
		switch {
		case errors.As(err, &te):
			return nil, te
		case kerr != nil:
			return nil, kerr
		}
		return nil, mapParseError(err)
	}
	return claimsFrom(tok.Claims.(gojwt.MapClaims))
}

func mapParseError(err error) *TokenError {
	switch {
	case errors.Is(err, gojwt.ErrTokenMalformed):
		return tokenErr(ReasonMalformed, "")
	case errors.Is(err, gojwt.ErrTokenUnverifiable):
		return tokenErr(ReasonDisallowedAlg, "unknown or missing alg")
	case errors.Is(err, gojwt.ErrTokenSignatureInvalid):
		return tokenErr(ReasonBadSignature, "")
	case errors.Is(err, gojwt.ErrTokenInvalidIssuer):
		return tokenErr(ReasonWrongIssuer, "")
	case errors.Is(err, gojwt.ErrTokenInvalidAudience):
		return tokenErr(ReasonWrongAudience, "")
	case errors.Is(err, gojwt.ErrTokenExpired):
		return tokenErr(ReasonExpired, "")
	case errors.Is(err, gojwt.ErrTokenNotValidYet), errors.Is(err, gojwt.ErrTokenUsedBeforeIssued):
		return tokenErr(ReasonNotYetValid, "")
	case errors.Is(err, gojwt.ErrTokenRequiredClaimMissing):
		return tokenErr(ReasonMalformed, "required claim missing")
	}
	return tokenErr(ReasonMalformed, "invalid claims")
}

// key returns the key for kid, fetching the JWKS when needed and allowed.
func (v *Verifier) key(ctx context.Context, kid string) (*Key, error) {
	now := v.cfg.Clock()
	v.mu.Lock()
	k, known := v.keys[kid]
	usable := v.usable(now)
	if known && usable {
		// Answer from the cache; a due refresh runs in the background, so a
		// JWKS outage does not stall requests whose key is known.
		if now.Sub(v.fetchedAt) >= v.cfg.RefreshInterval && v.inflight == nil && v.mayFetch(now, false) {
			v.startFetch(context.WithoutCancel(ctx))
		}
		v.mu.Unlock()
		return k, nil
	}
	// An unknown kid or no usable keys: wait for a fetch (joining the one
	// in flight, or starting one if the rate limit allows), but no longer
	// than ctx allows, nor past the fetch's FetchTimeout (and grace).
	c := v.inflight
	if c == nil && v.mayFetch(now, !usable) {
		c = v.startFetch(context.WithoutCancel(ctx))
	}
	v.mu.Unlock()
	if c != nil {
		if err := v.wait(ctx, c); err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		now = v.cfg.Clock()
		v.mu.Lock()
		k, known = v.keys[kid]
		usable = v.usable(now)
		v.mu.Unlock()
	}
	switch {
	case !usable:
		return nil, ErrKeysUnavailable
	case known:
		return k, nil
	}
	return nil, tokenErr(ReasonUnknownKey, "kid "+quoteHeader(kid))
}

// usable reports whether cached keys exist and a fetch confirmed them within
// MaxStale. Call with v.mu held.
func (v *Verifier) usable(now time.Time) bool {
	return v.keys != nil && now.Sub(v.fetchedAt) < v.cfg.MaxStale
}

// mayFetch applies the rate limit: one attempt per MinRefreshInterval, or
// per emptyRetryInterval while no usable keys are cached. Call with v.mu held.
func (v *Verifier) mayFetch(now time.Time, empty bool) bool {
	wait := v.cfg.MinRefreshInterval
	if empty {
		wait = min(wait, emptyRetryInterval)
	}
	return v.attemptAt.IsZero() || now.Sub(v.attemptAt) >= wait
}

// Refresh fetches the JWKS now (joining a fetch already in flight) and
// waits for it, for ctx, or at most FetchTimeout and a second's grace. A
// fetch that ctx gives up on still completes.
func (v *Verifier) Refresh(ctx context.Context) error {
	v.mu.Lock()
	c := v.inflight
	if c == nil {
		c = v.startFetch(context.WithoutCancel(ctx))
	}
	v.mu.Unlock()
	return v.wait(ctx, c)
}

// startFetch starts the single fetch in flight. Call with v.mu held and no
// fetch in flight. ctx only carries values: the fetch serves every waiter,
// so no caller's cancellation may abort it; FetchTimeout bounds it.
func (v *Verifier) startFetch(ctx context.Context) *fetchCall {
	c := &fetchCall{start: time.Now(), done: make(chan struct{})}
	v.inflight = c
	v.attemptAt = v.cfg.Clock()
	etag := v.etag
	if v.keys == nil {
		etag = "" // nothing cached to revalidate
	}
	go func() {
		fctx, cancel := context.WithTimeout(ctx, v.cfg.FetchTimeout)
		keys, newETag, err := v.fetch(fctx, etag)
		cancel()
		v.mu.Lock()
		if err == nil {
			if keys != nil { // nil: 304 Not Modified
				v.keys = keys
			}
			v.etag = newETag
			v.fetchedAt = v.cfg.Clock()
		}
		v.inflight = nil
		v.mu.Unlock()
		if err != nil {
			v.log.WarnContext(ctx, "JWKS refresh failed", slog.String("jwks", v.source), slog.Any("error", err))
		}
		c.err = err
		close(c.done)
	}()
	return c
}

func (v *Verifier) fetch(ctx context.Context, etag string) (map[string]*Key, string, error) {
	if v.cfg.JWKSFile != "" {
		data, err := v.readFile(v.cfg.JWKSFile)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
		}
		if len(data) > maxJWKSBytes {
			return nil, "", fmt.Errorf("%w: JWKS file larger than %d bytes", ErrKeysUnavailable, maxJWKSBytes)
		}
		keys, err := v.parseJWKS(data)
		return keys, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil { // checked in NewVerifier; err would quote the URL
		return nil, "", fmt.Errorf("%w: GET %s: invalid request", ErrKeysUnavailable, v.source)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%w: GET %s: %w", ErrKeysUnavailable, v.source, withoutURL(err))
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, etag, nil
	case http.StatusOK:
	default:
		return nil, "", fmt.Errorf("%w: GET %s: HTTP %d", ErrKeysUnavailable, v.source, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("%w: read JWKS: %w", ErrKeysUnavailable, err)
	}
	if len(data) > maxJWKSBytes {
		return nil, "", fmt.Errorf("%w: JWKS larger than %d bytes", ErrKeysUnavailable, maxJWKSBytes)
	}
	keys, err := v.parseJWKS(data)
	return keys, resp.Header.Get("ETag"), err
}

// readJWKSFile reads at most one byte past maxJWKSBytes, as fetch reads a
// response: the wrong file (a log, /dev/zero, a FIFO that never ends) must
// not be read into memory whole.
func readJWKSFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxJWKSBytes+1))
}

// parseJWKS keeps the usable keys whose algorithm is allowed; a key it
// cannot use is skipped, not fatal, so one odd key does not stop the rest.
func (v *Verifier) parseJWKS(data []byte) (map[string]*Key, error) {
	// Each key is decoded on its own: decoding the set at once would fail
	// it whole for one key whose member has the wrong JSON type.
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%w: JWKS is not valid JSON: %v", ErrKeysUnavailable, err)
	}
	keys := make(map[string]*Key, len(set.Keys))
	for i, raw := range set.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			v.log.Warn("skipping JWKS key", slog.Int("index", i), slog.Any("error", err))
			continue
		}
		if j.Kid == "" {
			continue // tokens name their key; a key without kid is never chosen
		}
		k, err := parsePublicJWK(j)
		if err != nil {
			v.log.Warn("skipping JWKS key", slog.String("kid", j.Kid), slog.Any("error", err))
			continue
		}
		if !slices.Contains(v.algs, k.alg) {
			continue
		}
		keys[k.kid] = k
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: JWKS has no usable keys", ErrKeysUnavailable)
	}
	return keys, nil
}

func claimsFrom(m gojwt.MapClaims) (*Claims, error) {
	c := &Claims{Extra: map[string]any{}}
	bad := func(name string) (*Claims, error) {
		return nil, tokenErr(ReasonMalformed, "claim "+name+" has the wrong type")
	}
	var ok bool
	for name, val := range m {
		switch name {
		case "iss":
			if c.Issuer, ok = val.(string); !ok {
				return bad(name)
			}
		case "sub":
			if c.Subject, ok = val.(string); !ok {
				return bad(name)
			}
		case "jti":
			if c.ID, ok = val.(string); !ok {
				return bad(name)
			}
		case "sid":
			if c.Sid, ok = val.(string); !ok {
				return bad(name)
			}
		case "phone_number":
			if c.PhoneNumber, ok = val.(string); !ok {
				return bad(name)
			}
		case "phone_number_verified":
			if c.PhoneNumberVerified, ok = val.(bool); !ok {
				return bad(name)
			}
		case "aud":
			aud, err := m.GetAudience()
			if err != nil {
				return bad(name)
			}
			c.Audience = aud
		case "exp", "nbf", "iat", "auth_time":
			t, ok := numericDate(val)
			if !ok {
				return bad(name)
			}
			switch name {
			case "exp":
				c.ExpiresAt = t
			case "nbf":
				c.NotBefore = t
			case "iat":
				c.IssuedAt = t
			default:
				c.AuthTime = t
			}
		case "amr":
			list, ok := val.([]any)
			if !ok {
				return bad(name)
			}
			for _, e := range list {
				s, ok := e.(string)
				if !ok {
					return bad(name)
				}
				c.AMR = append(c.AMR, s)
			}
		default:
			c.Extra[name] = val
		}
	}
	if c.Subject == "" {
		return nil, tokenErr(ReasonMalformed, "no sub")
	}
	return c, nil
}

// numericDate reads a NumericDate (whole seconds; a fraction is dropped).
func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	if i, err := n.Int64(); err == nil {
		return time.Unix(i, 0), true
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || f >= math.MaxInt64 || f <= math.MinInt64 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// HasAMR reports whether the token's amr contains value (e.g. "tel").
func (c *Claims) HasAMR(value string) bool { return slices.Contains(c.AMR, value) }
