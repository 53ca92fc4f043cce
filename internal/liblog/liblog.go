// Package liblog sends what libraries print on their process-wide loggers
// (go-redis's connection pool, OpenTelemetry's error handler) to the
// service's slog logger instead of the standard logger: one structured line
// per message, and at most one line per source and period, so an outage of
// Redis or of the trace collector cannot flood the log.
//
// The hooks are process-wide by the libraries' design, so Route is for the
// serve command (one service per process), not for packages.
package liblog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
	"go.opentelemetry.io/otel"
)

// Period is how often each source may write a line by default.
const Period = 10 * time.Second

// maxDetail bounds one message: a library may quote a whole reply.
const maxDetail = 512

// Sampler writes a source's messages as warnings, at most one per period;
// the next line written carries skipped_similar, how many were left out.
type Sampler struct {
	logger *slog.Logger
	source string
	every  time.Duration
	now    func() time.Time

	mu      sync.Mutex
	last    time.Time
	skipped int
}

// NewSampler returns a Sampler writing source's messages to logger, at most
// one per every (0: every message).
func NewSampler(logger *slog.Logger, source string, every time.Duration, now func() time.Time) *Sampler {
	if now == nil {
		now = time.Now
	}
	return &Sampler{logger: logger, source: source, every: every, now: now}
}

// Log writes detail, or counts it when the source wrote a line less than a
// period ago.
func (s *Sampler) Log(ctx context.Context, detail string) {
	t := s.now()
	s.mu.Lock()
	if !s.last.IsZero() && t.Sub(s.last) < s.every {
		s.skipped++
		s.mu.Unlock()
		return
	}
	skipped := s.skipped
	s.last, s.skipped = t, 0
	s.mu.Unlock()

	detail = strings.TrimSpace(detail)
	if len(detail) > maxDetail {
		detail = detail[:maxDetail] + "…"
	}
	attrs := []slog.Attr{slog.String("source", s.source), slog.String("detail", detail)}
	if skipped > 0 {
		attrs = append(attrs, slog.Int("skipped_similar", skipped))
	}
	s.logger.LogAttrs(ctx, slog.LevelWarn, "library message", attrs...)
}

// redisLogger is go-redis's logging interface over a Sampler.
type redisLogger struct{ s *Sampler }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	l.s.Log(ctx, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
}

// otelHandler is OpenTelemetry's error handler over a Sampler.
type otelHandler struct{ s *Sampler }

func (h otelHandler) Handle(err error) {
	if err != nil {
		h.s.Log(context.Background(), err.Error())
	}
}

// Route sends go-redis's and OpenTelemetry's messages to logger, each source
// at most once per every. restore puts back OpenTelemetry's handler and
// go-redis's default logger.
func Route(logger *slog.Logger, every time.Duration) (restore func()) {
	prev := otel.GetErrorHandler()
	redis.SetLogger(redisLogger{NewSampler(logger, "go-redis", every, nil)})
	otel.SetErrorHandler(otelHandler{NewSampler(logger, "opentelemetry", every, nil)})
	return func() {
		otel.SetErrorHandler(prev)
		logging.Enable()
	}
}
