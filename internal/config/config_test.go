package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"time"
)

const (
	tok32  = "0123456789abcdef0123456789abcdef"
	tok64  = tok32 + tok32
	secret = "webhook-secret-0123456789-abcdef-XYZ"
	key32  = "code-key-0123456789abcdef0123456789"
)

// testKeysFile is a valid jwt.keys_file (validation loads it outside --dev,
// as serve does), set by TestMain.
var testKeysFile string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "config-test")
	if err != nil {
		panic(err)
	}
	testKeysFile = filepath.Join(dir, "jwt-keys.json")
	k, err := jwt.GenerateKey(jwt.AlgES256)
	if err != nil {
		panic(err)
	}
	if err := jwt.AppendKey(testKeysFile, k, true); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// baseEnv is the smallest environment that makes a non-dev Load succeed.
func baseEnv(extra ...string) []string {
	return append([]string{
		"CALLPASS_TOKEN=" + tok32,
		"WEBHOOK_SECRET=" + secret,
		"CHALLENGE_CODE_KEY=" + key32,
		"JWT_KEYS_FILE=" + testKeysFile,
	}, extra...)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, path string, env []string, dev bool) (*Config, []string) {
	t.Helper()
	c, notices, err := Load(path, env, dev)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c, notices
}

func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %T: %v", err, err)
	}
	return ve.Problems
}

// oneProblem fails unless err is nil when wantKey is "", or holds exactly
// one problem, under wantKey; it returns that problem (zero when none).
func oneProblem(t *testing.T, err error, wantKey string) Problem {
	t.Helper()
	if wantKey == "" {
		if err != nil {
			t.Fatal(err)
		}
		return Problem{}
	}
	ps := problemsOf(t, err)
	if len(ps) != 1 || ps[0].Key != wantKey {
		t.Fatalf("problems = %v, want one for %s", ps, wantKey)
	}
	return ps[0]
}

func TestDefaults(t *testing.T) {
	c, notices := mustLoad(t, "", baseEnv(), false)
	if len(notices) != 0 {
		t.Errorf("notices without --dev: %v", notices)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"serve.listen", c.Serve.Listen, "127.0.0.1:4477"},
		{"serve.base_url", c.Serve.BaseURL, "http://127.0.0.1:4477"},
		{"serve.trusted_proxies", len(c.Serve.TrustedProxies), 0},
		{"serve.client_ip_header", c.Serve.ClientIPHeader, ""},
		{"serve.shutdown_timeout", c.Serve.ShutdownTimeout, 15 * time.Second},
		{"serve.allowed_origins", c.Serve.AllowedOrigins, []string{"http://127.0.0.1:4477", "http://127.0.0.1:4433"}},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "json"},
		{"log.refusals_per_second", c.Log.RefusalsPerSecond, 100},
		{"callpass.base_url", c.CallPass.BaseURL, "https://api.callpass.sp-com.ru/"},
		{"callpass.api_version", c.CallPass.APIVersion, 3},
		{"callpass.timeout", c.CallPass.Timeout, 30 * time.Second},
		{"callpass.code_length", c.CallPass.CodeLength, 4},
		{"callpass.async", c.CallPass.Async, true},
		{"callpass.request_timeout_margin", c.CallPass.RequestTimeoutMargin, 5 * time.Second},
		{"request timeout", c.CallPass.RequestTimeout(), 35 * time.Second},
		{"webhook.missing_phone", c.Webhook.MissingPhone, "deny"},
		{"challenge.ttl", c.Challenge.TTL, 5 * time.Minute},
		{"challenge.max_attempts", c.Challenge.MaxAttempts, 3},
		{"challenge.resend_cooldowns", c.Challenge.ResendCooldowns, []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute}},
		{"challenge.max_resends", c.Challenge.MaxResends, 5},
		{"limits.per_number", c.Limits.PerNumber, Rule{5, time.Hour}},
		{"limits.per_identity", c.Limits.PerIdentity, Rule{10, 24 * time.Hour}},
		{"limits.per_ip", c.Limits.PerIP, Rule{20, time.Hour}},
		{"limits.global_daily", c.Limits.GlobalDaily, Rule{10000, 24 * time.Hour}},
		{"limits.regulation", c.Limits.Regulation, Regulation{3, 10 * time.Minute, 15 * time.Minute}},
		{"store.type", c.Store.Type, "memory"},
		{"store.redis.prefix", c.Store.Redis.Prefix, "callpass:"},
		{"kratos.public_url", c.Kratos.PublicURL, "http://127.0.0.1:4433"},
		{"kratos.browser_url", c.Kratos.BrowserURL, "http://127.0.0.1:4433"},
		{"kratos.admin_url", c.Kratos.AdminURL, "http://127.0.0.1:4434"},
		{"kratos.phone_trait", c.Kratos.PhoneTrait, "phone"},
		{"kratos.timeout", c.Kratos.Timeout, 5 * time.Second},
		{"jwt.issuer", c.JWT.Issuer, "http://127.0.0.1:4477"},
		{"jwt.audience", c.JWT.Audience, []string{"callpass-kratos"}},
		{"jwt.ttl", c.JWT.TTL, 10 * time.Minute},
		{"jwt.algorithm", c.JWT.Algorithm, "ES256"},
		{"jwt.cookie.enabled", c.JWT.Cookie.Enabled, false},
		{"jwt.cookie.name", c.JWT.Cookie.Name, "callpass_jwt"},
		{"sim.enabled", c.Sim.Enabled, false},
		{"sim.settle_delay", c.Sim.SettleDelay, 2 * time.Second},
		{"sim.default_outcome", c.Sim.DefaultOutcome, "no_answer"},
		{"dev.data_dir", c.Dev.DataDir, ".callpass-dev"},
		{"metrics.enabled", c.Metrics.Enabled, true},
		{"tracing.otlp_endpoint", c.Tracing.OTLPEndpoint, ""},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	yml := `
serve:
  listen: "0.0.0.0:8080"
  base_url: https://auth.example.com
callpass:
  timeout: 20s
  api_version: 2
jwt:
  audience: [app-a, app-b]
limits:
  per_number:
    limit: 7
`
	path := writeFile(t, "c.yml", yml)
	tests := []struct {
		name  string
		env   []string
		check func(*Config) (got, want any)
	}{
		{"file beats default", nil, func(c *Config) (any, any) { return c.Serve.Listen, "0.0.0.0:8080" }},
		{"env beats file", []string{"SERVE_LISTEN=127.0.0.1:9"}, func(c *Config) (any, any) { return c.Serve.Listen, "127.0.0.1:9" }},
		{"env duration", []string{"CALLPASS_TIMEOUT=45s"}, func(c *Config) (any, any) { return c.CallPass.Timeout, 45 * time.Second }},
		{"file duration", nil, func(c *Config) (any, any) { return c.CallPass.Timeout, 20 * time.Second }},
		{"env list comma-separated", []string{"JWT_AUDIENCE=x, y,,z"}, func(c *Config) (any, any) { return c.JWT.Audience, []string{"x", "y", "z"} }},
		{"file list", nil, func(c *Config) (any, any) { return c.JWT.Audience, []string{"app-a", "app-b"} }},
		{"nested rule from file, sibling keeps default", nil, func(c *Config) (any, any) { return c.Limits.PerNumber, Rule{7, time.Hour} }},
		{"nested rule env", []string{"LIMITS_PER_NUMBER_WINDOW=2h"}, func(c *Config) (any, any) { return c.Limits.PerNumber, Rule{7, 2 * time.Hour} }},
		{"empty env is unset", []string{"SERVE_LISTEN="}, func(c *Config) (any, any) { return c.Serve.Listen, "0.0.0.0:8080" }},
		{"issuer derives from effective base_url", []string{"SERVE_BASE_URL=https://x.example.org/cp"}, func(c *Config) (any, any) { return c.JWT.Issuer, "https://x.example.org/cp" }},
		{"origins derive from base_url", nil, func(c *Config) (any, any) {
			return c.Serve.AllowedOrigins, []string{"https://auth.example.com", "http://127.0.0.1:4433"}
		}},
		{"explicit origins normalised", []string{"SERVE_ALLOWED_ORIGINS=HTTPS://App.Example.com/"}, func(c *Config) (any, any) {
			return c.Serve.AllowedOrigins, []string{"https://app.example.com"}
		}},
		{"duration list env", []string{"CHALLENGE_RESEND_COOLDOWNS=10s,1m"}, func(c *Config) (any, any) {
			return c.Challenge.ResendCooldowns, []time.Duration{10 * time.Second, time.Minute}
		}},
		{"map env", []string{"SIM_SCRIPTS=79000000001=busy, 79000000002=no_answer"}, func(c *Config) (any, any) {
			return c.Sim.Scripts, map[string]string{"79000000001": "busy", "79000000002": "no_answer"}
		}},
		{"bool env", []string{"METRICS_ENABLED=false"}, func(c *Config) (any, any) { return c.Metrics.Enabled, false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mustLoad(t, path, baseEnv(tt.env...), false)
			if got, want := tt.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// TestDerivedDefaults: jwt.issuer, kratos.browser_url and the allowed
// origins follow the keys they derive from. Apps check iss exactly against
// the base URL as they write it, without the trailing slash; the /2fa
// sign-in link and the Kratos origin are Kratos as browsers reach it.
func TestDerivedDefaults(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		issuer  string
		browser string
		origins []string
	}{
		{"defaults", nil, "http://127.0.0.1:4477", "http://127.0.0.1:4433",
			[]string{"http://127.0.0.1:4477", "http://127.0.0.1:4433"}},
		{"base_url with a trailing slash", []string{"SERVE_BASE_URL=https://x.example/"}, "https://x.example", "http://127.0.0.1:4433",
			[]string{"https://x.example", "http://127.0.0.1:4433"}},
		{"base_url with a path and slashes", []string{"SERVE_BASE_URL=https://x.example/cp//"}, "https://x.example/cp", "http://127.0.0.1:4433",
			[]string{"https://x.example", "http://127.0.0.1:4433"}},
		{"an explicit issuer is used as written", []string{"SERVE_BASE_URL=https://x.example/", "JWT_ISSUER=https://x.example/"}, "https://x.example/", "http://127.0.0.1:4433",
			[]string{"https://x.example", "http://127.0.0.1:4433"}},
		{"browser_url follows public_url", []string{"KRATOS_PUBLIC_URL=https://auth.example"}, "http://127.0.0.1:4477", "https://auth.example",
			[]string{"http://127.0.0.1:4477", "https://auth.example"}},
		{"browser_url set: the browser's origin", []string{"KRATOS_PUBLIC_URL=http://kratos:4433", "KRATOS_BROWSER_URL=http://127.0.0.1:4433"},
			"http://127.0.0.1:4477", "http://127.0.0.1:4433", []string{"http://127.0.0.1:4477", "http://127.0.0.1:4433"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mustLoad(t, "", baseEnv(tt.env...), false)
			if c.JWT.Issuer != tt.issuer || c.Kratos.BrowserURL != tt.browser || !slices.Equal(c.Serve.AllowedOrigins, tt.origins) {
				t.Errorf("issuer %q, browser_url %q, origins %v; want %q, %q, %v",
					c.JWT.Issuer, c.Kratos.BrowserURL, c.Serve.AllowedOrigins, tt.issuer, tt.browser, tt.origins)
			}
		})
	}
	c, _ := mustLoad(t, writeFile(t, "c.yml", "kratos:\n  browser_url: https://auth.example\n"), baseEnv(), false)
	if c.Kratos.BrowserURL != "https://auth.example" {
		t.Errorf("kratos.browser_url from the file: %q", c.Kratos.BrowserURL)
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	otherTok := strings.Repeat("ab", 16)
	if err := os.WriteFile(tokFile, []byte(otherTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Everything but the token.
	env := baseEnv()[1:]
	tests := []struct {
		name      string
		yaml      string
		env       []string
		wantTok   string
		wantErrIn []string // substrings of the error; empty: success
	}{
		{name: "yaml token_file, newline trimmed", yaml: "callpass:\n  token_file: " + tokFile, wantTok: otherTok},
		{name: "env _FILE", env: []string{"CALLPASS_TOKEN_FILE=" + tokFile}, wantTok: otherTok},
		{name: "env direct beats yaml file", yaml: "callpass:\n  token_file: " + tokFile, env: []string{"CALLPASS_TOKEN=" + tok32}, wantTok: tok32},
		{name: "env file beats yaml direct", yaml: "callpass:\n  token: " + tok64, env: []string{"CALLPASS_TOKEN_FILE=" + tokFile}, wantTok: otherTok},
		{name: "both in yaml", yaml: "callpass:\n  token: " + tok32 + "\n  token_file: " + tokFile,
			wantErrIn: []string{"callpass.token:", "callpass.token and callpass.token_file are both set"}},
		{name: "both in env", env: []string{"CALLPASS_TOKEN=" + tok32, "CALLPASS_TOKEN_FILE=" + tokFile},
			wantErrIn: []string{"callpass.token:", "CALLPASS_TOKEN and CALLPASS_TOKEN_FILE are both set"}},
		{name: "missing file", env: []string{"CALLPASS_TOKEN_FILE=" + filepath.Join(dir, "nope")},
			wantErrIn: []string{"callpass.token:", "CALLPASS_TOKEN_FILE", "nope"}},
		{name: "redis url from file", yaml: "store:\n  type: redis\n  redis:\n    url_file: " + writeFile(t, "r", "redis://:pw@127.0.0.1:6379/0\n"),
			env: []string{"CALLPASS_TOKEN=" + tok32}, wantTok: tok32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, "c.yml", tt.yaml)
			}
			c, _, err := Load(path, append(slices.Clone(env), tt.env...), false)
			if len(tt.wantErrIn) > 0 {
				if err == nil {
					t.Fatal("want error")
				}
				for _, s := range tt.wantErrIn {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.CallPass.Token != tt.wantTok {
				t.Errorf("token = %q, want %q", c.CallPass.Token, tt.wantTok)
			}
		})
	}
}

func TestRedisURLFromFile(t *testing.T) {
	f := writeFile(t, "redis", "redis://:pw@127.0.0.1:6379/0\r\n")
	c, _ := mustLoad(t, "", baseEnv("STORE_TYPE=redis", "STORE_REDIS_URL_FILE="+f), false)
	if c.Store.Redis.URL != "redis://:pw@127.0.0.1:6379/0" {
		t.Errorf("url = %q", c.Store.Redis.URL)
	}
}

func TestYAMLProblems(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantKey string
		wantMsg string
	}{
		{"unknown leaf", "callpass:\n  tokn: x\n", "callpass.tokn", "unknown key (line 2): did you mean callpass.token?"},
		{"unknown section", "callpas:\n  token: x\n", "callpas", "unknown key (line 1): did you mean callpass?"},
		{"unknown nested", "limits:\n  per_number:\n    limt: 3\n", "limits.per_number.limt", "did you mean limits.per_number.limit?"},
		{"unknown, nothing near", "limits:\n  everything: 3\n", "limits.everything", "unknown key (line 2)"},
		{"leaf used as section", "serve:\n  listen:\n    port: 1\n", "serve.listen", "want a string"},
		{"section given a scalar", "serve: 8080\n", "serve", "want a mapping"},
		{"bare number duration", "callpass:\n  timeout: 30\n", "callpass.timeout", "with a unit"},
		{"bad int", "challenge:\n  max_attempts: three\n", "challenge.max_attempts", "line 2: want an integer (got \"three\")"},
		{"bad bool", "metrics:\n  enabled: maybe\n", "metrics.enabled", "line 2: want true or false (got \"maybe\")"},
		// A quoted number or boolean is a string in YAML: "want an integer"
		// for `api_version: "3"` did not say what was wrong with it.
		{"quoted int", "callpass:\n  api_version: \"3\"\n", "callpass.api_version", `line 2: want an integer, not the quoted string "3": write it without quotes`},
		{"single-quoted int", "challenge:\n  max_attempts: '3'\n", "challenge.max_attempts", `want an integer, not the quoted string "3": write it without quotes`},
		{"float for int", "callpass:\n  api_version: 3.0\n", "callpass.api_version", `line 2: want an integer (got "3.0")`},
		{"quoted bool", "metrics:\n  enabled: \"true\"\n", "metrics.enabled", `line 2: want true or false, not the quoted string "true": write it without quotes`},
		{"YAML 1.1 bool", "jwt:\n  cookie:\n    enabled: yes\n", "jwt.cookie.enabled", `line 3: want true or false (got "yes")`},
		// A long value is cut at a character, not inside one ("\xd0").
		{"long value cut at a character", "metrics:\n  enabled: x" + strings.Repeat("да", 30) + "\n", "metrics.enabled",
			`line 2: want true or false (got "x` + strings.Repeat("да", 9) + `д"…)`},
		{"list wanted", "jwt:\n  audience: app\n", "jwt.audience", "line 2: want a list, such as [a, b] or one \"- a\" line per item (got a single value)"},
		{"list of durations wanted", "challenge:\n  resend_cooldowns: 30s\n", "challenge.resend_cooldowns", "want a list of durations, such as [a, b]"},
		{"duplicate key", "serve:\n  listen: a:1\n  listen: b:2\n", "serve.listen", "defined twice"},
		{"_file on a non-secret", "serve:\n  listen_file: /x\n", "serve.listen_file", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(writeFile(t, "c.yml", tt.yaml), baseEnv(), false)
			ps := problemsOf(t, err)
			for _, p := range ps {
				if p.Key == tt.wantKey && strings.Contains(p.Message, tt.wantMsg) {
					return
				}
			}
			t.Errorf("no problem %s: …%s… in %v", tt.wantKey, tt.wantMsg, ps)
		})
	}
}

// TestEnvTypeProblems: an environment value of the wrong type is named with
// its variable and, for the non-secret types, what it held.
func TestEnvTypeProblems(t *testing.T) {
	tests := []struct{ env, wantKey, wantMsg string }{
		{"CALLPASS_API_VERSION=three", "callpass.api_version", `from CALLPASS_API_VERSION: want an integer (got "three")`},
		{"CHALLENGE_MAX_ATTEMPTS=3.5", "challenge.max_attempts", `from CHALLENGE_MAX_ATTEMPTS: want an integer (got "3.5")`},
		{"METRICS_ENABLED=yes", "metrics.enabled", `from METRICS_ENABLED: want true or false (got "yes")`},
		{"METRICS_ENABLED=x" + strings.Repeat("да", 30), "metrics.enabled", `from METRICS_ENABLED: want true or false (got "x` + strings.Repeat("да", 9) + `д"…)`},
		{"CALLPASS_TIMEOUT=30", "callpass.timeout", `from CALLPASS_TIMEOUT: want a duration with a unit, such as "30s" (got "30")`},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env), false)
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != tt.wantKey || ps[0].Message != tt.wantMsg {
				t.Errorf("problems = %v, want %s: %s", ps, tt.wantKey, tt.wantMsg)
			}
		})
	}
}

func TestYAMLSyntaxError(t *testing.T) {
	_, _, err := Load(writeFile(t, "c.yml", "serve: [\n"), baseEnv(), false)
	var ve *ValidationError
	if err == nil || errors.As(err, &ve) {
		t.Fatalf("want a plain parse error, got %v", err)
	}
	if _, _, err := Load(filepath.Join(t.TempDir(), "missing.yml"), baseEnv(), false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: want ErrNotExist, got %v", err)
	}
}

func TestEmptyYAMLFile(t *testing.T) {
	mustLoad(t, writeFile(t, "c.yml", "# nothing yet\n"), baseEnv(), false)
}

func TestAllProblemsAtOnce(t *testing.T) {
	yml := `
serve:
  listen: nonsense
callpass:
  api_version: 4
webhook:
  missing_phone: maybe
limits:
  per_ip:
    limit: 0
`
	_, _, err := Load(writeFile(t, "c.yml", yml), baseEnv(), false)
	ps := problemsOf(t, err)
	want := []string{"serve.listen", "callpass.api_version", "webhook.missing_phone", "limits.per_ip.limit"}
	var keys []string
	for _, p := range ps {
		keys = append(keys, p.Key)
	}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("problem keys = %v, want %v", keys, want)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 4 {
		t.Fatalf("Error() has %d lines, want 4:\n%s", len(lines), err)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, want[i]+": ") {
			t.Errorf("line %d %q does not start with %q", i, l, want[i])
		}
	}
}

func TestToken(t *testing.T) {
	tests := []struct {
		name string
		tok  string
		ok   bool
	}{
		{"32 hex", tok32, true},
		{"64 hex", tok64, true},
		{"upper-case", strings.ToUpper(tok32), false},
		{"31 chars", tok32[:31], false},
		{"33 chars", tok32 + "a", false},
		{"48 chars", tok32 + tok32[:16], false},
		{"non-hex", "g" + tok32[1:], false},
		{"space padded", " " + tok32[1:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append(baseEnv()[1:], "CALLPASS_TOKEN="+tt.tok)
			_, _, err := Load("", env, false)
			if tt.ok {
				if err != nil {
					t.Fatalf("want ok, got %v", err)
				}
				return
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != "callpass.token" {
				t.Fatalf("problems = %v", ps)
			}
			msg := err.Error()
			// Neither the token nor any long piece of it may appear.
			for i := 0; i+8 <= len(tt.tok); i++ {
				if piece := tt.tok[i : i+8]; strings.Contains(msg, piece) || strings.Contains(strings.ToLower(msg), strings.ToLower(piece)) {
					t.Fatalf("message %q echoes token piece %q", msg, piece)
				}
			}
		})
	}
}

func TestCallPassTimeout(t *testing.T) {
	tests := []struct {
		val string
		ok  bool
	}{
		{"1s", false}, {"100s", false}, {"1500ms", false}, {"0s", false},
		{"2s", true}, {"99s", true}, {"1m", true},
	}
	for _, tt := range tests {
		t.Run(tt.val, func(t *testing.T) {
			_, _, err := Load("", baseEnv("CALLPASS_TIMEOUT="+tt.val), false)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != "callpass.timeout" {
				t.Fatalf("problems = %v", ps)
			}
		})
	}
}

// TestSynchronousStartFitsKratosTimeout: a synchronous start must end well
// within Kratos's 30 s web-hook timeout, or Kratos answers the user 504 and
// sends the hook again (a second paid call).
func TestSynchronousStartFitsKratosTimeout(t *testing.T) {
	tests := []struct {
		env []string
		ok  bool
	}{
		{[]string{"CALLPASS_API_VERSION=3"}, true}, // async default, 30s + 5s is fine
		{[]string{"CALLPASS_API_VERSION=1"}, false},
		{[]string{"CALLPASS_API_VERSION=2", "CALLPASS_ASYNC=false"}, false},
		// (serve.shutdown_timeout must cover the wait: TestShutdownCoversSynchronousStart.)
		{[]string{"CALLPASS_API_VERSION=1", "CALLPASS_TIMEOUT=20s", "SERVE_SHUTDOWN_TIMEOUT=25s"}, true},
		{[]string{"CALLPASS_API_VERSION=1", "CALLPASS_TIMEOUT=21s"}, false},
		{[]string{"CALLPASS_API_VERSION=1", "CALLPASS_TIMEOUT=15s", "CALLPASS_REQUEST_TIMEOUT_MARGIN=10s", "SERVE_SHUTDOWN_TIMEOUT=30s"}, true},
		{[]string{"CALLPASS_ASYNC=false", "CALLPASS_TIMEOUT=99s"}, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, ","), func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env...), false)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != "callpass.timeout" || !strings.Contains(ps[0].Message, "web-hook timeout") {
				t.Fatalf("problems = %v", ps)
			}
		})
	}
}

func TestLimitsCannotBeDisabled(t *testing.T) {
	tests := []struct {
		env     string
		wantKey string // "" = valid
	}{
		{"LIMITS_PER_NUMBER_LIMIT=0", "limits.per_number.limit"},
		{"LIMITS_PER_IDENTITY_LIMIT=-1", "limits.per_identity.limit"},
		{"LIMITS_GLOBAL_DAILY_WINDOW=0s", "limits.global_daily.window"},
		{"LIMITS_REGULATION_MAX_FAILURES=0", "limits.regulation.max_failures"},
		{"LIMITS_PER_IP_LIMIT=1000000000", ""},
		{"LIMITS_DENY_PREFIXES=7+9", "limits.deny_prefixes"},
		{"LIMITS_ALLOW_PREFIXES=79,7495", ""},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env), false)
			p := oneProblem(t, err, tt.wantKey)
			if strings.HasSuffix(tt.wantKey, "limit") && !strings.Contains(p.Message, "cannot be disabled") {
				t.Errorf("message %q does not say limits cannot be disabled", p.Message)
			}
		})
	}
}

func TestOtherValidation(t *testing.T) {
	tests := []struct {
		env     []string
		wantKey string
	}{
		{[]string{"CALLPASS_API_VERSION=1", "CALLPASS_TIMEOUT=20s", "SERVE_SHUTDOWN_TIMEOUT=25s"}, ""}, // v1 ignores async
		{[]string{"CALLPASS_API_VERSION=1", "CALLPASS_ASYNC=false", "CALLPASS_TIMEOUT=20s", "SERVE_SHUTDOWN_TIMEOUT=25s"}, ""},
		{[]string{"CALLPASS_CODE_LENGTH=8"}, "callpass.code_length"},
		{[]string{"CALLPASS_BASE_URL=ftp://x"}, "callpass.base_url"},
		{[]string{"WEBHOOK_SECRET=short"}, "webhook.secret"},
		{[]string{"CHALLENGE_CODE_KEY=0123456789abcdef0123456789abcde"}, "challenge.code_key"},
		{[]string{"CHALLENGE_TTL=20s"}, "challenge.ttl"},
		{[]string{"STORE_TYPE=redis"}, "store.redis.url"},
		{[]string{"STORE_TYPE=etcd"}, "store.type"},
		{[]string{"STORE_TYPE=redis", "STORE_REDIS_URL=http://:hunter2@x"}, "store.redis.url"},
		{[]string{"SERVE_TRUSTED_PROXIES=10.0.0.0/8,192.168.1.1"}, ""},
		{[]string{"SERVE_TRUSTED_PROXIES=10.0.0.0/33"}, "serve.trusted_proxies"},
		{[]string{"SERVE_ALLOWED_ORIGINS=https://x.example/path"}, "serve.allowed_origins"},
		{[]string{"JWT_ALGORITHM=HS256"}, "jwt.algorithm"},
		{[]string{"SERVE_CLIENT_IP_HEADER=X Real IP"}, "serve.client_ip_header"},
		{[]string{"SERVE_CLIENT_IP_HEADER=CF-Connecting-IP"}, ""},
		{[]string{"LOG_LEVEL=DEBUG"}, ""},
		{[]string{"LOG_LEVEL=loud"}, "log.level"},
		{[]string{"LOG_REFUSALS_PER_SECOND=0"}, ""},
		{[]string{"LOG_REFUSALS_PER_SECOND=-1"}, "log.refusals_per_second"},
		{[]string{"SIM_TOKENS=" + tok32 + ",NOPE"}, "sim.tokens"},
		{[]string{"SIM_SCRIPTS=7900=Busy!"}, "sim.scripts"},
		{[]string{"TRACING_OTLP_ENDPOINT=otel:4318"}, ""},
		{[]string{"TRACING_OTLP_ENDPOINT=otel"}, "tracing.otlp_endpoint"},
		{[]string{"CALLPASS_TIMEOUT=soon"}, "callpass.timeout"},
		// What serve would refuse is refused here, under its key.
		{[]string{"CHALLENGE_RESEND_COOLDOWNS=2m,30s"}, "challenge.resend_cooldowns"},
		{[]string{"CHALLENGE_RESEND_COOLDOWNS=30s,30s,1m"}, ""},
		{[]string{"CALLPASS_BASE_URL=https://api.example/?x=1"}, "callpass.base_url"},
		{[]string{"CALLPASS_BASE_URL=https://user:hunter2@api.example/"}, "callpass.base_url"},
		{[]string{"KRATOS_PHONE_TRAIT=phone."}, "kratos.phone_trait"},
		{[]string{"KRATOS_PHONE_TRAIT=a..b"}, "kratos.phone_trait"},
		{[]string{"KRATOS_PHONE_TRAIT=traits.phone"}, "kratos.phone_trait"},
		{[]string{"KRATOS_PHONE_TRAIT=contact.phone"}, ""},
		{[]string{"SIM_ENABLED=true"}, "sim.tokens"},
		{[]string{"SIM_ENABLED=true", "SIM_TOKENS=" + tok32}, ""},
		{[]string{"SERVE_LISTEN=localhost:99999"}, "serve.listen"},
		{[]string{"SERVE_LISTEN=:4477"}, "serve.base_url"}, // tokens would name 127.0.0.1
		{[]string{"SERVE_LISTEN=:4477", "SERVE_BASE_URL=https://2fa.example.com"}, ""},
		{[]string{"TRACING_OTLP_ENDPOINT=otel:notaport"}, "tracing.otlp_endpoint"},
		{[]string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://:hunter2@127.0.0.1:6379/notanumber"}, "store.redis.url"},
		{[]string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://127.0.0.1:6379/2"}, ""},
		{[]string{"KRATOS_ADMIN_URL=http://kratos:4434/?a=b"}, "kratos.admin_url"},
		{[]string{"KRATOS_PUBLIC_URL=http://kratos:4433/#x"}, "kratos.public_url"},
		{[]string{"KRATOS_BROWSER_URL=https://auth.example.com"}, ""},
		{[]string{"KRATOS_BROWSER_URL=auth.example.com:4433"}, "kratos.browser_url"},
		{[]string{"KRATOS_BROWSER_URL=https://auth.example.com/?a=b"}, "kratos.browser_url"},
		{[]string{"KRATOS_SESSION_CACHE_TTL=2m"}, "kratos.session_cache_ttl"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, " "), func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env...), false)
			if oneProblem(t, err, tt.wantKey) == (Problem{}) {
				return
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("redis password echoed: %v", err)
			}
		})
	}
}

func TestMissingKeysWithoutDev(t *testing.T) {
	_, _, err := Load("", nil, false)
	ps := problemsOf(t, err)
	want := map[string]string{
		"callpass.token":     "callpass.token: is required (set CALLPASS_TOKEN or callpass.token_file); use --dev for the built-in simulator",
		"webhook.secret":     "webhook.secret: is required",
		"challenge.code_key": "challenge.code_key: is required",
		"jwt.keys_file":      "jwt.keys_file: is required",
	}
	if len(ps) != len(want) {
		t.Fatalf("problems = %v", ps)
	}
	for _, p := range ps {
		w, ok := want[p.Key]
		if !ok || !strings.HasPrefix(p.String(), w) {
			t.Errorf("problem %q, want prefix %q", p, w)
		}
	}
}

func TestDevFillsOnlyMissing(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		env   []string
		check func(t *testing.T, c *Config, notices []string)
	}{
		{
			name: "nothing configured",
			check: func(t *testing.T, c *Config, notices []string) {
				if !c.Sim.Enabled || c.CallPass.BaseURL != "http://127.0.0.1:4477/" {
					t.Errorf("sim = %v at %q", c.Sim.Enabled, c.CallPass.BaseURL)
				}
				if tokenProblem(c.CallPass.Token) != "" || !slices.Contains(c.Sim.Tokens, c.CallPass.Token) {
					t.Errorf("dev token (set: %v) not valid or not among the simulator tokens (%d)", c.CallPass.Token != "", len(c.Sim.Tokens))
				}
				if len(c.Webhook.Secret) < 32 || len(c.Challenge.CodeKey) < 32 {
					t.Error("secrets not generated")
				}
				if c.JWT.KeysFile != filepath.Join(c.Dev.DataDir, "jwt-keys.json") {
					t.Errorf("keys file = %q", c.JWT.KeysFile)
				}
				if c.Store.Type != "memory" || c.Log.Format != "text" || !c.DevMode {
					t.Errorf("store %q format %q devmode %v", c.Store.Type, c.Log.Format, c.DevMode)
				}
				wantNotice(t, notices, "DEV MODE: using the built-in CallPass simulator at http://127.0.0.1:4477/")
				wantNotice(t, notices, "DEV MODE: generated webhook secret stored in "+filepath.Join(c.Dev.DataDir, DevSecretsFile))
				wantNotice(t, notices, "DEV MODE: generated challenge code key stored in")
			},
		},
		{
			name: "listen moved, base URL follows",
			env:  []string{"SERVE_LISTEN=0.0.0.0:8099"},
			check: func(t *testing.T, c *Config, notices []string) {
				if c.Serve.BaseURL != "http://127.0.0.1:8099" || c.CallPass.BaseURL != "http://127.0.0.1:8099/" || c.JWT.Issuer != "http://127.0.0.1:8099" {
					t.Errorf("base %q, callpass %q, issuer %q", c.Serve.BaseURL, c.CallPass.BaseURL, c.JWT.Issuer)
				}
				wantNotice(t, notices, "DEV MODE: serve.base_url http://127.0.0.1:8099 (from serve.listen)")
			},
		},
		{
			name: "listen and base URL both set",
			env:  []string{"SERVE_LISTEN=127.0.0.1:8099", "SERVE_BASE_URL=https://mfa.example.com"},
			check: func(t *testing.T, c *Config, notices []string) {
				if c.Serve.BaseURL != "https://mfa.example.com" || c.CallPass.BaseURL != "https://mfa.example.com/" {
					t.Errorf("base %q, callpass %q", c.Serve.BaseURL, c.CallPass.BaseURL)
				}
			},
		},
		{
			name: "explicit values win",
			yaml: "callpass:\n  base_url: https://api.callpass.sp-com.ru/\n  token: " + tok64 + "\nlog:\n  format: json\n",
			env:  []string{"WEBHOOK_SECRET=" + secret, "STORE_TYPE=redis", "STORE_REDIS_URL=redis://127.0.0.1:6379/0", "JWT_KEYS_FILE=/k.json"},
			check: func(t *testing.T, c *Config, notices []string) {
				if c.Sim.Enabled || c.CallPass.BaseURL != "https://api.callpass.sp-com.ru/" || c.CallPass.Token != tok64 {
					t.Errorf("sim %v base %q token changed %v", c.Sim.Enabled, c.CallPass.BaseURL, c.CallPass.Token != tok64)
				}
				if c.Webhook.Secret != secret || c.Store.Type != "redis" || c.JWT.KeysFile != "/k.json" || c.Log.Format != "json" {
					t.Error("an explicit value was replaced")
				}
				if len(c.Challenge.CodeKey) < 32 {
					t.Error("code key not generated")
				}
				for _, n := range notices {
					if strings.Contains(n, "simulator") || strings.Contains(n, "webhook") || strings.Contains(n, "in-memory") {
						t.Errorf("unexpected notice %q", n)
					}
				}
				wantNotice(t, notices, "DEV MODE: calls go to callpass.base_url https://api.callpass.sp-com.ru/: the real CallPass API places (and bills) real calls")
			},
		},
		{
			name: "sim explicitly off",
			env:  []string{"SIM_ENABLED=false", "CALLPASS_TOKEN=" + tok32},
			check: func(t *testing.T, c *Config, notices []string) {
				if c.Sim.Enabled || c.CallPass.BaseURL != "https://api.callpass.sp-com.ru/" || c.CallPass.Token != tok32 {
					t.Errorf("sim %v base %q", c.Sim.Enabled, c.CallPass.BaseURL)
				}
				wantNotice(t, notices, "DEV MODE: calls go to callpass.base_url https://api.callpass.sp-com.ru/")
			},
		},
		{
			// sim.enabled mounts the simulator; the calls still go to the
			// configured API, and the banner must not say otherwise.
			name: "sim on, callpass.base_url elsewhere",
			env:  []string{"SIM_ENABLED=true", "CALLPASS_BASE_URL=https://api.callpass.sp-com.ru/", "CALLPASS_TOKEN=" + tok32},
			check: func(t *testing.T, c *Config, notices []string) {
				if !c.Sim.Enabled || c.CallPass.BaseURL != "https://api.callpass.sp-com.ru/" || c.CallPass.Token != tok32 {
					t.Errorf("sim %v base %q token kept %v", c.Sim.Enabled, c.CallPass.BaseURL, c.CallPass.Token == tok32)
				}
				for _, n := range notices {
					if strings.Contains(n, "no real calls") {
						t.Errorf("notice %q, but calls go to the real API", n)
					}
				}
				wantNotice(t, notices, "DEV MODE: the built-in CallPass simulator is mounted at http://127.0.0.1:4477/ (sim.enabled), but calls go to callpass.base_url https://api.callpass.sp-com.ru/")
			},
		},
		{
			name: "sim on, callpass.base_url is this server",
			env:  []string{"SIM_ENABLED=true", "CALLPASS_BASE_URL=http://127.0.0.1:4477"},
			check: func(t *testing.T, c *Config, notices []string) {
				if tokenProblem(c.CallPass.Token) != "" || !slices.Contains(c.Sim.Tokens, c.CallPass.Token) {
					t.Errorf("dev token not generated for the simulator (%d tokens)", len(c.Sim.Tokens))
				}
				wantNotice(t, notices, "DEV MODE: using the built-in CallPass simulator at http://127.0.0.1:4477 (no real calls are placed)")
			},
		},
		{
			name: "explicit token is added to the simulator's tokens",
			env:  []string{"CALLPASS_TOKEN=" + tok32, "SERVE_BASE_URL=http://localhost:9000/"},
			check: func(t *testing.T, c *Config, _ []string) {
				if c.CallPass.Token != tok32 || !reflect.DeepEqual(c.Sim.Tokens, []string{tok32}) {
					t.Errorf("token %v tokens %v", c.CallPass.Token == tok32, len(c.Sim.Tokens))
				}
				if c.CallPass.BaseURL != "http://localhost:9000/" {
					t.Errorf("base = %q", c.CallPass.BaseURL)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, "c.yml", tt.yaml)
			}
			env := append([]string{"DEV_DATA_DIR=" + filepath.Join(t.TempDir(), "dev")}, tt.env...)
			c, notices := mustLoad(t, path, env, true)
			tt.check(t, c, notices)
		})
	}
}

func wantNotice(t *testing.T, notices []string, prefix string) {
	t.Helper()
	for _, n := range notices {
		if strings.HasPrefix(n, prefix) {
			return
		}
	}
	t.Errorf("no notice starting with %q in %q", prefix, notices)
}

func TestDevWithRealAPINeedsToken(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"base URL set", []string{"CALLPASS_BASE_URL=https://api.callpass.sp-com.ru/"},
			"callpass.token: is required (set CALLPASS_TOKEN or callpass.token_file): callpass.base_url is configured, so calls go there"},
		{"simulator off", []string{"SIM_ENABLED=false"},
			"callpass.token: is required (set CALLPASS_TOKEN or callpass.token_file): sim.enabled is false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append([]string{"DEV_DATA_DIR=" + t.TempDir()}, tt.env...)
			_, _, err := Load("", env, true)
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != "callpass.token" || !strings.HasPrefix(ps[0].String(), tt.want) {
				t.Fatalf("problems = %v, want one starting %q", ps, tt.want)
			}
		})
	}
}

func TestDevSecretsPersisted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	env := []string{"DEV_DATA_DIR=" + dir}
	c1, n1 := mustLoad(t, "", env, true)
	c2, n2 := mustLoad(t, "", env, true)
	if c1.Webhook.Secret != c2.Webhook.Secret || c1.Challenge.CodeKey != c2.Challenge.CodeKey || c1.CallPass.Token != c2.CallPass.Token {
		t.Error("dev secrets changed between two loads")
	}
	if c1.Webhook.Secret == c1.Challenge.CodeKey {
		t.Error("webhook secret and code key are the same value")
	}
	wantNotice(t, n1, "DEV MODE: generated webhook secret")
	wantNotice(t, n2, "DEV MODE: using the generated webhook secret")
	st, err := os.Stat(filepath.Join(dir, DevSecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	// A different data dir gets different secrets.
	c3, _ := mustLoad(t, "", []string{"DEV_DATA_DIR=" + t.TempDir()}, true)
	if c3.Webhook.Secret == c1.Webhook.Secret {
		t.Error("two data dirs share a secret")
	}
}

func TestDevSecretsFileCorrupt(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DevSecretsFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load("", []string{"DEV_DATA_DIR=" + dir}, true); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("want a corrupt-file error, got %v", err)
	}
}

// TestReferenceCoversStruct walks Config by its yaml tags and checks that
// every leaf has exactly one table row bound to that very field.
func TestReferenceCoversStruct(t *testing.T) {
	c := Defaults()
	leaves := map[string]uintptr{}
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			tag := f.Tag.Get("yaml")
			if tag == "-" {
				continue
			}
			if tag == "" {
				t.Fatalf("%s%s has no yaml tag", prefix, f.Name)
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct {
				walk(prefix+tag+".", fv)
				continue
			}
			leaves[prefix+tag] = fv.Addr().Pointer()
		}
	}
	walk("", reflect.ValueOf(c).Elem())

	docs := Reference()
	if len(docs) != len(leaves) || len(keys) != len(leaves) {
		t.Errorf("%d docs, %d table rows, %d struct leaves", len(docs), len(keys), len(leaves))
	}
	envs := map[string]string{}
	for _, e := range keys {
		addr, ok := leaves[e.key]
		if !ok {
			t.Errorf("table key %s is not a struct field", e.key)
			continue
		}
		if got := reflect.ValueOf(e.field(c)).Pointer(); got != addr {
			t.Errorf("table key %s is bound to the wrong field", e.key)
		}
		delete(leaves, e.key)
		names := []string{e.env()}
		if e.secret {
			names = append(names, e.fileEnv())
		}
		for _, n := range names {
			if prev, dup := envs[n]; dup {
				t.Errorf("env %s used by %s and %s", n, prev, e.key)
			}
			envs[n] = e.key
		}
	}
	for k := range leaves {
		t.Errorf("struct field %s has no KeyDoc", k)
	}
	md := MarkdownReference()
	for _, d := range docs {
		if d.Env == "" || d.Type == "" || d.Description == "" {
			t.Errorf("incomplete doc %+v", d)
		}
		if !strings.Contains(md, "| `"+d.Key+"` | `"+d.Env+"` |") {
			t.Errorf("markdown misses %s", d.Key)
		}
		if d.Secret != (d.FileEnv != "") {
			t.Errorf("%s: secret %v but file env %q", d.Key, d.Secret, d.FileEnv)
		}
	}
}

func TestReferenceExamples(t *testing.T) {
	want := map[string]KeyDoc{
		"callpass.base_url":        {Env: "CALLPASS_BASE_URL", Type: "string", Default: "https://api.callpass.sp-com.ru/"},
		"serve.listen":             {Env: "SERVE_LISTEN", Type: "string", Default: "127.0.0.1:4477"},
		"jwt.audience":             {Env: "JWT_AUDIENCE", Type: "list of strings", Default: "callpass-kratos"},
		"limits.per_number.window": {Env: "LIMITS_PER_NUMBER_WINDOW", Type: "duration", Default: "1h"},
		"challenge.resend_cooldowns": {Env: "CHALLENGE_RESEND_COOLDOWNS", Type: "list of durations",
			Default: "30s,1m,2m,5m"},
		"callpass.token": {Env: "CALLPASS_TOKEN", Type: "string", Secret: true, FileKey: "callpass.token_file", FileEnv: "CALLPASS_TOKEN_FILE"},
	}
	for _, d := range Reference() {
		w, ok := want[d.Key]
		if !ok {
			continue
		}
		delete(want, d.Key)
		w.Key, w.Description = d.Key, d.Description
		if d != w {
			t.Errorf("got %+v\nwant %+v", d, w)
		}
	}
	if len(want) != 0 {
		t.Errorf("missing %v", want)
	}
}

func TestRedacted(t *testing.T) {
	c, _ := mustLoad(t, "", baseEnv("STORE_TYPE=redis", "STORE_REDIS_URL=redis://:pw@h:6379/0"), false)
	r := c.Redacted()
	callpass := r["callpass"].(map[string]any)
	if callpass["token"] != "***" || callpass["timeout"] != "30s" || callpass["api_version"] != 3 {
		t.Errorf("callpass = %v", callpass)
	}
	if r["webhook"].(map[string]any)["secret"] != "***" {
		t.Error("webhook secret not redacted")
	}
	redis := r["store"].(map[string]any)["redis"].(map[string]any)
	if redis["url"] != "***" || redis["prefix"] != "callpass:" {
		t.Errorf("redis = %v", redis)
	}
	if got := r["limits"].(map[string]any)["per_number"].(map[string]any)["window"]; got != "1h" {
		t.Errorf("per_number.window = %v", got)
	}
	if got, ok := r["sim"].(map[string]any)["tokens"].([]string); !ok || len(got) != 0 {
		t.Errorf("empty sim.tokens printed as %#v, want an empty list", r["sim"].(map[string]any)["tokens"])
	}
	for _, s := range []string{tok32, secret, key32, "pw@"} {
		if strings.Contains(flatten(r), s) {
			t.Errorf("redacted output contains %q", s)
		}
	}
}

func flatten(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []string:
			b.WriteString(strings.Join(x, " "))
		default:
			b.WriteString(reflect.ValueOf(x).String())
		}
		b.WriteByte(' ')
	}
	walk(v)
	return b.String()
}

func TestHelpers(t *testing.T) {
	c, _ := mustLoad(t, "", baseEnv("SERVE_TRUSTED_PROXIES=10.1.2.3/8,::1", "LOG_LEVEL=warn"), false)
	got := c.Serve.TrustedProxyPrefixes()
	if len(got) != 2 || got[0].String() != "10.0.0.0/8" || got[1].String() != "::1/128" {
		t.Errorf("prefixes = %v", got)
	}
	if c.Log.SlogLevel().String() != "WARN" {
		t.Errorf("level = %v", c.Log.SlogLevel())
	}
}

func TestLocalURL(t *testing.T) {
	for _, tc := range []struct {
		listen, want string
		ok           bool
	}{
		{"127.0.0.1:4477", "http://127.0.0.1:4477", true},
		{":8080", "http://127.0.0.1:8080", true},
		{"0.0.0.0:8080", "http://127.0.0.1:8080", true},
		{"[::]:8080", "http://[::1]:8080", true},
		{"[::1]:9000", "http://[::1]:9000", true},
		{"10.0.0.5:80", "http://10.0.0.5:80", true},
		{"localhost:4477", "http://localhost:4477", true},
		{"4477", "", false},
		{"127.0.0.1:", "", false},
		// Only a listen that can be served, in the form a browser sends
		// back in Origin (the default allowed origin is taken from it).
		{"127.0.0.1:http", "", false},
		{"127.0.0.1:0", "", false},
		{"127.0.0.1:65536", "", false},
		{"127.0.0.1:+9000", "", false},
		{"127.0.0.1:09000", "http://127.0.0.1:9000", true},
		{"[0:0:0:0:0:0:0:1]:4477", "http://[::1]:4477", true},
		{"[::FFFF:127.0.0.1]:9000", "http://127.0.0.1:9000", true},
		{"[0:0:0:0:0:0:0:0]:8080", "http://[::1]:8080", true},
	} {
		got, ok := localURL(tc.listen)
		if got != tc.want || ok != tc.ok {
			t.Errorf("localURL(%q) = %q, %v; want %q, %v", tc.listen, got, ok, tc.want, tc.ok)
		}
	}
}
