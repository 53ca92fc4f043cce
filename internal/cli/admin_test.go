package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestCallV1DefaultTimeout: `call` places one call and answers no Kratos
// web hook, so API v1 with the default 30s timeout (longer than a hook may
// wait) is fine for it; `config validate` still refuses it for serve.
func TestCallV1DefaultTimeout(t *testing.T) {
	s, base := newSim(t)
	env := []string{"CALLPASS_BASE_URL=" + base, "CALLPASS_TOKEN=" + testToken, "CALLPASS_API_VERSION=1"}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"call", []string{"call", "79001234568"}, 0, ""},
		{"config validate", []string{"config", "validate"}, 1, "callpass.timeout: with a synchronous start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, env, tt.args...)
			if code != tt.wantCode || !strings.Contains(errs, tt.wantErr) {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q (want %q)", code, tt.wantCode, out, errs, tt.wantErr)
			}
		})
	}
	if len(s.Calls("79001234568")) != 1 {
		t.Error("call placed no call")
	}
}

// TestTokenVerifyOutput: a verified token is printed as its claims (iss,
// sub, amr, ... as apps read them), never as Go field names; a string that
// is not a JWT is named so before any complaint about issuer or audience.
func TestTokenVerifyOutput(t *testing.T) {
	keys, tok := issuedToken(t)
	pinned := []string{"JWT_ISSUER=https://cp.example", "JWT_AUDIENCE=app"}
	tests := []struct {
		name     string
		env      []string
		token    string
		wantCode int
		wantErr  string
	}{
		{"valid, pinned", pinned, tok, 0, ""},
		{"valid, not pinned", nil, tok, 0, "warning: issuer and audience not pinned"},
		{"valid, audience pinned", []string{"JWT_AUDIENCE=app"}, tok, 0, "warning: issuer not pinned;"},
		{"valid, issuer pinned", []string{"JWT_ISSUER=https://cp.example"}, tok, 0, "warning: audience not pinned;"},
		{"garbage, not pinned", nil, "hello", 1, "not a JWT (expected three base64url parts"},
		{"three parts that are not base64url JSON, not pinned", nil, "not.a.jwt", 1, "not a JWT (expected three base64url parts"},
		{"garbage, pinned", pinned, "not.a.jwt", 1, "not a JWT (expected three base64url parts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, tt.env, "token", "verify", "--jwks", keys, tt.token)
			if code != tt.wantCode || !strings.Contains(errs, tt.wantErr) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tt.wantCode, errs, tt.wantErr)
			}
			if tt.wantCode != 0 {
				if strings.Contains(errs, "issuer and audience") {
					t.Errorf("a malformed token blamed on the configuration: %q", errs)
				}
				return
			}
			var claims map[string]any
			if err := json.Unmarshal([]byte(out), &claims); err != nil {
				t.Fatalf("output is not the claims JSON: %v\n%s", err, out)
			}
			for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "sid", "amr", "phone_number"} {
				if _, ok := claims[k]; !ok {
					t.Errorf("claim %s missing from the output:\n%s", k, out)
				}
			}
			for _, goName := range []string{"Issuer", "Subject", "AMR", "Extra", "ExpiresAt"} {
				if strings.Contains(out, `"`+goName+`"`) {
					t.Errorf("output has the Go field name %s:\n%s", goName, out)
				}
			}
			if claims["iss"] != "https://cp.example" || claims["sub"] != "3f1d2c1e-0000-4000-8000-000000000001" {
				t.Errorf("claims %v", claims)
			}
		})
	}
}

// TestConfigValidatePrint: --print writes the effective configuration as
// YAML on stdout, with the environment applied and no secret in it.
func TestConfigValidatePrint(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys.json")
	if code, _, errs := run(t, nil, "keys", "generate", "--out", keys); code != 0 {
		t.Fatal(errs)
	}
	secretFile := filepath.Join(t.TempDir(), "code-key")
	codeKey := "code-key-from-a-file-0123456789abcdef"
	if err := os.WriteFile(secretFile, []byte(codeKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const (
		token   = "0123456789abcdef0123456789abcdef"
		webhook = "webhook-secret-0123456789-abcdef-XYZ"
	)
	env := []string{"CALLPASS_TOKEN=" + token, "WEBHOOK_SECRET=" + webhook, "CHALLENGE_CODE_KEY_FILE=" + secretFile,
		"JWT_KEYS_FILE=" + keys, "STORE_TYPE=redis", "STORE_REDIS_URL=redis://:redispass@redis:6379/0",
		"KRATOS_ADMIN_URL=https://admin:kratospass@kratos.example/",
		"TRACING_OTLP_ENDPOINT=https://otel.example:4318/v1/traces", "CALLPASS_TIMEOUT=20s",
		"SIM_TOKENS=" + strings.Repeat("ab", 16)}
	tests := []struct {
		name string
		args []string
	}{
		{"--print", []string{"config", "validate", "--print"}},
		{"--print --dev", []string{"config", "validate", "--dev", "--print"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, append(env, "DEV_DATA_DIR="+t.TempDir()), tt.args...)
			if code != 0 || !strings.Contains(errs, "configuration is valid") {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			for _, s := range []string{token, webhook, codeKey, "redispass", "kratospass", strings.Repeat("ab", 16)} {
				if strings.Contains(out, s) {
					t.Errorf("--print output holds the secret %q:\n%s", s, out)
				}
			}
			var doc struct {
				CallPass struct {
					Token   string `yaml:"token"`
					Timeout string `yaml:"timeout"`
				} `yaml:"callpass"`
				Store struct {
					Type string `yaml:"type"`
				} `yaml:"store"`
				Kratos struct {
					AdminURL string `yaml:"admin_url"`
				} `yaml:"kratos"`
				Tracing struct {
					OTLPEndpoint string `yaml:"otlp_endpoint"`
				} `yaml:"tracing"`
			}
			if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("stdout is not YAML: %v\n%s", err, out)
			}
			if doc.CallPass.Token != "***" || doc.CallPass.Timeout != "20s" || doc.Store.Type != "redis" {
				t.Errorf("printed %+v", doc)
			}
			if doc.Kratos.AdminURL != "https://***@kratos.example/" || doc.Tracing.OTLPEndpoint != "https://otel.example:4318/v1/traces" {
				t.Errorf("URLs printed as %q, %q", doc.Kratos.AdminURL, doc.Tracing.OTLPEndpoint)
			}
		})
	}
	// An OTLP endpoint carrying a key is refused, as serve's tracing.Setup
	// refuses it, and neither output repeats the key.
	t.Run("OTLP endpoint with a key", func(t *testing.T) {
		var withKey []string
		for _, e := range env {
			if strings.HasPrefix(e, "TRACING_OTLP_ENDPOINT=") {
				e = "TRACING_OTLP_ENDPOINT=https://otel.example:4318/?api_key=apikeyvalue"
			}
			withKey = append(withKey, e)
		}
		code, out, errs := run(t, withKey, "config", "validate", "--print")
		if code == 0 || !strings.Contains(errs, "tracing.otlp_endpoint") || !strings.Contains(errs, "OTEL_EXPORTER_OTLP_HEADERS") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
		if strings.Contains(out+errs, "apikeyvalue") {
			t.Errorf("the output repeats the key:\n%s\n%s", out, errs)
		}
	})
}
