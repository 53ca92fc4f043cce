package config

import (
	"strings"
	"testing"
)

// TestEnvTypos: a misspelt configuration variable is named with the one it
// resembles (its value never); the rest of the environment is left alone.
func TestEnvTypos(t *testing.T) {
	tests := []struct {
		name string
		env  string
		want string // "" for no notice
	}{
		{"one letter missing", "LIMITS_GLOBAL_DAILY_LIMT=5", "did you mean LIMITS_GLOBAL_DAILY_LIMIT?"},
		{"lower case", "serve_listen=0.0.0.0:1", "did you mean SERVE_LISTEN?"},
		{"a secret's file", "WEBHOOK_SECRET_FLE=/run/s", "did you mean WEBHOOK_SECRET_FILE?"},
		// A slip in the section's word was ignored without a word: the
		// service kept listening on 127.0.0.1, the secret came from nowhere.
		{"server for serve", "SERVER_LISTEN=0.0.0.0:4477", "did you mean SERVE_LISTEN?"},
		{"a plural section", "WEBHOOKS_SECRET=0123456789abcdef0123456789abcdef", "did you mean WEBHOOK_SECRET?"},
		{"a letter missing in the section", "STOR_TYPE=redis", "did you mean STORE_TYPE?"},
		{"lower case, section misspelt", "krato_public_url=http://k:4433", "did you mean KRATOS_PUBLIC_URL?"},
		{"a section one edit away, the rest far", "LOGS_DIRECTORY=/var/log/x", ""},
		// Only secrets have a _FILE form: the file of another key was
		// ignored without a word (five edits from its variable).
		{"a file for no secret", "KRATOS_ADMIN_URL_FILE=/run/secrets/kratos_admin_url", "only secrets are read from a file: set KRATOS_ADMIN_URL itself"},
		{"a file for no secret, lower case", "store_redis_sentinel_username_file=/run/u", "set STORE_REDIS_SENTINEL_USERNAME itself"},
		{"a key that is a file", "JWT_KEYS_FILE=/etc/k.json", ""},
		{"a key that is a file, as a file", "JWT_KEYS_FILE_FILE=/run/k", "set JWT_KEYS_FILE itself"},
		{"the real one", "SERVE_LISTEN=127.0.0.1:1", ""},
		{"a secret's real file", "WEBHOOK_SECRET_FILE=/run/s", ""},
		{"another program's", "PATH=/usr/bin", ""},
		{"Kratos's own", "LOG_LEAK_SENSITIVE_VALUES=false", ""},
		{"the example app's", "CALLPASS_APP_LISTEN=127.0.0.1:1", ""},
		{"the tests'", "CALLPASS_KRATOS_BIN=/x", ""},
		{"the monitoring tests'", "CALLPASS_PROMTOOL_BIN=/x", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := envTypos([]string{tc.env})
			switch {
			case tc.want == "" && len(got) != 0:
				t.Errorf("%s: %v, want no notice", tc.env, got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("%s: %v, want one notice with %q", tc.env, got, tc.want)
			}
			name, val, _ := strings.Cut(tc.env, "=")
			for _, n := range got {
				if !strings.Contains(n, name) || strings.Contains(n, "="+val) || strings.Contains(n, " "+val) {
					t.Errorf("notice %q: want the name, never the value", n)
				}
			}
		})
	}
}

// TestLoadNamesMisspeltVariables: Load returns the notice, in and out of
// --dev, and the configuration still loads (the variable is ignored).
func TestLoadNamesMisspeltVariables(t *testing.T) {
	for _, dev := range []bool{false, true} {
		env := baseEnv("LIMITS_GLOBAL_DAILY_LIMT=5")
		if dev {
			env = []string{"DEV_DATA_DIR=" + t.TempDir(), "LIMITS_GLOBAL_DAILY_LIMT=5"}
		}
		c, notices, err := Load("", env, dev)
		if err != nil {
			t.Fatal(err)
		}
		if c.Limits.GlobalDaily.Limit != 10000 {
			t.Errorf("dev %v: the misspelt variable was applied: %d", dev, c.Limits.GlobalDaily.Limit)
		}
		if !strings.Contains(strings.Join(notices, "\n"), "did you mean LIMITS_GLOBAL_DAILY_LIMIT?") {
			t.Errorf("dev %v: notices %v", dev, notices)
		}
	}
}

// TestInvalidConfigNamesMisspeltVariables: when the configuration is
// invalid, the misspelt variables come with the problems (often their
// cause: the secret the misspelt name held is "required"); they were
// named only for a valid configuration.
func TestInvalidConfigNamesMisspeltVariables(t *testing.T) {
	env := []string{"CALLPASS_TOKEN=" + tok32, "CHALLENGE_CODE_KEY=" + key32, "JWT_KEYS_FILE=" + testKeysFile,
		"WEBHOOK_SECRET_FLE=/run/secrets/webhook_secret"}
	_, _, err := Load("", env, false)
	var verr *ValidationError
	if !asValidation(err, &verr) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	if keys := verr.Keys(); len(keys) != 1 || keys[0] != "webhook.secret" {
		t.Fatalf("problems %v, want webhook.secret alone", verr.Problems)
	}
	if len(verr.Notices) != 1 || !strings.Contains(verr.Notices[0], "WEBHOOK_SECRET_FLE is not a configuration variable and is ignored: did you mean WEBHOOK_SECRET_FILE?") {
		t.Errorf("notices %q, want the misspelt variable named", verr.Notices)
	}
	if strings.Contains(strings.Join(verr.Notices, "\n"), "/run/secrets") {
		t.Errorf("notices %q carry the value", verr.Notices)
	}
}
