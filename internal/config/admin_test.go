package config

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// TestEnvOverridesYAMLSecretFile: a secret file named in the YAML is read
// only when the environment does not set that key (X or X_FILE), so the
// environment overrides even a file that cannot be read, as
// examples/callpass-kratos.yml promises.
func TestEnvOverridesYAMLSecretFile(t *testing.T) {
	tokFile := writeFile(t, "token", tok64+"\n")
	tests := []struct {
		name    string
		yaml    string
		env     []string
		wantTok string
		wantKey string // the one problem; "" for success
	}{
		{"CALLPASS_TOKEN over an unreadable token_file", "callpass:\n  token_file: /nonexistent/x\n", baseEnv(), tok32, ""},
		{"CALLPASS_TOKEN_FILE over an unreadable token_file", "callpass:\n  token_file: /nonexistent/x\n",
			append(baseEnv()[1:], "CALLPASS_TOKEN_FILE="+tokFile), tok64, ""},
		{"unreadable token_file, no override", "callpass:\n  token_file: /nonexistent/x\n", baseEnv()[1:], "", "callpass.token_file"},
		{"readable token_file, no override", "callpass:\n  token_file: " + tokFile + "\n", baseEnv()[1:], tok64, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load(writeFile(t, "c.yml", tt.yaml), tt.env, false)
			oneProblem(t, err, tt.wantKey)
			if tt.wantKey == "" && c.CallPass.Token != tt.wantTok {
				t.Errorf("token = %q, want %q", c.CallPass.Token, tt.wantTok)
			}
		})
	}
}

// TestEmptySecretFile: an empty secret file is reported as such, naming the
// variable or key that names it, for every secret key, once.
func TestEmptySecretFile(t *testing.T) {
	empty := writeFile(t, "empty", "\n")
	redis := []string{"STORE_TYPE=redis"}
	tests := []struct {
		name    string
		yaml    string
		env     []string
		wantKey string
		wantIn  string
	}{
		{"WEBHOOK_SECRET_FILE", "", append(withoutVar(baseEnv(), "WEBHOOK_SECRET"), "WEBHOOK_SECRET_FILE="+empty),
			"webhook.secret", "WEBHOOK_SECRET_FILE names an empty file"},
		{"CALLPASS_TOKEN_FILE", "", append(withoutVar(baseEnv(), "CALLPASS_TOKEN"), "CALLPASS_TOKEN_FILE="+empty),
			"callpass.token", "CALLPASS_TOKEN_FILE names an empty file"},
		{"CHALLENGE_CODE_KEY_FILE", "", append(withoutVar(baseEnv(), "CHALLENGE_CODE_KEY"), "CHALLENGE_CODE_KEY_FILE="+empty),
			"challenge.code_key", "CHALLENGE_CODE_KEY_FILE names an empty file"},
		{"STORE_REDIS_URL_FILE", "", baseEnv(append(redis, "STORE_REDIS_URL_FILE="+empty)...),
			"store.redis.url", "STORE_REDIS_URL_FILE names an empty file"},
		{"SIM_TOKENS_FILE", "", baseEnv("SIM_ENABLED=true", "SIM_TOKENS_FILE="+empty),
			"sim.tokens", "SIM_TOKENS_FILE names an empty file"},
		{"webhook.secret_file", "webhook:\n  secret_file: " + empty + "\n", withoutVar(baseEnv(), "WEBHOOK_SECRET"),
			"webhook.secret_file", "names an empty file"},
		{"store.redis.url_file", "store:\n  type: redis\n  redis:\n    url_file: " + empty + "\n", baseEnv(),
			"store.redis.url_file", "names an empty file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, "c.yml", tt.yaml)
			}
			_, _, err := Load(path, tt.env, false)
			p := oneProblem(t, err, tt.wantKey)
			if !strings.Contains(p.Message, tt.wantIn) || strings.Contains(p.Message, "is required") {
				t.Errorf("message %q, want %q and no \"is required\"", p.Message, tt.wantIn)
			}
		})
	}
}

func withoutVar(env []string, name string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
}

// TestRedisURLWithMemoryStore: a Redis URL with the memory store would be
// ignored silently.
func TestRedisURLWithMemoryStore(t *testing.T) {
	tests := []struct {
		env     []string
		wantKey string
	}{
		{[]string{"STORE_REDIS_URL=redis://:hunter2@redis:6379/0"}, "store.redis.url"},
		{[]string{"STORE_TYPE=memory", "STORE_REDIS_URL=redis://redis:6379/0"}, "store.redis.url"},
		{[]string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://redis:6379/0"}, ""},
		{[]string{"STORE_TYPE=memory"}, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, " "), func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env...), false)
			p := oneProblem(t, err, tt.wantKey)
			if tt.wantKey == "" {
				return
			}
			want := "is set, but store.type is memory: set store.type: redis (STORE_TYPE=redis) or remove it"
			if p.Message != want || strings.Contains(p.Message, "hunter2") {
				t.Errorf("message %q, want %q", p.Message, want)
			}
		})
	}
}

// TestBaseURLMustFollowListen: outside --dev, a serve.listen reachable from
// other hosts with serve.base_url left at its loopback default would issue
// tokens with iss http://127.0.0.1:4477.
func TestBaseURLMustFollowListen(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		dev     bool
		wantKey string
	}{
		{"0.0.0.0, base_url unset", []string{"SERVE_LISTEN=0.0.0.0:4477"}, false, "serve.base_url"},
		{"all interfaces, base_url unset", []string{"SERVE_LISTEN=:8080"}, false, "serve.base_url"},
		{"a LAN address, base_url unset", []string{"SERVE_LISTEN=10.1.2.3:4477"}, false, "serve.base_url"},
		{"0.0.0.0, base_url set", []string{"SERVE_LISTEN=0.0.0.0:4477", "SERVE_BASE_URL=https://2fa.example.com"}, false, ""},
		// docker-compose.yml with examples/compose/real-callpass.yml: the
		// port is published on the host's loopback, written out explicitly.
		{"0.0.0.0, base_url set to the default", []string{"SERVE_LISTEN=0.0.0.0:4477", "SERVE_BASE_URL=http://127.0.0.1:4477"}, false, ""},
		{"loopback, base_url unset", []string{"SERVE_LISTEN=127.0.0.1:9000"}, false, ""},
		{"localhost, base_url unset", []string{"SERVE_LISTEN=localhost:4477"}, false, ""},
		{"::1, base_url unset", []string{"SERVE_LISTEN=[::1]:4477"}, false, ""},
		{"--dev, 0.0.0.0", []string{"SERVE_LISTEN=0.0.0.0:4477"}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := baseEnv(tt.env...)
			if tt.dev {
				env = append(tt.env, "DEV_DATA_DIR="+t.TempDir())
			}
			_, _, err := Load("", env, tt.dev)
			p := oneProblem(t, err, tt.wantKey)
			if tt.wantKey != "" && !strings.Contains(p.Message, "is the default http://127.0.0.1:4477 but serve.listen is ") {
				t.Errorf("message %q", p.Message)
			}
		})
	}
}

// TestBaseURLFollowsLoopbackListen: outside --dev, a serve.listen on
// another loopback port with serve.base_url unset moves the base URL (and
// so the issuer and the /2fa links) to that port: the default named 4477,
// where nothing answered. A base URL written out stays as written.
func TestBaseURLFollowsLoopbackListen(t *testing.T) {
	tests := []struct {
		name                 string
		env                  []string
		wantBase, wantNotice string
	}{
		{"loopback, another port", []string{"SERVE_LISTEN=127.0.0.1:9000"}, "http://127.0.0.1:9000", "serve.base_url http://127.0.0.1:9000 (from serve.listen"},
		{"IPv6 loopback", []string{"SERVE_LISTEN=[::1]:4477"}, "http://[::1]:4477", "serve.base_url http://[::1]:4477"},
		{"localhost, another port", []string{"SERVE_LISTEN=localhost:9000"}, "http://localhost:9000", "serve.base_url http://localhost:9000"},
		{"localhost, the default port", []string{"SERVE_LISTEN=localhost:4477"}, "http://127.0.0.1:4477", ""},
		{"the default written out", []string{"SERVE_LISTEN=127.0.0.1:4477"}, "http://127.0.0.1:4477", ""},
		{"listen unset", nil, "http://127.0.0.1:4477", ""},
		{"base URL set", []string{"SERVE_LISTEN=127.0.0.1:9000", "SERVE_BASE_URL=https://2fa.example.com"}, "https://2fa.example.com", ""},
		{"the default base URL written out", []string{"SERVE_LISTEN=127.0.0.1:9000", "SERVE_BASE_URL=http://127.0.0.1:4477"}, "http://127.0.0.1:4477", ""},
		// A browser sends Origin in the canonical form: an allowed origin
		// written otherwise refuses the /2fa page's own POSTs.
		{"IPv6 loopback written out", []string{"SERVE_LISTEN=[0:0:0:0:0:0:0:1]:9000"}, "http://[::1]:9000", "serve.base_url http://[::1]:9000"},
		{"IPv4-mapped loopback", []string{"SERVE_LISTEN=[::ffff:127.0.0.1]:9000"}, "http://127.0.0.1:9000", "serve.base_url http://127.0.0.1:9000"},
		{"the default port with a leading zero", []string{"SERVE_LISTEN=127.0.0.1:04477"}, "http://127.0.0.1:4477", ""},
		{"localhost, the default port, capitals", []string{"SERVE_LISTEN=LOCALHOST:04477"}, "http://127.0.0.1:4477", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, notices, err := Load("", baseEnv(tt.env...), false)
			if err != nil {
				t.Fatal(err)
			}
			if c.Serve.BaseURL != tt.wantBase || c.JWT.Issuer != tt.wantBase {
				t.Errorf("base URL %q, issuer %q, want %q", c.Serve.BaseURL, c.JWT.Issuer, tt.wantBase)
			}
			if len(c.Serve.AllowedOrigins) == 0 || c.Serve.AllowedOrigins[0] != tt.wantBase {
				t.Errorf("allowed origins %q, want %q first", c.Serve.AllowedOrigins, tt.wantBase)
			}
			found := false
			for _, n := range notices {
				found = found || strings.Contains(n, "serve.base_url")
			}
			if tt.wantNotice == "" && found {
				t.Errorf("notices %q name serve.base_url", notices)
			}
			if tt.wantNotice != "" {
				wantNotice(t, notices, tt.wantNotice)
			}
		})
	}
}

// TestBaseURLNotFollowingABadListen: a serve.listen that cannot be served
// is reported once, under serve.listen: the base URL unset does not follow
// it into a second problem under a key nobody set (with --dev too).
func TestBaseURLNotFollowingABadListen(t *testing.T) {
	for _, dev := range []bool{false, true} {
		for _, listen := range []string{"127.0.0.1:http", "[::1]:http", "localhost:99999"} {
			env := baseEnv("SERVE_LISTEN="+listen, "DEV_DATA_DIR="+t.TempDir())
			_, _, err := Load("", env, dev)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("%s (dev %v): %v, want a validation error", listen, dev, err)
			}
			var keys []string
			for _, p := range verr.Problems {
				keys = append(keys, p.Key)
			}
			if !slices.Equal(keys, []string{"serve.listen"}) {
				t.Errorf("%s (dev %v): problems %v, want serve.listen alone:\n%v", listen, dev, keys, err)
			}
		}
	}
}

// TestRedisURLMessages: the message says what is wrong with a Redis URL
// (the scheme, or what does not parse) and never repeats it.
func TestRedisURLMessages(t *testing.T) {
	tests := []struct {
		url    string
		wantIn string
	}{
		{"redis://:hunter2@redis:6379/abc", "database that is not a number"},
		{"redis://:hunter2@redis:6379/0?hunter3=1", "option the Redis client does not know: hunter3"},
		{"redis://:hunter2@redis:6379/0?dial_timeout=hunter3", "invalid value for the option dial_timeout"},
		{"redis://:hunter2@redis:6379/0/1", "path that is not a database number"},
		{"http://:hunter2@redis:6379/0", "scheme is not redis, rediss or unix"},
		{"hunter2@redis:6379", "no scheme:// in front?"},
		{"redis://:hunter2@redis:bad/0", "does not parse"},
		{"redis:///0", "has no host"},
		{"unix://", "has no socket path"},
		// A password written without its colon is a user name: the client
		// sent no password at all and reached Redis as its default user
		// (or got NOAUTH), and config validate said the URL was fine.
		{"redis://hunter2@redis:6379/0", "a user name but no password"},
		{"rediss://hunter2@redis:6380", "redis://:password@host"},
		{"unix://hunter2@/run/redis.sock", "a user name but no password"},
		// Hosts listed with commas were read as one host, "[r1:6379,r2]:6379".
		{"redis://:hunter2@r1:6379,r2:6379/0", "one host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, _, err := Load("", baseEnv("STORE_TYPE=redis", "STORE_REDIS_URL="+tt.url), false)
			p := oneProblem(t, err, "store.redis.url")
			if !strings.Contains(p.Message, tt.wantIn) {
				t.Errorf("message %q, want %q", p.Message, tt.wantIn)
			}
			if strings.Contains(p.Message, "hunter2") {
				t.Errorf("message repeats the URL: %q", p.Message)
			}
			if strings.Contains(tt.wantIn, "scheme") != strings.Contains(p.Message, "must be a redis://, rediss:// or unix:// URL") {
				t.Errorf("message %q blames the scheme wrongly", p.Message)
			}
		})
	}
}

// TestSigningKIDNotInKeyFile: an unknown jwt.signing_kid is reported under
// jwt.signing_kid, with the kids the file holds.
func TestSigningKIDNotInKeyFile(t *testing.T) {
	ks, err := jwt.LoadKeySet(testKeysFile, "")
	if err != nil {
		t.Fatal(err)
	}
	kid := ks.Signer().KID()
	pubOnly := filepath.Join(t.TempDir(), "keys.json")
	k, err := jwt.GenerateKey(jwt.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwt.NewPublicKey(k.Public(), k.Algorithm(), "published-only")
	if err != nil {
		t.Fatal(err)
	}
	if err := jwt.WriteKeyFile(pubOnly, k, pub); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     []string
		wantKey string
		wantIn  []string
	}{
		{"unknown kid", []string{"JWT_SIGNING_KID=nokid"}, "jwt.signing_kid", []string{`"nokid" is not a kid of`, "its kids: " + kid}},
		{"known kid", []string{"JWT_SIGNING_KID=" + kid}, "", nil},
		{"kid without a private key", []string{"JWT_KEYS_FILE=" + pubOnly, "JWT_SIGNING_KID=published-only"}, "jwt.signing_kid", []string{"published-only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env...), false)
			p := oneProblem(t, err, tt.wantKey)
			for _, w := range tt.wantIn {
				if !strings.Contains(p.Message, w) {
					t.Errorf("message %q lacks %q", p.Message, w)
				}
			}
		})
	}
}

// TestDerivedOriginsNotReportedTwice: serve.allowed_origins derived from
// two URLs without a scheme is empty, but only the two URLs are reported,
// each saying the scheme is missing.
func TestDerivedOriginsNotReportedTwice(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		wantKeys []string
	}{
		{"both sources without scheme", []string{"SERVE_BASE_URL=2fa.example.com", "KRATOS_PUBLIC_URL=kratos:4433"},
			[]string{"serve.base_url", "kratos.public_url"}},
		{"browser_url without scheme", []string{"SERVE_BASE_URL=2fa.example.com", "KRATOS_BROWSER_URL=auth.example.com"},
			[]string{"serve.base_url", "kratos.browser_url"}},
		{"one source fine", []string{"SERVE_BASE_URL=2fa.example.com"}, []string{"serve.base_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env...), false)
			ps := problemsOf(t, err)
			var keys []string
			for _, p := range ps {
				keys = append(keys, p.Key)
				if !strings.Contains(p.Message, "no http:// or https:// in front?") {
					t.Errorf("%s: message %q does not point at the missing scheme", p.Key, p.Message)
				}
			}
			if !slices.Equal(keys, tt.wantKeys) {
				t.Errorf("problems %v, want keys %v", ps, tt.wantKeys)
			}
		})
	}
	// An origin list the admin wrote empty of valid entries is still reported.
	if _, _, err := Load("", baseEnv("SERVE_ALLOWED_ORIGINS=https://x.example/path"), false); err == nil {
		t.Error("an invalid serve.allowed_origins passed")
	}
}

// TestCallIgnoresHookTimeout: a synchronous start longer than Kratos's
// web-hook timeout is refused for serve and config validate, not for the
// one-off "call" (LoadSections), which involves no Kratos.
func TestCallIgnoresHookTimeout(t *testing.T) {
	env := []string{"CALLPASS_TOKEN=" + tok32, "CALLPASS_API_VERSION=1"}
	tests := []struct {
		name    string
		load    func() error
		wantKey string
	}{
		{"Load (serve, config validate)", func() error { _, _, err := Load("", baseEnv("CALLPASS_API_VERSION=1"), false); return err }, "callpass.timeout"},
		{"LoadSections callpass. (call)", func() error { _, _, err := LoadSections("", env, false, "callpass."); return err }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oneProblem(t, tt.load(), tt.wantKey)
		})
	}
}

// TestDevTokenMessage: under --dev, a missing callpass.token names why no
// simulator token was generated.
func TestDevTokenMessage(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		wantIn  string
		wantOut string
	}{
		{"SIM_ENABLED=false", []string{"SIM_ENABLED=false"}, "sim.enabled is false", "callpass.base_url"},
		{"CALLPASS_BASE_URL set", []string{"CALLPASS_BASE_URL=https://callpass.example/"}, "callpass.base_url is configured", "sim.enabled is false"},
		// Set to the real API's URL, the default: still what turned the
		// simulator off.
		{"CALLPASS_BASE_URL set to the default", []string{"CALLPASS_BASE_URL=" + Defaults().CallPass.BaseURL}, "callpass.base_url is configured", "sim.enabled is false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("", append(tt.env, "DEV_DATA_DIR="+t.TempDir()), true)
			p := oneProblem(t, err, "callpass.token")
			if !strings.Contains(p.Message, tt.wantIn) || strings.Contains(p.Message, tt.wantOut) {
				t.Errorf("message %q, want %q and not %q", p.Message, tt.wantIn, tt.wantOut)
			}
		})
	}
}
