package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceRequests starts a server span per request, named by the route (not
// the URI, which may hold ids). A Kratos hook call continues Kratos's W3C
// traceparent. Any other caller is whoever reaches the port, and its
// traceparent whatever it wrote: continued, its sampled flag would override
// the operator's sampler (a client could have each of its requests recorded
// and exported) and its trace id would put our spans in a trace of its
// choosing; there the span starts a trace of its own, linked to the caller's
// (OpenTelemetry's advice for a public endpoint). A hook route's caller is
// Kratos only with the webhook secret, which the route's chain checks: its
// span is started there (traceHook), and ended here.
// Attributes are the method, route and status only: headers and bodies
// carry sessions, codes and phone numbers.
func traceRequests(tp trace.TracerProvider) echo.MiddlewareFunc {
	tracer := tp.Tracer("github.com/callpass-kratos/callpass-kratos/webhook")
	prop := propagation.TraceContext{}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			route := c.Path()
			if route == "/health/alive" || route == "/health/ready" || route == "/metrics" {
				return next(c)
			}
			if route == "" {
				route = "unmatched"
			}
			req := c.Request()
			ctx := req.Context()
			h := &serverSpan{tracer: tracer, name: req.Method + " " + route,
				caller: trace.SpanContextFromContext(prop.Extract(ctx, propagation.HeaderCarrier(req.Header))),
				opts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer),
					trace.WithAttributes(attribute.String("http.request.method", req.Method), attribute.String("http.route", route))}}
			if strings.HasPrefix(route, "/hooks/kratos/") && req.Method == http.MethodPost {
				// traceHook starts the span once it knows who calls.
				c.SetRequest(req.WithContext(context.WithValue(ctx, serverSpanKey{}, h)))
			} else {
				h.start(c, false)
			}
			defer func() {
				if h.span != nil {
					h.span.End()
				}
			}()

			// The access log, inside this span, records its status (see
			// spanStatus): it is where a request's status is final, the
			// error handler having run.
			return next(c)
		}
	}
}

// serverSpan is a request's server span, started once whether the caller's
// traceparent is trusted is known.
type serverSpan struct {
	tracer trace.Tracer
	name   string
	opts   []trace.SpanStartOption
	caller trace.SpanContext
	span   trace.Span
}

type serverSpanKey struct{}

// start starts the span: in the caller's trace when trusted, else in a
// trace of its own linked to the caller's span.
func (h *serverSpan) start(c echo.Context, trusted bool) {
	if h.span != nil {
		return
	}
	req := c.Request()
	ctx, opts := req.Context(), h.opts
	switch {
	case trusted:
		ctx = trace.ContextWithRemoteSpanContext(ctx, h.caller)
	case h.caller.IsValid():
		opts = append(opts[:len(opts):len(opts)], trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: h.caller}))
	}
	ctx, h.span = h.tracer.Start(ctx, h.name, opts...)
	c.SetRequest(req.WithContext(ctx))
}

// traceHook starts a Kratos hook's server span (see traceRequests): in
// Kratos's trace only when the request carries the webhook secret. It runs
// first in the hook's chain, before anything that makes spans.
func (s *Server) traceHook(next echo.HandlerFunc) echo.HandlerFunc {
	want := sha256.Sum256([]byte("Bearer " + s.cfg.WebhookSecret))
	return func(c echo.Context) error {
		if h, _ := c.Request().Context().Value(serverSpanKey{}).(*serverSpan); h != nil {
			got := sha256.Sum256([]byte(c.Request().Header.Get(echo.HeaderAuthorization)))
			h.start(c, s.cfg.WebhookSecret != "" && subtle.ConstantTimeCompare(got[:], want[:]) == 1)
		}
		return next(c)
	}
}

// spanStatus records on the request's server span the status written, and
// marks the span failed when the request stands for a 5xx (meant), which a
// Kratos hook answers 400.
func spanStatus(ctx context.Context, written, meant int) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.Int("http.response.status_code", written))
	if meant >= 500 {
		span.SetStatus(codes.Error, http.StatusText(meant))
	}
}
