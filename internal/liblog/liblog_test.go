package liblog

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// lines decodes the JSON log lines in buf.
func lines(t *testing.T, buf *testenv.LogBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestSampler(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		at      []time.Duration // message times after t0
		every   time.Duration
		written []int // skipped_similar of each line written (0: none)
	}{
		{"one message", []time.Duration{0}, 10 * time.Second, []int{0}},
		{"burst is one line", []time.Duration{0, time.Second, 2 * time.Second}, 10 * time.Second, []int{0}},
		{"next line counts the skipped", []time.Duration{0, time.Second, 2 * time.Second, 11 * time.Second}, 10 * time.Second, []int{0, 2}},
		{"period 0 writes all", []time.Duration{0, 0, 0}, 0, []int{0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := &testenv.LogBuffer{}
			var now time.Time
			s := NewSampler(slog.New(slog.NewJSONHandler(buf, nil)), "src", tc.every, func() time.Time { return now })
			for _, d := range tc.at {
				now = t0.Add(d)
				s.Log(context.Background(), "  dial failed \n")
			}
			got := lines(t, buf)
			if len(got) != len(tc.written) {
				t.Fatalf("%d lines, want %d: %s", len(got), len(tc.written), buf.String())
			}
			for i, l := range got {
				if l["level"] != "WARN" || l["source"] != "src" || l["detail"] != "dial failed" {
					t.Errorf("line %d: %v", i, l)
				}
				skipped, _ := l["skipped_similar"].(float64)
				if int(skipped) != tc.written[i] {
					t.Errorf("line %d skipped_similar %v, want %d", i, l["skipped_similar"], tc.written[i])
				}
			}
		})
	}
}

func TestSamplerBoundsDetail(t *testing.T) {
	buf := &testenv.LogBuffer{}
	s := NewSampler(slog.New(slog.NewJSONHandler(buf, nil)), "src", 0, nil)
	s.Log(context.Background(), strings.Repeat("x", 5000))
	got := lines(t, buf)
	if len(got) != 1 {
		t.Fatalf("%d lines", len(got))
	}
	if d := got[0]["detail"].(string); len(d) > maxDetail+len("…") {
		t.Fatalf("detail of %d bytes, want at most %d", len(d), maxDetail+len("…"))
	}
}

// TestRoute: after Route, a go-redis dial failure and an OpenTelemetry
// error reach the slog logger (and only once per period each), as does
// OpenTelemetry's own log; restore takes the routing back.
func TestRoute(t *testing.T) {
	for _, every := range []time.Duration{time.Hour, 0} {
		t.Run(every.String(), func(t *testing.T) {
			buf := &testenv.LogBuffer{}
			restore := Route(slog.New(slog.NewJSONHandler(buf, nil)), every)
			rdb := redis.NewClient(&redis.Options{Addr: testenv.FreeAddr(t), MaxRetries: -1, DialTimeout: time.Second})
			defer rdb.Close()
			for range 3 {
				if err := rdb.Ping(context.Background()).Err(); err == nil {
					t.Fatal("ping to a closed port succeeded")
				}
			}
			otel.Handle(errors.New("traces export: connection refused"))
			otel.Handle(errors.New("traces export: connection refused"))
			// OpenTelemetry logs a header value it cannot unescape, value
			// included: only the message may reach our log.
			t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%zzsecret-token")
			if _, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(testenv.FreeAddr(t))); err != nil {
				t.Fatal(err)
			}

			want := 3 // lines per source without sampling
			if every > 0 {
				want = 1
			}
			bySource := map[string][]map[string]any{}
			for _, l := range lines(t, buf) {
				src, _ := l["source"].(string)
				bySource[src] = append(bySource[src], l)
			}
			if r := bySource["go-redis"]; len(r) != want || !strings.Contains(r[0]["detail"].(string), "failed to dial") {
				t.Errorf("go-redis lines %v, want %d about the failed dial", r, want)
			}
			var handled, logged int
			for _, l := range bySource["opentelemetry"] {
				switch {
				case l["detail"] == "traces export: connection refused":
					handled++
				case l["msg"] == "escape header value" && l["level"] == "ERROR":
					logged++
				}
			}
			if handled != min(want, 2) || logged != 1 {
				t.Errorf("opentelemetry: %d handled errors (want %d), %d log lines (want 1): %v", handled, min(want, 2), logged, bySource["opentelemetry"])
			}

			restore()
			before := buf.String()
			otel.Handle(errors.New("after restore"))
			if _, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(testenv.FreeAddr(t))); err != nil {
				t.Fatal(err)
			}
			_ = rdb.Ping(context.Background()).Err()
			if strings.Contains(before, "secret-token") {
				t.Errorf("a header value reached the log: %s", before)
			}
			if buf.String() != before {
				t.Errorf("lines written after restore: %s", strings.TrimPrefix(buf.String(), before))
			}
		})
	}
}
