package cli

import (
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestBansShowExitStatus: bans show answers a script by its exit status,
// as grep does: 0 banned, 1 not banned, 2 the question could not be
// answered (a bad argument, the memory store, an invalid configuration,
// Redis down). It exited 0 whether the identity was banned or not, and 1
// for a failure, so `if callpass-kratos bans show …` read an outage as
// "banned" and a ban as nothing at all. bans lift keeps 0 for both (a
// lift of nothing is a no-op) and 1 for a failure.
func TestBansShowExitStatus(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	dead := testenv.StartRedis(t)
	deadAddr := dead.Addr
	dead.Stop()
	const prefix = "cpk:"
	url := "redis://" + srv.Addr
	const banned, clean = "5e1b7b4a-0000-4000-8000-0000000000e1", "5e1b7b4a-0000-4000-8000-0000000000e2"
	banForReal(t, bansService(t, "standalone", url, prefix), banned)
	redisEnv := []string{"STORE_TYPE=redis", "STORE_REDIS_URL=" + url, "STORE_REDIS_PREFIX=" + prefix}
	for _, tc := range []struct {
		name       string
		env        []string
		args       []string
		code       int
		wantOut    string
		wantErr    string
		quietError bool // nothing on stderr
	}{
		{"banned", redisEnv, []string{"bans", "show", banned}, 0, "is banned until", "", true},
		{"not banned", redisEnv, []string{"bans", "show", clean}, 1, "is not banned", "", true},
		{"memory store", nil, []string{"bans", "show", banned}, 2, "", `store.type is "memory"`, false},
		{"redis down", []string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://" + deadAddr}, []string{"bans", "show", banned}, 2, "", "bans: read the ban: redis store", false},
		{"invalid configuration", append(redisEnv[:3:3], "LIMITS_REGULATION_BAN_TIME=soon"), []string{"bans", "show", banned}, 2, "", "invalid configuration", false},
		{"bad url", []string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://" + srv.Addr + "/notadb"}, []string{"bans", "show", banned}, 2, "", "store.redis.url", false},
		{"not an id", redisEnv, []string{"bans", "show", "alice@example.com"}, 2, "", "is neither a Kratos identity id", false},
		{"help", nil, []string{"bans", "show", "--help"}, 0, "Exit status of bans show", "", true},
		{"lift of nothing", redisEnv, []string{"bans", "lift", clean}, 0, "was not banned", "", true},
		{"lift, redis down", []string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://" + deadAddr}, []string{"bans", "lift", banned}, 1, "", "bans: lift the ban: redis store", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.env, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s%s", code, tc.code, out, errs)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantOut, out)
			}
			if !strings.Contains(errs, tc.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErr, errs)
			}
			if tc.quietError && errs != "" {
				t.Errorf("stderr not empty:\n%s", errs)
			}
		})
	}
}
