package cli

import (
	"strings"
	"testing"
)

// TestFlagErrorUsageOnce: an unknown flag is reported once, on stderr, with
// the command's usage once; stdout stays empty. The flag package printed
// the error and the usage (to stdout) before the command printed both again.
// --help still prints the usage to stdout and exits 0.
func TestFlagErrorUsageOnce(t *testing.T) {
	for _, args := range [][]string{
		{"bans", "lift", "--dev", "5e1b7b4a-3c2d-4e5f-8a9b-0c1d2e3f4a5b"},
		{"keys", "generate", "--bogus"},
		{"serve", "--bogus"},
		{"config", "validate", "--bogus"},
		{"call", "+79001234567", "--bogus"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errs := run(t, nil, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout not empty:\n%s", out)
			}
			if n := strings.Count(errs, "flag provided but not defined"); n != 1 {
				t.Errorf("the error printed %d times:\n%s", n, errs)
			}
			if n := strings.Count(errs, "usage: "); n != 1 {
				t.Errorf("the usage printed %d times:\n%s", n, errs)
			}
		})
	}
	code, out, _ := run(t, nil, "bans", "--help")
	if code != 0 || !strings.Contains(out, "usage: callpass-kratos bans") || !strings.Contains(out, "-config") {
		t.Errorf("--help: exit %d, stdout:\n%s", code, out)
	}
}
