// Package kratos is the Ory Kratos adapter: it reads sessions (public API),
// reads identities and records a verified phone number (admin API). It wraps
// github.com/ory/kratos-client-go so the rest of callpass-kratos sees plain
// Go types and typed errors.
package kratos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	client "github.com/ory/kratos-client-go"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Error kinds. Every error returned by Client wraps exactly one of them.
var (
	// ErrNoSession: no session credential, or Kratos does not know it (401).
	ErrNoSession = errors.New("kratos: no active session")
	// ErrForbidden: Kratos refused the session for this call (403, e.g. the
	// session's AAL is too low).
	ErrForbidden = errors.New("kratos: forbidden")
	// ErrIdentityNotFound: the identity id does not exist (404).
	ErrIdentityNotFound = errors.New("kratos: identity not found")
	// ErrUnavailable: Kratos could not be reached, timed out, or answered 5xx/429.
	ErrUnavailable = errors.New("kratos: unavailable")
	// ErrUnexpected: Kratos answered something this adapter does not expect
	// (another 4xx, an undecodable body, a malformed identity).
	ErrUnexpected = errors.New("kratos: unexpected answer")
)

// Error is a failed Kratos call. errors.Is(err, ErrXxx) reports its kind.
type Error struct {
	Op         string // e.g. "whoami", "get identity"
	StatusCode int    // 0 when no HTTP answer arrived
	Kind       error  // one of the Err* kinds above
	Err        error  // underlying cause, may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("kratos ")
	b.WriteString(e.Op)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// DefaultPhoneTrait is the identity trait holding the phone number.
const DefaultPhoneTrait = "phone"

// DefaultTimeout bounds each call when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Metadata keys MarkPhoneVerified writes into metadata_public.
const (
	MetaPhoneVerifiedAt     = "phone_verified_at"
	MetaPhoneVerifiedNumber = "phone_verified_number"
)

// Config configures a Client.
type Config struct {
	// PublicURL is Kratos's public API (whoami), e.g. http://127.0.0.1:4433.
	PublicURL string
	// AdminURL is Kratos's admin API (identities, health), e.g. http://127.0.0.1:4434.
	AdminURL string
	// PhoneTrait is the trait holding the phone number; a dotted path such as
	// "contact.phone" walks nested objects. Default "phone".
	PhoneTrait string
	// Timeout bounds every call. Default 5s.
	Timeout time.Duration
	// HTTPClient sends the requests. Default: a new client with its own transport.
	HTTPClient *http.Client
	// TracerProvider, when set, makes a client span per Kratos request and
	// sends the W3C traceparent to Kratos.
	TracerProvider trace.TracerProvider
	// Observer, when set, receives every request's outcome and latency.
	Observer Observer
	// SessionCacheTTL > 0 caches whoami answers for that long (keyed by a
	// hash of the credentials). A session revoked in Kratos then stays
	// usable here for at most this long. Zero: no cache.
	SessionCacheTTL time.Duration
	// SessionCacheSize bounds the cache (default 10000 entries).
	SessionCacheSize int
}

// Observer receives one call per Kratos request (internal/metrics implements it).
type Observer interface {
	ObserveKratos(op string, err error, d time.Duration)
}

// Client talks to one Kratos deployment.
type Client struct {
	public     *client.APIClient
	admin      *client.APIClient
	phonePath  []string
	phoneTrait string
	timeout    time.Duration
	obs        Observer
	cache      *sessionCache
}

// New checks cfg and returns a Client. It makes no network call.
func New(cfg Config) (*Client, error) {
	pub, err := baseURL("PublicURL", cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	adm, err := baseURL("AdminURL", cfg.AdminURL)
	if err != nil {
		return nil, err
	}
	if cfg.PhoneTrait == "" {
		cfg.PhoneTrait = DefaultPhoneTrait
	}
	path := strings.Split(cfg.PhoneTrait, ".")
	for _, p := range path {
		if p == "" {
			return nil, fmt.Errorf("kratos: PhoneTrait %q has an empty path segment", cfg.PhoneTrait)
		}
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("kratos: Timeout must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if cfg.TracerProvider != nil {
		hc = tracedClient(hc, cfg.TracerProvider)
	}
	c := &Client{
		public:     newAPIClient(pub, hc),
		admin:      newAPIClient(adm, hc),
		phonePath:  path,
		phoneTrait: cfg.PhoneTrait,
		timeout:    cfg.Timeout,
		obs:        cfg.Observer,
	}
	if cfg.SessionCacheTTL < 0 {
		return nil, fmt.Errorf("kratos: SessionCacheTTL must not be negative")
	}
	if cfg.SessionCacheTTL > 0 {
		c.cache = newSessionCache(cfg.SessionCacheTTL, cmp.Or(cfg.SessionCacheSize, 10000))
	}
	return c, nil
}

// tracedClient copies hc (the caller's client stays as it was) with an
// otelhttp transport. Span names carry the method only: paths hold ids.
func tracedClient(hc *http.Client, tp trace.TracerProvider) *http.Client {
	traced := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	traced.Transport = otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "kratos " + r.Method }),
	)
	return &traced
}

func baseURL(name, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("kratos: %s must be an absolute http(s) URL, got %q", name, raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func newAPIClient(base string, hc *http.Client) *client.APIClient {
	c := client.NewConfiguration()
	c.Servers = client.ServerConfigurations{{URL: base}}
	c.HTTPClient = hc
	c.UserAgent = "callpass-kratos"
	return client.NewAPIClient(c)
}

// Session is the part of a Kratos session callpass-kratos uses.
type Session struct {
	ID              string
	IdentityID      string
	Active          bool
	AAL             string   // "aal1", "aal2", ...
	Methods         []string // authentication methods in order, e.g. ["password"]
	AuthenticatedAt time.Time
	ExpiresAt       time.Time
	Traits          map[string]any
	MetadataPublic  map[string]any
}

// Session resolves the session behind a browser Cookie header or a session
// token (X-Session-Token); the cookie wins when both are given.
func (c *Client) Session(ctx context.Context, cookieHeader, sessionToken string) (*Session, error) {
	if cookieHeader == "" && sessionToken == "" {
		return nil, &Error{Op: "whoami", Kind: ErrNoSession}
	}
	var key [32]byte
	if c.cache != nil {
		key = cacheKey(cookieHeader, sessionToken)
		if s, ok := c.cache.get(key); ok {
			return s, nil
		}
	}
	start := time.Now()
	s, err := c.session(ctx, cookieHeader, sessionToken)
	c.observe("whoami", err, start)
	if err == nil && c.cache != nil && s.Active {
		c.cache.put(key, s)
	}
	return s, err
}

func (c *Client) observe(op string, err error, start time.Time) {
	if c.obs != nil {
		c.obs.ObserveKratos(op, err, time.Since(start))
	}
}

func (c *Client) session(ctx context.Context, cookieHeader, sessionToken string) (*Session, error) {
	const op = "whoami"
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req := c.public.FrontendAPI.ToSession(ctx)
	if cookieHeader != "" {
		req = req.Cookie(cookieHeader)
	} else {
		req = req.XSessionToken(sessionToken)
	}
	s, resp, err := req.Execute()
	if err != nil {
		return nil, classify(op, resp, err)
	}
	out := &Session{ID: s.Id, Active: s.GetActive()}
	if s.AuthenticatorAssuranceLevel != nil {
		out.AAL = string(*s.AuthenticatorAssuranceLevel)
	}
	for _, m := range s.AuthenticationMethods {
		if m.Method != nil {
			out.Methods = append(out.Methods, *m.Method)
		}
	}
	if s.AuthenticatedAt != nil {
		out.AuthenticatedAt = *s.AuthenticatedAt
	}
	if s.ExpiresAt != nil {
		out.ExpiresAt = *s.ExpiresAt
	}
	if s.Identity == nil {
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Kind: ErrUnexpected, Err: errors.New("session has no identity")}
	}
	out.IdentityID = s.Identity.Id
	if out.Traits, err = asObject(s.Identity.Traits); err != nil {
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Kind: ErrUnexpected, Err: fmt.Errorf("traits: %w", err)}
	}
	if out.MetadataPublic, err = asObject(s.Identity.MetadataPublic); err != nil {
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Kind: ErrUnexpected, Err: fmt.Errorf("metadata_public: %w", err)}
	}
	return out, nil
}

// Identity is the part of a Kratos identity callpass-kratos uses.
type Identity struct {
	ID             string
	Traits         map[string]any
	MetadataPublic map[string]any // nil when unset
	MetadataAdmin  map[string]any // nil when unset
}

// Identity reads an identity through the admin API.
func (c *Client) Identity(ctx context.Context, id string) (*Identity, error) {
	const op = "get identity"
	if id == "" {
		return nil, &Error{Op: op, Kind: ErrIdentityNotFound, Err: errors.New("empty identity id")}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	ident, resp, err := c.admin.IdentityAPI.GetIdentity(ctx, id).Execute()
	c.observe("get_identity", err, start)
	if err != nil {
		return nil, classify(op, resp, err)
	}
	return toIdentity(op, resp, ident)
}

func toIdentity(op string, resp *http.Response, ident *client.Identity) (*Identity, error) {
	out := &Identity{ID: ident.Id}
	var err error
	if out.Traits, err = asObject(ident.Traits); err != nil {
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Kind: ErrUnexpected, Err: fmt.Errorf("traits: %w", err)}
	}
	if out.MetadataPublic, err = asObject(ident.MetadataPublic); err != nil {
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Kind: ErrUnexpected, Err: fmt.Errorf("metadata_public: %w", err)}
	}
	if out.MetadataAdmin, err = asObject(ident.MetadataAdmin); err != nil {
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Kind: ErrUnexpected, Err: fmt.Errorf("metadata_admin: %w", err)}
	}
	return out, nil
}

// PhoneOf returns the configured phone trait of ident with surrounding
// space trimmed but otherwise as stored (plugin/phone normalises it); false
// when it is missing, empty or not a string.
func (c *Client) PhoneOf(ident *Identity) (string, bool) {
	if ident == nil {
		return "", false
	}
	return c.PhoneFromTraits(ident.Traits)
}

// PhoneFromTraits is PhoneOf for a bare traits object, e.g. the traits a
// Kratos webhook sent.
func (c *Client) PhoneFromTraits(traits map[string]any) (string, bool) {
	var cur any = traits
	for _, key := range c.phonePath {
		obj, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = obj[key]; !ok {
			return "", false
		}
	}
	s, ok := cur.(string)
	s = strings.TrimSpace(s)
	return s, ok && s != ""
}

// MarkPhoneVerified records in metadata_public that e164 was verified at
// `at` (phone_verified_at as RFC 3339 UTC, phone_verified_number). Other
// metadata keys are kept: the JSON patch adds two members to the existing
// object. Only when metadata_public is still null does it create the object;
// Kratos v1.3.1 refuses the JSON patch "test" op, so a writer creating
// metadata_public between the read and the patch would be overwritten.
func (c *Client) MarkPhoneVerified(ctx context.Context, identityID, e164 string, at time.Time) error {
	const op = "patch identity"
	if identityID == "" {
		return &Error{Op: op, Kind: ErrIdentityNotFound, Err: errors.New("empty identity id")}
	}
	if e164 == "" {
		return fmt.Errorf("kratos: MarkPhoneVerified: empty phone number")
	}
	current, err := c.Identity(ctx, identityID)
	if err != nil {
		return err
	}
	stamp := at.UTC().Format(time.RFC3339)
	var patch []client.JsonPatch
	if current.MetadataPublic == nil {
		patch = []client.JsonPatch{
			{Op: "add", Path: "/metadata_public", Value: map[string]any{
				MetaPhoneVerifiedAt:     stamp,
				MetaPhoneVerifiedNumber: e164,
			}},
		}
	} else {
		patch = []client.JsonPatch{
			{Op: "add", Path: "/metadata_public/" + MetaPhoneVerifiedAt, Value: stamp},
			{Op: "add", Path: "/metadata_public/" + MetaPhoneVerifiedNumber, Value: e164},
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	_, resp, err := c.admin.IdentityAPI.PatchIdentity(ctx, identityID).JsonPatch(patch).Execute()
	c.observe("patch_identity", err, start)
	if err != nil {
		return classify(op, resp, err)
	}
	return nil
}

// Ready reports whether Kratos's admin API says it is ready (/health/ready).
func (c *Client) Ready(ctx context.Context) error {
	const op = "health ready"
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	_, resp, err := c.admin.MetadataAPI.IsReady(ctx).Execute()
	c.observe("ready", err, start)
	if err != nil {
		e := classify(op, resp, err)
		// Not ready is an availability problem whatever the status code.
		e.Kind = ErrUnavailable
		return e
	}
	return nil
}

// classify maps a kratos-client-go failure to an *Error.
func classify(op string, resp *http.Response, err error) *Error {
	if resp == nil {
		// No HTTP answer: connection refused, DNS, timeout, cancelled.
		return &Error{Op: op, Kind: ErrUnavailable, Err: err}
	}
	e := &Error{Op: op, StatusCode: resp.StatusCode, Err: err}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		e.Kind = ErrNoSession
	case resp.StatusCode == http.StatusForbidden:
		e.Kind = ErrForbidden
	case resp.StatusCode == http.StatusNotFound:
		e.Kind = ErrIdentityNotFound
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		e.Kind = ErrUnavailable
	default:
		e.Kind = ErrUnexpected
	}
	return e
}

// asObject turns a decoded JSON value into an object; null gives nil.
func asObject(v any) (map[string]any, error) {
	switch o := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return o, nil
	default:
		return nil, fmt.Errorf("not a JSON object but %T", v)
	}
}
