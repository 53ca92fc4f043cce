// Package kratos is the Ory Kratos adapter: it reads sessions (public API),
// reads identities and records a verified phone number (admin API). It wraps
// github.com/ory/kratos-client-go so the rest of callpass-kratos sees plain
// Go types and typed errors; whoami, called on every token exchange, is a
// direct HTTP call with a lean decoder (see Client.session).
package kratos

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	client "github.com/ory/kratos-client-go"
	segjson "github.com/segmentio/encoding/json"
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

// ErrAAL2Required details an ErrForbidden whoami: Kratos holds the session
// until the user completes the account's Kratos second factor (its error
// session_aal2_required, under session.whoami.required_aal:
// highest_available); the caller can send the user there.
var ErrAAL2Required = errors.New("kratos: the session must first complete the account's Kratos second factor (aal2)")

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
	hc         *http.Client // sends whoami; the APIClients use it too
	whoamiURL  string
	readyURL   string // the admin API's base; see readyPath
	public     *client.APIClient
	admin      *client.APIClient
	phonePath  []string
	phoneTrait string
	timeout    time.Duration
	obs        Observer
	cache      *sessionCache
	// bodyBufs recycles the buffers whoami answers are read into: the
	// decoded Session copies every string it keeps, so a buffer is free
	// once decoded.
	bodyBufs sync.Pool
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
		hc = &http.Client{Transport: defaultTransport()}
	}
	if cfg.TracerProvider != nil {
		hc = tracedClient(hc, cfg.TracerProvider)
	}
	c := &Client{
		hc:         hc,
		whoamiURL:  pub + "/sessions/whoami",
		readyURL:   adm,
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

// DefaultMaxIdleConnsPerHost is how many idle keep-alive connections to
// each Kratos API the default transport keeps. net/http's default of 2 makes
// every concurrent request beyond the second open (and then close) its own
// TCP connection to Kratos under load.
const DefaultMaxIdleConnsPerHost = 128

// defaultTransport is http.DefaultTransport's configuration with a pool of
// idle connections sized for a loaded service (public and admin API).
func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	t.MaxIdleConns = 2 * DefaultMaxIdleConnsPerHost
	// Kratos's answers carry a few cookies at most; Go's default would read
	// up to 10 MiB of headers from a broken or hostile upstream.
	t.MaxResponseHeaderBytes = 64 << 10
	return t
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

// baseURL checks a Kratos API URL. Its errors do not repeat the URL (nor
// url.Parse's error, which does): it may carry credentials or an api_key.
func baseURL(name, raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "", fmt.Errorf("kratos: %s is required", name)
	case err != nil:
		return "", fmt.Errorf("kratos: %s is not a valid URL", name)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("kratos: %s must be an absolute http(s) URL (its scheme is not http or https)", name)
	case u.Host == "":
		return "", fmt.Errorf("kratos: %s must be an absolute http(s) URL (it has no host)", name)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

const userAgent = "callpass-kratos"

func newAPIClient(base string, hc *http.Client) *client.APIClient {
	c := client.NewConfiguration()
	c.Servers = client.ServerConfigurations{{URL: base}}
	c.HTTPClient = hc
	c.UserAgent = userAgent
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
	// MethodTimes are the authentication methods' completed_at, in order
	// (methods without one are left out). Unlike AuthenticatedAt, which
	// Kratos sets anew on every login into the session (an AAL upgrade
	// too), they stay as they were.
	MethodTimes []time.Time
	// Traits and MetadataPublic hold numbers as json.Number, exactly as
	// Kratos sent them (a float64 would round integers above 2^53, and these
	// objects are passed on to the claims mapper).
	Traits         map[string]any
	MetadataPublic map[string]any
}

// Session resolves the session behind a browser Cookie header or a session
// token (X-Session-Token). The token wins when both are given, as in Kratos
// (session/manager_http.go): the credential checked is the one the service's
// CSRF check relies on (it skips token-authenticated requests).
func (c *Client) Session(ctx context.Context, cookieHeader, sessionToken string) (*Session, error) {
	if cookieHeader == "" && sessionToken == "" {
		return nil, &Error{Op: "whoami", Kind: ErrNoSession}
	}
	if sessionToken != "" {
		cookieHeader = ""
	}
	var (
		key   [32]byte
		asked time.Time
		gen   uint64
	)
	if c.cache != nil {
		key = cacheKey(cookieHeader, sessionToken)
		if s, ok := c.cache.get(key); ok {
			return s, nil
		}
		// Before asking: the answer is kept for the TTL from the question,
		// and not at all if the cache is emptied meanwhile (SIGHUP).
		asked, gen = c.cache.asking()
	}
	start := time.Now()
	s, size, err := c.session(ctx, cookieHeader, sessionToken)
	c.observe("whoami", err, start)
	if err == nil && c.cache != nil && s.Active {
		c.cache.putAsked(key, s, size, asked, gen)
	}
	return s, err
}

func (c *Client) observe(op string, err error, start time.Time) {
	if c.obs != nil {
		c.obs.ObserveKratos(op, err, time.Since(start))
	}
}

// session asks Kratos's public GET /sessions/whoami directly instead of
// through kratos-client-go: its generated models decode every object twice
// (into the struct, then into a map for AdditionalProperties) and check
// required fields through a third map, which made whoami decoding a large
// share of this service's CPU per token exchange. The answer is decoded into
// whoamiAnswer, which holds only the members Session needs. The int is the
// answer's length (the session cache's cost of keeping it).
func (c *Client) session(ctx context.Context, cookieHeader, sessionToken string) (*Session, int, error) {
	const op = "whoami"
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.whoamiURL, nil)
	if err != nil {
		return nil, 0, &Error{Op: op, Kind: ErrUnexpected, Err: err}
	}
	// Canonical keys set directly; the shared value slices have len == cap,
	// so an append by a RoundTripper copies them instead of writing into them.
	req.Header["Accept"] = headerAcceptJSON
	req.Header["User-Agent"] = headerUserAgent
	if cookieHeader != "" {
		req.Header["Cookie"] = []string{cookieHeader}
	} else {
		req.Header["X-Session-Token"] = []string{sessionToken}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, classify(op, nil, err)
	}
	buf := c.getBodyBuf()
	defer c.putBodyBuf(buf)
	// Reading to EOF (within the limit) lets the transport reuse the
	// connection; an oversized answer is cut off and its connection closed.
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, maxWhoamiBody+1))
	resp.Body.Close()
	if err != nil {
		// The answer was cut off (timeout, reset): Kratos is not reachable
		// as it should be, whatever the status line said.
		return nil, 0, &Error{Op: op, StatusCode: resp.StatusCode, Kind: ErrUnavailable, Err: err}
	}
	body := buf.Bytes()
	if resp.StatusCode >= 300 {
		e := classify(op, resp, statusError(resp.Status, body))
		switch {
		case e.Kind == ErrIdentityNotFound:
			// whoami names no identity to miss (an unknown session is 401):
			// a 404 is a PublicURL that does not reach Kratos's public API,
			// a failure to report, not a refusal.
			e.Kind = ErrUnexpected
		case e.Kind == ErrForbidden && kratosErrorID(body) == "session_aal2_required":
			e.Err = fmt.Errorf("%w: %w", ErrAAL2Required, e.Err)
		}
		return nil, 0, e
	}
	if len(body) > maxWhoamiBody {
		return nil, 0, &Error{Op: op, StatusCode: resp.StatusCode, Kind: ErrUnexpected,
			Err: fmt.Errorf("answer larger than %d bytes", maxWhoamiBody)}
	}
	s, err := decodeWhoami(body)
	if err != nil {
		return nil, 0, &Error{Op: op, StatusCode: resp.StatusCode, Kind: ErrUnexpected, Err: err}
	}
	return s, len(body), nil
}

// maxWhoamiBody bounds the whoami answer read into memory (a real one is
// about 1 KiB; traits and metadata are bounded by the identity schema).
const maxWhoamiBody = 1 << 20

var (
	headerAcceptJSON = []string{"application/json"}
	headerUserAgent  = []string{userAgent}
)

func (c *Client) getBodyBuf() *bytes.Buffer {
	if b, ok := c.bodyBufs.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (c *Client) putBodyBuf(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return // do not keep an unusually large answer's buffer alive
	}
	b.Reset()
	c.bodyBufs.Put(b)
}

// whoamiAnswer is the part of Kratos's session object Session needs. Every
// other member (devices, tokenized, issued_at, identity.credentials,
// verifiable_addresses, schema_url, ...) is skipped by the decoder.
type whoamiAnswer struct {
	ID                    string `json:"id"`
	Active                bool   `json:"active"`
	AAL                   string `json:"authenticator_assurance_level"`
	AuthenticationMethods []struct {
		Method      string    `json:"method"`
		CompletedAt time.Time `json:"completed_at"`
	} `json:"authentication_methods"`
	AuthenticatedAt time.Time      `json:"authenticated_at"`
	ExpiresAt       time.Time      `json:"expires_at"`
	Identity        whoamiIdentity `json:"identity"`
}

type whoamiIdentity struct {
	ID string `json:"id"`
	// Traits and MetadataPublic are decoded in the same pass as the rest
	// (an object becomes a map[string]any, a number a json.Number: see
	// whoamiParse). decodeWhoami presets them to
	// absent: encoding/json leaves a member missing from the answer as it
	// was and replaces it otherwise (null gives nil).
	Traits         any `json:"traits"`
	MetadataPublic any `json:"metadata_public"`
}

// absent marks a whoamiIdentity member the answer did not hold.
type absent struct{}

// whoamiParse decodes the whoami answer as segjson.Unmarshal does (strings
// copied: the body buffer is reused), but numbers in traits and
// metadata_public become json.Number instead of float64, which would round
// an integer above 2^53 (a tenant id in metadata_public) before it reached a
// token.
const whoamiParse = segjson.UseNumber

// decodeWhoami turns a 2xx whoami body into a Session. It is as strict as
// kratos-client-go was where it matters here: the session and identity ids
// and the traits member must be present, the AAL must be a known level,
// times must be RFC 3339, traits and metadata_public must be objects or null.
func decodeWhoami(body []byte) (*Session, error) {
	w := whoamiAnswer{Identity: whoamiIdentity{Traits: absent{}, MetadataPublic: absent{}}}
	// Parse, unlike Unmarshal, leaves trailing data to the caller.
	if rest, err := segjson.Parse(body, &w, whoamiParse); err != nil || len(rest) != 0 {
		return nil, decodeError(body)
	}
	if w.ID == "" {
		return nil, errors.New("session has no id")
	}
	if w.Identity.ID == "" {
		if w.Identity.Traits == (absent{}) {
			return nil, errors.New("session has no identity")
		}
		return nil, errors.New("session identity has no id")
	}
	if w.Identity.Traits == (absent{}) {
		return nil, errors.New("session identity has no traits")
	}
	switch w.AAL {
	case "", "aal0", "aal1", "aal2", "aal3":
	default:
		return nil, fmt.Errorf("%q is not a valid authenticator_assurance_level", w.AAL)
	}
	out := &Session{
		ID:              w.ID,
		IdentityID:      w.Identity.ID,
		Active:          w.Active,
		AAL:             w.AAL,
		AuthenticatedAt: w.AuthenticatedAt,
		ExpiresAt:       w.ExpiresAt,
	}
	if n := len(w.AuthenticationMethods); n > 0 {
		out.Methods = make([]string, 0, n)
		for _, m := range w.AuthenticationMethods {
			if m.Method != "" {
				out.Methods = append(out.Methods, m.Method)
			}
			if !m.CompletedAt.IsZero() {
				out.MethodTimes = append(out.MethodTimes, m.CompletedAt)
			}
		}
	}
	var err error
	if out.Traits, err = asObject(w.Identity.Traits); err != nil {
		return nil, fmt.Errorf("traits: %w", err)
	}
	if w.Identity.MetadataPublic != (absent{}) {
		if out.MetadataPublic, err = asObject(w.Identity.MetadataPublic); err != nil {
			return nil, fmt.Errorf("metadata_public: %w", err)
		}
	}
	return out, nil
}

// decodeError describes why body is not a whoami answer without quoting it:
// segmentio/json's errors repeat up to 32 bytes of the input, which may be
// traits (a phone number) and would reach the error log. encoding/json, run
// again on this rare path, gives the offset and the member at fault; its
// errors are not used as text either (a number's is quoted).
func decodeError(body []byte) error {
	err := json.Unmarshal(body, &whoamiAnswer{})
	if syn, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("invalid JSON in whoami answer at offset %d", syn.Offset)
	}
	if typ, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if typ.Field == "" {
			return fmt.Errorf("whoami answer is not a JSON object (offset %d)", typ.Offset)
		}
		// Field is a path of whoamiAnswer's member names, never the input's keys.
		return fmt.Errorf("whoami answer member %s has the wrong JSON type (want %s, offset %d)", typ.Field, typ.Type, typ.Offset)
	}
	if _, ok := errors.AsType[*time.ParseError](err); ok {
		return errors.New("a time in the whoami answer is not RFC 3339")
	}
	return errors.New("whoami answer could not be decoded")
}

// kratosErrorID is the id of Kratos's JSON error answer
// ({"error":{"id":...}}), "" for any other body.
func kratosErrorID(body []byte) string {
	if len(body) == 0 || len(body) > 16<<10 || body[0] != '{' {
		return ""
	}
	var e struct {
		Error struct {
			ID string `json:"id"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.ID
}

// statusError describes a non-2xx answer by its status line and, when the
// body is Kratos's JSON error ({"error":{"id":...,"reason":...}}), its id
// and reason. Nothing here is needed to pick the error kind.
func statusError(status string, body []byte) error {
	if len(body) == 0 || len(body) > 16<<10 || body[0] != '{' {
		return errors.New(status)
	}
	var e struct {
		Error struct {
			ID     string `json:"id"`
			Reason string `json:"reason"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return errors.New(status)
	}
	detail := e.Error.ID
	if e.Error.Reason != "" {
		if detail != "" {
			detail += ": "
		}
		detail += e.Error.Reason
	}
	if detail == "" {
		return errors.New(status)
	}
	return errors.New(status + " (" + detail + ")")
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
	if err != nil {
		// Observed classified, so an unknown identity is not a Kratos failure.
		err = classify(op, resp, err)
		c.observe("get_identity", err, start)
		return nil, err
	}
	c.observe("get_identity", nil, start)
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
	if err != nil {
		err = classify(op, resp, err)
	}
	c.observe("patch_identity", err, start)
	return err
}

// readyPath is Kratos's readiness check on its admin API. kratos-client-go
// asks /health/ready, which Kratos v1 answers with a redirect to this path:
// two requests per check, and behind a gateway serving the admin API under
// a path of its own (admin_url http://gateway/kratos-admin) the redirect
// left that path and the check failed. Where this path is not found,
// /health/ready is asked, as before: Kratos's public port serves only that
// one, and an admin_url naming it passed the check before (the service
// needed only the public API then; a settings flow changing the number now
// reads the stored identity through the admin API, factor.Identities).
const (
	readyPath       = "/admin/health/ready"
	legacyReadyPath = "/health/ready"
)

// Ready reports whether Kratos's admin API says it is ready: a 2xx answer
// with Kratos's body, {"status":"ok"}, on either path.
func (c *Client) Ready(ctx context.Context) error {
	const op = "health ready"
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	err := c.ready(ctx)
	c.observe("ready", err, start)
	if err != nil {
		e := classify(op, nil, err)
		if se, ok := errors.AsType[*readyStatus](err); ok {
			e = classify(op, se.resp, errors.New(se.resp.Status))
		}
		if nk, ok := errors.AsType[*notKratosReady](err); ok {
			e = classify(op, nk.resp, nk)
		}
		// Not ready is an availability problem whatever the status code.
		e.Kind = ErrUnavailable
		return e
	}
	return nil
}

// readyStatus is a readiness answer other than 2xx.
type readyStatus struct{ resp *http.Response }

func (e *readyStatus) Error() string { return e.resp.Status }

// notKratosReady is a 2xx readiness answer without Kratos's body: what
// answered is not Kratos saying it is ready (a gateway's or another
// service's page, an empty 204), so the check fails.
type notKratosReady struct {
	resp *http.Response
	path string
}

func (e *notKratosReady) Error() string {
	return fmt.Sprintf(`GET %s answered %s (Content-Type %q) without Kratos's {"status":"ok"}: does kratos.admin_url lead to Kratos?`,
		e.path, e.resp.Status, e.resp.Header.Get("Content-Type"))
}

func (c *Client) ready(ctx context.Context) error {
	err := c.readyAt(ctx, readyPath)
	if se, ok := errors.AsType[*readyStatus](err); ok && se.resp.StatusCode == http.StatusNotFound {
		return c.readyAt(ctx, legacyReadyPath)
	}
	return err
}

// readyBodyLimit bounds the readiness answer read: Kratos's is 15 bytes.
const readyBodyLimit = 16 << 10

func (c *Client) readyAt(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.readyURL+path, nil)
	if err != nil {
		return err
	}
	req.Header["Accept"] = headerAcceptJSON
	req.Header["User-Agent"] = headerUserAgent
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, readyBodyLimit))
	// Read (a little) to EOF so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, readyBodyLimit))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &readyStatus{resp}
	}
	// The fallback path is one many servers answer 200 (a gateway's own
	// health, a catch-all page), so a 2xx alone does not say that Kratos
	// is ready; both paths ask for Kratos's answer, as Kratos gives it on
	// each.
	var answer struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.Status != "ok" {
		return &notKratosReady{resp: resp, path: path}
	}
	return nil
}

// classify maps a failed Kratos call (kratos-client-go's or whoami's) to an
// *Error: resp is nil when no HTTP answer arrived.
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

// ForgetSessions drops every cached whoami answer (a no-op without the
// session cache), so sessions revoked in Kratos are refused from the next
// request on instead of after kratos.session_cache_ttl. serve does it on
// SIGHUP.
func (c *Client) ForgetSessions() {
	if c.cache != nil {
		c.cache.reset()
	}
}
