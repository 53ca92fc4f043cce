package config

import (
	"strings"
	"testing"
)

// TestRedisModes: store.redis.mode reads store.redis.url its own way, and
// what a mode cannot use is refused under the key to fix, saying why and
// never repeating the URL (hunter2 is its password).
func TestRedisModes(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		wantKey string // "" = valid
		wantIn  string
	}{
		{name: "default is standalone", env: []string{"STORE_REDIS_URL=redis://:hunter2@redis:6379/2"}},
		{name: "standalone unix", env: []string{"STORE_REDIS_MODE=standalone", "STORE_REDIS_URL=unix:///run/redis.sock"}},
		{name: "cluster seeds", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://:hunter2@r1:6379?addr=r2:6379&addr=r3:6379"}},
		{name: "cluster tls db 0", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=rediss://u:hunter2@r1:6379/0"}},
		{name: "cluster db 1", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://:hunter2@r1:6379/1"},
			wantKey: "store.redis.url", wantIn: "Redis Cluster has database 0 only"},
		{name: "cluster db option", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://:hunter2@r1:6379?db=2"},
			wantKey: "store.redis.url", wantIn: "database 0 only"},
		{name: "cluster unix", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=unix://:hunter2@/run/redis.sock"},
			wantKey: "store.redis.url", wantIn: "unix:// socket, which store.redis.mode cluster cannot use"},
		{name: "cluster bad addr", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://:hunter2@r1:6379?addr=hunter2"},
			wantKey: "store.redis.url", wantIn: "addr option that is not host:port"},
		{name: "cluster replica reads", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://:hunter2@r1:6379?read_only=true"},
			wantKey: "store.redis.url", wantIn: "sends reads to replicas"},
		{name: "cluster replica reads repeated", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://:hunter2@r1:6379?read_only=false&read_only=true"},
			wantKey: "store.redis.url", wantIn: "sends reads to replicas"},
		{name: "sentinel replica reads repeated", env: []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=redis://:hunter2@s1:26379?replica_only=0&replica_only=1",
			"STORE_REDIS_SENTINEL_MASTER=m"}, wantKey: "store.redis.url", wantIn: "sends reads to replicas"},
		{name: "cluster prefix with an empty hash tag", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://:hunter2@r1:6379", "STORE_REDIS_PREFIX=cpk{}:"},
			wantKey: "store.redis.prefix", wantIn: "must not contain { or }"},
		{name: "cluster prefix with a hash tag", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://:hunter2@r1:6379", "STORE_REDIS_PREFIX={cpk}:"},
			wantKey: "store.redis.prefix", wantIn: "must not contain { or }"},
		{name: "standalone prefix with braces", env: []string{"STORE_REDIS_URL=redis://:hunter2@r1:6379", "STORE_REDIS_PREFIX={cpk}:"}},
		{name: "cluster unknown option", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://:hunter2@r1:6379?hunter3=1"},
			wantKey: "store.redis.url", wantIn: "does not know: hunter3"},
		{name: "cluster user without password", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://hunter2@r1:6379?addr=r2:6379"},
			wantKey: "store.redis.url", wantIn: "a user name but no password"},
		// An empty user info (redis://${PASSWORD}@host with the variable
		// unset) names no user: the client connects without AUTH, as
		// before the user-name check.
		{name: "empty user info", env: []string{"STORE_REDIS_URL=redis://@redis:6379/0"}},
		{name: "cluster empty user info", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://@r1:6379?addr=r2:6379"}},
		{name: "cluster ACL user", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://cpk:hunter2@r1:6379?addr=r2:6379"}},
		{name: "cluster hosts with commas", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://:hunter2@r1:6379,r2:6379,r3:6379"},
			wantKey: "store.redis.url", wantIn: "?addr=host2:port&addr=host3:port"},
		{name: "sentinel user without password", env: []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=redis://hunter2@s1:26379",
			"STORE_REDIS_SENTINEL_MASTER=m"}, wantKey: "store.redis.url", wantIn: "a user name but no password"},
		{name: "sentinels with commas", env: []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=redis://s1:26379,s2:26379",
			"STORE_REDIS_SENTINEL_MASTER=m"}, wantKey: "store.redis.url", wantIn: "?addr=sentinel2:26379"},
		{name: "cluster no host", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://?addr=r2:6379"},
			wantKey: "store.redis.url", wantIn: "host1:port?addr="},
		{name: "sentinel", env: []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=redis://:hunter2@s1:26379/3?addr=s2:26379",
			"STORE_REDIS_SENTINEL_MASTER=mymaster", "STORE_REDIS_SENTINEL_PASSWORD=sentinel-secret"}},
		{name: "sentinel ACL user", env: []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=redis://:hunter2@s1:26379/3?addr=s2:26379",
			"STORE_REDIS_SENTINEL_MASTER=mymaster", "STORE_REDIS_SENTINEL_USERNAME=cpk", "STORE_REDIS_SENTINEL_PASSWORD=sentinel-secret"}},
		{name: "sentinel username without password", env: []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=redis://:hunter2@s1:26379",
			"STORE_REDIS_SENTINEL_MASTER=m", "STORE_REDIS_SENTINEL_USERNAME=cpk"},
			wantKey: "store.redis.sentinel_username", wantIn: "without store.redis.sentinel_password"},
		{name: "sentinel without master", env: []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=redis://s1:26379"},
			wantKey: "store.redis.sentinel_master", wantIn: "required when store.redis.mode is sentinel"},
		{name: "sentinel master in the URL", env: []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=redis://s1:26379?master_name=m",
			"STORE_REDIS_SENTINEL_MASTER=m"}, wantKey: "store.redis.url", wantIn: "give it in store.redis.sentinel_master"},
		{name: "sentinel password in the query", env: []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=redis://s1:26379?password=hunter2",
			"STORE_REDIS_SENTINEL_MASTER=m"}, wantKey: "store.redis.url", wantIn: "option password: give it in the URL's user info"},
		{name: "sentinel unix", env: []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=unix:///run/redis.sock", "STORE_REDIS_SENTINEL_MASTER=m"},
			wantKey: "store.redis.url", wantIn: "cannot use"},
		{name: "sentinel replica reads", env: []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=redis://s1:26379?replica_only=1", "STORE_REDIS_SENTINEL_MASTER=m"},
			wantKey: "store.redis.url", wantIn: "sends reads to replicas"},
		{name: "master without sentinel mode", env: []string{"STORE_REDIS_URL=redis://r:6379", "STORE_REDIS_SENTINEL_MASTER=m"},
			wantKey: "store.redis.sentinel_master", wantIn: "store.redis.mode is standalone"},
		{name: "sentinel password without sentinel mode", env: []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=redis://r:6379", "STORE_REDIS_SENTINEL_PASSWORD=x"},
			wantKey: "store.redis.sentinel_password", wantIn: "store.redis.mode is cluster"},
		{name: "sentinel username without sentinel mode", env: []string{"STORE_REDIS_URL=redis://r:6379", "STORE_REDIS_SENTINEL_USERNAME=cpk"},
			wantKey: "store.redis.sentinel_username", wantIn: "store.redis.mode is standalone"},
		{name: "unknown mode", env: []string{"STORE_REDIS_MODE=replicated", "STORE_REDIS_URL=redis://r:6379"},
			wantKey: "store.redis.mode", wantIn: "must be standalone, cluster or sentinel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("", baseEnv(append([]string{"STORE_TYPE=redis"}, tt.env...)...), false)
			p := oneProblem(t, err, tt.wantKey)
			if !strings.Contains(p.Message, tt.wantIn) {
				t.Errorf("message %q, want %q", p.Message, tt.wantIn)
			}
			if strings.Contains(p.Message, "hunter2") {
				t.Errorf("message repeats the URL: %q", p.Message)
			}
		})
	}
	t.Run("mode with the memory store", func(t *testing.T) {
		_, _, err := Load("", baseEnv("STORE_TYPE=memory", "STORE_REDIS_MODE=cluster"), false)
		if p := oneProblem(t, err, "store.redis.mode"); !strings.Contains(p.Message, "store.type is memory") {
			t.Errorf("message %q", p.Message)
		}
	})
	t.Run("sentinel password from a file, redacted", func(t *testing.T) {
		f := writeFile(t, "spw", "sentinel-secret\n")
		c, _, err := Load("", baseEnv("STORE_TYPE=redis", "STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=redis://s1:26379",
			"STORE_REDIS_SENTINEL_MASTER=m", "STORE_REDIS_SENTINEL_USERNAME=cpk", "STORE_REDIS_SENTINEL_PASSWORD_FILE="+f), false)
		if err != nil || c.Store.Redis.SentinelPassword != "sentinel-secret" || c.Store.Redis.SentinelUsername != "cpk" {
			t.Fatalf("%q %q %v", c.Store.Redis.SentinelUsername, c.Store.Redis.SentinelPassword, err)
		}
		// The username is no secret (it is shown), the password is.
		r := c.Redacted()["store"].(map[string]any)["redis"].(map[string]any)
		if r["sentinel_password"] != "***" || r["sentinel_username"] != "cpk" || r["mode"] != "sentinel" || r["sentinel_master"] != "m" {
			t.Fatalf("redacted %v", r)
		}
	})
	t.Run("sentinel username from YAML", func(t *testing.T) {
		f := writeFile(t, "c.yml", "store:\n  type: redis\n  redis:\n    mode: sentinel\n    url: redis://s1:26379\n"+
			"    sentinel_master: m\n    sentinel_username: cpk\n    sentinel_password: sentinel-secret\n")
		c, _, err := Load(f, baseEnv(), false)
		if err != nil || c.Store.Redis.SentinelUsername != "cpk" {
			t.Fatalf("%+v %v", c.Store.Redis, err)
		}
	})
}
