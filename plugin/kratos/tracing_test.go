package kratos_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
)

// TestTracing: with a TracerProvider each Kratos request is a client span
// under the caller's span, Kratos receives the W3C traceparent, no span
// attribute holds the session token or the phone number, and the caller's
// http.Client is left as it was.
func TestTracing(t *testing.T) {
	const token, phone = "ory_st_secret0123456789", "+79161234567"
	var (
		mu      sync.Mutex
		parents []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		parents = append(parents, r.Header.Get("Traceparent"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/sessions/whoami" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":401}}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"5733f754-6db6-4b46-83b8-1d6e6cd69fbc","schema_id":"default","schema_url":"http://k/s","traits":{}}`))
	}))
	defer srv.Close()

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	base := &http.Transport{}
	hc := &http.Client{Transport: base}
	c, err := kratos.New(kratos.Config{PublicURL: srv.URL, AdminURL: srv.URL, HTTPClient: hc, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	if hc.Transport != base {
		t.Fatal("New changed the caller's http.Client")
	}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	_, _ = c.Session(ctx, "", token)
	if err := c.MarkPhoneVerified(ctx, "5733f754-6db6-4b46-83b8-1d6e6cd69fbc", phone, time.Now()); err != nil {
		t.Fatal(err)
	}
	parent.End()

	traceID := parent.SpanContext().TraceID().String()
	mu.Lock()
	if len(parents) != 3 {
		t.Fatalf("Kratos got %d requests, want 3", len(parents))
	}
	for _, p := range parents {
		if !strings.Contains(p, traceID) {
			t.Errorf("traceparent %q does not carry trace %s", p, traceID)
		}
	}
	mu.Unlock()

	var names []string
	for _, s := range rec.Ended() {
		if s.Name() == "request" {
			continue
		}
		names = append(names, s.Name())
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s: not a child of the request span", s.Name())
		}
		for _, kv := range s.Attributes() {
			if v := kv.Value.Emit(); strings.Contains(v, token) || strings.Contains(v, "9161234567") {
				t.Errorf("%s: attribute %s = %q holds a secret", s.Name(), kv.Key, v)
			}
		}
	}
	if strings.Join(names, ",") != "kratos GET,kratos GET,kratos PATCH" {
		t.Errorf("spans = %v, want [kratos GET kratos GET kratos PATCH]", names)
	}
}
