// Package webhook is the HTTP layer of callpass-kratos: the Echo server, its
// middleware, the Kratos webhooks, the step-up and token APIs, health,
// metrics and the JWKS documents. Domain decisions live in plugin/ and jwt/;
// this package decodes requests, calls them, and maps their typed errors to
// HTTP in one place (errors.go).
package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"github.com/callpass-kratos/callpass-kratos/internal/metrics"
)

// Config is the HTTP layer's own configuration.
type Config struct {
	Listen          string
	ShutdownTimeout time.Duration
	// AllowedOrigins are the origins allowed on cookie-authenticated POSTs (CSRF).
	AllowedOrigins []string
	// WebhookSecret is what Kratos sends as "Authorization: Bearer <secret>".
	WebhookSecret string
	// TrustedProxies are CIDRs whose X-Forwarded-For we believe.
	TrustedProxies []*net.IPNet
	// ClientIPHeader, when set, names the header a trusted proxy fills with
	// the client address (e.g. CF-Connecting-IP).
	ClientIPHeader string
	// JWTCookie, when Name is set, also returns issued tokens as a cookie.
	JWTCookie CookieConfig
	// Lang used when a request gives no preference.
	DefaultLang string
	// BaseURL is this service's public URL; LoginURL is where /2fa sends a
	// visitor without a session (Kratos's browser login).
	BaseURL  string
	LoginURL string
	// RefusalLogsPerSecond caps the access-log lines per second of each kind
	// of refusal (route, status, error code); 0 logs every one (logsample.go).
	RefusalLogsPerSecond int
	// SimControlTokens, when not empty, are required (one of them, as
	// "Authorization: Bearer <token>") on the simulator's control API and
	// phone page (/sim, /sim/*), which show every call's code. serve sets
	// them to sim.tokens outside --dev; in --dev the pages stay open.
	SimControlTokens []string
}

// CookieConfig describes the optional JWT cookie.
type CookieConfig struct {
	Name   string
	Domain string
	Secure bool
}

// ReadyCheck is one dependency reported by /health/ready.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
	// Optional checks are reported but do not make the service unready
	// (dev mode: the service is usable for the simulator without Kratos).
	Optional bool
}

// Deps are the collaborators the handlers call.
type Deps struct {
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// Factor is the second factor (login gate, step-up, token exchange). Optional
	// only for tests of the skeleton.
	Factor Factor
	// JWKS and Discovery serve /.well-known documents.
	JWKS      http.Handler
	Discovery http.Handler
	// Sim, when set (dev mode), is the CallPass simulator mounted at /api/ and /sim/.
	Sim http.Handler
	// UI renders the /2fa step-up page; nil disables the page.
	UI    PageRenderer
	Ready []ReadyCheck
	// TracerProvider, when set, makes a server span per request (tracing.go).
	TracerProvider trace.TracerProvider
}

// Server is the service's HTTP server.
type Server struct {
	cfg      Config
	deps     Deps
	echo     *echo.Echo
	log      *slog.Logger
	refusals *refusals
	// refusalLog samples the access-log lines of refusals; nil: all written.
	refusalLog *refusalSampler
	// trace, when tracing is on, wraps each request (traceRequests).
	trace echo.MiddlewareFunc
	// states lends each request its requestState (accessLog).
	states   sync.Pool
	checkLog checkLog
	// allows maps the router's Allow values to the same with HEAD (route).
	allowMu sync.RWMutex
	allows  map[string]any
	// readyRuns lets concurrent /health/ready probes share one run.
	readyRuns singleflight.Group
	// cookieWarned is the Unix second of the last "token too large for a
	// cookie" warning: one a minute, however many tokens are too large.
	cookieWarned atomic.Int64
}

// New builds the server and its routes.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	if cfg.DefaultLang == "" {
		cfg.DefaultLang = "en"
	}
	e := echo.New()
	e.HideBanner = true
	e.JSONSerializer = newJSONSerializer()
	e.HidePort = true
	e.Logger.SetOutput(discard{})
	e.IPExtractor = ipExtractor(cfg.TrustedProxies, cfg.ClientIPHeader)
	s := &Server{cfg: cfg, deps: deps, echo: e, log: deps.Logger, refusals: newRefusals(),
		refusalLog: newRefusalSampler(cfg.RefusalLogsPerSecond)}
	e.HTTPErrorHandler = s.handleError
	if deps.TracerProvider != nil {
		s.trace = traceRequests(deps.TracerProvider)
	}
	s.routes()
	return s, nil
}

// ServeHTTP is echo.ServeHTTP with the service's middleware (request id,
// tracing, access log, recovery) called in line around whatever handler
// the router found, a 404's and a 405's included: given to e.Use, Echo v4
// builds each middleware's closure anew on every request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := s.echo.AcquireContext()
	c.Reset(r, w)
	s.route(c, r)
	setRequestID(c)
	var err error
	if s.trace != nil {
		err = s.trace(func(c echo.Context) error { return s.accessLog(c, c.Handler()) })(c)
	} else {
		err = s.accessLog(c, c.Handler())
	}
	if err != nil {
		s.handleError(err, c)
	}
	s.echo.ReleaseContext(c)
}

// route finds the handler of r, serving HEAD by the GET route of its path:
// Echo v4 routes HEAD only to HEAD routes, so load balancers' and uptime
// checkers' HEAD probes got 405 where GET answered. The handler sees HEAD
// (the request is not changed), answers as for GET, and net/http sends
// GET's status and headers without the body (with GET's Content-Length
// when the body is small enough to be sent whole). The method-not-allowed
// answers' Allow header names HEAD wherever it names GET.
func (s *Server) route(c echo.Context, r *http.Request) {
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	s.echo.Router().Find(method, echo.GetPath(r), c)
	// Set by Find only when the path has routes but none for the method
	// (405, or OPTIONS's answer): never on the hot path.
	allow, _ := c.Get(echo.ContextKeyHeaderAllow).(string)
	if allow == "" || strings.Contains(allow, http.MethodHead) {
		return
	}
	if strings.Contains(allow, ", "+http.MethodGet) {
		v := s.allowWithHead(allow)
		c.Set(echo.ContextKeyHeaderAllow, v)
		allow = v.(string)
		if r.Method == http.MethodOptions {
			// Echo's OPTIONS answer holds the Allow it was built with.
			c.SetHandler(func(c echo.Context) error {
				c.Response().Header().Set(echo.HeaderAllow, allow)
				return c.NoContent(http.StatusNoContent)
			})
		}
	}
}

// allowWithHead is allow with HEAD after GET, remembered (boxed for
// Context.Set): the router's Allow values are few, fixed when the routes
// are, and a 405 costs no more than before.
func (s *Server) allowWithHead(allow string) any {
	s.allowMu.RLock()
	v, ok := s.allows[allow]
	s.allowMu.RUnlock()
	if ok {
		return v
	}
	get := ", " + http.MethodGet
	v = strings.Replace(allow, get, get+", "+http.MethodHead, 1)
	s.allowMu.Lock()
	if s.allows == nil {
		s.allows = map[string]any{}
	}
	s.allows[allow] = v
	s.allowMu.Unlock()
	return v
}

// Handler is the service's HTTP handler (for tests and embedding). Routes
// mounted on Echo() are served through it with the service's middleware.
func (s *Server) Handler() http.Handler { return s }

// Echo gives access to the router, for mounting extra routes in tests.
// Routes mounted on it are served by ServeHTTP with the service's
// middleware; middleware given to its Use or Pre is not run (ServeHTTP
// does Echo's routing itself): wrap a route's handler instead.
func (s *Server) Echo() *echo.Echo { return s.echo }

// Serve runs on ln until ctx is cancelled, then shuts down gracefully:
// in-flight requests finish, new connections are refused, and Serve returns
// nil when everything finished within the shutdown timeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		// Kratos's cookies and hook headers take a few KiB; Go's 1 MiB default
		// would let each stalled connection hold a megabyte for 10 s.
		MaxHeaderBytes: maxHeaderBytes,
		ReadTimeout:    30 * time.Second,
		// Writes may wait for a synchronous CallPass call (configuration bounds it to 25 s, under Kratos's 30 s webhook timeout).
		WriteTimeout: 130 * time.Second,
		IdleTimeout:  120 * time.Second,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// setRequestID names the request in the X-Request-ID answer header, where the
// logs and error answers read it: a proxy's id when it is a plain id (1–128
// letters, digits and . _ : -), kept for correlation, else one of ours, so
// a client cannot put kilobytes or free text (spaces, quotes, markup) into
// every log line and error answer of its requests. (Echo's RequestID keeps
// any value.)
func setRequestID(c echo.Context) {
	rid := ""
	if v := c.Request().Header.Values(echo.HeaderXRequestID); len(v) == 1 && plainRequestID(v[0]) {
		rid = v[0]
	} else {
		rid = newRequestID()
	}
	c.Response().Header().Set(echo.HeaderXRequestID, rid)
}

func plainRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// maxHeaderBytes bounds a request's header block (answered 431 beyond it).
const maxHeaderBytes = 64 << 10

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
