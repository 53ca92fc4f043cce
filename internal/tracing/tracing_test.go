package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// receiver is an in-process OTLP/HTTP trace receiver.
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	paths []string
	spans []string
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var msg coltracepb.ExportTraceServiceRequest
		if req.Method != http.MethodPost || proto.Unmarshal(body, &msg) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.paths = append(r.paths, req.URL.Path)
		for _, rs := range msg.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					r.spans = append(r.spans, s.GetName())
				}
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() (paths, spans []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...), append([]string(nil), r.spans...)
}

// TestSetupOff (first in the file, so no other test's goroutines are still
// ending): an empty endpoint is a no-op provider: no exporter, no
// goroutine, spans that record nothing. The enabled case is measured the
// same way so this test can fail.
func TestSetupOff(t *testing.T) {
	settle := func() int {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	before := settle()
	shutdown, tp, err := Setup(context.Background(), "", "svc", "v0")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tp.(noop.TracerProvider); !ok {
		t.Fatalf("provider %T, want noop.TracerProvider", tp)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("a span of the off provider records")
	}
	span.End()
	// Only a rise counts: goroutines of earlier tests may still be ending.
	if n := settle(); n > before {
		t.Errorf("goroutines %d -> %d with tracing off", before, n)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	on, _, err := Setup(context.Background(), "127.0.0.1:1", "svc", "v0")
	if err != nil {
		t.Fatal(err)
	}
	if n := settle(); n <= before {
		t.Errorf("goroutines %d -> %d with tracing on: the measure cannot tell", before, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = on(ctx) // nothing to export: no request to the closed port
}

// TestSetupExports: each endpoint form reaches the receiver at the right
// path once Shutdown flushes.
func TestSetupExports(t *testing.T) {
	rcv := newReceiver(t)
	host := rcv.srv.Listener.Addr().String()
	tests := []struct {
		name, endpoint, path string
	}{
		{"host:port", host, "/v1/traces"},
		{"url without path", rcv.srv.URL, "/v1/traces"},
		{"url with root path", rcv.srv.URL + "/", "/v1/traces"},
		{"url with its own path", rcv.srv.URL + "/otlp/v1/traces", "/otlp/v1/traces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := rcv.got()
			shutdown, tp, err := Setup(context.Background(), tt.endpoint, "svc", "v0")
			if err != nil {
				t.Fatal(err)
			}
			_, span := tp.Tracer("test").Start(context.Background(), "probe "+tt.name)
			span.End()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := shutdown(ctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			paths, spans := rcv.got()
			if len(paths) != len(before)+1 || paths[len(paths)-1] != tt.path {
				t.Fatalf("export paths %v, want one more at %s", paths, tt.path)
			}
			if spans[len(spans)-1] != "probe "+tt.name {
				t.Errorf("exported %v", spans)
			}
		})
	}
}

func TestSetupRejectsBadEndpoint(t *testing.T) {
	tests := []struct {
		endpoint string
		want     string // in the error
	}{
		{"otel", "host:port"},
		{"ftp://otel:21", "http(s)"},
		{"http://", "http(s)"},
		// The exporter sends scheme, host and path only: credentials in the
		// URL would be dropped without a word and every export refused
		// (401) by a collector that asks for them.
		{"https://user:s3cret@otel.example:4318", "OTEL_EXPORTER_OTLP_HEADERS"},
		{"https://s3cret@otel.example:4318/v1/traces", "OTEL_EXPORTER_OTLP_HEADERS"},
		{"https://otel.example:4318/v1/traces?api_key=s3cret", "OTEL_EXPORTER_OTLP_HEADERS"},
		{"https://otel.example:4318/?s3cret", "OTEL_EXPORTER_OTLP_HEADERS"},
		// host:port becomes a URL's host: user info or a path there is no
		// host, and every export would fail to resolve it.
		{"s3cret@otel.example:4318", "OTEL_EXPORTER_OTLP_HEADERS"},
		{"otel/v1:4318", "host:port"},
		{"otel :4318", "host:port"},
	}
	for _, tt := range tests {
		_, _, err := Setup(context.Background(), tt.endpoint, "svc", "v0")
		switch {
		case err == nil:
			t.Errorf("Setup(%q) accepted it", tt.endpoint)
		case !strings.Contains(err.Error(), tt.want):
			t.Errorf("Setup(%q): %v, want it to say %s", tt.endpoint, err, tt.want)
		case strings.Contains(err.Error(), "s3cret"):
			t.Errorf("Setup(%q): the error repeats the secret: %v", tt.endpoint, err)
		}
	}
}
