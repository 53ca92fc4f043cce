package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
)

const testToken = "0123456789abcdef0123456789abcdef"

func run(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := Main(ctx, args, env, &out, &errb)
	return code, out.String(), errb.String()
}

func newSim(t *testing.T) (*sim.Simulator, string) {
	t.Helper()
	s, err := sim.New(sim.Config{Tokens: []string{testToken}, SettleDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); s.Close() })
	return s, srv.URL + "/"
}

// TestCallEveryVersion: `call` works against every API version and prints
// the call id, the code and (v2, v3) the final status.
func TestCallEveryVersion(t *testing.T) {
	s, base := newSim(t)
	for _, v := range []string{"1", "2", "3"} {
		t.Run("v"+v, func(t *testing.T) {
			env := []string{"CALLPASS_BASE_URL=" + base, "CALLPASS_TOKEN=" + testToken, "CALLPASS_API_VERSION=" + v,
				"CALLPASS_TIMEOUT=20s"} // v1 is synchronous: it must fit Kratos's hook timeout
			code, out, errs := run(t, env, "call", "+7 (900) 123-45-67")
			if code != 0 {
				t.Fatalf("exit %d: %s %s", code, out, errs)
			}
			calls := s.Calls("79001234567")
			if len(calls) == 0 {
				t.Fatal("no call reached the simulator")
			}
			want := calls[0].Caller[len(calls[0].Caller)-4:]
			for _, w := range []string{"call id: " + calls[0].CallID, "code:    " + want, "phone rang: yes"} {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out+errs, "79001234567") {
				t.Error("the full number was printed")
			}
		})
	}
}

// TestCallErrorsAreOneLine: each documented error and an HTML 502 page give a
// non-zero exit and one clear line.
func TestCallErrorsAreOneLine(t *testing.T) {
	s, base := newSim(t)
	tests := []struct {
		dn      string
		outcome sim.Outcome
		token   string
		want    string
	}{
		{"79000000001", sim.OutcomeHTMLError, testToken, "provider unavailable"},
		{"79000000002", sim.OutcomeLowBalance, testToken, "balance is too low"},
		{"79000000003", sim.OutcomeDestinationNotAllowed, testToken, "does not allow calls to this destination"},
		{"79000000004", sim.OutcomeServerError, testToken, "provider unavailable"},
		{"79000000005", sim.OutcomeNoAnswer, "ffffffffffffffffffffffffffffffff", "refused the credentials"},
	}
	for _, tt := range tests {
		t.Run(string(tt.outcome), func(t *testing.T) {
			s.Script(tt.dn, tt.outcome)
			env := []string{"CALLPASS_BASE_URL=" + base, "CALLPASS_TOKEN=" + tt.token}
			code, _, errs := run(t, env, "call", tt.dn)
			if code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			lines := strings.Split(strings.TrimSpace(errs), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.want) || !strings.HasPrefix(lines[0], "callpass-kratos call: ") {
				t.Errorf("stderr = %q, want one line containing %q", errs, tt.want)
			}
			if tt.outcome == sim.OutcomeHTMLError && !strings.Contains(errs, "text/html") {
				t.Errorf("HTML error does not say what came back: %q", errs)
			}
		})
	}
	// Bad input: refused before anything is sent.
	before := s.Requests("")
	for _, args := range [][]string{{"call", "12345"}, {"call"}, {"call", "+1 202 555 0100"}} {
		code, _, errs := run(t, []string{"CALLPASS_BASE_URL=" + base, "CALLPASS_TOKEN=" + testToken}, args...)
		if code == 0 || strings.TrimSpace(errs) == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
	code, _, errs := run(t, []string{"CALLPASS_BASE_URL=" + base, "CALLPASS_TOKEN=NOTHEX"}, "call", "79001234567")
	if code != 1 || !strings.Contains(errs, "callpass.token") || strings.Contains(errs, "NOTHEX") {
		t.Errorf("bad token: exit %d, stderr %q", code, errs)
	}
	if after := s.Requests(""); after != before {
		t.Errorf("bad input reached the provider: %d requests", after-before)
	}
}

// TestCallSlowProviderOneRequest: a provider that does not answer within the
// timeout gets exactly one start request, never a retry (a second paid call).
// The wait is callpass.timeout + callpass.request_timeout_margin, as serve's.
func TestCallSlowProviderOneRequest(t *testing.T) {
	s, base := newSim(t)
	s.Script("79000000009", sim.OutcomeSlow)
	env := []string{"CALLPASS_BASE_URL=" + base, "CALLPASS_TOKEN=" + testToken, "CALLPASS_API_VERSION=1",
		"CALLPASS_TIMEOUT=2s", "CALLPASS_REQUEST_TIMEOUT_MARGIN=1s"}
	code, _, errs := run(t, env, "call", "79000000009")
	if code != 1 || !strings.Contains(errs, "unavailable") || !strings.Contains(errs, "no answer within 3s") {
		t.Fatalf("exit %d, stderr %q; want unavailable, no answer within 3s", code, errs)
	}
	if n := s.Requests("79000000009"); n != 1 {
		t.Fatalf("slow provider received %d start requests, want exactly 1", n)
	}
}

func TestHelpAndUsage(t *testing.T) {
	code, out, _ := run(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "serve --dev") {
		t.Errorf("--help: %d %q", code, out)
	}
	for _, cmd := range []string{"serve", "sim", "call", "keys", "token", "config"} {
		code, out, errs := run(t, nil, cmd, "--help")
		if code != 0 || !strings.Contains(out+errs, "usage: callpass-kratos "+cmd) {
			t.Errorf("%s --help: exit %d %q %q", cmd, code, out, errs)
		}
	}
	if code, _, _ := run(t, nil, "nope"); code != 2 {
		t.Errorf("unknown command exit %d, want 2", code)
	}
	if code, out, _ := run(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "callpass-kratos ") {
		t.Errorf("version: %d %q", code, out)
	}
}

// TestUnknownCommandHint: a flag before the command is refused (the flags
// are the command's) with the command line meant; it was only "unknown
// command \"--dev\"".
func TestUnknownCommandHint(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--dev", "serve"}, `unknown command "--dev": flags go after the command: callpass-kratos serve --dev`},
		{[]string{"--config", "c.yml", "config", "validate"}, `unknown command "--config": flags go after the command: callpass-kratos config validate --config c.yml`},
		{[]string{"--dev", "call", "79001234567"}, `flags go after the command: callpass-kratos call --dev 79001234567`},
		{[]string{"-dev"}, "unknown command \"-dev\"\n"},
		{[]string{"nope", "serve"}, "unknown command \"nope\"\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errs := run(t, nil, tt.args...)
			if code != 2 || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errs, tt.want)
			}
		})
	}
}

func TestConfigValidateListsEveryProblem(t *testing.T) {
	env := []string{"CALLPASS_TOKEN=xyz", "CALLPASS_API_VERSION=7", "CHALLENGE_MAX_ATTEMPTS=0"}
	code, _, errs := run(t, env, "config", "validate")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, k := range []string{"callpass.token", "callpass.api_version", "challenge.max_attempts", "webhook.secret"} {
		if !strings.Contains(errs, k) {
			t.Errorf("config validate output lacks %s:\n%s", k, errs)
		}
	}
	if code, out, errs := run(t, []string{"DEV_DATA_DIR=" + t.TempDir()}, "config", "validate", "--dev"); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("dev config: %d %q %q", code, out, errs)
	}
}

// TestStrayArgumentsRefused: flag parsing stops at the first non-flag, so
// `serve cfg.yml --dev` would run without the file and without --dev; the
// commands without positional arguments refuse them instead.
func TestStrayArgumentsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"serve", "cfg.yml", "--dev"},
		{"config", "validate", "cfg.yml"},
		{"sim", "extra"},
		{"keys", "generate", "--out", dir + "/k.json", "extra"},
	} {
		code, out, errs := run(t, []string{"DEV_DATA_DIR=" + dir}, args...)
		if code != 2 || !strings.Contains(errs, "unexpected arguments") || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and unexpected arguments", args, code, out, errs)
		}
		if args[0] != "keys" && !strings.Contains(errs, "--config <file>") && args[0] != "sim" {
			t.Errorf("%v: the refusal does not say how to give a file: %q", args, errs)
		}
	}
}

// TestConfigReadErrorNamedOnce: `config validate` with a missing file says
// "config:" once.
func TestConfigReadErrorNamedOnce(t *testing.T) {
	code, _, errs := run(t, nil, "config", "validate", "--config", "/nonexistent.yml")
	if code != 1 || strings.Count(errs, "config:") != 1 || !strings.Contains(errs, "/nonexistent.yml") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}

func TestKeysGenerateAndTokenVerifyRefusal(t *testing.T) {
	dir := t.TempDir()
	keys := dir + "/keys.json"
	if code, out, errs := run(t, nil, "keys", "generate", "--out", keys); code != 0 || !strings.Contains(out, "wrote key") {
		t.Fatalf("keys generate: %d %q %q", code, out, errs)
	}
	if code, out, errs := run(t, nil, "keys", "generate", "--alg", "EdDSA", "--out", keys, "--activate"); code != 0 || !strings.Contains(out, "appended") {
		t.Fatalf("keys generate append: %d %q %q", code, out, errs)
	}
	code, _, errs := run(t, nil, "token", "verify", "--jwks", keys, "--issuer", "x", "--audience", "y", "not.a.jwt")
	if code != 1 || !strings.Contains(errs, "token refused") {
		t.Errorf("token verify of garbage: %d %q", code, errs)
	}
}

func TestTokenVerifyPrintsClaims(t *testing.T) {
	keys, tok := issuedToken(t)
	code, out, errs := run(t, []string{"JWT_ISSUER=https://cp.example", "JWT_AUDIENCE=app"}, "token", "verify", "--jwks", keys, tok)
	if code != 0 || !strings.Contains(out, "3f1d2c1e-0000-4000-8000-000000000001") || !strings.Contains(out, "tel") {
		t.Fatalf("token verify: %d %q %q", code, out, errs)
	}
	code, _, errs = run(t, []string{"JWT_ISSUER=https://cp.example", "JWT_AUDIENCE=other"}, "token", "verify", "--jwks", keys, tok)
	if code != 1 || !strings.Contains(errs, "audience") {
		t.Errorf("wrong audience: %d %q", code, errs)
	}
}

// TestConfigValidateNamesMisspeltVariables: a variable that looks like a
// misspelt configuration variable is named, with the one it resembles.
func TestConfigValidateNamesMisspeltVariables(t *testing.T) {
	code, out, errs := run(t, []string{"DEV_DATA_DIR=" + t.TempDir(), "SERVE_LISTN=0.0.0.0:1"}, "config", "validate", "--dev")
	if code != 0 || !strings.Contains(out+errs, "SERVE_LISTN is not a configuration variable and is ignored: did you mean SERVE_LISTEN?") {
		t.Errorf("exit %d, output %q %q", code, out, errs)
	}
}

// issuedToken generates a key file with "keys generate" and returns it with
// a token it signed (issuer https://cp.example, audience app).
func issuedToken(t *testing.T) (keys, token string) {
	t.Helper()
	keys = filepath.Join(t.TempDir(), "keys.json")
	if code, _, errs := run(t, nil, "keys", "generate", "--out", keys); code != 0 {
		t.Fatal(errs)
	}
	ks, err := jwt.LoadKeySet(keys, "")
	if err != nil {
		t.Fatal(err)
	}
	iss, err := jwt.NewIssuer(jwt.IssuerConfig{Issuer: "https://cp.example", Audience: []string{"app"}, Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(context.Background(), jwt.Subject{IdentityID: "3f1d2c1e-0000-4000-8000-000000000001",
		SessionID: "s1", Methods: []string{"password"}, PhoneE164: "+79001234567"})
	if err != nil {
		t.Fatal(err)
	}
	return keys, tok.Raw
}
