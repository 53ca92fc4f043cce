package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestServeLogsLibraryMessagesAsJSON: with Redis unreachable, go-redis's
// dial failures reach the service's own structured log, not the standard
// logger's "redis: ..." lines.
func TestServeLogsLibraryMessagesAsJSON(t *testing.T) {
	closed, listen := testenv.FreeAddr(t), testenv.FreeAddr(t)
	vars := []string{"DEV_DATA_DIR=" + t.TempDir(), "SERVE_LISTEN=" + listen, "LOG_FORMAT=json",
		"STORE_TYPE=redis", "STORE_REDIS_URL=redis://" + closed + "/0"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr testenv.LogBuffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, []string{"serve", "--dev"}, vars, &stdout, &stderr) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), `"source":"go-redis"`) {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no go-redis line in the service's log:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d:\n%s", code, stderr.String())
	}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, "failed to dial") && !strings.Contains(l, `"msg":"library message"`) {
			t.Errorf("unstructured library line: %s", l)
		}
	}
}
