package config

import (
	"strings"
	"testing"
)

// TestSecretWithInvisibleEnds: a secret file saved by a Windows editor
// starts with a byte order mark, and a secret copied from a web page or a
// chat may end in a no-break or zero-width space. Neither shows, the file
// reader keeps them (it trims line ends only) and HTTP does not strip them:
// webhook.secret then differed from the value in Kratos's hook config and
// every hook was answered 401, and a code key differed from the one the
// other instances read from the environment (codes and limits keyed
// differently), while config validate said the configuration was valid.
// Each is refused under its key, saying what to remove, without quoting it.
func TestSecretWithInvisibleEnds(t *testing.T) {
	const good = "6f1c0a9e3b7d45f28a1e9c0b7d3f5a2e4c6b8d0f"
	tests := []struct {
		name    string
		env     []string
		dev     bool
		wantKey string // "" = valid
	}{
		{"a file with a byte order mark", []string{"WEBHOOK_SECRET=", "WEBHOOK_SECRET_FILE=" + writeFile(t, "s", "\ufeff"+good+"\r\n")}, false, "webhook.secret"},
		{"a no-break space at the end", []string{"WEBHOOK_SECRET=" + good + "\u00a0"}, false, "webhook.secret"},
		{"a zero-width space at the start", []string{"WEBHOOK_SECRET=\u200b" + good}, false, "webhook.secret"},
		{"a word joiner at the end", []string{"WEBHOOK_SECRET=" + good + "\u2060"}, false, "webhook.secret"},
		{"--dev: the same", []string{"WEBHOOK_SECRET=\ufeff" + good, "DEV_DATA_DIR=" + t.TempDir()}, true, "webhook.secret"},
		{"a code key file with a byte order mark", []string{"CHALLENGE_CODE_KEY=", "CHALLENGE_CODE_KEY_FILE=" + writeFile(t, "k", "\ufeff"+good+"\n")}, false, "challenge.code_key"},
		{"a code key with a no-break space", []string{"CHALLENGE_CODE_KEY=" + good + "\u00a0"}, false, "challenge.code_key"},

		{"a passphrase in another script", []string{"WEBHOOK_SECRET=пароль очень длинный и случайный 2026 танго"}, false, ""},
		{"a no-break space inside", []string{"CHALLENGE_CODE_KEY=" + good[:20] + "\u00a0" + good[20:]}, false, ""},
		// A raw binary key, not text: its bytes are no characters.
		{"raw bytes ending as a no-break space would", []string{"CHALLENGE_CODE_KEY=", "CHALLENGE_CODE_KEY_FILE=" + writeFile(t, "k", "\x9f\xfe\x81"+good+"\xc2\xa0")}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env...), tt.dev)
			p := oneProblem(t, err, tt.wantKey)
			if tt.wantKey == "" {
				return
			}
			if !strings.Contains(p.Message, "invisible") || !strings.Contains(p.Message, "remove") {
				t.Errorf("message %q does not say an invisible character is to be removed", p.Message)
			}
			if strings.Contains(err.Error(), good[8:]) {
				t.Errorf("the error repeats the secret: %v", err)
			}
		})
	}
}
