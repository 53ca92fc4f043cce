package config

import (
	"strings"
	"testing"
)

// TestWeakSecretsRefused: outside --dev, a webhook secret or code key that
// is long enough but guessable (one character repeated, a handful of them,
// a "changeme"-like word, a shell expression an env file never ran, a
// template's <placeholder>) is refused under its key, with how to make a
// good one and without repeating it. --dev, and secrets that only look
// alike, keep working.
func TestWeakSecretsRefused(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		dev     bool
		wantKey string // "" = valid
		want    string // in the message
	}{
		{"one character repeated", []string{"WEBHOOK_SECRET=" + strings.Repeat("s", 32)}, false, "webhook.secret", "different characters"},
		{"code key of zeros", []string{"CHALLENGE_CODE_KEY=" + strings.Repeat("0", 64)}, false, "challenge.code_key", "different characters"},
		{"a word repeated", []string{"WEBHOOK_SECRET=" + strings.Repeat("secret", 6)}, false, "webhook.secret", "different characters"},
		{"a short run repeated", []string{"CHALLENGE_CODE_KEY=" + strings.Repeat("abc1", 10)}, false, "challenge.code_key", "different characters"},
		{"runs of a few characters", []string{"WEBHOOK_SECRET=aaaaabbbbbcccccdddddeeeee1111122222"}, false, "webhook.secret", "different characters"},
		{"a keyboard row repeated", []string{"CHALLENGE_CODE_KEY=1234567123456712345671234567123456"}, false, "challenge.code_key", "different characters"},
		{"changeme without a dash", []string{"WEBHOOK_SECRET=changeme-0123456789abcdef0123456789abcdef"}, false, "webhook.secret", "placeholder"},
		{"ChangeMe in a sentence", []string{"CHALLENGE_CODE_KEY=please_ChangeMe_before_production_2024"}, false, "challenge.code_key", "placeholder"},
		{"replace me", []string{"WEBHOOK_SECRET=REPLACE_ME_WITH_A_LONG_RANDOM_VALUE_0123"}, false, "webhook.secret", "placeholder"},
		{"your secret here", []string{"WEBHOOK_SECRET=your-secret-here-0123456789abcdef012345"}, false, "webhook.secret", "placeholder"},
		{"changeit", []string{"CHALLENGE_CODE_KEY=changeit.changeit.0123456789abcdef01"}, false, "challenge.code_key", "placeholder"},
		{"a template placeholder", []string{"WEBHOOK_SECRET=<WEBHOOK_SECRET-of-at-least-32-bytes-long>"}, false, "webhook.secret", "template"},
		// README's `export WEBHOOK_SECRET=$(openssl rand -hex 32)` copied
		// into an env file, a systemd unit or YAML, where nothing runs it:
		// 23 characters, which the length check alone reported as "at
		// least 32 bytes (got 23)".
		{"a command never run", []string{"WEBHOOK_SECRET=$(openssl rand -hex 32)"}, false, "webhook.secret", "never run"},
		{"a command never run, code key", []string{"CHALLENGE_CODE_KEY=`openssl rand -hex 32`"}, false, "challenge.code_key", "never run"},
		{"a variable never expanded", []string{"CHALLENGE_CODE_KEY=${CHALLENGE_CODE_KEY_FROM_VAULT_PLEASE}"}, false, "challenge.code_key", "never run"},
		{"bare commands never run", []string{"WEBHOOK_SECRET=$(uuidgen)$(uuidgen)"}, false, "webhook.secret", "never run"},
		{"a compose variable never expanded", []string{"WEBHOOK_SECRET=${WEBHOOK_SECRET:-0123456789abcdef0123456789abcdef}"}, false, "webhook.secret", "never run"},
		{"a command in quotes never run", []string{`CHALLENGE_CODE_KEY="$(openssl rand -base64 32)"`}, false, "challenge.code_key", "never run"},
		{"a file never read", []string{"WEBHOOK_SECRET=$(< /run/secrets/webhook_secret_for_kratos_hooks)"}, false, "webhook.secret", "never run"},
		{"a pipe never run", []string{"CHALLENGE_CODE_KEY=$(tr -dc A-Za-z0-9 </dev/urandom | head -c 32)"}, false, "challenge.code_key", "never run"},
		{"from a file", []string{"WEBHOOK_SECRET=", "WEBHOOK_SECRET_FILE=" + writeFile(t, "s", strings.Repeat("x", 40)+"\n")}, false, "webhook.secret", "different characters"},

		{"--dev keeps a simple secret", []string{"WEBHOOK_SECRET=" + strings.Repeat("s", 32), "DEV_DATA_DIR=" + t.TempDir()}, true, "", ""},
		{"openssl rand -hex 32", []string{"WEBHOOK_SECRET=6f1c0a9e3b7d45f28a1e9c0b7d3f5a2e4c6b8d0f1a3c5e7092b4d6f8a1c3e5f7"}, false, "", ""},
		{"openssl rand -base64 32", []string{"CHALLENGE_CODE_KEY=q3N0b2Z+Yk9sZ1R4dUhyQ2p3eE1hV2tQZ0ZzTm1HaFU="}, false, "", ""},
		{"a passphrase", []string{"WEBHOOK_SECRET=correct horse battery staple 2026 tango"}, false, "", ""},
		// Words that only contain a placeholder word.
		{"exchange me", []string{"WEBHOOK_SECRET=exchangemetrics-0123456789abcdef0123456789"}, false, "", ""},
		{"a dollar sign alone", []string{"WEBHOOK_SECRET=pa$$w0rd-is-not-it-0123456789abcdefXYZ"}, false, "", ""},
	}
	// Too short and too simple: the length is what to fix first.
	_, _, err := Load("", baseEnv("WEBHOOK_SECRET=abc"), false)
	if ps := problemsOf(t, err); len(ps) != 1 || !strings.Contains(ps[0].Message, "at least 32 bytes") {
		t.Errorf("short simple secret: problems = %v, want the length only", ps)
	}
	// A one-off command (bans) works with the deployed service's key,
	// whatever it is: it names numbers with it.
	if _, _, err := LoadSections("", baseEnv("CHALLENGE_CODE_KEY="+strings.Repeat("s", 32)), false, "challenge.", "store."); err != nil {
		t.Errorf("bans with a weak code key: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env...), tt.dev)
			p := oneProblem(t, err, tt.wantKey)
			if tt.wantKey == "" {
				return
			}
			for _, want := range []string{tt.want, "openssl rand -hex 32"} {
				if !strings.Contains(p.Message, want) {
					t.Errorf("message %q does not say %q", p.Message, want)
				}
			}
			for _, kv := range tt.env {
				if _, v, _ := strings.Cut(kv, "="); len(v) >= 32 && strings.Contains(err.Error(), v) {
					t.Errorf("the error repeats the secret %q: %v", v, err)
				}
			}
		})
	}
}
