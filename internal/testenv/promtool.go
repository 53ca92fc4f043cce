package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// PromtoolVersion is the Prometheus release whose promtool scripts/promtool.sh
// fetches (Debian 12's prometheus package).
const PromtoolVersion = "2.42.0"

// PromtoolBinary returns the path of Prometheus's promtool, fetching it with
// scripts/promtool.sh on first use (quick once cached; its lock keeps
// concurrent test packages from fetching twice). Set CALLPASS_PROMTOOL_BIN
// to use another binary. Like KratosBinary it fails the test, never skips,
// when promtool cannot be had.
func PromtoolBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CALLPASS_PROMTOOL_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("testenv: CALLPASS_PROMTOOL_BIN=%q: %v", p, err)
		}
		return p
	}
	root := kratosRepoRoot(t)
	cmd := exec.Command(filepath.Join(root, "scripts", "promtool.sh"), "path")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("testenv: promtool is needed and CALLPASS_PROMTOOL_BIN is unset; scripts/promtool.sh path failed: %v\n%s", err, stderr.String())
	}
	p := strings.TrimSpace(string(out))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: promtool binary %q: %v", p, err)
	}
	return p
}
