package webhook

import (
	"context"
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
// traceparent. On every other route the caller is whoever reaches the
// port, and its traceparent whatever it wrote: continued, its sampled flag
// would override the operator's sampler (a client could have each of its
// requests recorded and exported) and its trace id would put our spans in
// a trace of its choosing; there the span starts a trace of its own, linked
// to the caller's (OpenTelemetry's advice for a public endpoint).
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
			opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(attribute.String("http.request.method", req.Method), attribute.String("http.route", route))}
			remote := prop.Extract(ctx, propagation.HeaderCarrier(req.Header))
			switch caller := trace.SpanContextFromContext(remote); {
			case strings.HasPrefix(route, "/hooks/kratos/"):
				ctx = remote
			case caller.IsValid():
				opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: caller}))
			}
			ctx, span := tracer.Start(ctx, req.Method+" "+route, opts...)
			defer span.End()
			c.SetRequest(req.WithContext(ctx))

			// The access log, inside this span, records its status (see
			// spanStatus): it is where a request's status is final, the
			// error handler having run.
			return next(c)
		}
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
