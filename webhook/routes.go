package webhook

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) routes() {
	e := s.echo
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
			return chain(h, s.requireWebhookSecret, limitBody(hookBodyLimit))
		}
		e.POST("/hooks/kratos/login", hook(s.loginHook))
		e.POST("/hooks/kratos/registration", hook(s.phoneHook(HookRegistration)))
		e.POST("/hooks/kratos/settings", hook(s.phoneHook(HookSettings)))

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
		e.Any("/api/*", sim)
		e.Any("/sim", sim)
		e.Any("/sim/*", sim)
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

// ready checks every dependency in parallel, each bounded, and lists them all.
func (s *Server) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	results := make(map[string]checkResult, len(s.deps.Ready))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, chk := range s.deps.Ready {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := checkResult{Status: "ok"}
			if err := chk.Check(ctx); err != nil {
				r.Status = "error"
				if chk.Optional {
					r.Status = "degraded"
				}
				s.logCheckFailure(ctx, chk, err)
			}
			mu.Lock()
			results[chk.Name] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	status, code := "ok", http.StatusOK
	for _, r := range results {
		if r.Status == "error" {
			status, code = "error", http.StatusServiceUnavailable
		}
	}
	return c.JSON(code, map[string]any{"status": status, "checks": results})
}

// logCheckFailure records why a readiness check failed: the answer only
// says that it did.
func (s *Server) logCheckFailure(ctx context.Context, chk ReadyCheck, err error) {
	s.log.LogAttrs(ctx, slog.LevelWarn, "readiness check failed",
		slog.String("check", chk.Name),
		slog.Bool("optional", chk.Optional),
		slog.String("error", err.Error()),
	)
}
