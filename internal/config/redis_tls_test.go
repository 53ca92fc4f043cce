package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestRedisTLSFiles: store.redis.tls_* are read from the environment and
// YAML, checked as the Redis client reads them, and refused under the key
// to fix with the reason, naming the file and never the URL (hunter2 is
// its password) nor a key. The paths are no secret: --print shows them.
func TestRedisTLSFiles(t *testing.T) {
	ca := testenv.NewTLSCA(t)
	other := testenv.NewTLSCA(t)
	notPEM := writeFile(t, "ca.txt", "not a certificate\n")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	const tlsURL, plainURL = "STORE_REDIS_URL=rediss://:hunter2@r1:6379/0", "STORE_REDIS_URL=redis://:hunter2@r1:6379/0"
	all := []string{"STORE_REDIS_TLS_CA_FILE=" + ca.File, "STORE_REDIS_TLS_CERT_FILE=" + ca.Client.CertFile, "STORE_REDIS_TLS_KEY_FILE=" + ca.Client.KeyFile}
	tests := []struct {
		name    string
		env     []string
		wantKey string // "" = valid
		wantIn  string
	}{
		{name: "all three", env: append([]string{"STORE_TYPE=redis", tlsURL}, all...)},
		{name: "CA only", env: []string{"STORE_TYPE=redis", tlsURL, all[0]}},
		{name: "client certificate only", env: append([]string{"STORE_TYPE=redis", tlsURL}, all[1:]...)},
		{name: "sentinel", env: append([]string{"STORE_TYPE=redis", "STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=rediss://:hunter2@s1:26379/0?addr=s2:26379",
			"STORE_REDIS_SENTINEL_MASTER=m"}, all...)},
		{name: "cluster", env: append([]string{"STORE_TYPE=redis", "STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=rediss://:hunter2@n1:6379?addr=n2:6379"}, all...)},
		{name: "redis URL", env: []string{"STORE_TYPE=redis", plainURL, all[0]},
			wantKey: "store.redis.tls_ca_file", wantIn: "store.redis.url is not a rediss:// URL"},
		{name: "unix URL", env: []string{"STORE_TYPE=redis", "STORE_REDIS_URL=unix:///run/redis.sock", all[1]},
			wantKey: "store.redis.tls_cert_file", wantIn: "not a rediss:// URL"},
		{name: "memory store", env: []string{"STORE_TYPE=memory", all[0]},
			wantKey: "store.redis.tls_ca_file", wantIn: "store.type is memory"},
		{name: "certificate without key", env: []string{"STORE_TYPE=redis", tlsURL, all[1]},
			wantKey: "store.redis.tls_key_file", wantIn: "is required with store.redis.tls_cert_file"},
		{name: "key without certificate", env: []string{"STORE_TYPE=redis", tlsURL, all[2]},
			wantKey: "store.redis.tls_cert_file", wantIn: "is required with store.redis.tls_key_file"},
		{name: "CA file missing", env: []string{"STORE_TYPE=redis", tlsURL, "STORE_REDIS_TLS_CA_FILE=" + missing},
			wantKey: "store.redis.tls_ca_file", wantIn: "cannot read " + missing + ": no such file or directory"},
		{name: "CA file not PEM", env: []string{"STORE_TYPE=redis", tlsURL, "STORE_REDIS_TLS_CA_FILE=" + notPEM},
			wantKey: "store.redis.tls_ca_file", wantIn: notPEM + " holds no PEM certificate"},
		{name: "key file missing", env: []string{"STORE_TYPE=redis", tlsURL, all[1], "STORE_REDIS_TLS_KEY_FILE=" + missing},
			wantKey: "store.redis.tls_key_file", wantIn: "cannot read " + missing},
		{name: "key file a directory", env: []string{"STORE_TYPE=redis", tlsURL, all[1], "STORE_REDIS_TLS_KEY_FILE=" + filepath.Dir(missing)},
			wantKey: "store.redis.tls_key_file", wantIn: "is a directory"},
		{name: "key of another certificate", env: []string{"STORE_TYPE=redis", tlsURL, all[1], "STORE_REDIS_TLS_KEY_FILE=" + other.Client.KeyFile},
			wantKey: "store.redis.tls_cert_file", wantIn: "private key does not match public key"},
		{name: "CA file with skip_verify", env: []string{"STORE_TYPE=redis", "STORE_REDIS_URL=rediss://:hunter2@r1:6379/0?skip_verify=true", all[0]},
			wantKey: "store.redis.tls_ca_file", wantIn: "skip_verify option turns certificate checks off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env...), false)
			p := oneProblem(t, err, tt.wantKey)
			if !strings.Contains(p.Message, tt.wantIn) {
				t.Errorf("message %q, want %q", p.Message, tt.wantIn)
			}
			if strings.Contains(p.Message, "hunter2") || strings.Contains(p.Message, "PRIVATE KEY") {
				t.Errorf("message repeats a secret: %q", p.Message)
			}
		})
	}
	t.Run("YAML, shown by --print", func(t *testing.T) {
		f := writeFile(t, "c.yml", "store:\n  type: redis\n  redis:\n    url: rediss://:hunter2@r1:6379/0\n"+
			"    tls_ca_file: "+ca.File+"\n    tls_cert_file: "+ca.Client.CertFile+"\n    tls_key_file: "+ca.Client.KeyFile+"\n")
		c, _, err := Load(f, baseEnv(), false)
		if err != nil {
			t.Fatal(err)
		}
		r := c.Store.Redis
		if r.TLSCAFile != ca.File || r.TLSCertFile != ca.Client.CertFile || r.TLSKeyFile != ca.Client.KeyFile {
			t.Fatalf("%+v", r)
		}
		red := c.Redacted()["store"].(map[string]any)["redis"].(map[string]any)
		if red["tls_ca_file"] != ca.File || red["tls_key_file"] != ca.Client.KeyFile || red["url"] != "***" {
			t.Fatalf("redacted %v", red)
		}
	})
}
