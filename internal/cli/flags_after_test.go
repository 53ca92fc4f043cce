package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagsAfterTheArgument: call and token verify read their flags after
// the phone number or the token too, as bans does (the order of `call
// +79001234567 --config prod.yml` typed after the number). Flag parsing
// stopped at the argument, so the flags behind it were taken for more
// arguments: "expected exactly one phone number", "need --jwks and
// exactly one token", with both given.
func TestFlagsAfterTheArgument(t *testing.T) {
	s, base := newSim(t)
	cfg := filepath.Join(t.TempDir(), "call.yml")
	yml := "callpass:\n  base_url: " + base + "\n  token: " + testToken + "\n  timeout: 20s\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, tok := issuedToken(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // on stdout
	}{
		{"call, --config after the number", []string{"call", "+79001234501", "--config", cfg}, 0, "phone rang: yes"},
		{"call, --config=file after the number", []string{"call", "+79001234502", "--config=" + cfg, "--wait", "30s"}, 0, "phone rang: yes"},
		{"token verify, flags after the token", []string{"token", "verify", tok, "--jwks", keys, "--issuer", "https://cp.example", "--audience", "app"}, 0, "3f1d2c1e-0000-4000-8000-000000000001"},
		{"token verify, flags around the token", []string{"token", "verify", "--jwks", keys, tok, "--audience", "app", "--issuer", "https://cp.example"}, 0, "3f1d2c1e-0000-4000-8000-000000000001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d and %q:\n%s%s", code, tc.code, tc.want, out, errs)
			}
		})
	}
	if n := len(s.Calls("79001234501")) + len(s.Calls("79001234502")); n != 2 {
		t.Errorf("%d calls reached the simulator, want 2", n)
	}
	// Still refused: a second argument, wherever it stands.
	for _, args := range [][]string{
		{"call", "+79001234503", "--config", cfg, "+79001234504"},
		{"token", "verify", tok, "--jwks", keys, tok},
	} {
		if code, _, errs := run(t, nil, args...); code != 2 || !strings.Contains(errs, "exactly one") {
			t.Errorf("%v: exit %d, want 2:\n%s", args, code, errs)
		}
	}
	if n := len(s.Calls("79001234503")) + len(s.Calls("79001234504")); n != 0 {
		t.Errorf("a refused command line placed %d call(s)", n)
	}
}
