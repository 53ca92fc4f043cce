package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) routes() {
	e := s.echo
	// GET routes answer HEAD too (Server.route).
	e.GET("/health/alive", s.alive)
	e.GET("/health/ready", s.ready)
	if s.deps.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.deps.Metrics.Registry, promhttp.HandlerOpts{})))
	}
	if s.deps.JWKS != nil {
		e.GET("/.well-known/jwks.json", echo.WrapHandler(s.deps.JWKS))
	}
	if s.deps.Discovery != nil {
		e.GET("/.well-known/openid-configuration", echo.WrapHandler(s.deps.Discovery))
	}
	if s.deps.Factor != nil {
		hook := func(h echo.HandlerFunc) echo.HandlerFunc {
			// traceHook first: it starts the hook's span, in Kratos's trace
			// only with the secret; countHook counts every answer, the
			// limiter's too.
			return chain(h, s.traceHook, s.countHook, s.requireWebhookSecret, limitBody(hookBodyLimit))
		}
		e.POST("/hooks/kratos/login", hook(s.loginHook))
		e.POST("/hooks/kratos/registration", hook(s.phoneHook(HookRegistration)))
		e.POST("/hooks/kratos/settings", hook(s.phoneHook(HookSettings)))
		if rs, ok := s.deps.Factor.(registrationSaver); ok {
			e.POST("/hooks/kratos/registered", hook(s.registeredHook(rs)))
		}

		api := func(h echo.HandlerFunc, mw ...echo.MiddlewareFunc) echo.HandlerFunc {
			return chain(h, append([]echo.MiddlewareFunc{limitBody(apiBodyLimit)}, mw...)...)
		}
		e.POST("/v1/challenges", api(s.startChallenge, s.csrf))
		e.GET("/v1/challenges/:id", api(s.getChallenge))
		e.POST("/v1/challenges/:id/verify", api(s.verifyChallenge, s.csrf))
		e.POST("/v1/token", api(s.exchangeToken, s.csrf))
		if s.deps.UI != nil {
			s.pageRoutes()
		}
	}
	if s.deps.Sim != nil {
		sim := echo.WrapHandler(s.deps.Sim)
		// The CallPass API checks its tokens itself.
		e.Any("/api/*", sim)
		ctl := sim
		if len(s.cfg.SimControlTokens) > 0 {
			ctl = requireBearer(s.cfg.SimControlTokens, "simulator control requires Authorization: Bearer <one of sim.tokens>")(sim)
		}
		e.Any("/sim", ctl)
		e.Any("/sim/*", ctl)
	}
}

// chain wraps h in mw once, at start-up: the first middleware runs first.
// Echo v4 applies route and group middleware anew on every request (building
// their closures each time); these routes are the hot path.
func chain(h echo.HandlerFunc, mw ...echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

func (s *Server) alive(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// checkResult is one dependency's entry in /health/ready: a fixed status
// only. The endpoint is public and a failed check's error names internal
// addresses (Kratos's URL, Redis's IP), so the error goes to the log.
type checkResult struct {
	Status string `json:"status"` // "ok", "error", or "degraded" for an optional check
}

// ready answers with one run of every dependency check. The endpoint is
// public, so probes that arrive while a run is under way share it: however
// many come at once, Kratos and Redis see one check each at a time.
func (s *Server) ready(c echo.Context) error {
	// The run is detached from the first prober: the others wait for it.
	ctx := context.WithoutCancel(c.Request().Context())
	r := <-s.readyRuns.DoChan("ready", func() (any, error) { return s.checkAll(ctx), nil })
	a := r.Val.(readyAnswer)
	return c.JSON(a.code, map[string]any{"status": a.status, "checks": a.checks})
}

// readyAnswer is the result of one run of the readiness checks.
type readyAnswer struct {
	code   int
	status string
	checks map[string]checkResult
}

// checkAll runs every check in parallel, each bounded, and lists them all.
func (s *Server) checkAll(ctx context.Context) readyAnswer {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	results := make(map[string]checkResult, len(s.deps.Ready))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, chk := range s.deps.Ready {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := checkResult{Status: "ok"}
			err := chk.Check(ctx)
			if err != nil {
				r.Status = "error"
				if chk.Optional {
					r.Status = "degraded"
				}
			}
			s.checkLog.record(ctx, s.log, chk, err, time.Now())
			mu.Lock()
			results[chk.Name] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	a := readyAnswer{code: http.StatusOK, status: "ok", checks: results}
	for _, r := range results {
		if r.Status == "error" {
			a.code, a.status = http.StatusServiceUnavailable, "error"
		}
	}
	return a
}

// checkLogEvery is how often a failing check is logged at most.
const checkLogEvery = time.Minute

// checkLog records why readiness checks fail (the answer only says that
// they do): a failure at most once a minute per check, with the failed
// probes left unlogged since the last line, and a recovery when its failure
// was logged. The endpoint is public: a line per probe, or per flap of a
// check failing every other probe, would let anyone flood the log while a
// dependency is down.
type checkLog struct {
	mu     sync.Mutex
	checks map[string]*checkState
}

type checkState struct {
	failing  bool      // the last probe failed
	reported bool      // this failure was logged
	logged   time.Time // the last "failed" line
	skipped  int       // failed probes not logged since
}

func (l *checkLog) record(ctx context.Context, log *slog.Logger, chk ReadyCheck, err error, now time.Time) {
	l.mu.Lock()
	if l.checks == nil {
		l.checks = map[string]*checkState{}
	}
	st := l.checks[chk.Name]
	if st == nil {
		st = &checkState{}
		l.checks[chk.Name] = st
	}
	level, msg := slog.LevelWarn, "readiness check failed"
	attrs := []slog.Attr{slog.String("check", chk.Name), slog.Bool("optional", chk.Optional)}
	switch {
	case err == nil && !(st.failing && st.reported):
		st.failing, st.reported = false, false
		l.mu.Unlock()
		return
	case err == nil:
		st.failing, st.reported = false, false
		level, msg = slog.LevelInfo, "readiness check recovered"
	case !st.logged.IsZero() && now.Sub(st.logged) < checkLogEvery:
		st.failing = true
		st.skipped++
		l.mu.Unlock()
		return
	default:
		attrs = append(attrs, slog.String("error", err.Error()), slog.Int("skipped_similar", st.skipped))
		st.failing, st.reported, st.logged, st.skipped = true, true, now, 0
	}
	l.mu.Unlock()
	log.LogAttrs(ctx, level, msg, attrs...)
}

// requireBearer refuses a request whose Authorization header is not
// "Bearer <t>" for one of tokens. Every token is compared (hashed, in
// constant time), so the answer's timing does not tell which came close.
func requireBearer(tokens []string, msg string) echo.MiddlewareFunc {
	want := make([][sha256.Size]byte, len(tokens))
	for i, t := range tokens {
		want[i] = sha256.Sum256([]byte("Bearer " + t))
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			got := sha256.Sum256([]byte(c.Request().Header.Get(echo.HeaderAuthorization)))
			ok := 0
			for i := range want {
				ok |= subtle.ConstantTimeCompare(got[:], want[i][:])
			}
			if ok != 1 {
				c.Response().Header().Set("WWW-Authenticate", "Bearer")
				return echo.NewHTTPError(http.StatusUnauthorized, msg)
			}
			return next(c)
		}
	}
}
