package redisstore_test

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// TestReplicaReadsRefusedWhenRepeated: an option that sends reads to
// replicas is refused whichever of its values turns it on. go-redis's URL
// parsers read a repeated option's last value, net/url's Get its first:
// reading only the first let ?read_only=false&read_only=true through to a
// client that reads from replicas.
func TestReplicaReadsRefusedWhenRepeated(t *testing.T) {
	const cluster = "redis://:hunter2@r1:6379?read_only=false&read_only=true"
	if o, err := redis.ParseClusterURL(cluster); err != nil || !o.ReadOnly {
		t.Fatalf("go-redis no longer reads the last value (ReadOnly %v, %v): revisit this test", o != nil && o.ReadOnly, err)
	}
	for _, raw := range []string{
		cluster,
		"redis://r1:6379?route_randomly=0&route_randomly=1",
		"redis://r1:6379?route_by_latency=true&route_by_latency=false",
	} {
		_, err := redisstore.ClusterOptions(raw)
		if err == nil || !strings.Contains(err.Error(), "reads from replicas") {
			t.Errorf("cluster %s: %v, want refused for replica reads", raw, err)
		}
	}
	for _, raw := range []string{
		"redis://s1:26379?replica_only=false&replica_only=true",
		"redis://s1:26379?route_randomly=false&route_randomly=1",
	} {
		_, err := redisstore.FailoverOptions(raw, "m", "")
		if err == nil || !strings.Contains(err.Error(), "reads from replicas") {
			t.Errorf("sentinel %s: %v, want refused for replica reads", raw, err)
		}
	}
	// Off is still accepted.
	if _, err := redisstore.ClusterOptions("redis://r1:6379?read_only=false&read_only=0"); err != nil {
		t.Errorf("read_only off refused: %v", err)
	}
}
