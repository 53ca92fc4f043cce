package webhook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestReadinessLogIsThrottled: a failing check is logged when it starts
// failing, then at most once a minute (with the probes left out), and once
// when it recovers; another check is logged on its own. A probe a second
// during a 3-minute outage writes 3 lines, not 180.
func TestReadinessLogIsThrottled(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var l checkLog
	redis := ReadyCheck{Name: "redis"}
	kratos := ReadyCheck{Name: "kratos", Optional: true}
	down := errors.New("dial tcp 10.0.0.1:6379: connection refused")
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 180 {
		l.record(context.Background(), log, redis, down, t0.Add(time.Duration(i)*time.Second))
	}
	l.record(context.Background(), log, kratos, down, t0.Add(10*time.Second))
	l.record(context.Background(), log, redis, nil, t0.Add(180*time.Second))
	l.record(context.Background(), log, redis, nil, t0.Add(181*time.Second))

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var failed, recovered, kratosLines int
	for _, ln := range lines {
		switch {
		case strings.Contains(ln, "check=kratos"):
			kratosLines++
		case strings.Contains(ln, `msg="readiness check failed"`):
			failed++
		case strings.Contains(ln, `msg="readiness check recovered"`):
			recovered++
		}
	}
	if failed != 3 || recovered != 1 || kratosLines != 1 {
		t.Fatalf("redis failed %d, recovered %d, kratos %d; want 3, 1, 1:\n%s", failed, recovered, kratosLines, buf.String())
	}
	if !strings.Contains(lines[0], "skipped_similar=0") || !strings.Contains(buf.String(), "skipped_similar=59") {
		t.Errorf("the repeated lines do not count the probes left out:\n%s", buf.String())
	}
}

// TestReadinessLogFlapping: a check failing every other probe (or a client
// aborting every other probe) writes at most a failure and a recovery a
// minute, not a pair per probe.
func TestReadinessLogFlapping(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var l checkLog
	redis := ReadyCheck{Name: "redis"}
	down := errors.New("connection refused")
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 120 {
		var err error
		if i%2 == 0 {
			err = down
		}
		l.record(context.Background(), log, redis, err, t0.Add(time.Duration(i)*time.Second))
	}
	failed := strings.Count(buf.String(), `msg="readiness check failed"`)
	recovered := strings.Count(buf.String(), `msg="readiness check recovered"`)
	if failed != 2 || recovered != 2 {
		t.Fatalf("120 flapping probes: %d failed, %d recovered lines; want 2 and 2:\n%s", failed, recovered, buf.String())
	}
	if !strings.Contains(buf.String(), "skipped_similar=29") {
		t.Errorf("the second failure line does not count the 29 failures left out:\n%s", buf.String())
	}
}
