package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// spanFactor records the span context the handlers hand to the factor.
type spanFactor struct {
	*recorder
	seen trace.SpanContext
}

func (f *spanFactor) Gate(ctx context.Context, in factor.GateInput) (factor.GateDecision, error) {
	f.seen = trace.SpanContextFromContext(ctx)
	return f.recorder.Gate(ctx, in)
}

// TestTraceRequests: one server span per request, named by route, that
// continues the caller's traceparent, reaches the factor through the
// request context, and carries neither the number nor the code; health
// probes make none.
func TestTraceRequests(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	f := &spanFactor{recorder: &recorder{decision: factor.GateDecision{Allow: true}}}
	s, err := webhook.New(webhook.Config{WebhookSecret: secret},
		webhook.Deps{Factor: f, Logger: slog.New(slog.DiscardHandler), TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	tests := []struct {
		method, path string
		body         []byte
		span         string // "" = no span
		status       int64
	}{
		{http.MethodPost, "/hooks/kratos/login", validBody(), "POST /hooks/kratos/login", 200},
		{http.MethodGet, "/v1/challenges/c-123456789", nil, "GET /v1/challenges/:id", 200},
		{http.MethodGet, "/health/alive", nil, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec.Reset()
			req := httptest.NewRequest(tt.method, tt.path, bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, req)
			spans := rec.Ended()
			if tt.span == "" {
				if len(spans) != 0 {
					t.Fatalf("%d spans, want none", len(spans))
				}
				return
			}
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			sp := spans[0]
			if sp.Name() != tt.span || sp.SpanKind() != trace.SpanKindServer {
				t.Errorf("span %q kind %v, want %q server", sp.Name(), sp.SpanKind(), tt.span)
			}
			if got := sp.SpanContext().TraceID().String(); got != traceID {
				t.Errorf("trace id %s, want the caller's %s", got, traceID)
			}
			for _, kv := range sp.Attributes() {
				if v := kv.Value.Emit(); strings.Contains(v, "9001234567") || strings.Contains(v, "1234") {
					t.Errorf("attribute %s = %q holds the number or the code", kv.Key, v)
				}
				if kv.Key == "http.response.status_code" && kv.Value.AsInt64() != tt.status {
					t.Errorf("status attribute %d, want %d (response %d)", kv.Value.AsInt64(), tt.status, w.Code)
				}
			}
		})
	}
	if f.seen.SpanID() == (trace.SpanID{}) || f.seen.TraceID().String() != traceID {
		t.Errorf("the factor saw span context %v, want one in trace %s", f.seen, traceID)
	}
}

// TestTraceHookOutageIsSpanError: a hook answered 400 because the store is
// down is a failed span (its status attribute is the 400 written); a
// refusal of the user (a limit) is not.
func TestTraceHookOutageIsSpanError(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		failed  bool
		written int64
	}{
		{"store down", fmt.Errorf("x: %w", challenge.ErrStoreUnavailable), true, 400},
		{"rate limited", &limit.LimitError{Kind: limit.KindNumber, RetryAfter: time.Minute}, false, 400},
		{"allowed", nil, false, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			f := &recorder{decision: factor.GateDecision{Allow: tt.err == nil}, err: tt.err}
			s, err := webhook.New(webhook.Config{WebhookSecret: secret},
				webhook.Deps{Factor: f, Logger: slog.New(slog.DiscardHandler), TracerProvider: tp})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodPost, "/hooks/kratos/login", bytes.NewReader(validBody()))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+secret)
			s.Handler().ServeHTTP(httptest.NewRecorder(), req)
			spans := rec.Ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			if failed := spans[0].Status().Code == codes.Error; failed != tt.failed {
				t.Errorf("span failed = %v (%v), want %v", failed, spans[0].Status(), tt.failed)
			}
			var written int64
			for _, kv := range spans[0].Attributes() {
				if kv.Key == "http.response.status_code" {
					written = kv.Value.AsInt64()
				}
			}
			if written != tt.written {
				t.Errorf("status attribute %d, want %d", written, tt.written)
			}
		})
	}
}
