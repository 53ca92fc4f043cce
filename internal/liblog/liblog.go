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
	"log"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/stdr"
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

// otelHandler is OpenTelemetry's error handler over a Sampler, or over the
// standard logger once restored: OpenTelemetry keeps the first handler set
// for good, so the sampler is swapped out instead.
type otelHandler struct{ s atomic.Pointer[Sampler] }

func (h *otelHandler) Handle(err error) {
	if err == nil {
		return
	}
	if s := h.s.Load(); s != nil {
		s.Log(context.Background(), err.Error())
		return
	}
	log.Print(err)
}

// messageOnly is a slog.Handler that passes on a record's time, level and
// message, and drops its attributes: OpenTelemetry's log lines quote what
// they could not parse, such as the value of an OTEL_EXPORTER_OTLP_HEADERS
// entry, which is usually a collector token.
type messageOnly struct{ h slog.Handler }

func (m messageOnly) Enabled(ctx context.Context, l slog.Level) bool { return m.h.Enabled(ctx, l) }

func (m messageOnly) Handle(ctx context.Context, r slog.Record) error {
	return m.h.Handle(ctx, slog.NewRecord(r.Time, r.Level, r.Message, r.PC))
}

func (m messageOnly) WithAttrs([]slog.Attr) slog.Handler { return m }
func (m messageOnly) WithGroup(string) slog.Handler      { return m }

// Route sends go-redis's and OpenTelemetry's messages to logger: go-redis's
// and OpenTelemetry's errors (failed exports) as "library message" lines,
// each source at most once per every; OpenTelemetry's own log lines (e.g. a
// malformed OTEL_EXPORTER_OTLP_* variable) at their level, message only.
// restore puts back the libraries' defaults.
func Route(logger *slog.Logger, every time.Duration) (restore func()) {
	redis.SetLogger(redisLogger{NewSampler(logger, "go-redis", every, nil)})
	h := &otelHandler{}
	h.s.Store(NewSampler(logger, "opentelemetry", every, nil))
	otel.SetErrorHandler(h)
	otel.SetLogger(logr.FromSlogHandler(messageOnly{logger.With("source", "opentelemetry").Handler()}))
	return func() {
		h.s.Store(nil)
		otel.SetLogger(stdr.New(log.New(os.Stderr, "", log.LstdFlags|log.Lshortfile)))
		logging.Enable()
	}
}
