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

// TestTraceRequests: one server span per request, named by route, in the
// caller's trace on a Kratos hook (linked to it elsewhere: see
// TestTracePublicRoutesDoNotTrustTheCallersTrace), that reaches the factor
// through the request context, and carries neither the number nor the
// code; health probes make none.
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
		continued    bool // in the caller's trace; else linked to it
	}{
		{http.MethodPost, "/hooks/kratos/login", validBody(), "POST /hooks/kratos/login", 200, true},
		{http.MethodGet, "/v1/challenges/c-123456789", nil, "GET /v1/challenges/:id", 200, false},
		{http.MethodGet, "/health/alive", nil, "", 0, false},
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
			got := sp.SpanContext().TraceID().String()
			if tt.continued && got != traceID {
				t.Errorf("trace id %s, want the caller's %s", got, traceID)
			}
			if !tt.continued && (got == traceID || len(sp.Links()) != 1 || sp.Links()[0].SpanContext.TraceID().String() != traceID) {
				t.Errorf("trace id %s, links %v: want a trace of its own linked to the caller's %s", got, sp.Links(), traceID)
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

// TestTracePublicRoutesDoNotTrustTheCallersTrace: only Kratos's hook calls
// continue the caller's traceparent. On the routes any client reaches (the
// step-up API, the pages, the JWKS) a traceparent is whatever the client
// wrote: continued, its sampled flag would override the operator's sampler
// (OTEL_TRACES_SAMPLER=parentbased_traceidratio: a client sending -01 has
// every request recorded and exported) and its trace id would put our spans
// into a trace of the client's choosing. There the server span starts a
// trace of its own, sampled by the operator's sampler, linked to the
// caller's.
func TestTracePublicRoutesDoNotTrustTheCallersTrace(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	tests := []struct {
		name         string
		sampler      sdktrace.Sampler
		method, path string
		body         []byte
		spans        int
		continued    bool   // the span is in the caller's trace; else linked to it
		auth         string // the Authorization header; "" for Kratos's
	}{
		// The operator samples none of its own traces (ratio 0).
		{"hook, sampled by Kratos", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)),
			http.MethodPost, "/hooks/kratos/login", validBody(), 1, true, ""},
		{"API, sampled by the client", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)),
			http.MethodGet, "/v1/challenges/c-123456789", nil, 0, false, ""},
		{"JWKS, sampled by the client", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)),
			http.MethodGet, "/.well-known/jwks.json", nil, 0, false, ""},
		// The operator samples everything.
		{"API, always sampled", sdktrace.AlwaysSample(),
			http.MethodGet, "/v1/challenges/c-123456789", nil, 1, false, ""},
		{"hook, always sampled", sdktrace.AlwaysSample(),
			http.MethodPost, "/hooks/kratos/login", validBody(), 1, true, ""},
		// A hook request without the webhook secret is not Kratos's: anyone
		// who reaches the port can send it, and its traceparent is as
		// untrusted as on the API.
		{"hook without the secret, sampled by the client", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)),
			http.MethodPost, "/hooks/kratos/login", validBody(), 0, false, "Bearer not-the-secret"},
		{"hook without any secret, sampled by the client", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)),
			http.MethodPost, "/hooks/kratos/settings", validBody(), 0, false, "-"},
		{"hook without the secret, always sampled", sdktrace.AlwaysSample(),
			http.MethodPost, "/hooks/kratos/registration", validBody(), 1, false, "Bearer not-the-secret"},
		{"hook, wrong method, always sampled", sdktrace.AlwaysSample(),
			http.MethodGet, "/hooks/kratos/login", nil, 1, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(tt.sampler))
			f := &spanFactor{recorder: &recorder{decision: factor.GateDecision{Allow: true}}}
			s, err := webhook.New(webhook.Config{WebhookSecret: secret},
				webhook.Deps{Factor: f, Logger: slog.New(slog.DiscardHandler), TracerProvider: tp,
					JWKS: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"keys":[]}`)) })})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(tt.method, tt.path, bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			switch tt.auth {
			case "":
				req.Header.Set("Authorization", "Bearer "+secret)
			case "-":
			default:
				req.Header.Set("Authorization", tt.auth)
			}
			req.Header.Set("Traceparent", "00-"+traceID+"-"+spanID+"-01")
			s.Handler().ServeHTTP(httptest.NewRecorder(), req)
			spans := rec.Ended()
			if len(spans) != tt.spans {
				t.Fatalf("%d spans recorded, want %d", len(spans), tt.spans)
			}
			if tt.spans == 0 {
				return
			}
			sp := spans[0]
			inCallers := sp.SpanContext().TraceID().String() == traceID
			linked := len(sp.Links()) == 1 && sp.Links()[0].SpanContext.TraceID().String() == traceID &&
				sp.Links()[0].SpanContext.SpanID().String() == spanID
			switch {
			case tt.continued && (!inCallers || sp.Parent().SpanID().String() != spanID):
				t.Errorf("span in trace %s under %s, want the caller's %s under %s", sp.SpanContext().TraceID(), sp.Parent().SpanID(), traceID, spanID)
			case !tt.continued && (inCallers || sp.Parent().IsValid()):
				t.Errorf("span in the caller's trace %s (parent %v), want a trace of its own", traceID, sp.Parent())
			case !tt.continued && !linked:
				t.Errorf("span links %v, want one to the caller's span", sp.Links())
			}
		})
	}
}
