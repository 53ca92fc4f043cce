package config

import (
	"strings"
	"testing"
)

// TestWebhookSecretThatNoHeaderCarries: Kratos sends webhook.secret as
// "Authorization: Bearer <secret>" and the hooks compare that header with
// "Bearer " + webhook.secret. A secret no header can carry as written
// (spaces or a line break at either end, which HTTP strips; a control
// character, which no client sends; the "Bearer " scheme copied in front;
// quotes an env file kept) refused every hook with 401 at run time, while
// config validate said the configuration was valid. It is refused under
// webhook.secret, saying what to remove and without quoting the secret,
// with --dev too (the demo's hooks fail the same way).
func TestWebhookSecretThatNoHeaderCarries(t *testing.T) {
	const good = "6f1c0a9e3b7d45f28a1e9c0b7d3f5a2e4c6b8d0f"
	tests := []struct {
		name    string
		env     []string
		dev     bool
		wantKey string // "" = valid
		want    string
	}{
		{"a trailing space", []string{"WEBHOOK_SECRET=" + good + " "}, false, "webhook.secret", "space"},
		{"a leading tab", []string{"WEBHOOK_SECRET=\t" + good}, false, "webhook.secret", "space"},
		{"a file with spaces around it", []string{"WEBHOOK_SECRET=", "WEBHOOK_SECRET_FILE=" + writeFile(t, "s", "  "+good+"  \n")}, false, "webhook.secret", "space"},
		{"a line break at the end", []string{"WEBHOOK_SECRET=" + good + "\n"}, false, "webhook.secret", "line break"},
		{"a control character inside", []string{"WEBHOOK_SECRET=" + good[:20] + "\x00" + good[20:]}, false, "webhook.secret", "control character"},
		{"the Bearer scheme copied in", []string{"WEBHOOK_SECRET=Bearer " + good}, false, "webhook.secret", `"Bearer "`},
		{"the Bearer scheme, lower case", []string{"WEBHOOK_SECRET=bearer " + good}, false, "webhook.secret", `"Bearer "`},
		{"double quotes kept by an env file", []string{`WEBHOOK_SECRET="` + good + `"`}, false, "webhook.secret", "quotes"},
		{"single quotes kept by an env file", []string{`WEBHOOK_SECRET='` + good + `'`}, false, "webhook.secret", "quotes"},
		{"--dev: the same", []string{"WEBHOOK_SECRET=" + good + " ", "DEV_DATA_DIR=" + t.TempDir()}, true, "webhook.secret", "space"},

		// A file's line ends are trimmed (readSecretFile).
		{"a file with one line end", []string{"WEBHOOK_SECRET=", "WEBHOOK_SECRET_FILE=" + writeFile(t, "s", good+"\n")}, false, "", ""},
		{"a file with a CRLF line end", []string{"WEBHOOK_SECRET=", "WEBHOOK_SECRET_FILE=" + writeFile(t, "s", good+"\r\n")}, false, "", ""},
		{"a space inside (a passphrase)", []string{"WEBHOOK_SECRET=correct horse battery staple 2026 tango"}, false, "", ""},
		{"a quote inside", []string{`WEBHOOK_SECRET=` + good + `"x'y`}, false, "", ""},
		{"a word starting with bearer", []string{"WEBHOOK_SECRET=bearertoken-" + good}, false, "", ""},
		// Kratos's header value is "Bearer <token>": one token after the
		// scheme. A passphrase whose first word is "bearer" is none.
		{"a passphrase beginning with bearer", []string{"WEBHOOK_SECRET=bearer market falcon orbit 2026 velvet"}, false, "", ""},
		{"a passphrase beginning with Bearer", []string{"WEBHOOK_SECRET=Bearer witty otter crane 2026 lantern"}, false, "", ""},
		{"the Bearer scheme with two spaces", []string{"WEBHOOK_SECRET=Bearer  " + good}, false, "webhook.secret", `"Bearer "`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env...), tt.dev)
			p := oneProblem(t, err, tt.wantKey)
			if tt.wantKey == "" {
				return
			}
			if !strings.Contains(p.Message, tt.want) {
				t.Errorf("message %q does not say %q", p.Message, tt.want)
			}
			if strings.Contains(err.Error(), good[8:]) {
				t.Errorf("the error repeats the secret: %v", err)
			}
		})
	}
}
