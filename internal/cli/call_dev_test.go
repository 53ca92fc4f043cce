package cli

import (
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestCallDevNamesTheSimulator: `call --dev` calls the simulator of a
// running `serve --dev`; when none answers there, the error says so and
// where it looked, instead of a bare "connection refused".
func TestCallDevNamesTheSimulator(t *testing.T) {
	addr := testenv.FreeAddr(t) // nothing listens there (below the ephemeral range: nor will)
	env := []string{"DEV_DATA_DIR=" + t.TempDir(), "SERVE_LISTEN=" + addr, "CALLPASS_TIMEOUT=2s"}
	code, _, errs := run(t, env, "call", "--dev", "79001234567")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %q)", code, errs)
	}
	for _, want := range []string{"provider unavailable", `"callpass-kratos serve --dev" at http://` + addr + "/", "same directory"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr %q lacks %q", errs, want)
		}
	}
	if lines := strings.Split(strings.TrimSpace(errs), "\n"); len(lines) != 1 {
		t.Errorf("stderr has %d lines, want 1: %q", len(lines), errs)
	}
}
