package cli

import (
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestServeLogsLibraryMessagesAsJSON: with Redis unreachable, go-redis's
// dial failures reach the service's own structured log, not the standard
// logger's "redis: ..." lines.
func TestServeLogsLibraryMessagesAsJSON(t *testing.T) {
	closed, listen := testenv.FreeAddr(t), testenv.FreeAddr(t)
	vars := []string{"DEV_DATA_DIR=" + t.TempDir(), "SERVE_LISTEN=" + listen, "LOG_FORMAT=json",
		"STORE_TYPE=redis", "STORE_REDIS_URL=redis://" + closed + "/0"}
	log := serveUntil(t, "no go-redis line in the service's log", func(log string) bool {
		return strings.Contains(log, `"source":"go-redis"`)
	}, vars, "--dev")
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "failed to dial") && !strings.Contains(l, `"msg":"library message"`) {
			t.Errorf("unstructured library line: %s", l)
		}
	}
}
