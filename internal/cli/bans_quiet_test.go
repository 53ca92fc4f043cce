package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

// redisLines records what go-redis prints on its process-wide logger.
type redisLines struct {
	mu    sync.Mutex
	lines []string
}

func (r *redisLines) Printf(_ context.Context, format string, v ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, v...))
}

// TestBansQuietWhenRedisIsDown: with Redis unreachable, the bans commands
// print their own error alone; go-redis's logger wrote its dial failure to
// the process's stderr first ("redis: 2026/… pool.go:770: redis: connection
// pool: failed to dial …"), a second, unformatted line for the same
// failure. Not parallel: go-redis's logger is process-wide.
func TestBansQuietWhenRedisIsDown(t *testing.T) {
	const id = "5e1b7b4a-0000-4000-8000-00000000000b"
	for _, sub := range []string{"show", "lift"} {
		t.Run(sub, func(t *testing.T) {
			rec := &redisLines{}
			redis.SetLogger(rec)
			t.Cleanup(logging.Enable)
			code, _, errs := run(t, []string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://127.0.0.1:1/0"}, "bans", sub, id)
			want := map[string]int{"show": 2, "lift": 1}[sub] // show: 1 is "not banned"
			if code != want || !strings.Contains(errs, "connection refused") {
				t.Fatalf("exit %d, stderr %q: want %d and the refused connection named", code, errs, want)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.lines) > 0 {
				t.Errorf("go-redis printed %d line(s) beside the command's error: %q", len(rec.lines), rec.lines)
			}
		})
	}
}
