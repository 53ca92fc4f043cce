package liblog

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestSamplerSkippedCountStartsAfresh: each written line's skipped_similar
// counts only the messages left out since the line before it, not every
// message left out since the sampler began.
func TestSamplerSkippedCountStartsAfresh(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	buf := &testenv.LogBuffer{}
	var now time.Time
	s := NewSampler(slog.New(slog.NewJSONHandler(buf, nil)), "src", 10*time.Second, func() time.Time { return now })
	for _, d := range []time.Duration{
		0,                            // written
		time.Second, 2 * time.Second, // skipped (2)
		11 * time.Second, // written, skipped_similar=2
		12 * time.Second, // skipped (1)
		22 * time.Second, // written, skipped_similar=1
	} {
		now = t0.Add(d)
		s.Log(context.Background(), "dial failed")
	}
	got := lines(t, buf)
	want := []float64{0, 2, 1}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d: %s", len(got), len(want), buf.String())
	}
	for i, w := range want {
		n, _ := got[i]["skipped_similar"].(float64)
		if n != w {
			t.Errorf("line %d: skipped_similar %v, want %v\n%s", i, got[i]["skipped_similar"], w, buf.String())
		}
	}
}
