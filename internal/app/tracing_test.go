package app_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/callpass-kratos/callpass-kratos/internal/app"
	"github.com/callpass-kratos/callpass-kratos/internal/config"
)

const webhookSecret = "tracing-test-webhook-secret-0123456789abcdef"

// collector is an in-process OTLP/HTTP trace receiver.
type collector struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
	res   []*commonpb.KeyValue
}

func newCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, _ := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(raw, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			c.res = append(c.res, rs.GetResource().GetAttributes()...)
			for _, ss := range rs.GetScopeSpans() {
				c.spans = append(c.spans, ss.GetSpans()...)
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// startApp builds the dev-mode app (built-in simulator, memory store) with
// extra env and serves it on a free port until the returned stop is called.
func startApp(t *testing.T, env ...string) (a *app.App, base string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base = "http://" + ln.Addr().String()
	env = append([]string{
		"SERVE_LISTEN=" + ln.Addr().String(),
		"SERVE_BASE_URL=" + base,
		"WEBHOOK_SECRET=" + webhookSecret,
		"DEV_DATA_DIR=" + t.TempDir(),
		"LOG_LEVEL=warn",
		// Nothing listens there; the login hook does not call Kratos.
		"KRATOS_PUBLIC_URL=http://127.0.0.1:1",
		"KRATOS_ADMIN_URL=http://127.0.0.1:1",
	}, env...)
	cfg, _, err := config.Load("", env, true)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	a, err = app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ServeListener(ctx, ln) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the service did not stop")
		}
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
	t.Cleanup(stop)
	return a, base, stop
}

// loginHook posts one Kratos login after-hook call (no code yet: it starts
// a challenge) and returns the status and the message id.
func loginHook(t *testing.T, base, phone string, hdr map[string]string) (int, int64) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"flow_id":           "5733f754-6db6-4b46-83b8-1d6e6cd69fbc",
		"flow_type":         "api",
		"identity_id":       "0b3c2b5e-7d4f-4a57-9f3e-3f6a8f1d2c11",
		"traits":            map[string]any{"email": "user@example.com", "phone": phone},
		"metadata_public":   nil,
		"transient_payload": map[string]any{},
		"session":           map[string]any{"authenticated_at": time.Now().UTC().Format(time.RFC3339Nano), "aal": "aal1"},
		"client_ip":         "203.0.113.9",
		"accept_language":   "en",
	})
	req, err := http.NewRequest(http.MethodPost, base+"/hooks/kratos/login", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+webhookSecret)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var km struct {
		Messages []struct {
			Messages []struct {
				ID int64 `json:"id"`
			} `json:"messages"`
		} `json:"messages"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(raw, &km) != nil || len(km.Messages) == 0 || len(km.Messages[0].Messages) == 0 {
		t.Fatalf("hook answer %d %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, km.Messages[0].Messages[0].ID
}

// TestTracingAcrossHookProviderStore: with tracing.otlp_endpoint set, one
// login-hook call that starts a challenge is exported as one trace, which
// continues the caller's traceparent and holds the route's server span, the
// provider call and the store operations; no exported attribute holds the
// phone number, the code or the webhook secret.
func TestTracingAcrossHookProviderStore(t *testing.T) {
	col := newCollector(t)
	a, base, stop := startApp(t, "TRACING_OTLP_ENDPOINT="+col.srv.URL)
	if a.TracerProvider == nil {
		t.Fatal("tracing configured but the app has no TracerProvider")
	}
	const (
		phone    = "+79001234567"
		dn       = "79001234567"
		traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
		parentID = "00f067aa0ba902b7"
	)
	status, id := loginHook(t, base, phone, map[string]string{"Traceparent": "00-" + traceID + "-" + parentID + "-01"})
	if status != http.StatusBadRequest || id != 1090001 {
		t.Fatalf("hook answered %d with message %d, want 400 with 1090001 (call on its way)", status, id)
	}
	calls := a.Sim.Calls(dn)
	if len(calls) != 1 {
		t.Fatalf("simulator saw %d calls to %s, want 1", len(calls), dn)
	}
	call := calls[0]
	stop() // flushes the batch exporter

	col.mu.Lock()
	defer col.mu.Unlock()
	byName := map[string]*tracepb.Span{}
	var names []string
	for _, s := range col.spans {
		names = append(names, s.GetName())
		if hex.EncodeToString(s.GetTraceId()) == traceID {
			byName[s.GetName()] = s
		}
	}
	route := byName["POST /hooks/kratos/login"]
	provider := byName["callpass start"]
	store := byName["store create"]
	if route == nil || provider == nil || store == nil {
		t.Fatalf("trace %s lacks the route, provider or store span; exported: %v", traceID, names)
	}
	if got := hex.EncodeToString(route.GetParentSpanId()); got != parentID {
		t.Errorf("route span parent %s, want the caller's %s", got, parentID)
	}
	if route.GetKind() != tracepb.Span_SPAN_KIND_SERVER || provider.GetKind() != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("kinds: route %v, provider %v", route.GetKind(), provider.GetKind())
	}
	if !hasAttr(route.GetAttributes(), "http.route", "/hooks/kratos/login") ||
		!hasAttr(provider.GetAttributes(), "callpass.outcome", "ok") ||
		!hasAttr(store.GetAttributes(), "store.outcome", "ok") {
		t.Errorf("attributes: route %v provider %v store %v", route.GetAttributes(), provider.GetAttributes(), store.GetAttributes())
	}
	if !hasAttr(col.res, "service.name", "callpass-kratos") {
		t.Errorf("resource %v lacks service.name", col.res)
	}

	// Nothing exported (every span, every trace, and the resource) may
	// carry the number, the code (v3 returns the caller's last 7 digits,
	// the code is the tail) or the secret.
	secrets := []string{dn[1:], call.Caller, call.Caller[len(call.Caller)-7:], call.Code4, call.Pin, webhookSecret}
	check := func(where string, kvs []*commonpb.KeyValue) {
		for _, kv := range kvs {
			v := kv.GetValue().String()
			for _, s := range secrets {
				if s != "" && strings.Contains(v, s) {
					t.Errorf("%s: attribute %s = %s holds %q", where, kv.GetKey(), v, s)
				}
			}
		}
	}
	check("resource", col.res)
	for _, s := range col.spans {
		check(s.GetName(), s.GetAttributes())
		for _, e := range s.GetEvents() {
			check(s.GetName()+" event "+e.GetName(), e.GetAttributes())
		}
		if s.GetStatus().GetMessage() != "" {
			for _, sec := range secrets {
				if strings.Contains(s.GetStatus().GetMessage(), sec) {
					t.Errorf("%s: status message holds %q", s.GetName(), sec)
				}
			}
		}
	}
}

// TestTracingOff: without an endpoint the app has no TracerProvider, so no
// exporter and no batching goroutine exist, and the hook still works.
func TestTracingOff(t *testing.T) {
	a, base, _ := startApp(t)
	if a.TracerProvider != nil {
		t.Fatalf("tracing off but the app has a %T", a.TracerProvider)
	}
	if status, id := loginHook(t, base, "+79001234568", nil); status != http.StatusBadRequest || id != 1090001 {
		t.Fatalf("hook answered %d with message %d", status, id)
	}
}

func hasAttr(kvs []*commonpb.KeyValue, key, want string) bool {
	for _, kv := range kvs {
		if kv.GetKey() == key && kv.GetValue().GetStringValue() == want {
			return true
		}
	}
	return false
}
