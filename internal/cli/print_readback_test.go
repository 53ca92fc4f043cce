package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigValidatePrintReadsBack: what config validate --print writes is
// a configuration file (its secrets "***", to be given again): read back
// with the same environment (which supplies the secrets) it is valid and
// prints the same. An empty sim.tokens, a list, was printed as "" and a
// set one as "***", single values the file refuses where a list belongs
// (`sim.tokens: line 82: want a list`), so the printed default
// configuration could not be used as a file.
func TestConfigValidatePrintReadsBack(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys.json")
	if code, _, errs := run(t, nil, "keys", "generate", "--out", keys); code != 0 {
		t.Fatal(errs)
	}
	base := []string{"CALLPASS_TOKEN=" + testToken, "WEBHOOK_SECRET=webhook-secret-0123456789-abcdef-XYZ",
		"CHALLENGE_CODE_KEY=code-key-0123456789-abcdef-0123456789", "JWT_KEYS_FILE=" + keys}
	for _, tc := range []struct {
		name string
		env  []string
		dev  bool
	}{
		{"defaults", nil, false},
		{"redis and sim tokens", []string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://:redispass@redis:6379/0",
			"SIM_ENABLED=true", "SIM_TOKENS=" + strings.Repeat("ab", 16) + "," + strings.Repeat("cd", 16)}, false},
		// --dev generates the simulator's tokens: the environment gives them here.
		{"--dev", []string{"SIM_TOKENS=" + strings.Repeat("ef", 16)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append(append(base[:len(base):len(base)], tc.env...), "DEV_DATA_DIR="+t.TempDir())
			args := []string{"config", "validate", "--print"}
			if tc.dev {
				args = append(args, "--dev")
			}
			code, first, errs := run(t, env, args...)
			if code != 0 {
				t.Fatalf("--print: exit %d: %s", code, errs)
			}
			file := filepath.Join(t.TempDir(), "printed.yml")
			if err := os.WriteFile(file, []byte(first), 0o600); err != nil {
				t.Fatal(err)
			}
			code, again, errs := run(t, env, append(args, "--config", file)...)
			if code != 0 {
				t.Fatalf("the printed configuration read back: exit %d:\n%s\n%s", code, errs, first)
			}
			if again != first {
				t.Errorf("read back, it prints otherwise:\n%s\nwant\n%s", again, first)
			}
		})
	}
}
