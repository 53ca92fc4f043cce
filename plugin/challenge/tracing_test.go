package challenge_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

// TestStoreSpans: with a TracerProvider every store operation is a child
// span of the caller's span, named by operation, carrying its outcome and
// neither the number nor the code.
func TestStoreSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	mem := memory.New(time.Hour)
	t.Cleanup(func() { _ = mem.Close() })
	lim, err := limit.New(limit.DefaultConfig(), mem, mem, limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	prov := &provider{}
	svc, err := challenge.NewService(cfg, mem, prov, lim, challenge.WithTracerProvider(tp),
		challenge.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })

	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	r := req("flow-span")
	res, err := svc.Start(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	code := prov.lastCode()
	wrong := "0000"
	if code == wrong {
		wrong = "1111"
	}
	if _, err := svc.Verify(ctx, bind(r), res.Challenge.ID, wrong); err == nil {
		t.Fatal("a wrong code verified")
	}
	parent.End()

	// The lease ends with the create; the take is the limiter's counters.
	want := []string{"store lookup:not_found", "store lease:ok", "store take:ok", "store create:ok", "store verify:ok"}
	var got []string
	for _, s := range rec.Ended() {
		if !strings.HasPrefix(s.Name(), "store ") {
			continue
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s: parent %s, want the request span", s.Name(), s.Parent().SpanID())
		}
		for _, kv := range s.Attributes() {
			if kv.Key == attribute.Key("store.outcome") {
				got = append(got, s.Name()+":"+kv.Value.AsString())
			}
			if v := kv.Value.Emit(); strings.Contains(v, "9001234567") || strings.Contains(v, code) {
				t.Errorf("%s: attribute %s = %q holds the number or the code", s.Name(), kv.Key, v)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("store spans %v, want %v", got, want)
	}
}
