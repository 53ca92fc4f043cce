package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRelativePathsNameTheWorkingDirectory: a file the configuration names
// by a relative path is read from the working directory, not from the
// configuration file's; when it is missing the problem says so, and which
// directory that is. "no such file: jwt-keys.json" with the file beside
// /etc/callpass-kratos/config.yml left an admin to guess, and config
// validate run from that directory passed where systemd (working directory
// /) then failed. An absolute path gets no such note.
func TestRelativePathsNameTheWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(filepath.Join(dir, "client.key"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	note := "a relative path, read from the working directory " + dir
	for _, tc := range []struct {
		name string
		env  []string
		key  string
	}{
		{"keys file", []string{"JWT_KEYS_FILE=jwt-keys.json"}, "jwt.keys_file"},
		{"claims mapper", []string{"JWT_CLAIMS_MAPPER=claims.jsonnet"}, "jwt.claims_mapper"},
		{"secret file", []string{"WEBHOOK_SECRET=", "WEBHOOK_SECRET_FILE=secrets/webhook"}, "webhook.secret"},
		{"redis CA", []string{"STORE_TYPE=redis", "STORE_REDIS_URL=rediss://:pw@redis:6380/0", "STORE_REDIS_TLS_CA_FILE=redis-ca.pem"}, "store.redis.tls_ca_file"},
		{"redis client certificate", []string{"STORE_TYPE=redis", "STORE_REDIS_URL=rediss://:pw@redis:6380/0",
			"STORE_REDIS_TLS_CERT_FILE=client.pem", "STORE_REDIS_TLS_KEY_FILE=client.key"}, "store.redis.tls_cert_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tc.env...), false)
			p := oneProblem(t, err, tc.key)
			if !strings.Contains(p.Message, note) {
				t.Errorf("message %q lacks %q", p.Message, note)
			}
			// The same file by its absolute path: no note.
			var abs []string
			for _, kv := range tc.env {
				if k, v, _ := strings.Cut(kv, "="); strings.HasSuffix(k, "_FILE") || k == "JWT_CLAIMS_MAPPER" {
					kv = k + "=" + filepath.Join(dir, v)
				}
				abs = append(abs, kv)
			}
			_, _, err = Load("", baseEnv(abs...), false)
			if p := oneProblem(t, err, tc.key); strings.Contains(p.Message, "relative path") {
				t.Errorf("absolute path: message %q", p.Message)
			}
		})
	}
}
