// Package callpass is the HTTP client of the CallPass flash-call API
// (versions 1, 2 and 3). It implements the provider contract of
// plugin/flashcall: StartCall, CallStatus and Name.
//
// The one rule that shapes this code: a start request that may have reached
// the provider is never repeated, because each one is a paid phone call.
package callpass

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// Defaults used by DefaultConfig and New for zero fields.
const (
	DefaultBaseURL    = "https://api.callpass.sp-com.ru/"
	DefaultAPIVersion = 3
	DefaultTimeout    = 30 * time.Second
	DefaultCodeLength = 4
)

// Bounds of the provider's "timeout" parameter and of the v3 code length.
const (
	MinTimeout    = 2 * time.Second
	MaxTimeout    = 99 * time.Second
	MinCodeLength = 4
	MaxCodeLength = 7
)

// maxStatusHold bounds how long a Retry-After holds status requests back:
// a broken proxy's "Retry-After: 86400" must not stop polling for a day.
const maxStatusHold = time.Minute

// Operation names used in Error.Op, logs and Observer calls.
const (
	OpStart  = "start"
	OpStatus = "status"
)

// ErrInvalidConfig is wrapped by every New / ValidateToken error.
var ErrInvalidConfig = errors.New("invalid callpass configuration")

// Observer receives one call per HTTP attempt, so metrics can be kept
// without this package importing a metrics library. outcome is one of the
// Outcome* labels.
type Observer interface {
	ObserveProviderCall(op string, apiVersion int, outcome string, d time.Duration)
}

// Config configures a Client. Zero fields take the defaults above, except
// Async: its zero value means synchronous starts, so use DefaultConfig (or
// set Async: true) for the recommended asynchronous mode.
type Config struct {
	// BaseURL of the API, with or without a trailing '/'; may carry a path
	// prefix. Empty means DefaultBaseURL.
	BaseURL string
	// Token is the bearer token: 32 or 64 lower-case hex characters.
	Token string
	// APIVersion is 1, 2 or 3 (0 means DefaultAPIVersion).
	APIVersion int
	// Timeout is the provider's "timeout" parameter: how long it waits for
	// the call outcome. Whole seconds, 2..99.
	Timeout time.Duration
	// CodeLength is how many trailing digits of the v3 "phone" field form
	// the code (4..7). Ignored by v1 and v2, whose code is what comes back.
	CodeLength int
	// Async asks v2/v3 to answer at once (async=1). v1 is always synchronous.
	Async bool
	// HTTPClient is optional; New builds a keep-alive client otherwise.
	HTTPClient *http.Client
	// Observer is optional.
	Observer Observer
	// Logger is optional; nil discards.
	Logger *slog.Logger
	// SyncMargin is added to Timeout for the HTTP timeout of a synchronous
	// start, so the provider's own answer always arrives first. Default 5s.
	SyncMargin time.Duration
	// TracerProvider is optional; nil makes no spans. Spans carry the API
	// version, operation and outcome, never the number, the code or the token.
	TracerProvider trace.TracerProvider
}

// DefaultConfig returns the recommended settings (API v3, asynchronous,
// 30 s, 4-digit code) for the given token.
func DefaultConfig(token string) Config {
	return Config{
		BaseURL:    DefaultBaseURL,
		Token:      token,
		APIVersion: DefaultAPIVersion,
		Timeout:    DefaultTimeout,
		CodeLength: DefaultCodeLength,
		Async:      true,
	}
}

// ValidateToken checks the token's shape without ever echoing it.
func ValidateToken(token string) error {
	if token == "" {
		return fmt.Errorf("%w: the CallPass token is empty", ErrInvalidConfig)
	}
	if len(token) != 32 && len(token) != 64 {
		return fmt.Errorf("%w: the CallPass token must be 32 or 64 lower-case hex characters, got %d characters", ErrInvalidConfig, len(token))
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("%w: the CallPass token must contain only 0-9 and a-f (lower case); character %d is not one of them", ErrInvalidConfig, i+1)
		}
	}
	return nil
}

// Client talks to one CallPass account. It is safe for concurrent use.
type Client struct {
	base       string // scheme://host[/prefix] without trailing '/'
	token      string
	version    int
	timeoutSec int
	codeLen    int
	async      bool
	hc         *http.Client
	obs        Observer
	log        *slog.Logger
	tracer     trace.Tracer

	// Tunables; fixed by New, changed only by this package's tests.
	shortTimeout   time.Duration // async start and status requests
	syncMargin     time.Duration // added to the provider timeout for synchronous starts
	dialRetries    int           // extra start attempts after a failure before sending
	retryWindow    time.Duration // a start is retried only this soon after it began
	statusAttempts int           // total status attempts (HTTP requests) per CallStatus
	backoff        time.Duration // first retry delay, doubled each time

	// statusForm is the status request form (statusNoSlash and statusCamelID
	// bits) that the provider last accepted; see CallStatus.
	statusForm atomic.Uint32

	// statusHeldUntil (nanoseconds since epoch) is when the provider's
	// last Retry-After on a status request ends; until then CallStatus
	// sends nothing (see holdStatus). Counted on the monotonic clock from
	// epoch, the client's creation: a wall clock stepped back (NTP, a VM
	// resumed) must not hold the polls past maxStatusHold.
	statusHeldUntil atomic.Int64
	epoch           time.Time

	// refs maps the references StartCall returns for call ids not safe to
	// show to the provider's exact ids (see callRefs).
	refs callRefs
}

// Bits of Client.statusForm. The document names the status method without
// a trailing '/' and its parameter callId; its curl sample, the one that
// was actually run, uses the trailing '/' and callid. Zero is the sample.
const (
	statusNoSlash uint32 = 1 << iota // path without the trailing '/'
	statusCamelID                    // parameter "callId" instead of "callid"
	// statusProven: the provider has answered this form with a status, so
	// a "can't find callid" sent to it is about the call, not the form.
	statusProven
)

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if err := ValidateToken(cfg.Token); err != nil {
		return nil, err
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: base URL must be an absolute http(s) URL", ErrInvalidConfig)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("%w: base URL must not contain credentials, a query or a fragment", ErrInvalidConfig)
	}
	if cfg.APIVersion == 0 {
		cfg.APIVersion = DefaultAPIVersion
	}
	if cfg.APIVersion < 1 || cfg.APIVersion > 3 {
		return nil, fmt.Errorf("%w: API version must be 1, 2 or 3, got %d", ErrInvalidConfig, cfg.APIVersion)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < MinTimeout || cfg.Timeout > MaxTimeout || cfg.Timeout%time.Second != 0 {
		return nil, fmt.Errorf("%w: timeout must be a whole number of seconds from 2 to 99, got %s", ErrInvalidConfig, cfg.Timeout)
	}
	if cfg.CodeLength == 0 {
		cfg.CodeLength = DefaultCodeLength
	}
	if cfg.APIVersion == 3 && (cfg.CodeLength < MinCodeLength || cfg.CodeLength > MaxCodeLength) {
		return nil, fmt.Errorf("%w: code length must be from %d to %d digits, got %d", ErrInvalidConfig, MinCodeLength, MaxCodeLength, cfg.CodeLength)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = newHTTPClient()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	tp := cfg.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return &Client{
		epoch:          time.Now(),
		base:           u.String(),
		token:          cfg.Token,
		version:        cfg.APIVersion,
		timeoutSec:     int(cfg.Timeout / time.Second),
		codeLen:        cfg.CodeLength,
		async:          cfg.Async && cfg.APIVersion > 1,
		hc:             hc,
		obs:            cfg.Observer,
		tracer:         tp.Tracer("github.com/callpass-kratos/callpass-kratos/plugin/callpass"),
		log:            log.With(slog.String("provider", "callpass"), slog.Int("api_version", cfg.APIVersion)),
		shortTimeout:   10 * time.Second,
		syncMargin:     cmp.Or(cfg.SyncMargin, 5*time.Second),
		dialRetries:    2,
		retryWindow:    3 * time.Second,
		statusAttempts: 3,
		backoff:        150 * time.Millisecond,
	}, nil
}

// newHTTPClient builds the shared keep-alive client. HTTP/1.1 only (the
// provider documents HTTP/1.1; a custom DialContext keeps HTTP/2 off), and
// redirects are not followed: a POST silently turned into a GET elsewhere
// would hide a misconfigured base URL.
func newHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 32,
		MaxConnsPerHost:     0,
		// Below the shortest common server keep-alive timeout (5 s:
		// Apache's and Node.js's defaults; nginx has 75 s): a request sent
		// as the server closes an idle connection meets the close, and a
		// start that may have been sent is never repeated. So the client
		// drops an idle connection first; polls every 2 s keep theirs.
		IdleConnTimeout:       4 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		// An answer's headers are a few hundred bytes; Go's default lets a
		// broken provider send 10 MiB of them per request.
		MaxResponseHeaderBytes: maxAnswerHeaderBytes,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Name identifies the provider in logs and metrics.
func (c *Client) Name() string { return "callpass" }

// APIVersion returns the configured API version.
func (c *Client) APIVersion() int { return c.version }

// CanReportStatus reports whether CallStatus can ask the provider: API v1
// has no status method, so polling a v1 call would only be refused locally.
func (c *Client) CanReportStatus() bool { return c.version > 1 }

func (c *Client) startPath() string {
	switch c.version {
	case 1:
		return "/api/v1.0/start-call-password/"
	case 2:
		return "/api/v2.0/start-call-password/"
	default:
		return "/api/v3.0/start-call-password/"
	}
}

func (c *Client) statusPath(form uint32) string {
	p := "/api/v3.0/get-call-password-status/"
	if c.version == 2 {
		p = "/api/v2.0/get-call-password-status/"
	}
	if form&statusNoSlash != 0 {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

func statusParam(form uint32) string {
	if form&statusCamelID != 0 {
		return "callId"
	}
	return "callid"
}

func (c *Client) synchronous() bool { return c.version == 1 || !c.async }

// StartCall asks the provider to call n. The returned Call carries the
// provider's call id and the code the user must type. On an error with
// Sent true a call may have been placed: do not call StartCall again for
// the same attempt without the user asking for a new call.
func (c *Client) StartCall(ctx context.Context, n phone.Number) (flashcall.Call, error) {
	started := time.Now()
	dn := n.Digits()
	if !validDN(dn) {
		return flashcall.Call{}, c.localError(ctx, OpStart, "destination must be 11 to 15 digits starting with 7")
	}
	if c.timeoutSec < 2 || c.timeoutSec > 99 {
		return flashcall.Call{}, c.localError(ctx, OpStart, "timeout must be 2 to 99 seconds")
	}
	form := url.Values{}
	form.Set("dn", dn)
	form.Set("timeout", strconv.Itoa(c.timeoutSec))
	if c.version > 1 {
		if c.async {
			form.Set("async", "1")
		} else {
			form.Set("async", "0")
		}
	}
	httpTimeout := c.shortTimeout
	if c.synchronous() {
		httpTimeout = time.Duration(c.timeoutSec)*time.Second + c.syncMargin
	}

	var env *Envelope
	var err error
	for attempt := 0; ; attempt++ {
		var sent bool
		env, sent, err = c.exchange(ctx, OpStart, c.startPath(), form, httpTimeout, nationalDigits(dn))
		// Retry only when the request provably never left: a second start
		// that reached the provider would be a second paid call. And only
		// soon after the start began (a refused connection, not a dial that
		// timed out): each attempt may take the whole httpTimeout, and
		// Kratos gives up on the hook after 30 s and sends it again, which
		// places a second call.
		if err == nil || sent || attempt >= c.dialRetries || !errors.Is(err, flashcall.ErrUnavailable) || ctx.Err() != nil ||
			time.Since(started)+c.backoff<<attempt > c.retryWindow {
			break
		}
		if !sleep(ctx, c.backoff<<attempt) {
			break
		}
	}
	var call flashcall.Call
	if err == nil {
		call, err = c.callFrom(env, dn)
	}
	if err != nil {
		c.log.LogAttrs(ctx, levelFor(err), "callpass start failed", slog.String("phone", n.Masked()),
			slog.Bool("async", !c.synchronous()), slog.String("outcome", Outcome(err)),
			slog.Duration("duration", time.Since(started)), slog.String("error", err.Error()))
		return flashcall.Call{}, err
	}
	if env.Data.CallID == "" {
		c.log.LogAttrs(ctx, slog.LevelWarn, "callpass start answer has no call id; the call was placed but its status cannot be asked",
			slog.String("phone", n.Masked()), slog.String("call_id", call.ID))
	}
	// Debug: the caller logs the placed call (with this call id) at Info,
	// so a start is one line at the default level, not two.
	if c.log.Enabled(ctx, slog.LevelDebug) {
		c.log.LogAttrs(ctx, slog.LevelDebug, "callpass call started", slog.String("phone", n.Masked()),
			slog.Bool("async", !c.synchronous()), slog.String("outcome", Outcome(nil)),
			slog.Duration("duration", time.Since(started)), slog.String("call_id", call.ID),
			slog.String("call_status", call.Status.Raw), slog.Int("code_length", len(call.Code)))
	}
	return call, nil
}

// CallStatus asks for the status of a call started with StartCall. to is
// the number StartCall called: a status text Classify does not know is
// then masked for it as the start answer's is (see classify); the zero
// Number leaves only the digit-group masking. API v1 has no such method.
func (c *Client) CallStatus(ctx context.Context, callID string, to phone.Number) (flashcall.Status, error) {
	started := time.Now()
	// to is only used to mask what is shown; the request never carries it.
	national := nationalDigits(to.Digits())
	if c.version == 1 {
		return flashcall.Status{}, c.localError(ctx, OpStatus, "API v1 has no call status method")
	}
	// callID is what StartCall returned: the provider's id, or a reference
	// to it when the id was not safe to show (see callRefs). Logs show the
	// former as it is (or masked, if a caller got it elsewhere) and the
	// latter as the reference; the request carries the exact id.
	shownID := callID
	if exact, ok := c.refs.get(callID, time.Now()); ok {
		if exact == "" {
			// The placeholder of a call placed without an id, or with
			// one too long to keep (see callFrom): there is nothing to ask about, and a request
			// with an empty id would only earn "can't find callid". So
			// nothing is sent and the answer is the one an unknown call
			// gets, ErrCallNotFound: it is not a status (inventing one,
			// final or not, would misreport the call), and it is an error
			// that asking again cannot change, so the challenge service's
			// poller stops at once instead of polling to its timeout. The
			// challenge stays pending and its code verifies as usual.
			err := &Error{Kind: flashcall.ErrCallNotFound, Op: OpStatus, Message: "the provider gave this call no usable id; its status cannot be asked"}
			c.log.LogAttrs(ctx, slog.LevelInfo, "callpass status not asked", slog.String("call_id", shownID),
				slog.String("error", err.Error()))
			return flashcall.Status{}, err
		}
		callID = exact
	} else if isCallRef(callID) {
		err := &Error{Kind: flashcall.ErrCallNotFound, Op: OpStatus, Message: "call reference unknown to this client (expired, or from another process)"}
		c.log.LogAttrs(ctx, slog.LevelWarn, "callpass request refused locally", slog.String("op", OpStatus),
			slog.String("call_id", c.shownCallID(shownID, national)), slog.String("error", err.Error()))
		return flashcall.Status{}, err
	} else if !validCallID(callID) {
		return flashcall.Status{}, c.localError(ctx, OpStatus, "call id must be 1 to 128 printable ASCII characters without spaces")
	} else {
		shownID = c.shownCallID(callID, national)
	}
	// The provider asked for quiet (Retry-After): asking before then would
	// only add to the load it is shedding. The poller asks again later.
	if wait := c.statusHold(); wait > 0 {
		err := &Error{Kind: flashcall.ErrUnavailable, Op: OpStatus, RetryAfter: wait,
			Message: "not asked: the provider asked to wait " + wait.Round(time.Second).String() + " more (Retry-After)"}
		// Debug: every poll of every call lands here until then; the answer
		// that set the wait was logged.
		c.log.LogAttrs(ctx, slog.LevelDebug, "callpass status not asked", slog.String("call_id", shownID),
			slog.String("error", err.Error()))
		return flashcall.Status{}, err
	}
	// The document disagrees with itself on the request's form: its text
	// says ".../get-call-password-status" and "callId", its curl sample
	// ".../get-call-password-status/" and "callid". Start with the form
	// that last worked (the sample's at first). Status is idempotent, so a
	// refusal of the path (404, 405, a redirect) is retried once with the
	// other path, and a refusal of the request before the method ran (HTTP
	// 400/422, a level-1 error) once with the other parameter name; never
	// both names in one request, a strict server may refuse unknown ones.
	// Provider trouble is retried too; all of it within statusAttempts
	// requests. Redirects are never followed: the token stays on the
	// configured URL.
	form := c.statusForm.Load()
	proven := form&statusProven != 0
	form &^= statusProven
	var triedPath, triedName bool
	var cantFindFirst error // a "can't find" that made us try the other name

	var env *Envelope
	var err error
	for attempt := 1; ; attempt++ {
		env, _, err = c.exchange(ctx, OpStatus, c.statusPath(form), url.Values{statusParam(form): {callID}}, c.shortTimeout, national)
		if err == nil {
			// The provider answered this form with a status: later requests
			// go straight to it.
			if old := c.statusForm.Swap(form | statusProven); old&^statusProven != form {
				c.log.LogAttrs(ctx, slog.LevelInfo, "callpass status request form changed",
					slog.String("path", c.statusPath(form)), slog.String("parameter", statusParam(form)))
			}
			break
		}
		// "can't find callid" (whatever its level) is final once the form is
		// proven. Before that it may be a provider that reads only the
		// other parameter name and looks up the empty id it got: we ask
		// only about calls it gave us, so the other name is tried once.
		// Neither answer proves a form.
		cantFind := errors.Is(err, flashcall.ErrCallNotFound)
		if cantFind && (proven || triedName) || !cantFind && methodRan(err) {
			break
		}
		if attempt >= c.statusAttempts || ctx.Err() != nil {
			break
		}
		if cantFind {
			triedName = true
			form ^= statusCamelID
			cantFindFirst = err
			continue
		}
		if !triedPath && pathRefused(err) {
			triedPath = true
			form ^= statusNoSlash
			continue
		}
		if !triedName && paramRefused(err) {
			triedName = true
			form ^= statusCamelID
			continue
		}
		// Retry provider trouble after a pause, but not a 429 nor an answer
		// with Retry-After: they ask us to slow down, and the poller asks
		// again after its interval (or the wait, see holdStatus).
		if !errors.Is(err, flashcall.ErrUnavailable) || throttled(err) || retryAfter(err) > 0 ||
			!sleep(ctx, c.backoff<<(attempt-1)) {
			break
		}
		// Another poll's answer may have asked for quiet meanwhile.
		if c.statusHold() > 0 {
			break
		}
	}
	if d := retryAfter(err); d > 0 {
		c.holdStatus(d)
	}
	if cantFindFirst != nil && err != nil && paramRefused(err) {
		// The other name is not the provider's: its "can't find" stands.
		err = cantFindFirst
	}
	var st flashcall.Status
	if err == nil {
		// Call ids are UUIDs: an upper-cased echo is the same call.
		if id := env.Data.CallID; id != "" && !strings.EqualFold(id, callID) {
			err = &Error{Kind: flashcall.ErrBadResponse, Op: OpStatus, Message: "status answer is about another call id", HTTPStatus: http.StatusOK, Sent: true}
		} else {
			// Masked for the destination as the start answer was: a
			// status spelling it with letters between its digits
			// ("7a900a123a45a67") escapes the digit-group masking.
			st = c.classify(env.Data.Result, false, national)
		}
	}
	attrs := []slog.Attr{
		// What StartCall returned (and the caller logged): the id as it is
		// when it is safe to show, else its reference.
		slog.String("call_id", shownID),
		slog.String("outcome", Outcome(err)),
		slog.Duration("duration", time.Since(started)),
	}
	if err != nil {
		c.log.LogAttrs(ctx, levelFor(err), "callpass status failed", append(attrs, slog.String("error", err.Error()))...)
		return flashcall.Status{}, err
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "callpass call status",
		append(attrs, slog.String("call_status", st.Raw), slog.String("class", st.Class.String()))...)
	return st, nil
}

// methodRan reports an answer from the method itself (data.result
// "error", e.g. "can't find callid"): the path and parameter were taken.
func methodRan(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.level == levelMethod
}

// throttled reports an answer with HTTP 429 Too Many Requests.
func throttled(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.HTTPStatus == http.StatusTooManyRequests
}

// retryAfter is the Retry-After of an error's answer, or 0.
func retryAfter(err error) time.Duration {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.RetryAfter
	}
	return 0
}

// statusHold is how long status requests are still held back, or <= 0.
func (c *Client) statusHold() time.Duration {
	return time.Duration(c.statusHeldUntil.Load()) - time.Since(c.epoch)
}

// holdStatus holds status requests back for d from now, unless a longer
// hold is already set.
func (c *Client) holdStatus(d time.Duration) {
	until := int64(time.Since(c.epoch) + d)
	for {
		old := c.statusHeldUntil.Load()
		if old >= until || c.statusHeldUntil.CompareAndSwap(old, until) {
			return
		}
	}
}

// parseRetryAfter reads a Retry-After header (delta-seconds or an HTTP
// date) of a 429 or 5xx answer, capped at maxStatusHold; 0 when absent,
// unreadable or not in the future.
func parseRetryAfter(status int, v string, now time.Time) time.Duration {
	if status != http.StatusTooManyRequests && status < 500 {
		return 0
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// Delta-seconds have no bound (RFC 9110): more than the cap is the
		// cap, never an overflow read as no wait at all.
		d = maxStatusHold
		if n < uint64(maxStatusHold/time.Second) {
			d = time.Duration(n) * time.Second
		}
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxStatusHold)
}

// pathRefused reports an answer saying the status path does not exist
// there: 404 or 405 (a server that registered only the other spelling), a
// redirect (FastAPI's and others' answer to a missing or extra '/'), or a
// level-1 error whose message says so under any HTTP status. A message
// about the call id is about the call, not the path.
func pathRefused(err error) bool {
	e, ok := errors.AsType[*Error](err)
	if !ok || errors.Is(err, flashcall.ErrCallNotFound) {
		return false
	}
	s := e.HTTPStatus
	return s == http.StatusNotFound || s == http.StatusMethodNotAllowed || s >= 300 && s <= 399 ||
		e.level == levelRequest && unknownMethod.MatchString(e.Message)
}

// unknownMethod matches a message saying the API method asked for does not
// exist. The document makes its existence part of a level-1 success and
// leaves the HTTP status of the refusal open: a server may send it under
// 400 or 200, where it was taken for a refusal of the parameter name and
// the other path was never tried.
var unknownMethod = regexp.MustCompile(`(?i)\b(method|route|endpoint|path|url)\s+(is\s+)?(not\s+found|(does\s*n[o']?t|not)\s+exist)` +
	`|\b(unknown|no\s+such)\s+(api\s+)?(method|route|endpoint|path|url)\b|метод\S*\s+(не\s+найден|не\s+существует)|неизвестн\S*\s+метод`)

// paramRefused reports a status request refused as invalid before the
// method ran: HTTP 400 or 422 (whatever the body), or a level-1 refusal of
// an invalid request ("callId is required"). "can't find callid" is the
// method's answer about an unknown call and is not one of these.
func paramRefused(err error) bool {
	e, ok := errors.AsType[*Error](err)
	if !ok || e.level == levelMethod {
		return false
	}
	if e.HTTPStatus == http.StatusBadRequest || e.HTTPStatus == http.StatusUnprocessableEntity {
		return errors.Is(err, flashcall.ErrInvalidRequest) || errors.Is(err, flashcall.ErrBadResponse)
	}
	return e.level == levelRequest && errors.Is(err, flashcall.ErrInvalidRequest)
}

// noCallIDShown is the shown part of the placeholder reference StartCall
// returns for a call placed without an id.
const noCallIDShown = "no-call-id"

// callFrom turns a decoded start answer into a Call; dn is the destination
// the call was placed to.
//
// A start answer with a usable code is a placed call, whatever its call id:
// refusing it would lose the call (no challenge recorded) and the user's
// retry would pay for a second one. So the id is never a reason to refuse:
//   - an id shownVerbatim accepts is returned as it came;
//   - any other non-empty id (one carrying the token or the destination's
//     number, or with spaces, control or non-ASCII characters, or over 128
//     bytes) is returned as a reference to it (see callRefs), shown
//     masked, and CallStatus sends the exact id;
//   - a missing or empty id is returned as a placeholder reference
//     ("no-call-id~ref-..."), for which CallStatus sends nothing and
//     answers ErrCallNotFound (see CallStatus).
func (c *Client) callFrom(env *Envelope, dn string) (flashcall.Call, error) {
	d := env.Data
	// A code sent as a JSON number lost its leading zeros, and only them:
	// 446 was "0446" or "00446". The user types the last len(code) digits
	// of the calling number, so zeros up to the fewest digits asked for
	// (minCode; the v3 code length for the calling-number digits) give
	// those digits exactly. A 0 is no code: likelier a placeholder than
	// the code 0000.
	pin, phoneField := d.Pin, d.Phone
	if d.pinNumber {
		pin = padNumericCode(pin, minCode)
	}
	if d.phoneNumber {
		phoneField = padNumericCode(phoneField, minCode)
		if c.version == 3 {
			phoneField = padNumericCode(phoneField, c.codeLen)
		}
	}
	national := nationalDigits(dn)
	// "success" answering an asynchronous start: the call was placed,
	// whether it rang is not known yet.
	status := c.classify(d.Result, !c.synchronous(), national)
	code, ok := codeFrom(c.version, c.codeLen, pin, phoneField)
	if !ok && status.Class == flashcall.ClassNotDelivered {
		// A synchronous start that failed (UNALLOCATED_NUMBER,
		// SUBSCRIBER_ABSENT) need not say a code: no phone showed one.
		// The call was placed and did not go through, what the user is
		// told, not a broken answer.
		return flashcall.Call{}, &Error{Kind: flashcall.ErrNotDelivered, Op: OpStart, Message: "call status " + status.Raw, HTTPStatus: http.StatusOK, Sent: true}
	}
	if !ok {
		// No excerpt: the body holds the code.
		return flashcall.Call{}, &Error{Kind: flashcall.ErrBadResponse, Op: OpStart, Message: "start answer has no usable code", HTTPStatus: http.StatusOK, Sent: true}
	}
	id := d.CallID
	switch {
	case id == "":
		id = c.refs.add(noCallIDShown, "", time.Now())
	case len(id) > maxExactCallID:
		// Kept whole, a broken provider's ids could pin megabytes in the
		// reference table; such a call is not polled, like one without an id.
		id = c.refs.add(c.maskedCallID(id, national), "", time.Now())
	case !validCallID(id) || !c.shownVerbatim(id, national):
		id = c.refs.add(c.maskedCallID(id, national), id, time.Now())
	}
	return flashcall.Call{ID: id, Code: code, Status: status}, nil
}

// Bounds of a code as returned by v1/v2. The document says 4 or 5 digits
// and shows 4; we take whatever comes within sane bounds
// (flashcall.MaxCodeLen), but never fewer than 4 digits, which would make
// guessing too easy.
const (
	minCode = 4
	// maxCallerDigits bounds a v3 field the code is cut from: digits of
	// the calling number (E.164: at most 15).
	maxCallerDigits = 15
)

// codeFrom extracts the code. v3 "phone" is the last 7 digits of the
// calling number and the code is its trailing codeLen digits; v1/v2 return
// the code itself, under "pin" or "phone". A v3 answer without "phone" but
// with "pin" (the document's generic sample) carries the code itself: its
// trailing codeLen digits, or all of it when shorter (never under minCode).
func codeFrom(version, codeLen int, pin, phoneField string) (string, bool) {
	if version == 3 {
		if codeLen < minCode {
			return "", false
		}
		if phoneField == "" {
			n := min(codeLen, len(pin))
			if !phone.AllDigits(pin) || n < minCode || len(pin) > maxCallerDigits {
				return "", false
			}
			return pin[len(pin)-n:], true
		}
		if !phone.AllDigits(phoneField) || len(phoneField) < codeLen || len(phoneField) > maxCallerDigits {
			return "", false
		}
		return phoneField[len(phoneField)-codeLen:], true
	}
	src := pin
	if src == "" {
		src = phoneField
	}
	if !phone.AllDigits(src) || len(src) < minCode || len(src) > flashcall.MaxCodeLen {
		return "", false
	}
	return src, true
}

// padNumericCode left-pads the digits of a JSON number with zeros to n
// digits; "0" (or anything not all digits) is returned as "", no code.
func padNumericCode(s string, n int) string {
	if !phone.AllDigits(s) || strings.Trim(s, "0") == "" {
		return ""
	}
	if len(s) >= n {
		return s
	}
	return strings.Repeat("0", n-len(s)) + s
}

// exchange sends one POST and decodes the answer. sent reports whether the
// request may have reached the provider. national is the destination's
// national number ("" when not known): the provider text an error quotes
// is masked for it and for the token (see secrets).
func (c *Client) exchange(ctx context.Context, op, path string, form url.Values, timeout time.Duration, national string) (env *Envelope, sent bool, err error) {
	started := time.Now()
	ctx, span := c.tracer.Start(ctx, "callpass "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("callpass.operation", op), attribute.Int("callpass.api_version", c.version)))
	defer func() {
		outcome := Outcome(err)
		if c.obs != nil {
			c.obs.ObserveProviderCall(op, c.version, outcome, time.Since(started))
		}
		// The outcome label only: error messages may quote the answer body.
		span.SetAttributes(attribute.String("callpass.outcome", outcome), attribute.Bool("callpass.sent", sent))
		if err != nil {
			span.SetStatus(codes.Error, outcome)
		}
		span.End()
	}()
	if err := ctx.Err(); err != nil {
		return nil, false, &Error{Kind: flashcall.ErrUnavailable, Op: op, Message: "canceled before sending: " + err.Error()}
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// GotConn fires once a connection is ready to carry the request. Before
	// it nothing can have reached the provider (dial, DNS, TLS failures);
	// after it we must assume the request may have been processed.
	var getConn, gotConn atomic.Bool
	trace := &httptrace.ClientTrace{
		GetConn: func(string) { getConn.Store(true) },
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	}
	body := form.Encode()
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(rctx, trace), http.MethodPost, c.base+path, strings.NewReader(body))
	if err != nil {
		return nil, false, &Error{Kind: flashcall.ErrInvalidRequest, Op: op, Message: "cannot build request"}
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", "callpass-kratos")

	resp, err := c.hc.Do(req)
	if err != nil {
		sent = gotConn.Load()
		return nil, sent, &Error{Kind: flashcall.ErrUnavailable, Op: op, Message: transportMessage(ctx, rctx, err, timeout, getConn.Load()), Sent: sent}
	}
	defer resp.Body.Close()
	// The token never reaches an error or a log line, even when a provider
	// or a proxy echoes it: it is cut out of the raw bytes before anything
	// quotes or truncates them.
	ctype := string(redactToken([]byte(resp.Header.Get("Content-Type")), c.token))
	m := secrets{token: c.token, national: national}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, true, &Error{Kind: flashcall.ErrUnavailable, Op: op, Message: "reading the answer: " + transportMessage(ctx, rctx, err, timeout, true),
			HTTPStatus: resp.StatusCode, ContentType: m.header(ctype), Sent: true}
	}
	tooLarge := len(data) > maxBody
	data = redactToken(data, c.token)
	if tooLarge && len(data) <= maxBody {
		// Still too large for the decoder after the token got shorter.
		data = append(data, bytes.Repeat([]byte(" "), maxBody+1-len(data))...)
	}
	env, err = decodeAnswer(resp.StatusCode, ctype, data, m)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Op = op
			e.RetryAfter = parseRetryAfter(resp.StatusCode, resp.Header.Get("Retry-After"), time.Now())
		}
		return nil, true, err
	}
	return env, true, nil
}

// redactTokenString is redactToken for a string, returned as it is (not
// copied) when it cannot hold the token.
func redactTokenString(s, token string) string {
	if token == "" || len(s) < len(token) || isHex(token) && !hasHexRun(s, len(token)) {
		return s
	}
	return string(redactToken([]byte(s), token))
}

// redactedToken replaces the token wherever an answer echoes it.
var redactedToken = []byte("[token]")

// redactToken replaces every occurrence of token in b, in any letter case
// (the token is ASCII hex), with "[token]". b is returned as it is when it
// holds no occurrence; otherwise a new slice.
func redactToken(b []byte, token string) []byte {
	if token == "" || len(b) < len(token) {
		return b
	}
	// Fast path for every answer: a hex token (what the provider issues)
	// can only appear within a run of at least as many hex digits, and an
	// answer's ids (UUIDs) have runs of 12 at most.
	if isHex(token) && !hasHexRun(b, len(token)) {
		return b
	}
	tok := []byte(token)
	var out []byte
	last := 0
	for i := 0; i+len(tok) <= len(b); {
		if bytes.EqualFold(b[i:i+len(tok)], tok) {
			if out == nil {
				out = make([]byte, 0, len(b))
			}
			out = append(out, b[last:i]...)
			out = append(out, redactedToken...)
			i += len(tok)
			last = i
			continue
		}
		i++
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isHex(s string) bool {
	for i := range len(s) {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return true
}

// hasHexRun reports whether b holds n hex digits in a row.
func hasHexRun[T string | []byte](b T, n int) bool {
	run := 0
	for i := range len(b) {
		if c := b[i]; !isHexDigit(c) {
			run = 0
		} else if run++; run >= n {
			return true
		}
	}
	return false
}

// transportMessage describes a failed round trip with fixed phrases. The
// transport's own error text is never copied: it names addresses, and a
// Proxy function's error may quote a malformed proxy URL, password included.
// connecting reports that the transport got as far as asking for a
// connection (httptrace GetConn).
func transportMessage(parent, rctx context.Context, err error, timeout time.Duration, connecting bool) string {
	switch {
	case parent.Err() != nil:
		return "canceled by the caller: " + parent.Err().Error()
	case errors.Is(rctx.Err(), context.DeadlineExceeded):
		return "no answer within " + timeout.String()
	}
	return transportProblem(err, connecting)
}

// transportProblem names the kind of a transport failure.
func transportProblem(err error, connecting bool) string {
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "proxyconnect" {
		return "through the proxy: " + transportProblem(op.Err, true)
	}
	var timeout interface{ Timeout() bool }
	switch {
	case isDNSError(err):
		return "cannot resolve the provider host"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case isTLSError(err):
		return "TLS handshake failed"
	case errors.As(err, &timeout) && timeout.Timeout():
		return "timed out"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before the answer was complete"
	case !connecting:
		// Before a connection was asked for, only the request itself or the
		// transport's Proxy function (a bad proxy setting) can have failed.
		return "failed before connecting (check the proxy settings)"
	}
	return "transport failure"
}

func isDNSError(err error) bool {
	_, ok := errors.AsType[*net.DNSError](err)
	return ok
}

func isTLSError(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.AlertError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	_, ok := errors.AsType[x509.CertificateInvalidError](err)
	return ok
}

// localError is an invalid request caught before sending anything.
func (c *Client) localError(ctx context.Context, op, msg string) error {
	err := &Error{Kind: flashcall.ErrInvalidRequest, Op: op, Message: msg}
	c.log.LogAttrs(ctx, slog.LevelWarn, "callpass request refused locally", slog.String("op", op), slog.String("error", err.Error()))
	return err
}

// levelFor makes operator problems (credentials, balance, outages) loud and
// per-user outcomes quiet.
func levelFor(err error) slog.Level {
	switch Outcome(err) {
	case OutcomeUnauthorized, OutcomeInsufficientBalance, OutcomeUnavailable, OutcomeBadResponse:
		return slog.LevelWarn
	default:
		return slog.LevelInfo
	}
}

func validDN(dn string) bool {
	return len(dn) >= 11 && len(dn) <= 15 && dn[0] == '7' && phone.AllDigits(dn)
}

// maxAnswerHeaderBytes bounds the provider's answer headers.
const maxAnswerHeaderBytes = 64 << 10

// validCallID accepts what a UUID-like identifier can hold and nothing
// that could smuggle control characters into a form body or a log line.
func validCallID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return false
		}
	}
	return true
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
