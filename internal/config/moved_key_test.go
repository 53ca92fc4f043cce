package config

import (
	"strings"
	"testing"
)

// TestMisplacedKeyNamesItsSection: a key written under the wrong section
// (admin_url under serve, the Redis URL straight under store, a secret at
// the top level) is the usual YAML mistake, and "unknown key" alone left
// the admin to search the reference for where it goes. The key or keys of
// that name elsewhere are suggested (a misspelling still comes first).
func TestMisplacedKeyNamesItsSection(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantKey string
		wantMsg string
	}{
		{"kratos URL under serve", "serve:\n  admin_url: http://kratos:4434\n", "serve.admin_url", "unknown key (line 2): did you mean kratos.admin_url?"},
		{"redis URL under store", "store:\n  url: redis://r:6379/0\n", "store.url", "did you mean store.redis.url?"},
		{"redis section under serve", "serve:\n  redis:\n    url: redis://r:6379/0\n", "serve.redis", "did you mean store.redis?"},
		{"redis section at the top", "redis:\n  url: redis://r:6379/0\n", "redis", "unknown key (line 1): did you mean store.redis?"},
		{"a secret at the top", "secret_file: /run/secrets/w\n", "secret_file", "did you mean webhook.secret_file?"},
		{"a name in two sections", "ttl: 5m\n", "ttl", "did you mean challenge.ttl or jwt.ttl?"},
		// A one-word leaf elsewhere is another thing of the same name.
		{"a common name, another section", "kratos:\n  url: http://k\n", "kratos.url", "unknown key (line 2)"},
		{"a misspelling still first", "callpass:\n  tokn: x\n", "callpass.tokn", "did you mean callpass.token?"},
		{"nothing of that name", "limits:\n  everything: 3\n", "limits.everything", "unknown key (line 2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(writeFile(t, "c.yml", tt.yaml), baseEnv(), false)
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != tt.wantKey || !strings.Contains(ps[0].Message, tt.wantMsg) {
				t.Fatalf("problems = %v, want one for %s saying %q", ps, tt.wantKey, tt.wantMsg)
			}
			if strings.HasPrefix(tt.wantMsg, "unknown key") && !strings.Contains(tt.wantMsg, "did you mean") && strings.Contains(ps[0].Message, "did you mean") {
				t.Errorf("suggests a key for a name no key has: %v", ps[0])
			}
		})
	}
}
