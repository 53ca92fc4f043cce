package config

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/tracing"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
)

// TestSimOutcomesAreTheSimulators: config validate accepts exactly the
// outcomes serve's simulator accepts (it uses the simulator's parser), so a
// name such as user_busy is refused here instead of at start-up.
func TestSimOutcomesAreTheSimulators(t *testing.T) {
	for _, o := range sim.Outcomes() {
		env := baseEnv("SIM_DEFAULT_OUTCOME="+string(o), "SIM_SCRIPTS=79001234567="+string(o))
		if _, _, err := Load("", env, false); err != nil {
			t.Errorf("simulator outcome %s refused: %v", o, err)
		}
	}
	// The simulator's spelling rules: case and '-' do not matter.
	if _, _, err := Load("", baseEnv("SIM_SCRIPTS=79001234567=No-Answer"), false); err != nil {
		t.Errorf("No-Answer (the simulator parses it) refused: %v", err)
	}
	tests := []struct {
		env, key, bad string
	}{
		{"SIM_SCRIPTS=79001234567=user_busy", "sim.scripts", "user_busy"},
		{"SIM_SCRIPTS=7900=Busy!", "sim.scripts", "Busy!"},
		{"SIM_DEFAULT_OUTCOME=normal_clearing", "sim.default_outcome", "normal_clearing"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env), false)
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != tt.key {
				t.Fatalf("problems = %v, want one for %s", ps, tt.key)
			}
			msg := ps[0].Message
			if !strings.Contains(msg, "unknown simulator outcome") || !strings.Contains(msg, `"`+tt.bad+`"`) {
				t.Errorf("message %q does not name the unknown outcome %q", msg, tt.bad)
			}
			// It lists the real outcomes, and suggests nothing else.
			_, known, ok := strings.Cut(msg, "known: ")
			if !ok {
				t.Fatalf("message %q does not list the known outcomes", msg)
			}
			for _, name := range strings.Split(strings.TrimSuffix(known, ")"), ", ") {
				if o, err := sim.ParseOutcome(name); err != nil || string(o) != name {
					t.Errorf("message suggests %q, which is not a simulator outcome", name)
				}
			}
		})
	}
}

// TestKeysFileMustExist: outside --dev, serve loads jwt.keys_file at
// start-up, so validate reports a missing one; --dev creates it.
func TestKeysFileMustExist(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "keys.json")
	_, _, err := Load("", append(baseEnv(), "JWT_KEYS_FILE="+missing), false)
	ps := problemsOf(t, err)
	want := "jwt.keys_file: no such file: " + missing + " (generate one with `callpass-kratos keys generate --out " + missing + "`)"
	if len(ps) != 1 || ps[0].String() != want {
		t.Fatalf("problems = %v, want\n%s", ps, want)
	}

	_, _, err = Load("", append(baseEnv(), "JWT_KEYS_FILE="+dir), false)
	if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Key != "jwt.keys_file" || !strings.Contains(ps[0].Message, "is a directory") {
		t.Fatalf("directory as key file: problems = %v", ps)
	}

	if _, _, err := Load("", []string{"DEV_DATA_DIR=" + t.TempDir(), "JWT_KEYS_FILE=" + missing}, true); err != nil {
		t.Errorf("--dev with a key file still to create: %v", err)
	}
}

// TestKeysFileAndMapperLoadAsServeDoes: config validate says "valid" only
// for a key file and a claims mapper that serve can load.
func TestKeysFileAndMapperLoadAsServeDoes(t *testing.T) {
	dir := t.TempDir()
	malformed := writeFile(t, "bad.json", "not json")
	mapper := writeFile(t, "m.jsonnet", `{claims: {}}`)
	badMapper := writeFile(t, "bad.jsonnet", `{claims: `)
	tests := []struct {
		name    string
		env     []string
		wantKey string
	}{
		{"malformed key file", []string{"JWT_KEYS_FILE=" + malformed}, "jwt.keys_file"},
		{"unknown signing kid", []string{"JWT_SIGNING_KID=nosuchkid"}, "jwt.signing_kid"},
		{"missing claims mapper", []string{"JWT_CLAIMS_MAPPER=" + filepath.Join(dir, "none.jsonnet")}, "jwt.claims_mapper"},
		{"claims mapper that does not compile", []string{"JWT_CLAIMS_MAPPER=" + badMapper}, "jwt.claims_mapper"},
		{"claims mapper that compiles", []string{"JWT_CLAIMS_MAPPER=" + mapper}, ""},
	}
	// --dev creates a missing key file, but loads an existing one.
	if _, _, err := Load("", []string{"DEV_DATA_DIR=" + t.TempDir(), "JWT_KEYS_FILE=" + malformed}, true); err == nil {
		t.Error("--dev accepted a malformed existing key file")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env...), false)
			if tt.wantKey == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Key != tt.wantKey {
				t.Fatalf("problems = %v, want one for %s", ps, tt.wantKey)
			}
		})
	}
}

// TestOneProblemPerKey: a secret file that cannot be read is reported once,
// not also as "is required".
func TestOneProblemPerKey(t *testing.T) {
	env := slices.DeleteFunc(baseEnv(), func(kv string) bool { return strings.HasPrefix(kv, "WEBHOOK_SECRET=") })
	_, _, err := Load("", append(env, "WEBHOOK_SECRET_FILE=/nonexistent/secret"), false)
	ps := problemsOf(t, err)
	if len(ps) != 1 || ps[0].Key != "webhook.secret" || !strings.Contains(ps[0].Message, "cannot read") {
		t.Fatalf("problems = %v, want one: the unreadable file", ps)
	}
}

// TestLineNumberOnce: a YAML value of the wrong type names its line once.
func TestLineNumberOnce(t *testing.T) {
	path := writeFile(t, "c.yml", "callpass:\n  timeout: 30\nchallenge:\n  resend_cooldowns: [30, 1m]\n")
	_, _, err := Load(path, baseEnv(), false)
	for _, p := range problemsOf(t, err) {
		if strings.Count(p.Message, "line ") != 1 {
			t.Errorf("%s: want the line named once", p)
		}
	}
}

// TestShutdownCoversSynchronousStart: a synchronous start keeps the hook's
// request open up to callpass.timeout + request_timeout_margin; a graceful
// shutdown shorter than that cuts it at SIGTERM.
func TestShutdownCoversSynchronousStart(t *testing.T) {
	tests := []struct {
		env  []string
		want string // problem message substring on serve.shutdown_timeout; "" = valid
	}{
		{[]string{"CALLPASS_API_VERSION=1", "CALLPASS_TIMEOUT=20s"}, "is 15s, but with a synchronous start"},
		{[]string{"CALLPASS_API_VERSION=1", "CALLPASS_TIMEOUT=20s", "SERVE_SHUTDOWN_TIMEOUT=24s"}, "set it to at least 25s"},
		{[]string{"CALLPASS_API_VERSION=1", "CALLPASS_TIMEOUT=20s", "SERVE_SHUTDOWN_TIMEOUT=25s"}, ""},
		{[]string{"CALLPASS_API_VERSION=2", "CALLPASS_ASYNC=false", "CALLPASS_TIMEOUT=10s"}, ""}, // 10s + 5s = the default 15s
		{[]string{"CALLPASS_API_VERSION=3", "SERVE_SHUTDOWN_TIMEOUT=1s"}, ""},                    // asynchronous: answers at once
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, ","), func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env...), false)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != "serve.shutdown_timeout" || !strings.Contains(ps[0].Message, tt.want) {
				t.Fatalf("problems = %v, want one on serve.shutdown_timeout containing %q", ps, tt.want)
			}
		})
	}
}

// TestExampleConfigLoads: examples/callpass-kratos.yml, the production
// configuration README points to, loads without --dev once its secret files
// and key file exist (here under a temporary directory), and says what it
// claims to.
func TestExampleConfigLoads(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "callpass-kratos.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secrets := map[string]string{
		"/run/secrets/callpass_token":        tok32,
		"/run/secrets/webhook_secret":        secret,
		"/run/secrets/code_key":              key32,
		"/run/secrets/redis_url":             "redis://:pw@redis:6379/0",
		"/etc/callpass-kratos/jwt-keys.json": "",
	}
	text := string(raw)
	for path, content := range secrets {
		if !strings.Contains(text, path) {
			t.Fatalf("the example no longer names %s; update this test", path)
		}
		local := filepath.Join(dir, filepath.Base(path))
		if content == "" {
			b, err := os.ReadFile(testKeysFile)
			if err != nil {
				t.Fatal(err)
			}
			content = string(b)
		}
		if err := os.WriteFile(local, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		text = strings.ReplaceAll(text, path, local)
	}
	path := writeFile(t, "callpass-kratos.yml", text)
	c, _, err := Load(path, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Type != "redis" || c.CallPass.Token != tok32 || c.Webhook.Secret != secret || len(c.Limits.AllowPrefixes) != 1 ||
		c.Tracing.OTLPEndpoint == "" || c.DevMode {
		t.Errorf("loaded %+v", c)
	}
	// The exporter speaks OTLP/HTTP: the collector's 4318, not its gRPC 4317.
	if _, port, err := net.SplitHostPort(c.Tracing.OTLPEndpoint); err != nil || port != "4318" {
		t.Errorf("tracing.otlp_endpoint %q: want the collector's OTLP/HTTP port 4318", c.Tracing.OTLPEndpoint)
	}
	// The /2fa page's sign-in link is followed by browsers: Kratos as they
	// reach it (https, one of the origins), not the internal kratos:4433.
	bu, err := url.Parse(c.Kratos.BrowserURL)
	if err != nil || bu.Scheme != "https" || bu.Host == "" || bu.Host == "kratos:4433" ||
		!slices.Contains(c.Serve.AllowedOrigins, "https://"+bu.Host) {
		t.Errorf("kratos.browser_url %q: want the https URL browsers reach Kratos at, one of serve.allowed_origins %v",
			c.Kratos.BrowserURL, c.Serve.AllowedOrigins)
	}
}

// TestOTLPEndpointPort: the exporter speaks OTLP/HTTP; the collector's 4317
// is its gRPC port, where every export would fail at run time, so it is
// refused here, with the port to use instead.
func TestOTLPEndpointPort(t *testing.T) {
	tests := []struct {
		endpoint string
		refused  bool
	}{
		{"otel-collector:4318", false},
		{"http://otel-collector:4318", false},
		{"https://otel.example.com/otlp/v1/traces", false},
		{"otel-collector:4317", true},
		{"[::1]:4317", true},
		{"http://otel-collector:4317", true},
		{"https://otel.example.com:4317/v1/traces", true},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			_, _, err := Load("", baseEnv("TRACING_OTLP_ENDPOINT="+tt.endpoint), false)
			if !tt.refused {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != "tracing.otlp_endpoint" {
				t.Fatalf("problems = %v, want one for tracing.otlp_endpoint", ps)
			}
			for _, want := range []string{"4317", "gRPC", "OTLP/HTTP", "4318"} {
				if !strings.Contains(ps[0].Message, want) {
					t.Errorf("message %q does not say %q", ps[0].Message, want)
				}
			}
		})
	}
}

// TestOTLPEndpointCredentialsRefused: the exporter sends to the URL's
// scheme, host and path only, so tracing.Setup refuses an endpoint with
// credentials or a query (d62e074); config validate must refuse it too, under
// its key, naming where credentials go and not repeating them, or it passes
// a configuration that serve then refuses.
func TestOTLPEndpointCredentialsRefused(t *testing.T) {
	const secret = "s3cretvalue"
	const credentials = "OTEL_EXPORTER_OTLP_HEADERS"
	tests := []struct {
		endpoint string
		refused  string // in the message; "" for valid
	}{
		{"https://otel.example:4318/v1/traces", ""},
		{"http://otel:4318", ""},
		{"otel:4318", ""},
		{"otel_collector.monitoring.svc:4318", ""},
		{"[::1]:4318", ""},
		{"192.0.2.7:4318", ""},
		{"https://user:" + secret + "@otel.example:4318", credentials},
		{"https://" + secret + "@otel.example:4318/v1/traces", credentials},
		{"https://otel.example:4318/v1/traces?api_key=" + secret, credentials},
		{"https://otel.example:4318/?" + secret, credentials},
		{"https://otel.example:4318/v1/traces?", credentials},
		// host:port: the exporter puts it in a URL's host, where user info
		// or a path is no host: every export would fail to resolve it.
		{secret + "@otel:4318", credentials},
		{"user:" + secret + "@otel:4318", "host:port"},
		{"otel/v1:4318", "host:port"},
		{"otel :4318", "host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			// What serve would do: the table's answer is tracing.Setup's.
			shutdown, _, serr := tracing.Setup(context.Background(), tt.endpoint, "svc", "v0")
			if serr == nil {
				_ = shutdown(context.Background())
			}
			if (serr != nil) != (tt.refused != "") {
				t.Fatalf("tracing.Setup: %v, the table says refused: %q", serr, tt.refused)
			}
			_, _, err := Load("", baseEnv("TRACING_OTLP_ENDPOINT="+tt.endpoint), false)
			if tt.refused == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != "tracing.otlp_endpoint" {
				t.Fatalf("problems = %v, want one for tracing.otlp_endpoint", ps)
			}
			if !strings.Contains(ps[0].Message, tt.refused) {
				t.Errorf("message %q does not say %q", ps[0].Message, tt.refused)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error repeats the secret: %v", err)
			}
		})
	}
}

// TestPlaceholderSecretsRefused: the examples publish their secrets marked
// "change-me"; outside --dev one copied unchanged is refused under its key,
// with the way to replace it, and without repeating it.
func TestPlaceholderSecretsRefused(t *testing.T) {
	const composeSecret = "change-me-compose-webhook-secret-0123456789"
	tests := []struct {
		name    string
		env     []string
		dev     bool
		wantKey string // "" = valid
	}{
		{"compose webhook secret", []string{"WEBHOOK_SECRET=" + composeSecret}, false, "webhook.secret"},
		{"from a file", []string{"WEBHOOK_SECRET=", "WEBHOOK_SECRET_FILE=" + writeFile(t, "s", composeSecret+"\n")}, false, "webhook.secret"},
		{"code key, upper case", []string{"CHALLENGE_CODE_KEY=CHANGE-ME-challenge-code-key-0123456789"}, false, "challenge.code_key"},
		{"redis password", []string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://:Change-Me@redis:6379/0"}, false, "store.redis.url"},
		{"--dev keeps the demo working", []string{"WEBHOOK_SECRET=" + composeSecret, "DEV_DATA_DIR=" + t.TempDir()}, true, ""},
		{"a secret of your own", []string{"WEBHOOK_SECRET=0123456789abcdef0123456789abcdef-changed"}, false, ""},
		// Only the word: "change-me" inside another word is no placeholder.
		{"a Redis host named exchange-metrics", []string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://exchange-metrics:6379/0"}, false, ""},
		{"a secret ending in xchange-me", []string{"WEBHOOK_SECRET=0123456789abcdef0123456789abcdef-xchange-me"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env...), tt.dev)
			p := oneProblem(t, err, tt.wantKey)
			if tt.wantKey == "" {
				return
			}
			for _, want := range []string{`"change-me"`, "replace it", "examples/compose/real-callpass.yml"} {
				if !strings.Contains(p.Message, want) {
					t.Errorf("message %q does not say %q", p.Message, want)
				}
			}
			for _, kv := range tt.env {
				if _, v, _ := strings.Cut(kv, "="); len(v) > len("change-me") && strings.Contains(err.Error(), v) {
					t.Errorf("the error repeats the secret %q: %v", v, err)
				}
			}
		})
	}
	// A placeholder that is also too short is one problem, not two.
	_, _, err := Load("", baseEnv("WEBHOOK_SECRET=change-me"), false)
	if ps := problemsOf(t, err); len(ps) != 1 || !strings.Contains(ps[0].Message, "at least 32 bytes") {
		t.Errorf("short placeholder: problems = %v, want the length only", ps)
	}
}

// TestValidationDoesNotRepeatURLs: a URL may carry credentials (user info,
// an api_key in the query), and url.Parse's error quotes it whole; a problem
// describes what is wrong without repeating it.
func TestValidationDoesNotRepeatURLs(t *testing.T) {
	const userinfo, apiKey = "0123456789abcdef0123456789abcdef", "S3CRET"
	c, _ := mustLoad(t, "", baseEnv(), false)
	c.CallPass.BaseURL = "https://" + userinfo + "@h:44x3/"
	c.Kratos.AdminURL = "http://k:4434/?api_key=" + apiKey
	ps := problemsOf(t, c.Validate())
	if got := (&ValidationError{Problems: ps}).Keys(); !slices.Equal(got, []string{"callpass.base_url", "kratos.admin_url"}) {
		t.Errorf("problem keys %v", got)
	}
	for _, s := range []string{userinfo, apiKey} {
		if strings.Contains(c.Validate().Error(), s) {
			t.Errorf("the error repeats %q:\n%v", s, c.Validate())
		}
	}

	tests := []struct{ env, key, secret string }{
		{"CALLPASS_BASE_URL=https://" + userinfo + "@h:44x3/", "callpass.base_url", userinfo},
		{"CALLPASS_BASE_URL=ftp://" + userinfo + "@h/", "callpass.base_url", userinfo},
		{"KRATOS_PUBLIC_URL=http://kratos:4433/?api_key=" + apiKey, "kratos.public_url", apiKey},
		{"KRATOS_PUBLIC_URL=kratos:4433/?api_key=" + apiKey, "kratos.public_url", apiKey},
		{"KRATOS_BROWSER_URL=https://auth.example.com/#" + apiKey, "kratos.browser_url", apiKey},
		{"KRATOS_ADMIN_URL=http://admin:" + apiKey + "@k:44x4/", "kratos.admin_url", apiKey},
		{"TRACING_OTLP_ENDPOINT=https://u:" + apiKey + "@otel:43x8/", "tracing.otlp_endpoint", apiKey},
		{"TRACING_OTLP_ENDPOINT=" + apiKey + "@otel", "tracing.otlp_endpoint", apiKey},
		{"SERVE_BASE_URL=https://u:" + apiKey + "@2fa:x/", "serve.base_url", apiKey},
		{"SERVE_ALLOWED_ORIGINS=https://app.example.com,https://u:" + apiKey + "@app.example.com", "serve.allowed_origins", apiKey},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env), false)
			ps := problemsOf(t, err)
			if len(ps) == 0 || ps[0].Key != tt.key {
				t.Fatalf("problems = %v, want one for %s", ps, tt.key)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("the error repeats %q:\n%v", tt.secret, err)
			}
		})
	}
}

// TestCallPassBaseURLIsTheRoot: the provider's document shows whole method
// URLs; one pasted as callpass.base_url passed validation and then every
// call went to <it>/api/v3.0/start-call-password/ and was answered 404
// ("method not found"), naming no key to fix.
func TestCallPassBaseURLIsTheRoot(t *testing.T) {
	tests := []struct {
		url  string
		want string // "" for valid
	}{
		{"https://api.callpass.sp-com.ru/", ""},
		{"https://api.callpass.sp-com.ru", ""},
		{"https://proxy.internal/callpass/", ""}, // a path prefix in front of the API
		{"https://proxy.internal/callpass-api/v3/", ""},
		{"https://api.callpass.sp-com.ru/api/v3.0/", "names an API method or version path (/api/v3.0/): give the API's root, e.g. https://api.callpass.sp-com.ru/"},
		{"https://api.callpass.sp-com.ru/api/v2.0", "names an API method or version path (/api/v2.0)"},
		{"https://api.callpass.sp-com.ru/API/V3", "names an API method or version path"},
		{"https://api.callpass.sp-com.ru/api/v3.0/start-call-password/", "names an API method or version path (/api/v3.0/start-call-password/)"},
		{"https://proxy.internal/callpass/api/v2.0/get-call-password-status", "names an API method or version path (/api/v2.0/get-call-password-status)"},
		// Only the API part is quoted: configuration errors never repeat a
		// URL, whose path in front of it may carry a credential.
		{"https://proxy.internal/k-5f3a9c0e1d2b/api/v3.0/", "names an API method or version path (/api/v3.0/)"},
		{"https://proxy.internal/k-5f3a9c0e1d2b/start-call-password", "names an API method or version path (/start-call-password)"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, _, err := Load("", baseEnv("CALLPASS_BASE_URL="+tt.url), false)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != "callpass.base_url" || !strings.Contains(ps[0].Message, tt.want) {
				t.Fatalf("problems = %v, want callpass.base_url %q", ps, tt.want)
			}
			if strings.Contains(ps[0].Message, "k-5f3a9c0e1d2b") || strings.Contains(ps[0].Message, "proxy.internal") {
				t.Errorf("message %q repeats the URL", ps[0].Message)
			}
			if !strings.Contains(ps[0].Message, "/api/v3.0/<method>/") {
				t.Errorf("message %q does not say what the client appends", ps[0].Message)
			}
		})
	}
}
